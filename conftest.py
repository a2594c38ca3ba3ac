"""Shared fixtures: the PostGIS tables, generated GeoIP databases, a local DNS server and a live
gunicorn, all real, all on this machine."""

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import client as django_test_client
from hypothesis import settings as hypothesis_settings

from lookups import history
from lookups.core import dns_limits, reverse_dns
from lookups.core import resolver as resolver_module
from lookups.history import breaker as history_breaker
from lookups.history import flusher as history_flusher
from lookups.tests.dns_server import LocalDNSServer
from lookups.tests.geoip_data import (
    AT_SEA_IP,
    BERLIN_IP,
    LINKOPING_IP,
    LONDON_IP,
    UNKNOWN_PUBLIC_IP,
    build_city_database,
    build_dbip_city_database,
)
from lookups.web import middleware_stacks, throttling

BASE_DIR = Path(__file__).resolve().parent

# Property tests: bounded in the suite, long with `make fuzz` (HYPOTHESIS_PROFILE=fuzz).
hypothesis_settings.register_profile("default", max_examples=200, deadline=None, database=None)
hypothesis_settings.register_profile("fuzz", max_examples=5000, deadline=None, database=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
TZ_WORLD_SQL = BASE_DIR / "timezones" / "sql" / "tz_world.sql"

DNS_RECORDS = {
    "london.example.com": [LONDON_IP],
    "dual.example.com": [LONDON_IP, BERLIN_IP],
    "v6only.example.com": [BERLIN_IP],
    "mixed.example.com": ["10.0.0.5", "fd00::5", LONDON_IP],
    "internal.example.com": ["10.1.2.3", "fd00::1", "127.0.0.1"],
    "unknown.example.com": [UNKNOWN_PUBLIC_IP],
    "xn--bcher-kva.example": [BERLIN_IP],  # bücher.example
}

# Reverse names (PTR): London's confirmed forward, Linköping's an internal name (never confirmed),
# the one at sea never answered. Other addresses have none (NXDOMAIN).
PTR_RECORDS = {
    LONDON_IP: ["london.example.com."],
    LINKOPING_IP: ["internal.example.com."],
    AT_SEA_IP: None,
}

# A box over Sweden (lon 11..24, lat 55..69) with a hole over Lake Vättern's north end, and
# a box over Great Britain: enough polygons for the time-zone fallback's known answers.
TEST_POLYGONS = [
    (
        "Europe/Stockholm",
        "MULTIPOLYGON(((11 55,24 55,24 69,11 69,11 55),(14.2 58.6,14.8 58.6,14.8 58.9,14.2 58.9,14.2 58.6)))",
    ),
    ("Europe/London", "MULTIPOLYGON(((-8 49.9,2 49.9,2 59,-8 59,-8 49.9)))"),
]


def create_tz_world(cursor, polygons=TEST_POLYGONS) -> None:
    """Create tz_world from the schema file and fill it with `polygons` (tzid, WKT)."""
    cursor.execute(TZ_WORLD_SQL.read_text())
    cursor.execute("TRUNCATE tz_world")
    for tzid, wkt in polygons:
        cursor.execute(
            "INSERT INTO tz_world (tzid, geom) VALUES (%s, ST_GeomFromText(%s, 4326))", [tzid, wkt]
        )


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        create_tz_world(cursor)


class _LookupClientHandler(middleware_stacks.LookupMiddlewareMixin, django_test_client.ClientHandler):
    pass


_client_init = django_test_client.Client.__init__


def _routed_client_init(self, enforce_csrf_checks=False, *args, **kwargs):
    _client_init(self, enforce_csrf_checks, *args, **kwargs)
    self.handler = middleware_stacks.PathRouter(
        site=self.handler, lookups=_LookupClientHandler(enforce_csrf_checks)
    )


@pytest.fixture(autouse=True)
def _test_client_routed_as_production(monkeypatch):
    """django.test.Client sends the lookup paths through the lookup middleware stack, as
    config.wsgi does (lookups.web.middleware_stacks). DRF's APIClient, which signs users in
    for the history API, keeps its one handler."""
    monkeypatch.setattr(django_test_client.Client, "__init__", _routed_client_init)


@pytest.fixture(scope="session")
def dns_server():
    server = LocalDNSServer(DNS_RECORDS, PTR_RECORDS).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def local_dns(settings, dns_server, tmp_path):
    """No test ever asks the outside world's DNS: the default resolver asks ours. Each test has
    DNS slots and a negative cache of its own (lookups.core.dns_limits), and a cache of its own
    (reverse names are kept there: lookups.core.reverse_dns)."""
    settings.DNS_NAMESERVERS = [dns_server.address]
    settings.DNS_TIMEOUT = 1.0
    settings.DNS_SLOT_DIR = tmp_path / "dns-slots"
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": str(tmp_path)}
    }
    resolver_module._default_resolver = None
    dns_limits.forget_timeouts()
    reverse_dns.forget_cache_failure()
    yield dns_server
    resolver_module._default_resolver = None
    dns_limits.forget_timeouts()
    reverse_dns.forget_cache_failure()


@pytest.fixture(autouse=True)
def history_spool(settings, tmp_path, monkeypatch):
    """Every test's history goes the production way: write-behind, through a spool of its own.

    In this process the flush runs in the test's own thread, just before the test's connection
    next reads the history table (production's flusher thread would have flushed a moment
    after the answer): a thread of its own would commit on a connection of its own, outside the
    test's transaction. The live-gunicorn tests run the real flusher thread.
    """
    settings.HISTORY_SPOOL_DIR = tmp_path / "history-spool"
    monkeypatch.setattr(history_flusher, "_start_flusher", lambda: None)
    history_breaker.mark_reachable()
    with connection.execute_wrapper(_flush_history_first):
        yield settings.HISTORY_SPOOL_DIR
    history_breaker.mark_reachable()


def _flush_history_first(execute, sql, params, many, context):
    # Not for the writer's own statements (they name its temporary table), nor while the breaker
    # keeps the flusher away.
    if (
        "lookups_lookup" in sql
        and "history_incoming" not in sql
        and not history.database_recently_unreachable()
    ):
        # Not the caller's queries: production runs them on the flusher thread's connection, so
        # django_assert_num_queries around a request does not count them either.
        logged = len(connection.queries_log)
        history.flush()
        while len(connection.queries_log) > logged:
            connection.queries_log.pop()
    return execute(sql, params, many, context)


@pytest.fixture(autouse=True)
def _no_throttling(settings, request, tmp_path):
    """Rate limits off unless a test asks for them (marker: throttled); then counted in a file of
    the test's own, so that no test inherits another's counts, nor a storage failure."""
    throttling.storage_cooldown.recovered()
    if request.node.get_closest_marker("throttled") is None:
        settings.API_THROTTLE_RATE = None
        settings.PAGE_THROTTLE_RATE = None
        settings.WEBSERVICE_THROTTLE_RATE = None
    else:
        settings.REDIS_URL = ""
        settings.RATE_LIMIT_DIR = tmp_path / "ratelimit"


# The Redis (or Valkey) the tests that need one use; a database number of its own keeps a run
# apart from others on the same server.
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


@pytest.fixture
def geoip_dir(tmp_path, settings) -> Path:
    """An empty GeoIP folder that the service reads from."""
    directory = tmp_path / "geoip"
    directory.mkdir()
    settings.GEOIP_PATH = directory
    settings.GEOIP_CITY = "GeoLite2-City.mmdb"
    return directory


@pytest.fixture
def city_database(geoip_dir) -> Path:
    """The known test City database, installed where the service reads it."""
    return build_city_database(geoip_dir / "GeoLite2-City.mmdb")


@pytest.fixture
def alternative_database(geoip_dir, settings) -> Path:
    """The known DB-IP-style City database, installed and configured as GEOIP_CITY_ALTERNATIVE."""
    settings.GEOIP_CITY_ALTERNATIVE = "dbip-city-lite.mmdb"
    return build_dbip_city_database(geoip_dir / "dbip-city-lite.mmdb")


# --- A live gunicorn --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def collected_static(tmp_path_factory) -> Path:
    """Static files collected once, as the production image does at build time."""
    root = tmp_path_factory.mktemp("static")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_STATIC_ROOT": str(root),
        "DJANGO_SECRET_KEY": "collectstatic-only",
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=BASE_DIR,
        env=env,
        check=True,
    )
    return root


class LiveServer:
    def __init__(self, url: str, process: subprocess.Popen, log: Path):
        self.url, self.process, self.log = url, process, log

    def get(self, path: str, headers: dict | None = None, timeout: float = 10):
        """(status, headers, body bytes) of a GET, errors included."""
        request = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()


@contextlib.contextmanager
def run_gunicorn(*, env: dict[str, str], tmp_path: Path, workers: int = 2):
    """Start gunicorn with the production settings and the repository's config file.

    With GUNICORN_CERTFILE in `env` it serves HTTPS, and `server.url` says so.
    """
    port = free_port()
    log = tmp_path / f"gunicorn-{port}.log"
    full_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_SECRET_KEY": "live-test-secret-key-not-for-production-0123456789",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(workers),
        "GUNICORN_ACCESS_LOG": "",
        "GUNICORN_CONTROL_SOCKET": "off",
        "GEOIP_RELOAD_CHECK_INTERVAL": "0",
        **env,
    }
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py"],
            cwd=BASE_DIR,
            env=full_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    scheme = "https" if full_env.get("GUNICORN_CERTFILE") else "http"
    server = LiveServer(f"{scheme}://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start:\n{log.read_text()}") from None
                time.sleep(0.1)
        # The port accepts before the workers have loaded Django: one answer (whatever its
        # status) means a worker serves, so a test's first request does not wait on start-up.
        with contextlib.suppress(OSError):
            server.get("/health", timeout=60)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_until(check, timeout: float = 20.0) -> None:
    """Until check() is true, or the timeout: a live server writes its history behind, so its
    rows reach PostgreSQL within a flush interval of the answer (the assertion that follows says
    what went wrong, if anything)."""
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.1)


def live_environment(*, geoip_dir: Path, dns_server: LocalDNSServer, static_root: Path) -> dict[str, str]:
    db = settings.DATABASES["default"]
    return {
        "DATABASE_URL": f"postgis://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "GEOIP_PATH": str(geoip_dir),
        "GEOIP_CITY": "GeoLite2-City.mmdb",
        "DNS_NAMESERVERS": dns_server.address,
        "DNS_TIMEOUT": "1",
        "DJANGO_STATIC_ROOT": str(static_root),
        "API_THROTTLE_RATE": "",
        # Write-behind as in production (tests poll for rows), into a spool of this server's own.
        "HISTORY_SPOOL_DIR": _live_spool(),
        # Rate-limit counts of this server's own too (when a test turns limits on).
        "RATE_LIMIT_DIR": tempfile.mkdtemp(prefix="easygeoip-ratelimit-"),
        # DNS slots of this server's own: other servers' silent names must not hold them.
        "DNS_SLOT_DIR": tempfile.mkdtemp(prefix="easygeoip-dns-slots-"),
    }


_live_spools: list[Path] = []


def _live_spool() -> str:
    _live_spools.append(Path(tempfile.mkdtemp(prefix="easygeoip-spool-")))
    return str(_live_spools[-1])


def _live_history_pending() -> bool:
    """Whether a live server's spool was written in the last 2 s (rows still on their way). Older
    files are a stopped or killed server's, left for the tests that replay them: not waited for."""
    recent = time.time() - 2
    for path in _live_spools:
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(path):
                with contextlib.suppress(FileNotFoundError):
                    if entry.stat().st_mtime > recent:
                        return True
    return False


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    # Before a test's tables are truncated: a live server still flushing would deadlock with the
    # TRUNCATE (its INSERT checks lookups_apikey, which the TRUNCATE holds already).
    wait_until(lambda: not _live_history_pending(), timeout=10)
    yield


@pytest.fixture(scope="session")
def live_geoip_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("live-geoip")
    build_city_database(directory / "GeoLite2-City.mmdb")
    return directory


@pytest.fixture(scope="session")
def gunicorn_server(
    django_db_setup, django_db_blocker, live_geoip_dir, dns_server, collected_static, tmp_path_factory
):
    """A gunicorn serving the test database and the known GeoIP database, shared by a session."""
    env = live_environment(geoip_dir=live_geoip_dir, dns_server=dns_server, static_root=collected_static)
    with run_gunicorn(env=env, tmp_path=tmp_path_factory.mktemp("gunicorn")) as server:
        yield server
