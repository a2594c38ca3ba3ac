"""The dashboard's figures at volume: read from the per-day counts (what the admin does), against
the same figures computed from the history's rows (what it did before: the baseline), and what
keeping the counts costs the history's writes. The map's cells and the requesters' countries
(migration 0011) are timed the same two ways. Against the database in DATABASE_URL, filled first:

    DJANGO_SECRET_KEY=bench .venv/bin/python manage.py seed_lookups --count 1000000 --seed 1
    DJANGO_SECRET_KEY=bench .venv/bin/python bench/dashboard_figures.py --as-if-rows 10000000

--as-if-rows N: the counts are then also read as N lookups would have left them: per-day query
rows copied under new names until there are N / (seeded rows) times as many (distinct queries
grow with traffic: a third of the seeded lookups are of an address asked once), country counts
multiplied. The map's cells: their lookups multiplied, and each day filled up to --cells-per-day
cells (made-up ones: seeded lookups fall in a few hundred places, real traffic in thousands of
1-degree cells). All of it in a transaction rolled back at the end: the database is left as it was.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

import datetime as dt

from django.db import connection, transaction
from django.db.models import Count, Max, Q
from django.db.models.functions import TruncDay

from lookups.admin.dashboard import DAYS, TOP, history_stats
from lookups.admin.dashboard_map import map_cells, requester_countries
from lookups.devtools.seeding import HistoryFaker
from lookups.history.encoding import encode_row
from lookups.history.postgres import store_lines
from lookups.history.rows import give_uids, new_row
from lookups.models import (
    OUTCOME_OK,
    Lookup,
    LookupDayCell,
    LookupDayCount,
    LookupDayQuery,
    LookupDayRequester,
    TimeZoneSource,
)

# The triggers that keep the dashboard's counts (migrations 0009, 0011): on, then off, for the write cost.
INSERT_TRIGGERS = ("lookups_count_inserts", "lookups_count_places_inserts")


def figures_from_rows(now: dt.datetime) -> None:
    """The dashboard's three queries as they were before the counts: over the window's rows."""
    first_day = now.date() - dt.timedelta(days=DAYS - 1)
    since = dt.datetime.combine(first_day, dt.time.min, tzinfo=dt.UTC)
    window = Lookup.objects.filter(created_at__gte=since).order_by()
    list(
        window.annotate(day=TruncDay("created_at"))
        .values("day")
        .annotate(
            total=Count("*"),
            failed=Count("id", filter=~Q(outcome=OUTCOME_OK)),
            with_tz=Count("id", filter=~Q(time_zone_source="")),
            tz_world=Count("id", filter=Q(time_zone_source=TimeZoneSource.TZ_WORLD)),
        )
    )
    list(
        window.exclude(country_code="")
        .values("country_code")
        .annotate(lookups=Count("*"), name=Max("country_name"))
        .order_by("-lookups", "country_code")[:TOP]
    )
    list(window.values("query").annotate(lookups=Count("*")).order_by("-lookups", "query")[:TOP])


def places_from_rows(now: dt.datetime) -> None:
    """The map's cells and the requesters' countries as the window's rows would give them."""
    first_day = now.date() - dt.timedelta(days=DAYS - 1)
    since = dt.datetime.combine(first_day, dt.time.min, tzinfo=dt.UTC)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT floor(ST_Y(location)), floor(ST_X(location)), count(*), avg(ST_Y(location)), "
            "avg(ST_X(location)) FROM lookups_lookup WHERE created_at >= %s AND location IS NOT NULL "
            "GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 5000",
            [since],
        )
        cursor.fetchall()
    list(
        Lookup.objects.filter(created_at__gte=since)
        .exclude(requester_country="")
        .values("requester_country")
        .annotate(lookups=Count("*"))
        .order_by("-lookups")[:TOP]
    )


def places_from_cells(now: dt.datetime) -> None:
    """What the dashboard reads for its map and requester countries."""
    first_day = now.date() - dt.timedelta(days=DAYS - 1)
    map_cells(first_day)
    requester_countries(first_day, top=TOP)


def timed(function, runs: int) -> tuple[float, float]:
    """(median, slowest) seconds of `runs` calls, after one to warm the caches."""
    function()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), max(times)


def scale_counts(factor: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO lookups_lookupdayquery (day, query, lookups) "
            "SELECT day, left(query, 240) || '#' || copy, lookups FROM lookups_lookupdayquery, "
            "generate_series(1, %s) AS copy",
            [factor - 1],
        )
        cursor.execute(
            "UPDATE lookups_lookupdaycount SET total = total * %s, failed = failed * %s, "
            "with_time_zone = with_time_zone * %s, tz_world = tz_world * %s",
            [factor] * 4,
        )
        cursor.execute("ANALYZE lookups_lookupdayquery")
        cursor.execute(
            "UPDATE lookups_lookupdaycell SET lookups = lookups * %s, latitude_sum = latitude_sum * %s, "
            "longitude_sum = longitude_sum * %s",
            [factor] * 3,
        )
        cursor.execute("UPDATE lookups_lookupdayrequester SET lookups = lookups * %s", [factor])


def fill_cells(cells_per_day: int) -> None:
    """Each day's cells made up to `cells_per_day`, with made-up cells between 60°S and 75°N."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO lookups_lookupdaycell
                (day, latitude_cell, longitude_cell, lookups, latitude_sum, longitude_sum)
            SELECT days.day, cell.lat, cell.lon, counts.n,
                counts.n * (cell.lat + 0.5), counts.n * (cell.lon + 0.5)
            FROM (SELECT DISTINCT day FROM lookups_lookupdaycell) AS days
            CROSS JOIN LATERAL (
                -- Distinct cells for up to 135 x 360 of them (7919 is prime to 48,600).
                SELECT (-60 + k / 360)::smallint AS lat, (-180 + k %% 360)::smallint AS lon
                FROM generate_series(1, %s) AS n, LATERAL (SELECT (n * 7919) %% 48600 AS k) AS spread
            ) AS cell
            CROSS JOIN LATERAL (
                SELECT 1 + (abs(hashtext(days.day::text || cell.lat || cell.lon)) %% 500) AS n
            ) AS counts
            ON CONFLICT (day, latitude_cell, longitude_cell) DO NOTHING
            """,
            [cells_per_day],
        )
        cursor.execute("ANALYZE lookups_lookupdaycell")


def write_cost(rows: int, batch: int = 500) -> tuple[float, float, float]:
    """Seconds to store `rows` made-up rows by store_lines (the replay's way): with every counting
    trigger, with 0009's alone (no map cells, no requester countries), and with none; rolled back."""
    faker = HistoryFaker(seed=7, days=1)
    lines = []
    for row in faker.rows(rows):
        row = new_row(**row)
        give_uids([row])
        lines.append(encode_row(row))
    batches = [b"".join(lines[start : start + batch]) for start in range(0, rows, batch)]
    results = []
    for disabled in ((), INSERT_TRIGGERS[1:], INSERT_TRIGGERS):
        with transaction.atomic():
            with connection.cursor() as cursor:
                for trigger in disabled:
                    cursor.execute(f"ALTER TABLE lookups_lookup DISABLE TRIGGER {trigger}")
            start = time.perf_counter()
            for data in batches:
                store_lines(data)
            results.append(time.perf_counter() - start)
            transaction.set_rollback(True)
    return results[0], results[1], results[2]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--as-if-rows", type=int, default=0, help="Also read the counts as this many rows would."
    )
    parser.add_argument("--write-rows", type=int, default=50_000, help="Rows for the write cost (50000).")
    parser.add_argument(
        "--cells-per-day", type=int, default=10_000, help="With --as-if-rows: map cells a day (10000)."
    )
    options = parser.parse_args()
    newest = Lookup.objects.order_by("-created_at").values_list("created_at", flat=True).first()
    if newest is None:
        sys.exit("The history is empty: run manage.py seed_lookups first (see this script's --help).")
    now = newest.astimezone(dt.UTC)
    rows = Lookup.objects.count()
    query_rows, country_rows = LookupDayQuery.objects.count(), LookupDayCount.objects.count()
    print(f"history: {rows:,} rows; counts: {country_rows:,} day x country, {query_rows:,} day x query")
    cell_rows, requester_rows = LookupDayCell.objects.count(), LookupDayRequester.objects.count()
    print(f"map: {cell_rows:,} day x cell, {requester_rows:,} day x requester country")

    baseline, baseline_max = timed(lambda: figures_from_rows(now), options.runs)
    counts, counts_max = timed(lambda: history_stats(now=now), options.runs)
    print(f"from the rows (before: the baseline): median {ms(baseline)}, slowest {ms(baseline_max)}")
    print(
        f"from the counts: median {ms(counts)}, slowest {ms(counts_max)} "
        f"({counts / baseline:.4f} x the baseline)"
    )
    places_baseline, places_baseline_max = timed(lambda: places_from_rows(now), options.runs)
    places, places_max = timed(lambda: places_from_cells(now), options.runs)
    print(
        f"map and requesters from the rows: median {ms(places_baseline)}, slowest {ms(places_baseline_max)}; "
        f"from the cells: median {ms(places)}, slowest {ms(places_max)}"
    )
    if options.as_if_rows > rows:
        factor = round(options.as_if_rows / rows)
        with transaction.atomic():
            scale_counts(factor)
            scaled, scaled_max = timed(lambda: history_stats(now=now), options.runs)
            print(
                f"from the counts as {factor * rows:,} rows would leave them "
                f"({LookupDayQuery.objects.count():,} day x query): "
                f"median {ms(scaled)}, slowest {ms(scaled_max)} "
                f"({scaled / baseline:.4f} x the baseline at {rows:,} rows)"
            )
            fill_cells(options.cells_per_day)
            window = now.date() - dt.timedelta(days=DAYS - 1)
            in_window = LookupDayCell.objects.filter(day__gte=window).count()
            scaled, scaled_max = timed(lambda: places_from_cells(now), options.runs)
            print(
                f"map and requesters from the cells as {factor * rows:,} rows would leave them, "
                f"{options.cells_per_day:,} cells a day ({in_window:,} day x cell in the "
                f"{DAYS} days): median {ms(scaled)}, slowest {ms(scaled_max)}"
            )
            transaction.set_rollback(True)

    every, day_counts_only, without = write_cost(options.write_rows)
    written = options.write_rows
    print(
        f"storing {written:,} rows by store_lines: {written / every:,.0f} rows/s with every counting "
        f"trigger, {written / day_counts_only:,.0f} rows/s without the map's (0011), "
        f"{written / without:,.0f} rows/s without any ({every / without:.2f} x the time)"
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


if __name__ == "__main__":
    main()
