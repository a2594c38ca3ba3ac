"""The admin dashboard's figures and charts, computed on the server.

Charts are plain geometry (bars with x, y, width, height) that the template draws as inline SVG:
no JavaScript, no inline style, nothing loaded from elsewhere.
"""

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import maxminddb
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Max, Sum
from django.utils import timezone

from lookups.admin.dashboard_map import CellMap, map_cells, requester_countries
from lookups.core.geoip import city_reader
from lookups.errors import DatabaseUnavailable
from lookups.models import LookupDayCount, LookupDayQuery, UpdateRun

DAYS = 30
# The periods the dashboard offers (?days=), in UTC days, today included.
PERIODS = (1, 7, 30, 90)
TOP = 10
# The figures are cheap (per-day counts), but a page view need not recompute them: computed at
# most this often per cache, then served from it.
CACHE_SECONDS = 300


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Ranked:
    label: str
    value: int
    percent: float  # of the largest, for the bar's length


@dataclass(frozen=True)
class DayChart:
    width: int
    height: int
    bars: tuple[Bar, ...]  # every lookup on the day
    failed: tuple[Bar, ...]  # the failed part of each day's bar
    peak: int
    first_label: str
    last_label: str


@dataclass(frozen=True)
class HistoryStats:
    days: int
    since: dt.datetime
    computed_at: dt.datetime
    total: int
    failed: int
    with_time_zone: int
    tz_world: int
    per_day: DayChart
    countries: tuple[Ranked, ...]
    queries: tuple[Ranked, ...]
    map: CellMap  # where the period's lookups point (lookups.admin.dashboard_map)
    requesters: tuple[Ranked, ...]  # the requesters' countries

    @property
    def tz_world_percent(self) -> float | None:
        """Share of the answers with a time zone whose zone came from the tz_world polygons."""
        return 100 * self.tz_world / self.with_time_zone if self.with_time_zone else None


def day_chart(counts: list[tuple[dt.date, int, int]], *, width: int = 720, height: int = 160) -> DayChart:
    """Bars for (day, lookups, failed) triples, in a width x height box (SVG user units)."""
    peak = max((total for _, total, _ in counts), default=0)
    slot = width / max(len(counts), 1)
    bars, failed = [], []
    for index, (day, total, errors) in enumerate(counts):
        x = round(index * slot + slot * 0.1, 2)
        bar_width = round(slot * 0.8, 2)
        bar_height = round(height * total / peak, 2) if peak else 0
        error_height = round(height * errors / peak, 2) if peak else 0
        label = f"{day:%a %d %b}: {total:,} lookups, {errors:,} failed"
        bars.append(Bar(label, total, x, round(height - bar_height, 2), bar_width, bar_height))
        failed.append(Bar(label, errors, x, round(height - error_height, 2), bar_width, error_height))
    return DayChart(
        width=width,
        height=height,
        bars=tuple(bars),
        failed=tuple(failed),
        peak=peak,
        first_label=f"{counts[0][0]:%d %b}" if counts else "",
        last_label=f"{counts[-1][0]:%d %b}" if counts else "",
    )


def _ranked(rows: list[tuple[str, int]]) -> tuple[Ranked, ...]:
    peak = max((value for _, value in rows), default=0)
    return tuple(Ranked(label, value, round(100 * value / peak, 1) if peak else 0) for label, value in rows)


# The busiest queries are looked for among each day's this many busiest: a few thousand
# candidates, where a month can hold millions of distinct queries (every address asked once).
CANDIDATES_PER_DAY = 50


def _busiest_queries(first_day: dt.date, last_day: dt.date, top: int) -> list[tuple[str, int]]:
    """The `top` queries with the most lookups since `first_day`, exactly counted, among those
    that were one of a day's CANDIDATES_PER_DAY busiest (two index range scans per day)."""
    table = connection.ops.quote_name(LookupDayQuery._meta.db_table)
    sql = f"""
        WITH candidates AS (
            SELECT DISTINCT busy.query
            FROM generate_series(0, %(days)s - 1) AS days(n)
            CROSS JOIN LATERAL (
                SELECT query FROM {table} WHERE day = %(first)s::date + days.n
                ORDER BY lookups DESC LIMIT %(per_day)s
            ) AS busy
        )
        SELECT counted.query, sum(counted.lookups) AS lookups
        FROM {table} AS counted JOIN candidates USING (query)
        WHERE counted.day >= %(first)s
        GROUP BY counted.query HAVING sum(counted.lookups) > 0
        ORDER BY lookups DESC, counted.query LIMIT %(top)s
    """  # noqa: S608 (the table name comes from the model)
    # Days as an integer series: PostgreSQL knows its length (a series of dates it takes for 1,000
    # rows, which made it plan for a million and compile the query with JIT: 80 ms more).
    days = (last_day - first_day).days + 1
    params = {"first": first_day, "days": days, "per_day": CANDIDATES_PER_DAY, "top": top}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(query, int(lookups)) for query, lookups in cursor.fetchall()]


def history_stats(*, days: int = DAYS, top: int = TOP, now: dt.datetime | None = None) -> HistoryStats:
    """Lookups per day over the last `days` UTC days (today included), top countries and queries,
    the map of looked-up locations and the requesters' countries.

    Read from the counts triggers keep per day (LookupDayCount, LookupDayQuery: migration 0009;
    LookupDayCell, LookupDayRequester: 0011), never from the history's rows: a few thousand small
    rows however many lookups there were.
    """
    now = (now or timezone.now()).astimezone(dt.UTC)  # the counts are per UTC day
    first_day = now.date() - dt.timedelta(days=days - 1)
    since = dt.datetime.combine(first_day, dt.time.min, tzinfo=dt.UTC)
    window = LookupDayCount.objects.filter(day__gte=first_day).order_by()

    daily = {
        row["day"]: row
        for row in window.values("day").annotate(
            total=Sum("total"), failed=Sum("failed"), with_tz=Sum("with_time_zone"), tz_world=Sum("tz_world")
        )
    }
    counts = []
    for offset in range(days):
        day = first_day + dt.timedelta(days=offset)
        row = daily.get(day, {})
        counts.append((day, row.get("total", 0), row.get("failed", 0)))

    countries = (
        window.exclude(country_code="")
        .values("country_code")
        .annotate(lookups=Sum("total"), name=Max("country_name"))
        .filter(lookups__gt=0)
        .order_by("-lookups", "country_code")[:top]
    )
    queries = _busiest_queries(first_day, now.date(), top)
    requesters = requester_countries(first_day, top=top)
    return HistoryStats(
        days=days,
        since=since,
        computed_at=now,
        total=sum(row["total"] for row in daily.values()),
        failed=sum(row["failed"] for row in daily.values()),
        with_time_zone=sum(row["with_tz"] for row in daily.values()),
        tz_world=sum(row["tz_world"] for row in daily.values()),
        per_day=day_chart(counts),
        countries=_ranked(
            [(f"{row['country_code']} · {row['name']}".rstrip(" ·"), row["lookups"]) for row in countries]
        ),
        queries=_ranked(queries),
        map=map_cells(first_day),
        requesters=_ranked([(f"{row.code} · {row.name}".rstrip(" ·"), row.lookups) for row in requesters]),
    )


def period_days(value: str | None) -> int:
    """The period a `?days=` value chooses: one of PERIODS, else the default DAYS."""
    try:
        days = int(value or DAYS)
    except ValueError:
        return DAYS
    return days if days in PERIODS else DAYS


def cached_history_stats(days: int = DAYS) -> HistoryStats:
    # v2: HistoryStats gained the map and the requesters; a v1 entry (pickled) would lack them.
    return cache.get_or_set(
        f"lookups:dashboard:v2:{days}:{TOP}", lambda: history_stats(days=days), timeout=CACHE_SECONDS
    )


@dataclass(frozen=True)
class InstalledDatabase:
    file: str
    edition: str | None
    build_date: dt.datetime | None
    age_days: int | None
    in_use: bool
    problem: str | None = None


def installed_databases(*, now: dt.datetime | None = None) -> list[InstalledDatabase]:
    """Every .mmdb file in GEOIP_PATH with its edition and age; the City one in use first."""
    now = now or timezone.now()
    folder = Path(settings.GEOIP_PATH)
    found = []
    try:
        info = city_reader().info()
        found.append(
            InstalledDatabase(
                settings.GEOIP_CITY, info.edition, info.build_date, (now - info.build_date).days, in_use=True
            )
        )
    except DatabaseUnavailable as error:
        found.append(
            InstalledDatabase(settings.GEOIP_CITY, None, None, None, in_use=True, problem=error.message)
        )
    for path in sorted(folder.glob("*.mmdb")) if folder.is_dir() else []:
        if path.name == settings.GEOIP_CITY:
            continue
        try:
            with maxminddb.open_database(str(path)) as reader:
                meta = reader.metadata()
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            found.append(InstalledDatabase(path.name, None, None, None, in_use=False, problem=str(exc)))
            continue
        built = dt.datetime.fromtimestamp(meta.build_epoch, tz=dt.UTC)
        found.append(
            InstalledDatabase(path.name, meta.database_type, built, (now - built).days, in_use=False)
        )
    return found


def recent_update_runs(limit: int = 5) -> list[UpdateRun]:
    """The latest database update runs (`manage.py update_maxmind`), newest first."""
    return list(UpdateRun.objects.order_by("-created_at", "-id")[:limit])
