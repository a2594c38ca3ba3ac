"""Load with injected faults: does easygeoip keep answering, and lose no history?

Starts everything it needs on this machine and nothing else: a PostgreSQL cluster of its own on a
free loopback port (lookups/tests/pg_cluster.py), the test DNS server, a generated GeoIP City
database and a gunicorn with the production settings. A few client threads send a mix of
lookups (addresses, names, errors, batches, pages) to 127.0.0.1 for a bounded time while the
schedule below injects faults; then it waits for the history spool to drain and compares the
history rows every answer promised with the rows PostgreSQL holds.

    make load-fault                          # the default run (about five minutes)
    .venv/bin/python bench/load_and_fault.py --seconds 60 --threads 6 --workers 4

Then two "no worker held hostage" scenarios, on a fresh gunicorn for each number of threads per
worker (--hostage-threads), each against baselines measured in the same run: plain address
lookups a second while silent names hold every DNS slot, and while PostgreSQL is frozen
(SIGSTOP) with web-service requests (which read their keys from PostgreSQL) still coming in.

Figures go to stdout, and as JSON to bench/results/ (not committed).
"""

import argparse
import collections
import datetime as dt
import http.client
import itertools
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")

import django

django.setup()

from conftest import DNS_RECORDS, create_tz_world, run_gunicorn
from lookups.tests.dns_server import SILENT_NAME, LocalDNSServer
from lookups.tests.geoip_data import LONDON, NETWORKS, build_city_database
from lookups.tests.pg_cluster import PostgresCluster
from lookups.tests.traffic import Traffic, percentile

DB_NAME = "easygeoip_load"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def prepare_cluster() -> PostgresCluster:
    cluster = PostgresCluster()
    cluster.start()
    cluster.create_database(DB_NAME)
    env = {
        **os.environ,
        "DATABASE_URL": cluster.url(DB_NAME),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_SECRET_KEY": "migrate-only",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=BASE_DIR, env=env, check=True
    )
    with closing(cluster.connect(DB_NAME)) as connection, connection.cursor() as cursor:
        create_tz_world(cursor)
    return cluster


def collect_static(root: Path) -> None:
    """As the production image does at build time: the pages need the manifest."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_STATIC_ROOT": str(root),
        "DJANGO_SECRET_KEY": "collectstatic-only",
    }
    command = [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"]
    subprocess.run(command, cwd=BASE_DIR, env=env, check=True)


def stored_rows(cluster: PostgresCluster) -> collections.Counter:
    with closing(cluster.connect(DB_NAME)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT query, count(*) FROM lookups_lookup GROUP BY query")
        return collections.Counter(dict(cursor.fetchall()))


def spool_files(directory: Path) -> list[Path]:
    return [path for path in directory.glob("*") if path.suffix in (".spool", ".replaying")]


def hammer(
    port: int,
    paths,
    *,
    seconds: float,
    threads: int,
    headers: dict | None = None,
    addresses: bool = False,
    pause_after_refusal: float = 0.0,
) -> dict:
    """`threads` clients sending GETs of `paths` (an iterator, shared) for `seconds`, each on a
    connection of its own (kept alive). Counts answers by status; latencies of every answer.
    `addresses`: each client says it is another address (X-Forwarded-For, from a trusted proxy).
    `pause_after_refusal`: seconds a client waits after a 503 before its next request."""
    statuses: collections.Counter = collections.Counter()
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(number: int) -> None:
        sent = {**(headers or {}), **({"X-Forwarded-For": f"198.51.100.{number + 1}"} if addresses else {})}
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.monotonic() < stop:
            with lock:
                path = next(paths)
            started = time.monotonic()
            try:
                connection.request("GET", path, headers=sent)
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = "no answer"
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            with lock:
                statuses[status] += 1
                latencies.append(time.monotonic() - started)
            if status == 503 and pause_after_refusal:
                time.sleep(pause_after_refusal)
        connection.close()

    clients = [threading.Thread(target=client, args=(number,)) for number in range(threads)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()
    answered = sum(count for status, count in statuses.items() if status != "no answer")
    return {
        "answered": answered,
        "per_second": round(answered / seconds, 1),
        "by_status": {str(status): count for status, count in statuses.most_common()},
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "max_ms": round(max(latencies, default=0) * 1000, 1),
    }


def in_background(port: int, paths, *, seconds: float, threads: int, **options):
    """hammer() in a process of its own (this one's GIL is the measured clients'); join() it for
    its figures."""
    results = multiprocessing.get_context("fork").SimpleQueue()
    process = multiprocessing.get_context("fork").Process(
        target=lambda: results.put(hammer(port, paths, seconds=seconds, threads=threads, **options))
    )
    process.start()

    def join() -> dict:
        outcome = results.get()
        process.join()
        return outcome

    return join


def hostage_scenarios(port: int, cluster: PostgresCluster, *, seconds: float) -> dict:
    """Plain lookups a second from 4 clients: alone, while 24 other clients (addresses) ask for
    silent names, and while PostgreSQL is frozen and 4 other clients ask the web service (which
    reads their keys from PostgreSQL). The other clients wait half a second after a 503, as
    clients that back off do: a flood of requests refused at once is the rate limits' business,
    and would take the plain clients' share of the CPU whatever the workers do."""
    addresses = itertools.cycle([f"/api/v1/lookup/81.2.69.{host}" for host in range(1, 255, 7)])
    key = cluster.api_key_header(DB_NAME, "load-and-fault")
    results: dict = {}
    results["baseline"] = hammer(port, addresses, seconds=seconds, threads=4)

    silent = (f"/api/v1/lookup/n{number}.{SILENT_NAME}" for number in itertools.count())
    join = in_background(port, silent, seconds=seconds, threads=24, addresses=True, pause_after_refusal=0.5)
    results["silent_names"] = hammer(port, addresses, seconds=seconds, threads=4)
    results["silent_names"]["background_silent_name_requests"] = join()

    geoip = itertools.cycle(["/geoip/v2.1/city/81.2.69.142"])
    hammer(port, geoip, seconds=1, threads=4, headers=key)  # warm: the threads hold connections
    cluster.freeze()
    try:
        join = in_background(port, geoip, seconds=seconds, threads=4, headers=key, pause_after_refusal=0.5)
        results["postgresql_frozen"] = hammer(port, addresses, seconds=seconds, threads=4)
        results["postgresql_frozen"]["background_geoip_requests"] = join()
    finally:
        cluster.thaw()
    # Again, since a shared machine's speed drifts: the ratios are against the mean of both.
    results["baseline_after"] = hammer(port, addresses, seconds=seconds, threads=4)
    base = (results["baseline"]["per_second"] + results["baseline_after"]["per_second"]) / 2 or 1
    for name in ("silent_names", "postgresql_frozen"):
        results[name]["ratio_to_baseline"] = round(results[name]["per_second"] / base, 2)
    return results


def run(
    seconds: float, threads: int, workers: int, scenario_seconds: float, hostage_threads: list[int]
) -> dict:
    work = Path(tempfile.mkdtemp(prefix="easygeoip-load-"))
    geoip_path = build_city_database(work / "geoip" / "GeoLite2-City.mmdb", build_epoch=1_700_000_000)
    spool = work / "spool"
    dns = LocalDNSServer(DNS_RECORDS).start()
    log("collecting static files, starting PostgreSQL and migrating")
    collect_static(work / "static")
    cluster = prepare_cluster()
    faults: list[dict] = []
    outages: list[tuple[float, float]] = []  # wall-clock windows in which 5xx are expected
    env = {
        "DATABASE_URL": cluster.url(DB_NAME),
        "GEOIP_PATH": str(geoip_path.parent),
        "GEOIP_CITY": geoip_path.name,
        "GEOIP_RELOAD_CHECK_INTERVAL": "1",
        "DNS_NAMESERVERS": dns.address,
        "DNS_TIMEOUT": "1",
        "DJANGO_STATIC_ROOT": str(work / "static"),
        "API_THROTTLE_RATE": "",
        "HISTORY_SPOOL_DIR": str(spool),
        "LOG_LEVEL": "INFO",  # the replays are counted from the log
        # Fewer DNS slots than the workers' threads, so that the silent names can take them all.
        "DNS_MAX_CONCURRENT": "6",
        "DNS_SLOT_DIR": str(work / "dns-slots"),
        "TRUSTED_PROXIES": "127.0.0.1",
    }
    try:
        with run_gunicorn(env=env, tmp_path=work, workers=workers) as server:
            port = int(server.url.rsplit(":", 1)[1])
            server.get("/health", timeout=60)  # the first request loads Django
            started = time.monotonic()
            wall_start = time.time()
            traffic = Traffic(port, threads=threads, max_seconds=seconds + 60).start()
            log(f"traffic: {threads} threads -> gunicorn with {workers} workers on 127.0.0.1:{port}")

            def at(fraction: float) -> None:
                delay = started + fraction * seconds - time.monotonic()
                if delay > 0:
                    time.sleep(delay)

            def fault(name: str, **details) -> None:
                faults.append({"at_s": round(time.monotonic() - started, 1), "fault": name, **details})
                log(f"fault: {name} {details or ''}")

            at(0.15)
            fault("PostgreSQL stopped (pg_ctl stop -m fast)")
            outage_start = time.time()
            cluster.stop()
            at(0.35)
            cluster.start()
            outages.append((outage_start, time.time()))
            fault("PostgreSQL started", outage_s=round(time.time() - outage_start, 1))
            at(0.45)
            renamed = {**LONDON, "city": {"names": {"en": "Londinium", "de": "Londinium", "ja": "Londinium"}}}
            networks = {**NETWORKS, "81.2.69.0/24": renamed}
            build_city_database(geoip_path, build_epoch=1_800_000_000, networks=networks)
            fault("GeoIP database replaced (new file renamed over the old one)")
            at(0.55)
            dns.delay = 0.4
            fault("slow DNS: every answer 0.4 s late (DNS_TIMEOUT 1 s)")
            at(0.70)
            dns.delay = 0.0
            dns.silent = True
            dns_start = time.time()
            fault("DNS silent: no answer at all")
            at(0.80)
            dns.silent = False
            fault("DNS back", silent_s=round(time.time() - dns_start, 1))
            at(1.0)
            tally = traffic.stop()
            elapsed = time.monotonic() - started
            log("traffic stopped; waiting for the history spool to drain")

            drain_started = time.monotonic()
            while spool_files(spool) and time.monotonic() - drain_started < 60:
                status, _, _ = server.get("/api/v1/lookup/81.2.69.142")
                if status == 200:
                    tally.expected_rows["81.2.69.142"] += 1
                time.sleep(0.2)
            drained_after = time.monotonic() - drain_started
            gunicorn_log = server.log.read_text()
            city_after = json.loads(server.get("/api/v1/lookup/81.2.69.142")[2])["city"]["name"]
            tally.expected_rows["81.2.69.142"] += 1  # that lookup is recorded too
            # Compared before the scenarios below add lookups of their own, once the last is stored.
            settle_started = time.monotonic()
            while stored_rows(cluster) != tally.expected_rows and time.monotonic() - settle_started < 10:
                time.sleep(0.2)
            stored = stored_rows(cluster)
        hostage = {"seconds_each": scenario_seconds, "gunicorn_workers": workers}
        # Each on a fresh gunicorn, for each number of threads per worker (1: as sync workers were).
        for threads in hostage_threads if scenario_seconds else ():
            log(f"hostage scenarios: {workers} workers of {threads} thread(s)")
            with run_gunicorn(
                env={
                    **env,
                    "GUNICORN_THREADS": str(threads),
                    "HISTORY_SPOOL_DIR": str(work / "spool-hostage"),
                },
                tmp_path=work,
                workers=workers,
            ) as server:
                port = int(server.url.rsplit(":", 1)[1])
                server.get("/health", timeout=60)
                hostage[f"threads_{threads}"] = hostage_scenarios(port, cluster, seconds=scenario_seconds)
    finally:
        dns.stop()
        cluster.destroy()
        results = BASE_DIR / "bench" / "results"
        results.mkdir(parents=True, exist_ok=True)
        for server_log in work.glob("gunicorn-*.log"):
            shutil.copy(server_log, results / f"load_and_fault-{time.strftime('%Y%m%d-%H%M%S')}.gunicorn.log")
        shutil.rmtree(work, ignore_errors=True)

    expected = tally.expected_rows
    missing = expected - stored
    extra = stored - expected

    def in_outage(when: float) -> bool:
        return any(start <= when <= end + 1 for start, end in outages)

    errors_outside = [error for error in tally.server_errors if not in_outage(error[0])]
    during_outage = [elapsed for started, elapsed in tally.samples if in_outage(started)]
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(elapsed, 1),
        "threads": threads,
        "gunicorn_workers": workers,
        "requests_sent": tally.sent,
        "answered": tally.answered,
        "requests_per_second": round(tally.answered / elapsed, 1),
        "by_kind": dict(tally.by_kind.most_common()),
        "server_errors_total": len(tally.server_errors),
        "server_errors_outside_outage": len(errors_outside),
        "history_rows_expected": sum(expected.values()),
        "history_rows_stored": sum(stored.values()),
        "history_rows_missing": sum(missing.values()),
        "history_rows_duplicated": sum(extra.values()),
        "spool_left": len(spool_files(spool)),
        "spool_drained_after_s": round(drained_after, 1),
        "latency_ms": {
            "p50": round(percentile(tally.latencies, 0.50) * 1000, 1),
            "p99": round(percentile(tally.latencies, 0.99) * 1000, 1),
            "max": round(tally.slowest * 1000, 1),
        },
        "latency_ms_during_postgresql_outage": {
            "requests": len(during_outage),
            "p50": round(percentile(during_outage, 0.50) * 1000, 1),
            "p99": round(percentile(during_outage, 0.99) * 1000, 1),
            "max": round(max(during_outage, default=0) * 1000, 1),
        },
        "history_rows_replayed_from_spool": sum(
            int(match) for match in re.findall(r"Replayed (\d+) history row", gunicorn_log)
        ),
        "workers_booted": gunicorn_log.count("Booting worker"),
        "worker_timeouts": gunicorn_log.count("WORKER TIMEOUT"),
        "tracebacks_in_log": gunicorn_log.count("Traceback"),
        "city_after_swap": city_after,
        "faults": faults,
        "started_at": wall_start,
        "hostage_scenarios": hostage,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=50, help="length of the loaded run (default 50)")
    parser.add_argument("--threads", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (default 3)")
    parser.add_argument(
        "--scenario-seconds",
        type=float,
        default=8,
        help="length of each hostage scenario after the run (default 8; 0 skips them)",
    )
    parser.add_argument(
        "--hostage-threads",
        default="1,4,8",
        help="threads per worker to run the hostage scenarios with, comma-separated (default 1,4,8)",
    )
    args = parser.parse_args()
    if not 5 <= args.seconds <= 600:
        parser.error("--seconds must be between 5 and 600")
    hostage_threads = [int(number) for number in args.hostage_threads.split(",") if number.strip()]
    report = run(args.seconds, args.threads, min(args.workers, 8), args.scenario_seconds, hostage_threads)
    print(json.dumps(report, indent=2))
    results = BASE_DIR / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / f"load_and_fault-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(
        json.dumps(report, indent=2)
    )
    ok = (
        report["history_rows_missing"] == 0
        and report["history_rows_duplicated"] == 0
        and report["server_errors_outside_outage"] == 0
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
