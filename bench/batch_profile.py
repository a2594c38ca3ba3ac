"""CPU per address of POST /api/v1/lookup/batch, in this process, and where it goes (--profile).
History included: write-behind as in production, each request's spool flushed into PostgreSQL
inside the measured time.

    DATABASE_URL=postgis://postgres@127.0.0.1:5432/<db> .venv/bin/python bench/batch_profile.py \
        [--mmdb bench/cache/bench-city-200000-1.mmdb] [--rounds 6] [--profile]

The database must be migrated; a tz_world table is created when it has none (one polygon over
the whole globe: answers stay cached per coordinates, as in production).
"""

import argparse
import cProfile
import gc
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent))

import realistic_db

if "DATABASE_URL" not in os.environ:
    sys.exit("Set DATABASE_URL to a migrated database of your own: this writes history rows into it.")
WORK = Path(tempfile.mkdtemp(prefix="easygeoip-batch-profile-"))
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_SECRET_KEY": "benchmark-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "GEOIP_PATH": str(WORK / "geoip"),
        "GEOIP_CITY": "GeoLite2-City.mmdb",
        "API_THROTTLE_RATE": "",
        "LOG_LEVEL": "WARNING",
        "HISTORY_SPOOL_DIR": str(WORK / "spool"),
        # Write-behind as in production, but flushed by hand inside the measured time.
        "HISTORY_FLUSH_INTERVAL": "3600",
    }
)

import django

django.setup()

from django.db import connection
from django.test import Client

from lookups import history

PATH = "/api/v1/lookup/batch"


def ensure_tz_world() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('tz_world')")
        if cursor.fetchone()[0] is None:
            cursor.execute((BENCH_DIR.parent / "timezones" / "sql" / "tz_world.sql").read_text())
            cursor.execute(
                "INSERT INTO tz_world (tzid, geom) VALUES ('Etc/UTC', "
                "ST_GeomFromText('MULTIPOLYGON(((-180 -90,180 -90,180 90,-180 90,-180 -90)))', 4326))"
            )


# Garbage collections during the measured requests: {(path, generation): [count, seconds]}.
collections: dict[tuple[str, int], list] = {}
_measuring = [""]
_collection_started = [0.0]


def _time_collections(phase: str, info: dict) -> None:
    if phase == "start":
        _collection_started[0] = time.process_time()
        return
    spent = collections.setdefault((_measuring[0], info["generation"]), [0, 0.0])
    spent[0] += 1
    spent[1] += time.process_time() - _collection_started[0]


def post(client: Client, body: bytes) -> bytes:
    response = client.post(PATH, data=body, content_type="application/json")
    assert response.status_code == 200, response.content[:300]
    history.flush()
    return response.content


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mmdb", type=Path)
    parser.add_argument("--networks", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--batches", type=int, default=5, help="1,000-address requests per round and path")
    parser.add_argument("--profile", action="store_true", help="cProfile the requests instead")
    parser.add_argument("--sort", default="cumulative", help="the profile's order (pstats keys)")
    parser.add_argument("--lines", type=int, default=45, help="the profile's length")
    args = parser.parse_args()

    mmdb = args.mmdb.resolve() if args.mmdb else realistic_db.build(args.networks)
    (WORK / "geoip").mkdir()
    (WORK / "geoip" / "GeoLite2-City.mmdb").symlink_to(mmdb)
    ensure_tz_world()
    addresses = realistic_db.sample_addresses(mmdb, 1000 * args.batches)
    bodies = [
        json.dumps({"queries": addresses[i : i + 1000]}).encode() for i in range(0, len(addresses), 1000)
    ]
    client = Client(HTTP_HOST="localhost", REMOTE_ADDR="203.0.113.9")

    for body in bodies:  # warm every cache (parsing, tz_world)
        post(client, body)
    # As gunicorn's workers do after start-up (config/gunicorn.conf.py): the heap loaded so far
    # is never walked again by the garbage collector.
    gc.collect()
    gc.freeze()
    gc.callbacks.append(_time_collections)

    if args.profile:
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for body in bodies:
            post(client, body)
        profiler.disable()
        pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.lines)
        return

    _measuring[0] = "batch"
    started = time.process_time()
    for _ in range(args.rounds):
        for body in bodies:
            post(client, body)
    spent = time.process_time() - started
    count = args.rounds * len(bodies) * 1000
    print(f"{spent / count * 1e6:7.1f} µs CPU per address")
    for (_, generation), (times, seconds) in sorted(collections.items()):
        per_address = seconds / count * 1e6
        print(f"gc generation {generation}: {times} collections, {per_address:.1f} µs per address")


if __name__ == "__main__":
    main()
