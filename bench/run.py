"""easygeoip benchmarks: one run, side by side, every figure a ratio to a baseline measured in
the same run. `make bench` runs it; `python bench/run.py --help` for options.

1. baseline: a minimal WSGI app (bench/baseline_app.py) doing the same reader lookup and one
   history INSERT per request, under the same gunicorn;
2. GET /api/v1/lookup/<ip> over thousands of different addresses, history on;
3. POST /api/v1/lookup/batch with 1,000 addresses a request: addresses per second;
4. the time-zone fallback: timezone_at per call on the real polygons, p50 and p99;
5. the HTML lookup page.
Load comes from wrk (2 threads, 32 connections) on the same two cores, so absolute figures are
lower than on a dedicated load machine; ratios are what to compare.
"""

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
BASE_DIR = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BASE_DIR))

import contextlib

import realistic_db

PYTHON = sys.executable
DB_NAME = "easygeoip_bench"


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def psql(dsn: str, sql: str) -> str:
    return subprocess.run(
        ["psql", dsn, "-qtAX", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True, capture_output=True, text=True
    ).stdout.strip()


def prepare_database(server_dsn: str, db_dsn: str, env: dict) -> None:
    if not psql(server_dsn, f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'"):
        psql(server_dsn, f"CREATE DATABASE {DB_NAME}")
    psql(db_dsn, "CREATE EXTENSION IF NOT EXISTS postgis")
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], cwd=BASE_DIR, env=env, check=True)
    psql(
        db_dsn,
        "CREATE TABLE IF NOT EXISTS bench_baseline_history (id bigserial PRIMARY KEY, "
        "created_at timestamptz, query varchar(255), ip_address inet, country_code varchar(2), "
        "city varchar(100))",
    )
    psql(db_dsn, "TRUNCATE bench_baseline_history, lookups_lookup")


class Gunicorn:
    def __init__(self, app: str, env: dict, workers: int, log_dir: Path, cwd: Path = BASE_DIR):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_dir / f"gunicorn-{self.port}.log"
        command = [PYTHON, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", app]
        full_env = {
            **env,
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "GUNICORN_WORKERS": str(workers),
            "GUNICORN_ACCESS_LOG": "",
            "GUNICORN_MAX_REQUESTS": "0",
            "GUNICORN_CONTROL_SOCKET": "off",
        }
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                command, cwd=cwd, env=full_env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(self.log.read_text())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not start")

    def worker_memory(self) -> list[dict]:
        """Resident memory of each worker: anonymous (private) and file-backed (the shared mmap)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        workers = []
        for pid in children:
            fields = {}
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("VmRSS", "RssAnon", "RssFile"):
                    fields[key] = int(value.split()[0]) // 1024
            workers.append(fields)
        return workers

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def warm_up(url: str, paths: list[str]) -> None:
    for path in paths:
        # A slow first answer (a loaded machine) is no reason to stop the run: wrk measures it.
        with contextlib.suppress(urllib.error.HTTPError, urllib.error.URLError, TimeoutError):
            urllib.request.urlopen(url + path, timeout=10).read()


def run_wrk(url: str, prefix: str, addresses_file: Path, duration: int, connections: int) -> dict:
    env = {**os.environ, "BENCH_ADDRESSES": str(addresses_file), "BENCH_PREFIX": prefix}
    output = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "5s",
            "-s",
            str(BENCH_DIR / "wrk_paths.lua"),
            url,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    data = json.loads(re.search(r"WRKJSON (\{.*\})", output).group(1))
    errors = data["non2xx"] + data["connect"] + data["read"] + data["write"] + data["timeout"]
    return {
        "rate": data["requests"] / (data["duration_us"] / 1e6),
        "p50_ms": data["p50_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "errors": errors,
        "requests": data["requests"],
    }


def run_batch(url: str, addresses: list[str], duration: int, clients: int = 2, size: int = 1000) -> dict:
    batches = [addresses[i : i + size] for i in range(0, len(addresses) - size + 1, size)]
    latencies: list[float] = []
    errors = 0
    sent = 0
    lock = threading.Lock()
    deadline = time.monotonic() + duration

    def client(offset: int) -> None:
        nonlocal errors, sent
        index = offset
        while time.monotonic() < deadline:
            body = json.dumps({"queries": batches[index % len(batches)]}).encode()
            request = urllib.request.Request(
                url + "/api/v1/lookup/batch", data=body, headers={"Content-Type": "application/json"}
            )
            started = time.monotonic()
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    response.read()
                    ok = response.status == 200
            except (urllib.error.URLError, OSError):
                ok = False
            with lock:
                latencies.append(time.monotonic() - started)
                sent += size if ok else 0
                errors += 0 if ok else 1
            index += clients

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "rate": sent / elapsed,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else 0,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else 0,
        "errors": errors,
        "requests": len(latencies),
    }


def timezone_fallback(env: dict, points: int) -> dict | None:
    """timezone_at p50/p99 per call on the real polygons, in a Django process of its own."""
    script = BENCH_DIR / "timezones.py"
    if not script.exists():
        return None
    output = subprocess.run(
        [PYTHON, str(script), "--points", str(points), "--json"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    if output.returncode != 0:
        log(f"time-zone benchmark failed: {output.stderr.strip()[-500:]}")
        return None
    return json.loads(output.stdout.strip().splitlines()[-1])


def history_rows(db_dsn: str, table: str) -> int:
    return int(psql(db_dsn, f"SELECT count(*) FROM {table}"))


def _database_of_its_own(env: dict, tree: Path) -> str:
    """A database for the other commit, migrated by its own code (the history's schema changes
    between commits), with this run's time-zone polygons (tables load_tz_world makes) copied in."""
    ours = env["DATABASE_URL"]
    theirs = f"{ours}_compare"
    server_dsn = ours.rsplit("/", 1)[0].replace("postgis://", "postgresql://") + "/postgres"
    psql(server_dsn, f"DROP DATABASE IF EXISTS {DB_NAME}_compare")
    psql(server_dsn, f"CREATE DATABASE {DB_NAME}_compare")
    theirs_dsn = theirs.replace("postgis://", "postgresql://")
    psql(theirs_dsn, "CREATE EXTENSION IF NOT EXISTS postgis")
    other_env = {**env, "PYTHONPATH": "", "DATABASE_URL": theirs}
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], cwd=tree, env=other_env, check=True)
    dump = subprocess.run(
        ["pg_dump", "-t", "tz_world*", ours.replace("postgis://", "postgresql://")],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["psql", "-q", "-v", "ON_ERROR_STOP=1", theirs_dsn],
        input=dump.stdout,
        check=True,
        capture_output=True,
    )
    return theirs


def compare_commit(
    commit: str, env: dict, workers: int, work: Path, addresses: list[str], addresses_file: Path, args
) -> dict[str, dict]:
    """The API lookup and batch benchmarks on another commit, served from a git worktree of it."""
    tree = work / "compare"
    subprocess.run(
        ["git", "-C", str(BASE_DIR), "worktree", "add", "--detach", str(tree), commit],
        check=True,
        capture_output=True,
    )
    results: dict[str, dict] = {}
    try:
        other_env = {**env, "PYTHONPATH": "", "DATABASE_URL": _database_of_its_own(env, tree)}
        other = Gunicorn("config.wsgi:application", other_env, workers, work, cwd=tree)
        try:
            warm_up(other.url, [f"/api/v1/lookup/{a}" for a in addresses[:50]])
            log(f"2c/5 GET /api/v1/lookup/<ip> on {commit}")
            results["api_lookup_compare"] = run_wrk(
                other.url, "/api/v1/lookup/", addresses_file, args.duration, args.connections
            )
            log(f"3c/5 POST /api/v1/lookup/batch on {commit}")
            results["batch_compare"] = run_batch(other.url, addresses, args.duration)
        finally:
            other.stop()
    finally:
        subprocess.run(
            ["git", "-C", str(BASE_DIR), "worktree", "remove", "--force", str(tree)],
            check=False,
            capture_output=True,
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mmdb", type=Path, help="benchmark this City database instead of the generated one")
    parser.add_argument("--networks", type=int, default=200_000, help="networks in the generated database")
    parser.add_argument("--duration", type=int, default=15, help="seconds of load per HTTP benchmark")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=0, help="gunicorn workers (default: config's)")
    parser.add_argument("--tz-points", type=int, default=10_000)
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "results")
    parser.add_argument(
        "--compare",
        metavar="COMMIT",
        help="also run the API lookup and batch benchmarks on COMMIT (checked out in a git worktree, "
        "same database: its migrations must match), right after this checkout's",
    )
    parser.add_argument(
        "--dashboard-rows",
        type=int,
        default=0,
        metavar="N",
        help="also seed N lookups and time the dashboard's figures (bench/dashboard_figures.py), "
        "from the counts against from the rows, and as 10 million rows would leave the counts",
    )
    args = parser.parse_args()

    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: `make bench` installs it (apt-get install wrk)")
    mmdb = args.mmdb.resolve() if args.mmdb else realistic_db.build(args.networks)
    workers = args.workers or (os.cpu_count() or 1) * 2 + 1
    database_url = os.environ.get("DATABASE_URL", "postgis://postgres@127.0.0.1:5432/easygeoip")
    server = database_url.rsplit("/", 1)[0]
    db_url = f"{server}/{DB_NAME}"
    server_dsn = server.replace("postgis://", "postgresql://") + "/postgres"
    db_dsn = db_url.replace("postgis://", "postgresql://")

    work = Path(tempfile.mkdtemp(prefix="easygeoip-bench-"))
    geoip_dir = work / "geoip"
    geoip_dir.mkdir()
    (geoip_dir / "GeoLite2-City.mmdb").symlink_to(mmdb)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_SECRET_KEY": "benchmark-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_STATIC_ROOT": str(work / "static"),
        "DATABASE_URL": db_url,
        "GEOIP_PATH": str(geoip_dir),
        "GEOIP_CITY": "GeoLite2-City.mmdb",
        "API_THROTTLE_RATE": "",
        # A spool of its own: rows an earlier run left behind must not be counted in this one.
        "HISTORY_SPOOL_DIR": str(work / "spool"),
        "LOG_LEVEL": "WARNING",
        "BENCH_MMDB": str(mmdb),
        "BENCH_DSN": db_dsn,
    }
    log(f"database {mmdb.name}; {workers} gunicorn workers; {args.duration} s per run")
    prepare_database(server_dsn, db_dsn, env)
    subprocess.run(
        [PYTHON, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=BASE_DIR, env=env, check=True
    )
    if (
        "load_tz_world"
        in subprocess.run(
            [PYTHON, "manage.py", "help", "--commands"], cwd=BASE_DIR, env=env, capture_output=True, text=True
        ).stdout
    ):
        subprocess.run(
            [PYTHON, "manage.py", "check_data", "--install", "-v0"], cwd=BASE_DIR, env=env, check=False
        )

    addresses = realistic_db.sample_addresses(mmdb, 20_000)
    addresses_file = work / "addresses.txt"
    addresses_file.write_text("\n".join(addresses) + "\n")
    results: dict[str, dict] = {}

    log("1/5 baseline: minimal WSGI app, reader lookup + one INSERT")
    baseline = Gunicorn("bench.baseline_app:application", env, workers, work)
    try:
        warm_up(baseline.url, [f"/{a}" for a in addresses[:50]])
        results["baseline"] = run_wrk(baseline.url, "/", addresses_file, args.duration, args.connections)
        results["baseline"]["rows"] = history_rows(db_dsn, "bench_baseline_history")
    finally:
        baseline.stop()

    service = Gunicorn("config.wsgi:application", env, workers, work)
    try:
        warm_up(
            service.url,
            [f"/api/v1/lookup/{a}" for a in addresses[:50]] + [f"/lookup/{a}" for a in addresses[:20]],
        )
        time.sleep(1.5)  # let the warm-up's rows be flushed before the count starts
        psql(db_dsn, "TRUNCATE lookups_lookup")
        log("2/5 GET /api/v1/lookup/<ip>, history on")
        results["api_lookup"] = run_wrk(
            service.url, "/api/v1/lookup/", addresses_file, args.duration, args.connections
        )
        time.sleep(1.5)  # write-behind: the last rows reach PostgreSQL within HISTORY_FLUSH_INTERVAL
        results["api_lookup"]["rows"] = history_rows(db_dsn, "lookups_lookup")
        log("3/5 POST /api/v1/lookup/batch, 1,000 addresses a request")
        results["batch"] = run_batch(service.url, addresses, args.duration)
        log("5/5 the HTML lookup page")
        results["html_page"] = run_wrk(
            service.url, "/lookup/", addresses_file, args.duration, args.connections
        )
        memory = service.worker_memory()
    finally:
        service.stop()

    if args.compare:
        results.update(compare_commit(args.compare, env, workers, work, addresses, addresses_file, args))

    log("4/5 time-zone fallback on the real polygons")
    tz = timezone_fallback(env, args.tz_points)
    if tz:
        results["tz_naive"] = tz["naive ST_Contains on tz_world"]
        results["tz_cache_off"] = tz["timezone_at, cache off (subdivided table)"]
        results["tz_cache_cold"] = tz["timezone_at, cache starting empty"]
        results["tz_first_lookup"] = tz["timezone_at, each point's first lookup (asks PostgreSQL)"]

    dashboard = ""
    if args.dashboard_rows:
        log(f"dashboard: seeding {args.dashboard_rows:,} lookups, then its figures both ways")
        psql(
            db_dsn,
            "TRUNCATE lookups_lookup, lookups_lookupdaycount, lookups_lookupdayquery, "
            "lookups_lookupdaycell, lookups_lookupdayrequester",
        )
        seed = [
            PYTHON,
            "manage.py",
            "seed_lookups",
            "--count",
            str(args.dashboard_rows),
            "--seed",
            "1",
            "-v0",
        ]
        subprocess.run(seed, cwd=BASE_DIR, env=env, check=True)
        figures = [PYTHON, str(BENCH_DIR / "dashboard_figures.py"), "--as-if-rows", "10000000"]
        dashboard = subprocess.run(
            figures, cwd=BASE_DIR, env=env, check=True, capture_output=True, text=True
        ).stdout

    base_rate = results["baseline"]["rate"]
    print()
    print(
        f"easygeoip benchmark, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} cores, {workers} workers, "
        f"wrk -t2 -c{args.connections} -d{args.duration}s, {mmdb.name}"
    )
    print(f"{'benchmark':<28}{'rate/s':>12}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}{'× baseline':>12}")
    labels = {
        "baseline": "baseline (WSGI+INSERT)",
        "api_lookup": "API lookup, history on",
        "api_lookup_compare": f"  same, {args.compare}",
        "batch": "batch (addresses/s)",
        "batch_compare": f"  same, {args.compare}",
        "html_page": "HTML page",
        "tz_naive": "tz: naive ST_Contains",
        "tz_cache_off": "tz: timezone_at, no cache",
        "tz_cache_cold": "tz: timezone_at, cold cache",
        "tz_first_lookup": "tz: first lookup of a point",
    }
    for key, label in labels.items():
        if key not in results:
            continue
        row = results[key]
        # Time-zone rows compare with the naive query instead of the HTTP baseline.
        if key.startswith("tz_"):
            ratio = row["rate"] / results["tz_naive"]["rate"]
            ratio_text = f"{ratio:>10.2f}×n"
        else:
            ratio = row["rate"] / base_rate
            ratio_text = f"{ratio:>11.2f}×"
        print(
            f"{label:<28}{row['rate']:>12,.0f}{row['p50_ms']:>10.2f}{row['p99_ms']:>10.2f}"
            f"{row.get('errors', 0):>8}{ratio_text}"
        )
    if "rows" in results.get("api_lookup", {}):
        api, base = results["api_lookup"], results["baseline"]
        print(
            f"history rows: API {api['rows']:,} for {api['requests']:,} requests; "
            f"baseline {base['rows']:,} for {base['requests']:,}"
        )
    print(
        "worker memory (MiB): "
        + ", ".join(
            f"RSS {m.get('VmRSS', 0)} (private {m.get('RssAnon', 0)}, shared file {m.get('RssFile', 0)})"
            for m in memory
        )
    )

    if dashboard:
        print("dashboard figures (bench/dashboard_figures.py):")
        print(dashboard.rstrip())

    args.output.mkdir(parents=True, exist_ok=True)
    out = args.output / f"bench-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(
        json.dumps(
            {
                "date": dt.datetime.now(dt.UTC).isoformat(),
                "machine": platform.node(),
                "cores": os.cpu_count(),
                "workers": workers,
                "database": mmdb.name,
                "results": results,
                "worker_memory_mib": memory,
                "dashboard": dashboard.splitlines(),
            },
            indent=2,
        )
    )
    log(f"wrote {out.relative_to(BASE_DIR)}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
