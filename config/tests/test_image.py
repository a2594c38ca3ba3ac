"""The production image, built from this checkout and run by a real Docker engine as an operator
runs it: non-root, read-only root filesystem, its volumes, against the machine's PostGIS and a
City database of 300,000 networks (the benchmark's generated one)."""

import html
import secrets
import sys
import time
import uuid
from pathlib import Path

import maxminddb
import psycopg2
import pytest
from django.conf import settings

from config.tests.containers import REPO
from config.tests.docker_engine import (
    APP_UID,
    Container,
    FileServer,
    docker,
    free_port,
    http_get,
    requires_docker,
    wait_for,
)
from lookups.models import Channel

pytestmark = [requires_docker, pytest.mark.slow]

sys.path.insert(0, str(REPO / "bench"))
import realistic_db  # noqa: E402 (bench/ is not a package)


@pytest.fixture
def container_database():
    """A PostGIS database of its own on the machine's PostgreSQL, reached by the containers over
    loopback; its URL, and a function that runs a query in it."""
    db = settings.DATABASES["default"]
    name = f"easygeoip_container_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    url = f"postgis://{db['USER']}@{db['HOST']}:{db['PORT']}/{name}"

    def query(sql: str, params=()) -> list[tuple]:
        connection = psycopg2.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=name)
        try:
            with connection, connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall() if cursor.description else []
        finally:
            connection.close()

    query("CREATE EXTENSION IF NOT EXISTS postgis")
    yield url, query
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="module")
def nothing_to_download():
    """DB-IP's download site, with nothing on it: a start without a database fails its download
    at once instead of retrying a name that does not resolve here."""
    server = FileServer()
    yield server
    server.stop()


class App:
    """One production container and its named volumes."""

    def __init__(self, image: str, *, database_url: str, download_url: str, volumes: dict[str, str], **env):
        self.port = free_port()
        self.volumes = volumes
        self.env = {
            "DATABASE_URL": database_url,
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "localhost",
            # Plain HTTP on loopback: the compose tests put the HTTPS proxy in front.
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "GUNICORN_WORKERS": "2",
            "TZ_WORLD_ZONES": "Europe/London,Europe/Berlin",
            "DBIP_DOWNLOAD_URL": download_url,
            "API_THROTTLE_RATE": "",
            "PAGE_THROTTLE_RATE": "",
            **env,
        }
        name = f"easygeoip-test-{uuid.uuid4().hex[:8]}"
        arguments = ["run", "-d", "--name", name, "--network", "host", "--read-only", "--tmpfs", "/tmp"]
        # The image's own health check, run every 2 s instead of every 30 s.
        arguments += ["--health-interval", "2s"]
        for volume, target in volumes.items():
            arguments += ["-v", f"{volume}:{target}"]
        for key, value in self.env.items():
            arguments += ["-e", f"{key}={value}"]
        self.container = Container(docker(*arguments, image).stdout.strip())
        self.base = f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> tuple[int, bytes]:
        return http_get(self.base + path)

    def wait_until_serving(self) -> None:
        """Migrated, data checked, gunicorn answering (/health may still say 503: no database)."""
        wait_for(
            lambda: self.get("/health")[0] in {200, 503},
            timeout=180,
            what="gunicorn did not answer /health",
            diagnose=self.container.logs,
        )

    def remove(self, *, kill: bool = False) -> None:
        docker("rm", "-f" if kill else "-fv", self.container.id, check=False)


@pytest.fixture
def volumes():
    names = {
        f"easygeoip-test-{kind}-{uuid.uuid4().hex[:8]}": target
        for kind, target in (("geoip", "/data/geoip"), ("spool", "/data/spool"))
    }
    yield names
    for name in names:
        docker("volume", "rm", "-f", name, check=False)


def sampled_answers(database: Path, count: int) -> dict[str, dict]:
    """Addresses the database knows, with its own record for each."""
    with maxminddb.open_database(str(database)) as reader:
        return {address: reader.get(address) for address in realistic_db.sample_addresses(database, count)}


def test_the_production_image_serves_lookups_and_pages_and_records_them(
    production_image, large_city_database, container_database, nothing_to_download, volumes
):
    database_url, query = container_database
    app = App(
        production_image, database_url=database_url, download_url=nothing_to_download.url, volumes=volumes
    )
    try:
        app.wait_until_serving()
        status, body = app.get("/health")
        assert status == 503, body  # no database yet, and it says so
        # ...with the command that installs one, as an operator of the container types it.
        assert "docker compose exec app python manage.py update_maxmind" in app.container.logs()

        installed = app.container.install_database(large_city_database)
        assert "installed the database" in installed
        app.container.wait_healthy()

        # Non-root, numeric, on a read-only root filesystem, with the spool on its volume.
        assert app.container.exec("id", "-u").stdout.strip() == APP_UID
        details = app.container.inspect()
        assert details["Config"]["User"] == f"{APP_UID}:{APP_UID}"
        assert details["HostConfig"]["ReadonlyRootfs"] is True
        assert "/data/spool" in {mount["Destination"] for mount in details["Mounts"]}

        answers = sampled_answers(large_city_database, 25)
        for address, record in answers.items():
            status, body = app.get(f"/api/v1/lookup/{address}")
            assert status == 200, body
            assert f'"iso_code":"{record["country"]["iso_code"]}"'.encode() in body.replace(b" ", b"")
        page_addresses = list(answers)[:5]
        for address in page_addresses:
            status, body = app.get(f"/?q={address}")
            assert status == 200, body[:500]
            city = answers[address].get("city", {}).get("names", {}).get("en")
            if city:
                assert html.escape(city).encode() in body

        def recorded():
            rows = query(
                "SELECT query, channel FROM lookups_lookup WHERE outcome = 'ok' AND query = ANY(%s)",
                (list(answers),),
            )
            return rows if len(rows) == len(answers) + len(page_addresses) else None

        rows = wait_for(
            recorded,
            timeout=30,
            what="the lookups did not all reach the history",
            diagnose=app.container.logs,
        )
        expected = [Channel.API] * len(answers) + [Channel.WEB] * len(page_addresses)
        assert sorted(channel for _, channel in rows) == sorted(expected)
    finally:
        app.remove()


def test_history_spooled_in_a_replaced_container_reaches_postgresql(
    production_image, large_city_database, container_database, nothing_to_download, volumes
):
    """Rows still in the spool when a container is killed are on its volume: the container that
    replaces it replays them, each once."""
    database_url, query = container_database
    addresses = list(sampled_answers(large_city_database, 12))
    # A flush interval longer than the test, so that the answered lookups stay in the spool.
    first = App(
        production_image,
        database_url=database_url,
        download_url=nothing_to_download.url,
        volumes=volumes,
        HISTORY_FLUSH_INTERVAL="600",
    )
    try:
        first.wait_until_serving()
        first.container.install_database(large_city_database)
        wait_for(
            lambda: first.get("/health")[0] == 200,
            timeout=60,
            what="no database",
            diagnose=first.container.logs,
        )
        for address in addresses:
            status, body = first.get(f"/api/v1/lookup/{address}")
            assert status == 200, body
        spooled = first.container.exec("sh", "-c", "cat /data/spool/*").stdout
        assert all(address in spooled for address in addresses)
    finally:
        first.remove(kill=True)

    def stored() -> list[tuple]:
        return query("SELECT query, uid FROM lookups_lookup WHERE query = ANY(%s)", (addresses,))

    assert stored() == []
    second = App(
        production_image, database_url=database_url, download_url=nothing_to_download.url, volumes=volumes
    )
    try:
        second.wait_until_serving()
        # Rows are replayed by a process that writes history: one lookup sets the replay going.
        second.get("/api/v1/lookup/" + addresses[0])
        rows = wait_for(
            lambda: (found := stored()) and len(found) >= len(addresses) + 1 and found,
            timeout=60,
            what="the spooled rows were not replayed",
            diagnose=second.container.logs,
        )
        assert sorted(q for q, _ in rows) == sorted([*addresses, addresses[0]])
        assert len({uid for _, uid in rows}) == len(rows)
        time.sleep(1)
        assert len(stored()) == len(rows)  # none doubled by a later replay
    finally:
        second.remove()
