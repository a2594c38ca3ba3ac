"""Where a request's CPU goes under load: gunicorn (its workers: HTTP, threads, our code),
PostgreSQL, the rest; per request, for the baseline app and the lookup API.

    .venv/bin/python bench/cpu_split.py
    .venv/bin/python bench/cpu_split.py --threads 1 4

CPU time is read from /proc (user + system) of every process before and after a wrk run of
`--duration` seconds; wrk's own is left out. Same database, settings and load as bench/run.py.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))

from bench import realistic_db
from bench.instructions import environment
from bench.run import DB_NAME, Gunicorn, prepare_database, run_wrk, warm_up

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds_by_group() -> dict[str, float]:
    groups: dict[str, float] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # gone meanwhile
        fields = stat.rsplit(")", 1)[1].split()
        seconds = (int(fields[11]) + int(fields[12])) / _TICK
        group = "postgres" if "postgres" in command else "gunicorn" if "gunicorn" in command else "other"
        groups[group] = groups.get(group, 0.0) + seconds
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, nargs="*", default=[], help="GUNICORN_THREADS to try")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--networks", type=int, default=200_000)
    args = parser.parse_args()

    mmdb = realistic_db.build(args.networks)
    work = Path(tempfile.mkdtemp(prefix="easygeoip-cpu-split-"))
    env = environment(work, mmdb)
    db_dsn = env["DATABASE_URL"].replace("postgis://", "postgresql://")
    prepare_database(db_dsn.rsplit("/", 1)[0] + "/postgres", db_dsn, env)
    addresses = realistic_db.sample_addresses(mmdb, 20_000)
    addresses_file = work / "addresses.txt"
    addresses_file.write_text("\n".join(addresses) + "\n")

    runs = [("baseline", "bench.baseline_app:application", "/", {})]
    runs += [("API lookup", "config.wsgi:application", "/api/v1/lookup/", {})]
    runs += [
        (
            f"API lookup, {n} thread(s)",
            "config.wsgi:application",
            "/api/v1/lookup/",
            {"GUNICORN_THREADS": str(n)},
        )
        for n in args.threads
    ]
    load = f"wrk -t2 -c32 -d{args.duration}s"
    print(f"database {DB_NAME}, {mmdb.name}; CPU µs per request (user + system), {load}")
    for label, app, prefix, extra in runs:
        server = Gunicorn(app, {**env, **extra}, (os.cpu_count() or 1) * 2 + 1, work)
        try:
            warm_up(server.url, [prefix + address for address in addresses[:50]])
            time.sleep(1.5)
            before = cpu_seconds_by_group()
            result = run_wrk(server.url, prefix, addresses_file, args.duration, 32)
            time.sleep(1.5)  # the history's last flush, written behind
            after = cpu_seconds_by_group()
        finally:
            server.stop()
        split = {group: (after[group] - before.get(group, 0.0)) / result["requests"] * 1e6 for group in after}
        shares = "  ".join(
            f"{group} {split.get(group, 0):5.0f}" for group in ("gunicorn", "postgres", "other")
        )
        print(f"{label:28s} {result['rate']:7,.0f}/s   {shares}   total {sum(split.values()):5.0f}")


if __name__ == "__main__":
    main()
