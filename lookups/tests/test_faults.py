"""Faults under a live gunicorn: PostgreSQL stopped mid-flow, tz_world gone or locked, DNS silent.

PostgreSQL faults use a cluster of their own (lookups/tests/pg_cluster.py) on a free port, so
that they can stop it; the DNS faults use the suite's database and the local DNS server's
misbehaving names. No assertion is about speed: a request that hangs fails on the client's
generous timeout instead, and the next request proves that the worker is free again.
"""

import collections
import contextlib
import fcntl
import http.cookiejar
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from contextlib import closing
from http import HTTPStatus
from pathlib import Path

import pytest

from conftest import BASE_DIR, create_tz_world, live_environment, run_gunicorn, wait_until
from lookups.errors import DNS_BUSY_MESSAGE
from lookups.tests.dns_server import GARBAGE_NAME, SILENT_NAME
from lookups.tests.geoip_data import LINKOPING_IP, LONDON_IP
from lookups.tests.pg_cluster import PostgresCluster
from lookups.tests.traffic import Traffic, percentile

pytestmark = pytest.mark.slow

FAULT_DB = "easygeoip_faults"
# Values that must never show up in a log line or a response body.
SECRET_KEY = "secret-key-9f2c7e1a-never-print-me-0123456789abcdefghijklmnop"
LICENSE_KEY = "licence-key-7d3b5a-never-print-me"
DB_PASSWORD = "db-password-4e8f1c-never-print-me"
ADMIN_PASSWORD = "admin-password-for-the-frozen-database-test"


def migrate(cluster: PostgresCluster) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": cluster.url(FAULT_DB),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_SECRET_KEY": "migrate-only",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=BASE_DIR, env=env, check=True
    )
    with closing(cluster.connect(FAULT_DB)) as connection, connection.cursor() as cursor:
        create_tz_world(cursor)


@pytest.fixture(scope="module")
def fault_cluster():
    cluster = PostgresCluster()
    try:
        cluster.start()
        cluster.create_database(FAULT_DB)
        migrate(cluster)
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def fault_server(fault_cluster, live_geoip_dir, dns_server, collected_static, tmp_path):
    """A gunicorn on the fault cluster, with a spool of its own and quick retries."""
    if not fault_cluster.is_running():
        fault_cluster.start()
    env = live_environment(geoip_dir=live_geoip_dir, dns_server=dns_server, static_root=collected_static)
    env.update(
        {
            # The password is ignored (trust authentication) but must never be printed.
            "DATABASE_URL": fault_cluster.url(FAULT_DB).replace("postgres@", f"postgres:{DB_PASSWORD}@"),
            "DJANGO_SECRET_KEY": SECRET_KEY,
            "MAXMIND_LICENSE_KEY": LICENSE_KEY,
            "HISTORY_SPOOL_DIR": str(tmp_path / "spool"),
            "HISTORY_DB_RETRY_INTERVAL": "0.5",
            # Each lookup looks at tz_world afresh: the tests take it away and lock it.
            "TZ_WORLD_RELOAD_CHECK_INTERVAL": "0",
        }
    )
    with run_gunicorn(env=env, tmp_path=tmp_path, workers=2) as server:
        server.spool = tmp_path / "spool"
        server.port = int(server.url.rsplit(":", 1)[1])
        yield server


def stored_rows(cluster) -> collections.Counter:
    with closing(cluster.connect(FAULT_DB)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT query, count(*) FROM lookups_lookup GROUP BY query")
        return collections.Counter(dict(cursor.fetchall()))


def clear_history(cluster) -> None:
    with closing(cluster.connect(FAULT_DB)) as connection, connection.cursor() as cursor:
        cursor.execute("TRUNCATE lookups_lookup")


def spool_files(server) -> list:
    return [path for path in server.spool.glob("*") if path.suffix in (".spool", ".replaying")]


def test_postgresql_stopped_mid_flow_loses_no_lookup_and_no_request(fault_cluster, fault_server):
    clear_history(fault_cluster)
    traffic = Traffic(fault_server.port, threads=4).start()
    time.sleep(1.0)
    fault_cluster.stop()
    outage_started = time.monotonic()
    time.sleep(2.0)
    # While PostgreSQL is away, /health says so but keeps the instance in service.
    status, _, body = fault_server.get("/health")
    health = json.loads(body)
    assert status == HTTPStatus.OK
    assert health["status"] == "degraded"
    assert health["warnings"][0].startswith("PostgreSQL does not answer")
    assert spool_files(fault_server), "lookups during the outage went to the spool"
    fault_cluster.start()
    outage = time.monotonic() - outage_started
    time.sleep(2.5)
    tally = traffic.stop()

    # Every worker's flusher replays the whole spool, its own files and the others'.
    wait_until(lambda: spool_files(fault_server) == [])
    assert spool_files(fault_server) == []

    print(
        f"\nPostgreSQL outage {outage:.1f} s: sent {tally.sent}, answered {tally.answered}, "
        f"by kind {dict(tally.by_kind)}, p99 {percentile(tally.latencies, 0.99) * 1000:.0f} ms, "
        f"slowest {tally.slowest * 1000:.0f} ms, rows expected {sum(tally.expected_rows.values())}"
    )
    assert tally.sent == tally.answered, tally.by_kind  # no connection dropped, no hang
    assert tally.server_errors == []  # not even during the outage
    assert stored_rows(fault_cluster) == tally.expected_rows  # none lost, none twice
    log = fault_server.log.read_text()
    assert "WORKER TIMEOUT" not in log
    assert "Traceback" not in log
    assert log.count("Booting worker") == 2  # no worker died and was replaced
    assert "spooling" in log
    assert "Replayed" in log
    status, _, body = fault_server.get("/health")
    assert (status, json.loads(body)["status"]) == (HTTPStatus.OK, "ok")


def test_postgresql_down_from_the_start(fault_cluster, fault_server):
    """A worker that never saw PostgreSQL answers from the spool, and catches up alone."""
    clear_history(fault_cluster)
    fault_cluster.stop()
    try:
        answers = [fault_server.get(f"/api/v1/lookup/{LINKOPING_IP}") for _ in range(6)]
        for status, _, body in answers:
            assert status == HTTPStatus.OK
            location = json.loads(body)["location"]
            # tz_world lives in PostgreSQL: no time zone, but an answer.
            assert (location["time_zone"], location["time_zone_source"]) == (None, None)
    finally:
        fault_cluster.start()
    fault_cluster.wait_until_ready()
    time.sleep(0.6)  # past the retry interval
    for _ in range(4):
        assert fault_server.get(f"/api/v1/lookup/{LINKOPING_IP}")[0] == HTTPStatus.OK
        time.sleep(0.3)
    with contextlib.suppress(subprocess.CalledProcessError):
        subprocess.run(
            [sys.executable, "manage.py", "replay_history_spool", "-v0"],
            cwd=BASE_DIR,
            env={
                **os.environ,
                "DATABASE_URL": fault_cluster.url(FAULT_DB),
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "DJANGO_SECRET_KEY": "replay-only",
                "HISTORY_SPOOL_DIR": str(fault_server.spool),
            },
            check=True,
        )
    wait_until(lambda: stored_rows(fault_cluster) == {LINKOPING_IP: 10})
    assert stored_rows(fault_cluster) == {LINKOPING_IP: 10}
    assert "tz_world lookup failed" in fault_server.log.read_text()


def test_tz_world_missing_then_locked_by_a_reload(fault_cluster, fault_server):
    with closing(fault_cluster.connect(FAULT_DB)) as connection, connection.cursor() as cursor:
        cursor.execute("ALTER TABLE tz_world RENAME TO tz_world_elsewhere")
        try:
            status, _, body = fault_server.get(f"/api/v1/lookup/{LINKOPING_IP}")
        finally:
            cursor.execute("ALTER TABLE tz_world_elsewhere RENAME TO tz_world")
    assert status == HTTPStatus.OK
    location = json.loads(body)["location"]
    assert (location["time_zone"], location["time_zone_source"]) == (None, None)
    assert "There is no tz_world table" in fault_server.log.read_text()

    # A reload holds an exclusive lock: lookups give up waiting (lock_timeout) instead of hanging.
    with closing(fault_cluster.connect(FAULT_DB)) as connection, connection.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute("LOCK TABLE tz_world IN ACCESS EXCLUSIVE MODE")
        try:
            status, _, body = fault_server.get(f"/api/v1/lookup/{LINKOPING_IP}", timeout=15)
        finally:
            cursor.execute("ROLLBACK")
    assert status == HTTPStatus.OK
    assert json.loads(body)["location"]["time_zone"] is None
    assert "lock timeout" in fault_server.log.read_text()

    status, _, body = fault_server.get(f"/api/v1/lookup/{LINKOPING_IP}")
    assert json.loads(body)["location"]["time_zone"] == "Europe/Stockholm"


def test_secrets_never_reach_logs_or_responses(fault_cluster, fault_server):
    """With DEBUG off, provoke every kind of error we can and look for the secret values."""
    bodies = []

    def fetch(path, headers=None):
        status, response_headers, body = fault_server.get(path, headers=headers)
        bodies.append(body + str(response_headers).encode())
        return status

    assert fetch("/api/v1/lookup/not a name".replace(" ", "%20")) == HTTPStatus.BAD_REQUEST
    assert fetch("/no/such/page") == HTTPStatus.NOT_FOUND
    assert fetch("/api/v1/nothing") == HTTPStatus.NOT_FOUND
    assert fetch("/health", headers={"Host": "evil.example"}) == HTTPStatus.BAD_REQUEST
    assert fetch(f"/api/v1/lookup/{SILENT_NAME}") == HTTPStatus.SERVICE_UNAVAILABLE
    request = urllib.request.Request(
        fault_server.url + "/api/v1/lookup/batch", data=b"{nope", headers={"Content-Type": "application/json"}
    )
    with contextlib.suppress(urllib.error.HTTPError), urllib.request.urlopen(request, timeout=10):
        pass
    assert fetch("/admin/login/") == HTTPStatus.OK
    fault_cluster.stop()
    try:
        assert fetch(f"/api/v1/lookup/{LINKOPING_IP}") == HTTPStatus.OK
        fetch("/health")
        fetch("/admin/")
        # The history is flushed behind the answer: wait for the flusher to find PostgreSQL away.
        wait_until(lambda: b"does not answer" in fault_server.log.read_bytes())
    finally:
        fault_cluster.start()
    log = fault_server.log.read_bytes()
    assert b"Invalid HTTP_HOST header" in log  # the errors were logged...
    assert b"does not answer" in log
    for secret in (SECRET_KEY, LICENSE_KEY, DB_PASSWORD):
        assert secret.encode() not in log  # ...without a secret
        for body in bodies:
            assert secret.encode() not in body


# --- DNS ----------------------------------------------------------------------------------------


@pytest.fixture
def one_worker(django_db_blocker, live_geoip_dir, dns_server, collected_static, tmp_path):
    """One gunicorn worker: the request after a DNS fault must be served by the same worker."""
    env = live_environment(geoip_dir=live_geoip_dir, dns_server=dns_server, static_root=collected_static)
    env.update(
        {
            "DNS_TIMEOUT": "1",
            "LOOKUP_BATCH_DNS_DEADLINE": "2",
            "LOOKUP_BATCH_DNS_WORKERS": "4",
            "GUNICORN_TIMEOUT": "60",
            "HISTORY_SPOOL_DIR": str(tmp_path / "spool"),
        }
    )
    with run_gunicorn(env=env, tmp_path=tmp_path, workers=1) as server:
        yield server


@pytest.mark.django_db(transaction=True)
def test_dns_that_never_answers_or_answers_garbage_frees_the_worker(one_worker):
    for name in (SILENT_NAME, GARBAGE_NAME):
        # DNS_TIMEOUT is 1 s: a client that gives up after 10 s catches a hang.
        status, _, body = one_worker.get(f"/api/v1/lookup/{name}", timeout=10)
        assert status == HTTPStatus.SERVICE_UNAVAILABLE
        assert json.loads(body)["error"]["code"] == "dns_unavailable"
        status, _, body = one_worker.get(f"/api/v1/lookup/{LONDON_IP}", timeout=10)
        assert status == HTTPStatus.OK


@pytest.mark.django_db(transaction=True)
def test_a_batch_of_names_that_all_time_out_ends_at_the_deadline(one_worker):
    from lookups.models import Lookup

    names = [f"n{number}.{SILENT_NAME}" for number in range(30)]
    request = urllib.request.Request(
        one_worker.url + "/api/v1/lookup/batch",
        data=json.dumps({"queries": [*names, LONDON_IP]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    # One at a time this would take 30 x DNS_TIMEOUT = 30 s; the client gives up after 15.
    with urllib.request.urlopen(request, timeout=15) as response:
        results = json.loads(response.read())["results"]
    assert [result["error"]["code"] for result in results[:-1]] == ["dns_unavailable"] * 30
    assert results[-1]["country"]["iso_code"] == "GB"
    wait_until(lambda: Lookup.objects.filter(outcome="dns_unavailable").count() >= 30)
    assert Lookup.objects.filter(outcome="dns_unavailable").count() == 30
    assert one_worker.get(f"/api/v1/lookup/{LONDON_IP}", timeout=10)[0] == HTTPStatus.OK


# --- No worker held hostage: DNS slots, a frozen PostgreSQL --------------------------------------


def fetch_in_background(
    server, path: str, results: list, *, headers: dict | None = None, timeout: float = 30
):
    """GET `path` in a thread of its own; its (status, body) lands in `results`."""

    def run():
        status, _, body = server.get(path, headers=headers, timeout=timeout)
        results.append((status, json.loads(body)))

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def slots_taken(folder: Path, prefix: str) -> int:
    taken = 0
    for path in folder.glob(f"{prefix}-*"):
        fd = os.open(path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            taken += 1
        finally:
            os.close(fd)
    return taken


@pytest.fixture
def dns_capped_server(django_db_blocker, live_geoip_dir, dns_server, collected_static, tmp_path):
    """Two workers of four threads, two DNS slots for the machine, silent names held 5 s."""
    env = live_environment(geoip_dir=live_geoip_dir, dns_server=dns_server, static_root=collected_static)
    env.update(
        {
            "GUNICORN_THREADS": "4",
            "DNS_MAX_CONCURRENT": "2",
            "DNS_MAX_CONCURRENT_PER_CLIENT": "0",
            "DNS_TIMEOUT": "5",
            "DNS_NEGATIVE_TTL": "0",
            "GUNICORN_TIMEOUT": "60",
        }
    )
    with run_gunicorn(env=env, tmp_path=tmp_path, workers=2) as server:
        server.slot_dir = Path(env["DNS_SLOT_DIR"])
        yield server


@pytest.mark.django_db(transaction=True)
def test_a_plain_lookup_is_answered_while_silent_names_hold_every_dns_slot(dns_capped_server):
    server = dns_capped_server
    results: list = []
    silent = [fetch_in_background(server, f"/api/v1/lookup/n{n}.{SILENT_NAME}", results) for n in range(6)]
    wait_until(lambda: slots_taken(server.slot_dir, "instance") == 2)
    try:
        assert slots_taken(server.slot_dir, "instance") == 2
        status, _, body = server.get(f"/api/v1/lookup/{LONDON_IP}", timeout=30)
        assert status == HTTPStatus.OK
        assert json.loads(body)["country"]["iso_code"] == "GB"
        # Another name meanwhile is refused, not queued behind the silent ones.
        status, headers, body = server.get("/api/v1/lookup/london.example.com", timeout=30)
        assert status == HTTPStatus.SERVICE_UNAVAILABLE
        assert json.loads(body)["error"] == {"code": "dns_busy", "message": DNS_BUSY_MESSAGE}
        assert headers["Retry-After"] == "5"  # a slot frees within DNS_TIMEOUT (5 s here)
    finally:
        for thread in silent:
            thread.join()
    codes = sorted(body["error"]["code"] for _, body in results)
    assert codes == ["dns_busy"] * 4 + ["dns_unavailable"] * 2
    assert server.get("/api/v1/lookup/london.example.com", timeout=30)[0] == HTTPStatus.OK


@pytest.mark.django_db(transaction=True)
def test_a_silent_name_asked_again_is_answered_at_once_with_the_same_error(one_worker, dns_server):
    first = one_worker.get(f"/api/v1/lookup/again.{SILENT_NAME}", timeout=10)
    queries = len(dns_server.queries)
    second = one_worker.get(f"/api/v1/lookup/again.{SILENT_NAME}", timeout=10)
    assert (first[0], second[0]) == (HTTPStatus.SERVICE_UNAVAILABLE,) * 2
    assert json.loads(second[2]) == json.loads(first[2])
    assert json.loads(first[2])["error"]["code"] == "dns_unavailable"
    assert len(dns_server.queries) == queries  # the second one asked no name server


def admin_session(server, cluster) -> dict[str, str]:
    """A superuser logged in to the admin: the Cookie header of its session."""
    env = {
        **os.environ,
        "DATABASE_URL": cluster.url(FAULT_DB),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_SECRET_KEY": "create-user-only",
        "DJANGO_SUPERUSER_USERNAME": "frozen-admin",
        "DJANGO_SUPERUSER_EMAIL": "admin@example.com",
        "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD,
    }
    command = [sys.executable, "manage.py", "createsuperuser", "--noinput"]
    subprocess.run(command, cwd=BASE_DIR, env=env, check=True, capture_output=True)
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(server.url + "/admin/login/", timeout=10) as response:
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.read().decode())[1]
    form = {"username": "frozen-admin", "password": ADMIN_PASSWORD, "csrfmiddlewaretoken": token}
    login = server.url + "/admin/login/?next=/admin/"
    with opener.open(login, data=urllib.parse.urlencode(form).encode(), timeout=10):
        pass
    return {"Cookie": "; ".join(f"{cookie.name}={cookie.value}" for cookie in jar)}


@pytest.fixture
def frozen_cluster_server(fault_cluster, live_geoip_dir, dns_server, collected_static, tmp_path):
    """A gunicorn on the fault cluster whose statements get 2 s (and the client a second more)."""
    if not fault_cluster.is_running():
        fault_cluster.start()
    env = live_environment(geoip_dir=live_geoip_dir, dns_server=dns_server, static_root=collected_static)
    env.update(
        {
            "DATABASE_URL": fault_cluster.url(FAULT_DB),
            "DATABASE_STATEMENT_TIMEOUT": "2",
            "HISTORY_SPOOL_DIR": str(tmp_path / "spool"),
            "HISTORY_DB_RETRY_INTERVAL": "0.5",
            "GUNICORN_THREADS": "4",
            "GUNICORN_TIMEOUT": "60",
        }
    )
    with run_gunicorn(env=env, tmp_path=tmp_path, workers=2) as server:
        yield server


def test_a_plain_lookup_is_answered_while_postgresql_is_frozen(fault_cluster, frozen_cluster_server):
    server = frozen_cluster_server
    clear_history(fault_cluster)
    key = fault_cluster.api_key_header(FAULT_DB, "frozen-database test")
    admin = admin_session(server, fault_cluster)
    assert server.get("/admin/", headers=admin)[0] == HTTPStatus.OK
    # Every worker thread that answers /geoip/ opens its connection now, before the freeze.
    for _ in range(8):
        assert server.get(f"/geoip/v2.1/city/{LONDON_IP}", headers=key)[0] == HTTPStatus.OK
    answered = []
    fault_cluster.freeze()
    try:
        # A request that needs PostgreSQL fails with a clear 503, and does not hang (the client
        # gives up after 30 s; the server after the statement timeout and a second more).
        results: list = []
        waiting = [
            fetch_in_background(server, f"/geoip/v2.1/city/{LONDON_IP}", results, headers=key)
            for _ in range(4)
        ]
        for query in (LONDON_IP, LINKOPING_IP, LONDON_IP):
            status, _, body = server.get(f"/api/v1/lookup/{query}", timeout=30)
            answered.append(query)
            assert status == HTTPStatus.OK
            assert json.loads(body)["ip_address"] == query
        status, _, body = server.get(f"/geoip/v2.1/city/{LONDON_IP}", headers=key, timeout=30)
        assert status == HTTPStatus.SERVICE_UNAVAILABLE
        assert json.loads(body)["code"] == "DATABASE_UNAVAILABLE"
        # The admin (its session lives in PostgreSQL) says so too.
        status, _, body = server.get("/admin/", headers=admin, timeout=30)
        assert status == HTTPStatus.SERVICE_UNAVAILABLE
        assert b"The service cannot reach its database right now." in body
        for thread in waiting:
            thread.join()
    finally:
        fault_cluster.thaw()
    assert [(status, body["code"]) for status, body in results] == [
        (HTTPStatus.SERVICE_UNAVAILABLE, "DATABASE_UNAVAILABLE")
    ] * 4
    # The lookups answered meanwhile were spooled, and reach PostgreSQL once it runs again.
    expected = collections.Counter({LONDON_IP: 8 + 2, LINKOPING_IP: 1})
    wait_until(lambda: stored_rows(fault_cluster) == expected, timeout=30)
    assert stored_rows(fault_cluster) == expected
    wait_until(lambda: server.get(f"/geoip/v2.1/city/{LONDON_IP}", headers=key)[0] == HTTPStatus.OK)
    assert server.get(f"/geoip/v2.1/city/{LONDON_IP}", headers=key)[0] == HTTPStatus.OK
    assert server.get("/admin/", headers=admin)[0] == HTTPStatus.OK
    assert "did not answer" in server.log.read_text()
