"""The dashboard's figures at volume: read from the per-day counts (what the admin does), against
the same figures computed from the history's rows (what it did before: the baseline), and what
keeping the counts costs the history's writes. Against the database in DATABASE_URL, filled first:

    DJANGO_SECRET_KEY=bench .venv/bin/python manage.py seed_lookups --count 1000000 --seed 1
    DJANGO_SECRET_KEY=bench .venv/bin/python bench/dashboard_figures.py --as-if-rows 10000000

--as-if-rows N: the counts are then also read as N lookups would have left them: per-day query
rows copied under new names until there are N / (seeded rows) times as many (distinct queries
grow with traffic: a third of the seeded lookups are of an address asked once), country counts
multiplied. All of it in a transaction rolled back at the end: the database is left as it was.
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
from lookups.devtools.seeding import HistoryFaker
from lookups.history.encoding import encode_row
from lookups.history.postgres import store_lines
from lookups.history.rows import give_uids, new_row
from lookups.models import OUTCOME_OK, Lookup, LookupDayCount, LookupDayQuery, TimeZoneSource


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


def write_cost(rows: int, batch: int = 500) -> tuple[float, float]:
    """Seconds to store `rows` made-up rows by store_lines (the replay's way), with the counting
    triggers and without them; rolled back."""
    faker = HistoryFaker(seed=7, days=1)
    lines = []
    for row in faker.rows(rows):
        row = new_row(**row)
        give_uids([row])
        lines.append(encode_row(row))
    batches = [b"".join(lines[start : start + batch]) for start in range(0, rows, batch)]
    results = []
    for triggers in ("ENABLE", "DISABLE"):
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(f"ALTER TABLE lookups_lookup {triggers} TRIGGER lookups_count_inserts")
            start = time.perf_counter()
            for data in batches:
                store_lines(data)
            results.append(time.perf_counter() - start)
            transaction.set_rollback(True)
    return results[0], results[1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--as-if-rows", type=int, default=0, help="Also read the counts as this many rows would."
    )
    parser.add_argument("--write-rows", type=int, default=50_000, help="Rows for the write cost (50000).")
    options = parser.parse_args()
    newest = Lookup.objects.order_by("-created_at").values_list("created_at", flat=True).first()
    if newest is None:
        sys.exit("The history is empty: run manage.py seed_lookups first (see this script's --help).")
    now = newest.astimezone(dt.UTC)
    rows = Lookup.objects.count()
    query_rows, country_rows = LookupDayQuery.objects.count(), LookupDayCount.objects.count()
    print(f"history: {rows:,} rows; counts: {country_rows:,} day x country, {query_rows:,} day x query")

    baseline, baseline_max = timed(lambda: figures_from_rows(now), options.runs)
    counts, counts_max = timed(lambda: history_stats(now=now), options.runs)
    print(f"from the rows (before: the baseline): median {ms(baseline)}, slowest {ms(baseline_max)}")
    print(
        f"from the counts: median {ms(counts)}, slowest {ms(counts_max)} "
        f"({counts / baseline:.4f} x the baseline)"
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
            transaction.set_rollback(True)

    with_counts, without = write_cost(options.write_rows)
    written = options.write_rows
    print(
        f"storing {written:,} rows by store_lines: {written / with_counts:,.0f} rows/s with the counting "
        f"trigger, {written / without:,.0f} rows/s without ({with_counts / without:.2f} x the time)"
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


if __name__ == "__main__":
    main()
