"""The compose stack for real: docker-compose.yml as an operator runs it (their .env, Debian's
docker-compose), with db, app, proxy and scheduler started in order; lookups over HTTPS through
Caddy with its internal CA; the scheduler's update seen by the running app; slow clients that
cannot hold gunicorn's workers; and `down`/`up` that keeps every volume's data.

The tests of this module share one stack and run in order: each leaves it as the next expects.
"""

import gzip
import http.client
import json
import secrets
import socket
import ssl
import threading
import time
import uuid

import psycopg2
import pytest

from config.tests.containers import ENV_EXAMPLE, read_env_file
from config.tests.docker_engine import (
    APP_UID,
    ComposeProject,
    FileServer,
    backing_services,
    base_images,
    free_port,
    http_get,
    requires_docker,
    wait_for,
)
from lookups.tests.geoip_data import LONDON_IP, build_asn_database, build_city_database

pytestmark = [requires_docker, pytest.mark.slow]

# The app's gunicorn: threaded workers (config/gunicorn.conf.py).
GUNICORN_WORKERS = 2
GUNICORN_THREADS = 4

POSTGRES_PASSWORD = secrets.token_hex(16)
CADDY_ROOT = "/data/caddy/pki/authorities/local/root.crt"
RATE_LIMIT = 20
ROWS_FOR = "SELECT host(requester), channel FROM lookups_lookup WHERE query = %s"


class Stack:
    def __init__(self, project: ComposeProject, ports: dict[str, int], downloads: FileServer):
        self.project, self.ports, self.downloads = project, ports, downloads

    def through_proxy(self, path: str, *, source: str = "127.0.0.1") -> tuple[int, bytes]:
        """GET over HTTPS through Caddy, trusting only Caddy's own CA, from `source`."""
        connection = ProxyConnection(self.ports["https"], self.ca(), source)
        try:
            connection.request("GET", path, headers={"Host": "localhost"})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def ca(self) -> ssl.SSLContext:
        root = (
            self.project.container("proxy").exec("cat", "/data/caddy/pki/authorities/local/root.crt").stdout
        )
        return ssl.create_default_context(cadata=root)

    def ca_certificate(self) -> str:
        return (
            self.project.container("proxy").exec("cat", "/data/caddy/pki/authorities/local/root.crt").stdout
        )

    def query(self, sql: str, params=()) -> list[tuple]:
        connection = psycopg2.connect(
            host="127.0.0.1",
            port=self.ports["db"],
            user="easygeoip",
            password=POSTGRES_PASSWORD,
            dbname="easygeoip",
        )
        try:
            with connection, connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall()
        finally:
            connection.close()

    def health(self) -> dict:
        status, body = http_get(f"http://127.0.0.1:{self.ports['app']}/health")
        return {"status_code": status, **json.loads(body)}


class ProxyConnection(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1 for the name localhost, from a source address of our choosing."""

    def __init__(self, port: int, context: ssl.SSLContext, source: str):
        super().__init__("localhost", port, context=context, timeout=30)
        self._source, self._context_for_localhost = source, context

    def connect(self):
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=30, source_address=(self._source, 0))
        self.sock = self._context_for_localhost.wrap_socket(raw, server_hostname="localhost")


@pytest.fixture(scope="module")
def stack(production_image, tmp_path_factory):
    downloads = FileServer()
    ports = {name: free_port() for name in ("db", "valkey", "app", "http", "https")}
    backing, commands = backing_services(ports, POSTGRES_PASSWORD)
    # The operator's .env: .env.example filled in.
    dotenv = {
        **read_env_file(ENV_EXAMPLE),
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "localhost",
        "POSTGRES_PASSWORD": POSTGRES_PASSWORD,
        "SITE_ADDRESS": "localhost",
        "GUNICORN_WORKERS": str(GUNICORN_WORKERS),
        "GUNICORN_THREADS": str(GUNICORN_THREADS),
        "TZ_WORLD_ZONES": "Europe/London",
        "DBIP_DOWNLOAD_URL": downloads.url + "/free",
        "UPDATE_ON_START": "1",
        "API_THROTTLE_RATE": f"{RATE_LIMIT}/minute",
        **base_images(),
    }
    project = ComposeProject(
        directory=tmp_path_factory.mktemp("compose"),
        name=f"easygeoiptest{uuid.uuid4().hex[:8]}",
        dotenv=dotenv,
        host_settings={
            **backing,
            "app": {
                **backing["app"],
                "GUNICORN_BIND": f"127.0.0.1:{ports['app']}",
                "TRUSTED_PROXIES": "127.0.0.1",
            },
            "scheduler": {"DATABASE_URL": backing["app"]["DATABASE_URL"]},
            "proxy": {
                "APP_UPSTREAM": f"127.0.0.1:{ports['app']}",
                "PROXY_HTTP_PORT": str(ports["http"]),
                "PROXY_HTTPS_PORT": str(ports["https"]),
            },
        },
        commands=commands,
    ).prepare()
    try:
        yield Stack(project, ports, downloads)
    finally:
        project.down(volumes=True)
        downloads.stop()


def test_the_stack_starts_in_order_and_the_scheduler_installs_a_database_the_app_then_serves(stack, tmp_path):
    project = stack.project
    project.up("app", "proxy")
    # db and valkey first (healthy), then the app, which answers 503 until a database is installed.
    assert project.container("db").health() == "healthy"
    assert project.container("valkey").health() == "healthy"
    wait_for(
        lambda: stack.health()["status_code"] == 503,
        timeout=240,
        what="the app did not start",
        diagnose=lambda: project.logs("app"),
    )
    app = project.container("app")
    started_at = app.inspect()["State"]["StartedAt"]
    assert app.health() != "healthy"

    # DB-IP publishes this month's build; the scheduler's run at start installs it.
    build = build_city_database(tmp_path / "dbip.mmdb", edition="DBIP-City-Lite")
    month = time.strftime("%Y-%m", time.gmtime())
    stack.downloads.files[f"/free/dbip-city-lite-{month}.mmdb.gz"] = gzip.compress(build.read_bytes())
    # ...and its ASN Lite, which a keyless install puts beside it.
    asn = build_asn_database(tmp_path / "dbip-asn.mmdb", edition="DBIP-ASN-Lite (compat=GeoLite2-ASN)")
    stack.downloads.files[f"/free/dbip-asn-lite-{month}.mmdb.gz"] = gzip.compress(asn.read_bytes())
    project.up("scheduler")
    app.wait_healthy(timeout=120)
    health = stack.health()
    assert health["database"]["edition"] == "DBIP-City-Lite"
    assert f"/free/dbip-city-lite-{month}.mmdb.gz" in stack.downloads.requests
    assert f"/free/dbip-asn-lite-{month}.mmdb.gz" in stack.downloads.requests
    assert health["asn_database"]["edition"].startswith("DBIP-ASN-Lite")  # ASN data, keyless
    # ...seen by the app without a restart.
    assert app.inspect()["State"]["StartedAt"] == started_at
    assert app.inspect()["RestartCount"] == 0
    assert "update_maxmind done" in project.logs("scheduler")
    # Then the retention, which also creates the history's partitions ahead.
    deadline = time.monotonic() + 60
    while "purge_lookups done" not in project.logs("scheduler") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert "purge_lookups done" in project.logs("scheduler"), project.logs("scheduler")

    for service in ("app", "scheduler", "proxy", "valkey"):
        assert project.container(service).inspect()["HostConfig"]["ReadonlyRootfs"] is True, service
    assert app.exec("id", "-u").stdout.strip() == APP_UID


def test_lookups_over_https_through_the_proxy_are_recorded_with_the_real_client(stack):
    status, body = stack.through_proxy(f"/api/v1/lookup/{LONDON_IP}", source="127.0.5.9")
    assert status == 200, body
    assert json.loads(body)["city"]["name"] == "London"
    status, body = stack.through_proxy(f"/?q={LONDON_IP}", source="127.0.5.9")
    assert status == 200
    assert b"London" in body

    # The default anonymisation of the client Caddy names in X-Forwarded-For.
    rows = wait_for(
        lambda: len(found := stack.query(ROWS_FOR, (LONDON_IP,))) == 2 and found,
        timeout=30,
        what="no history row",
    )
    assert sorted(rows) == [("127.0.5.0", "api"), ("127.0.5.0", "web")]

    # Plain HTTP to the proxy is sent to HTTPS.
    plain = http.client.HTTPConnection("127.0.0.1", stack.ports["http"], timeout=10)
    plain.request("GET", "/", headers={"Host": "localhost"})
    redirect = plain.getresponse()
    assert redirect.status in {301, 308}
    assert redirect.getheader("Location").startswith("https://localhost")
    plain.close()


def hold_with_slow_headers(connect, count: int, seconds: float) -> list[threading.Thread]:
    """`count` clients that each send a request line, then one header line every 2 s."""

    def slow_client():
        with connect() as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n")
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                time.sleep(2)
                try:
                    sock.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    return  # the proxy gave up on us: fine

    threads = [threading.Thread(target=slow_client, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    time.sleep(1)
    return threads


def test_slow_clients_at_the_proxy_do_not_hold_gunicorns_workers(stack):
    context = stack.ca()

    def to_proxy():
        raw = socket.create_connection(("127.0.0.1", stack.ports["https"]), timeout=30)
        return context.wrap_socket(raw, server_hostname="localhost")

    def to_gunicorn():
        return socket.create_connection(("127.0.0.1", stack.ports["app"]), timeout=30)

    # The premise: straight at gunicorn, slow clients hold every thread of both workers. Four
    # times as many as there are threads: each worker accepts connections for as long as it
    # runs, busy or not, and which worker accepts which one is the kernel's choice.
    held = hold_with_slow_headers(to_gunicorn, 4 * GUNICORN_WORKERS * GUNICORN_THREADS, 12)
    with pytest.raises(TimeoutError):
        http_get(f"http://127.0.0.1:{stack.ports['app']}/api/v1/lookup/{LONDON_IP}", timeout=5)
    for thread in held:
        thread.join()

    # Through the proxy, as many again hold nothing but the proxy's connections.
    held = hold_with_slow_headers(to_proxy, 4 * GUNICORN_WORKERS * GUNICORN_THREADS, 8)
    status, body = stack.through_proxy(f"/api/v1/lookup/{LONDON_IP}")
    assert status == 200, body
    assert any(thread.is_alive() for thread in held)  # answered while they were still there
    for thread in held:
        thread.join()


def test_the_rate_limit_holds_across_gunicorns_workers_through_valkey(stack):
    """Sequential requests from one client, spread over both workers: one count, in Valkey."""
    statuses = [stack.through_proxy(f"/api/v1/lookup/{LONDON_IP}", source="127.0.7.7")[0] for _ in range(30)]
    assert statuses == [200] * RATE_LIMIT + [429] * (30 - RATE_LIMIT)


def test_down_and_up_keeps_the_history_the_databases_and_the_certificates(stack):
    project = stack.project
    rows_before = stack.query("SELECT count(*) FROM lookups_lookup")[0][0]
    assert rows_before >= 2
    build_before = stack.health()["database"]["build_date"]
    ca_before = stack.ca_certificate()

    project.down()
    project.up("app", "proxy", "scheduler")
    project.container("app").wait_healthy(timeout=180)

    assert stack.query("SELECT count(*) FROM lookups_lookup")[0][0] >= rows_before
    assert stack.health()["database"]["build_date"] == build_before
    assert stack.ca_certificate() == ca_before
    status, _ = stack.through_proxy(f"/api/v1/lookup/{LONDON_IP}")
    assert status == 200
