"""CPU per history row of the write-behind flusher: what PostgreSQL's backend and this process
spend to move spooled rows into the table, as the flusher does every HISTORY_FLUSH_INTERVAL.

    DATABASE_URL=postgis://postgres@127.0.0.1:5432/<db> .venv/bin/python bench/history_flush.py \
        [--rows 20000] [--per-flush 250] [--repeat 3]

Lookups record `per-flush` rows (a flush interval's worth at 1,000 lookups a second), then one
flush moves them; repeated until `rows` rows are stored. PostgreSQL's CPU is read from
/proc/<backend pid>/stat, so the server must run on this machine. The database must be migrated;
the rows this adds are deleted at the end. Runs from any checkout (cwd), to compare commits.
"""

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

if "DATABASE_URL" not in os.environ:
    sys.exit("Set DATABASE_URL to a migrated database of your own: this writes history rows into it.")
sys.path.insert(0, os.getcwd())
WORK = Path(tempfile.mkdtemp(prefix="easygeoip-history-flush-"))
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_SECRET_KEY": "benchmark-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "LOG_LEVEL": "WARNING",
        "HISTORY_SPOOL_DIR": str(WORK / "spool"),
        # Write-behind as in production, flushed by hand inside the measured time.
        "HISTORY_FLUSH_INTERVAL": "3600",
    }
)

import django

django.setup()

from django.db import connection
from django.utils import timezone

from lookups import history

TICK = os.sysconf("SC_CLK_TCK")


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def lookup_row(index: int) -> dict:
    address = f"81.{index % 250}.{index // 250 % 250}.{index % 200 + 1}"
    return history.new_row(
        query=address if index % 3 else f"host{index}.example.com",
        channel="api",
        addresses=[address],
        ip_address=address,
        network=f"81.{index % 250}.{index // 250 % 250}.0/24",
        continent_code="EU",
        country_code="GB",
        country_name="United Kingdom",
        subdivision_code="ENG",
        subdivision_name="England",
        city="London",
        postal_code="EC2V",
        location=(-0.0931 + index * 1e-6, 51.5142),
        accuracy_radius=20,
        time_zone="Europe/London",
        time_zone_source="maxmind",
        requester="198.51.100.0",
        database_edition="GeoLite2-City",
        database_build_date=dt.datetime(2026, 9, 1, tzinfo=dt.UTC),
        created_at=timezone.now(),
    )


def run(rows: int, per_flush: int) -> tuple[float, float, float, float]:
    """CPU µs per row of record() (in the request) and of the flush (PostgreSQL's, this process's),
    and rows per second of flushing."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    record_cpu = pg_cpu = py_cpu = wall = 0.0
    for start in range(0, rows, per_flush):
        batch = [lookup_row(start + i) for i in range(per_flush)]
        before = time.process_time()
        for row in batch:
            history.record([row])
        record_cpu += time.process_time() - before
        pg_before, py_before, wall_before = backend_cpu(pid), time.process_time(), time.perf_counter()
        history.flush()
        pg_cpu += backend_cpu(pid) - pg_before
        py_cpu += time.process_time() - py_before
        wall += time.perf_counter() - wall_before
    return record_cpu / rows * 1e6, pg_cpu / rows * 1e6, py_cpu / rows * 1e6, rows / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--per-flush", type=int, default=250)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    connection.ensure_connection()
    connection.close_if_unusable_or_obsolete = lambda: None  # one backend to measure
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM lookups_lookup")
        (last_id,) = cursor.fetchone()
    try:
        for attempt in range(args.repeat):
            record, pg, py, rate = run(args.rows, args.per_flush)
            print(
                f"run {attempt + 1}: record {record:.1f} µs/row; flush: PostgreSQL {pg:.0f} µs/row, "
                f"Python {py:.0f} µs/row, "
                f"{rate:,.0f} rows/s flushed ({args.rows:,} rows, {args.per_flush} per flush)"
            )
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM lookups_lookup WHERE id > %s", [last_id])


if __name__ == "__main__":
    main()
