"""The container's start script, run on this machine with the environment compose gives the app.

Only what cannot be the same outside a container is changed: the database is a fresh PostGIS
database of the test's own instead of the `db` service, the GeoIP volume a temporary folder,
gunicorn binds a free port on loopback, static files are collected once for the session (the
image collects them at build time), downloads go to an HTTP server of the test's own, and names
are resolved by the tests' DNS server. The command is the image's CMD, so the start ends, as in
the container, with gunicorn replacing the script.
"""

import contextlib
import gzip
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg2
import pytest
from django.conf import settings

from config.tests.containers import (
    REPO,
    image_healthcheck,
    image_json_array,
    on_this_machine,
    production_app_environment,
)
from conftest import free_port
from lookups.tests.geoip_data import LINKOPING_IP, LONDON_IP, build_city_database

pytestmark = pytest.mark.slow

HOST = "geoip.example.com"  # DJANGO_ALLOWED_HOSTS in the operator's .env (config/tests/containers.py)
BIN = Path(sys.executable).parent
DBIP_NAME = re.compile(r"/dbip-city-lite-(\d{4})-(\d{2})\.mmdb\.gz$")
TZ_WORLD_ZONES = "Europe/London,Europe/Stockholm"


# --- A fresh PostGIS database and a DB-IP of our own ------------------------------------------------


def connect(dbname: str):
    db = settings.DATABASES["default"]
    connection = psycopg2.connect(
        dbname=dbname, user=db["USER"], password=db["PASSWORD"], host=db["HOST"], port=db["PORT"]
    )
    connection.autocommit = True
    return connection


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """An empty database (not even the postgis extension), as the db service's volume starts."""
    db = settings.DATABASES["default"]
    name = f"{db['NAME']}_entrypoint_{uuid.uuid4().hex[:8]}"
    with contextlib.closing(connect("postgres")) as connection, connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    try:
        yield f"postgis://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{name}"
    finally:
        with contextlib.closing(connect("postgres")) as connection, connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def query(database_url: str, sql: str):
    with (
        contextlib.closing(connect(database_url.rsplit("/", 1)[1])) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
        return cursor.fetchall()


class DownloadServer:
    """DB-IP's download host: `dbip-city-lite-YYYY-MM.mmdb.gz` files, or 404 for everything."""

    def __init__(self, database_gz: bytes | None):
        self.database_gz = database_gz
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.answer(body=True)

            def do_HEAD(self):
                self.answer(body=False)

            def answer(self, *, body: bool):
                server.requests.append(f"{self.command} {self.path}")
                if server.database_gz is None or not DBIP_NAME.search(self.path.split("?")[0]):
                    self.send_error(HTTPStatus.NOT_FOUND)
                    return
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", "application/gzip")
                self.send_header("Content-Length", str(len(server.database_gz)))
                self.send_header("Last-Modified", "Sun, 01 Nov 2026 04:00:00 GMT")
                self.end_headers()
                if body:
                    self.wfile.write(server.database_gz)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def dbip(tmp_path) -> Iterator[DownloadServer]:
    path = build_city_database(tmp_path / "dbip" / "dbip-city-lite.mmdb", edition="DBIP-City-Lite")
    with DownloadServer(gzip.compress(path.read_bytes())) as server:
        yield server


@pytest.fixture
def dbip_down() -> Iterator[DownloadServer]:
    with DownloadServer(None) as server:
        yield server


# --- Starting the container's command on this machine ---------------------------------------------


class Container:
    def __init__(self, *, process: subprocess.Popen, log: Path, port: int, environment: dict[str, str]):
        self.process, self.log, self.port, self.environment = process, log, port, environment

    def output(self) -> str:
        return self.log.read_text()

    def get(self, path: str, *, headers: dict | None = None, source: str = "127.0.0.1"):
        """(status, headers, body) of a GET sent from `source`, as the proxy in front would send it."""
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=10, source_address=(source, 0)
        )
        try:
            connection.request("GET", path, headers={"Host": HOST, **(headers or {})})
            response = connection.getresponse()
            return response.status, response.headers, response.read()
        finally:
            connection.close()

    def healthcheck(self) -> subprocess.CompletedProcess:
        """The image's HEALTHCHECK command, run with the container's environment."""
        return subprocess.run(
            on_this_machine(image_healthcheck()),
            cwd=REPO,
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=30,
        )


def container_environment(
    *, database_url: str, geoip_dir: Path, port: int, downloads: DownloadServer, static_root: Path, dns
) -> dict[str, str]:
    return {
        **production_app_environment(),
        "PATH": f"{BIN}:/usr/bin:/bin",
        # The image's user has no home (/nonexistent); a path nobody made stands for it here.
        "HOME": str(geoip_dir.parent / "nonexistent"),
        "DATABASE_URL": database_url,
        "GEOIP_PATH": str(geoip_dir),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "2",
        "DJANGO_STATIC_ROOT": str(static_root),
        "DBIP_DOWNLOAD_URL": f"{downloads.url}/free/",
        "MAXMIND_DOWNLOAD_URL": f"{downloads.url}/maxmind/",
        "DNS_NAMESERVERS": dns.address,
        "DNS_TIMEOUT": "1",
        # Compose's valkey service is no name here: the machine's Redis, in a database of our own.
        "REDIS_URL": "redis://127.0.0.1:6379/15",
        "GEOIP_RELOAD_CHECK_INTERVAL": "0",
        # The image's /tmp/gunicorn.ctl, made private: /tmp is shared on this machine.
        "GUNICORN_CONTROL_SOCKET": str(geoip_dir.parent / "gunicorn.ctl"),
    }


@contextlib.contextmanager
def start(environment: dict[str, str], log: Path) -> Iterator[Container]:
    """docker/entrypoint.sh with the image's CMD; yields once gunicorn accepts connections."""
    port = int(environment["GUNICORN_BIND"].rpartition(":")[2])
    command = on_this_machine([*image_json_array("ENTRYPOINT"), *image_json_array("CMD")])
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    container = Container(process=process, log=log, port=port, environment=environment)
    try:
        deadline = time.monotonic() + 300  # a first start may load tz_world and download a database
        while True:
            if process.poll() is not None:
                raise AssertionError(f"the entrypoint exited ({process.returncode}):\n{container.output()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"gunicorn did not start:\n{container.output()}")
            time.sleep(0.2)
        yield container
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def lookup(container: Container, address: str) -> dict:
    status, _, body = container.get(f"/api/v1/lookup/{address}", headers={"X-Forwarded-Proto": "https"})
    assert status == HTTPStatus.OK, body
    return json.loads(body)


def geoip_files(geoip_dir: Path) -> dict[str, int]:
    """The GeoIP folder's files and their inodes: a replaced file gets a new inode."""
    return {path.name: path.stat().st_ino for path in sorted(geoip_dir.iterdir()) if path.is_file()}


def assert_first_start_migrated(container: Container, database_url: str) -> None:
    output = container.output()
    assert "Applying lookups.0001_initial... OK" in output
    assert "Applying timezones.0001_initial... OK" in output
    assert query(database_url, "SELECT count(*) FROM lookups_lookup") == [(0,)]
    assert query(database_url, "SELECT count(*) FROM pg_extension WHERE extname = 'postgis'") == [(1,)]


def assert_second_start_redid_nothing(container: Container) -> None:
    output = container.output()
    assert "No migrations to apply." in output
    assert "Applying" not in output
    assert "loading the time-zone polygons" not in output
    assert "trying to download" not in output


def assert_serves_in_production_mode(container: Container) -> None:
    """HTTPS-only behind the proxy: plain HTTP is redirected, the proxy's forwarded HTTPS served."""
    status, headers, _ = container.get(f"/api/v1/lookup/{LONDON_IP}", source="127.0.0.2")
    assert status == HTTPStatus.MOVED_PERMANENTLY
    assert headers["Location"] == f"https://{HOST}/api/v1/lookup/{LONDON_IP}"
    # From another address than gunicorn's own forwarded_allow_ips, as a proxy container's would be.
    status, headers, body = container.get(
        f"/api/v1/lookup/{LONDON_IP}", headers={"X-Forwarded-Proto": "https"}, source="127.0.0.2"
    )
    assert status == HTTPStatus.OK, body
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert json.loads(body)["city"]["name"] == "London"
    # A host that is not ours is refused.
    status, _, _ = container.get("/health", headers={"Host": "attacker.example"})
    assert status == HTTPStatus.BAD_REQUEST


# --- The tests ------------------------------------------------------------------------------------


def test_first_start_migrates_an_empty_database_and_a_second_start_redoes_nothing(
    fresh_database, dbip, tmp_path, collected_static, dns_server
):
    geoip_dir = tmp_path / "geoip"
    # The GeoIP database is already on the volume (installed by hand, or by an earlier start).
    build_city_database(geoip_dir / "GeoLite2-City.mmdb")
    environment = container_environment(
        database_url=fresh_database,
        geoip_dir=geoip_dir,
        port=free_port(),
        downloads=dbip,
        static_root=collected_static,
        dns=dns_server,
    )
    installed = geoip_files(geoip_dir)

    with start(environment, tmp_path / "first.log") as first:
        assert_first_start_migrated(first, fresh_database)
        status, _, body = first.get("/health")
        assert status == HTTPStatus.OK, body
        assert json.loads(body)["database"]["edition"] == "GeoLite2-City"
        healthcheck = first.healthcheck()
        assert healthcheck.returncode == 0, healthcheck.stdout
        assert_serves_in_production_mode(first)
    # gunicorn replaced the script (exec) and logged every request to stdout.
    assert re.search(r'"GET /health HTTP/1.1" 200', first.output())
    assert "entrypoint: ready: gunicorn -c config/gunicorn.conf.py" in first.output()
    # gunicornc's socket is where the image says, not under the home the user has not.
    assert f"Control socket listening at {environment['GUNICORN_CONTROL_SOCKET']}" in first.output()
    migrations = query(fresh_database, "SELECT count(*) FROM django_migrations")

    with start(environment, tmp_path / "second.log") as second:
        assert_second_start_redid_nothing(second)
        assert query(fresh_database, "SELECT count(*) FROM django_migrations") == migrations
        assert geoip_files(geoip_dir) == installed
        assert dbip.requests == []
        assert lookup(second, LONDON_IP)["country"]["iso_code"] == "GB"


def test_a_failed_geoip_download_does_not_stop_the_service(
    fresh_database, dbip_down, tmp_path, collected_static, dns_server
):
    geoip_dir = tmp_path / "geoip"
    geoip_dir.mkdir()
    environment = container_environment(
        database_url=fresh_database,
        geoip_dir=geoip_dir,
        port=free_port(),
        downloads=dbip_down,
        static_root=collected_static,
        dns=dns_server,
    )
    with start(environment, tmp_path / "start.log") as container:
        assert_first_start_migrated(container, fresh_database)
        status, _, body = container.get("/health")
        assert status == HTTPStatus.SERVICE_UNAVAILABLE
        assert "No GeoIP database is installed" in json.loads(body)["reason"]
        healthcheck = container.healthcheck()
        assert healthcheck.returncode == 1
        assert "503: No GeoIP database is installed" in healthcheck.stdout
        # A database arrives (the scheduler, or an operator): served without a restart.
        build_city_database(geoip_dir / "GeoLite2-City.mmdb")
        assert container.get("/health")[0] == HTTPStatus.OK
        assert container.healthcheck().returncode == 0
        assert lookup(container, LONDON_IP)["city"]["name"] == "London"
    assert container.process.returncode == 0
    assert dbip_down.requests, "update_maxmind never asked the download host"
    assert "Could not install a GeoIP database" in container.output()


def test_first_start_installs_db_ip_lite_and_a_second_start_downloads_nothing(
    fresh_database, dbip, tmp_path, collected_static, dns_server
):
    geoip_dir = tmp_path / "geoip"
    geoip_dir.mkdir()
    environment = container_environment(
        database_url=fresh_database,
        geoip_dir=geoip_dir,
        port=free_port(),
        downloads=dbip,
        static_root=collected_static,
        dns=dns_server,
    )
    assert environment["MAXMIND_ACCOUNT_ID"] == environment["MAXMIND_LICENSE_KEY"] == ""

    with start(environment, tmp_path / "first.log") as first:
        assert_first_start_migrated(first, fresh_database)
        assert any(DBIP_NAME.search(request) for request in dbip.requests), dbip.requests
        status, _, body = first.get("/health")
        assert status == HTTPStatus.OK, body
        assert json.loads(body)["database"]["edition"] == "DBIP-City-Lite"
        assert first.healthcheck().returncode == 0
        assert_serves_in_production_mode(first)
    installed = geoip_files(geoip_dir)
    requests = list(dbip.requests)

    with start(environment, tmp_path / "second.log") as second:
        assert_second_start_redid_nothing(second)
        assert dbip.requests == requests
        assert geoip_files(geoip_dir) == installed
        assert lookup(second, LONDON_IP)["database"]["edition"] == "DBIP-City-Lite"


def test_first_start_loads_tz_world_and_a_second_start_keeps_it(
    fresh_database, dbip, tmp_path, collected_static, dns_server
):
    geoip_dir = tmp_path / "geoip"
    build_city_database(geoip_dir / "GeoLite2-City.mmdb")
    environment = container_environment(
        database_url=fresh_database,
        geoip_dir=geoip_dir,
        port=free_port(),
        downloads=dbip,
        static_root=collected_static,
        dns=dns_server,
    )
    environment["TZ_WORLD_ZONES"] = TZ_WORLD_ZONES

    with start(environment, tmp_path / "first.log") as first:
        assert_first_start_migrated(first, fresh_database)
        assert "loading the time-zone polygons" in first.output()
        zones = query(fresh_database, "SELECT DISTINCT tzid FROM tz_world ORDER BY tzid")
        assert zones == [("Europe/London",), ("Europe/Stockholm",)]
        # Linköping's record has coordinates but no time zone: the polygons answer.
        location = lookup(first, LINKOPING_IP)["location"]
        assert (location["time_zone"], location["time_zone_source"]) == ("Europe/Stockholm", "tz_world")
    # Row versions: a reload, even of the same polygons, would write new ones.
    rows = query(fresh_database, "SELECT gid, xmin::text FROM tz_world ORDER BY gid")

    with start(environment, tmp_path / "second.log") as second:
        assert_second_start_redid_nothing(second)
        assert query(fresh_database, "SELECT gid, xmin::text FROM tz_world ORDER BY gid") == rows
        assert lookup(second, LINKOPING_IP)["location"]["time_zone"] == "Europe/Stockholm"
