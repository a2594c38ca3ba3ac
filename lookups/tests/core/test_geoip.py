"""lookups.core.geoip: a bad file renamed over the good one is checked and refused, never served, and
the service keeps answering. The bad files are made from the generated test database, read
through the real reader and HTTP."""

import io
import ipaddress
import json
import logging
import os
from http import HTTPStatus
from pathlib import Path

import maxminddb
import pytest

from conftest import live_environment, run_gunicorn
from lookups.core.geoip import FELL_BACK_MESSAGE, GeoIPReader
from lookups.errors import DatabaseUnavailable
from lookups.tests.geoip_data import LINKOPING_IP, LONDON, LONDON_IP, build_city_database

pytestmark = pytest.mark.django_db

LONDINIUM = {"81.2.69.0/24": {**LONDON, "city": {"names": {"en": "Londinium"}}}}


def truncated(good: bytes) -> bytes:
    return good[: len(good) // 2]


def empty(good: bytes) -> bytes:
    return b""


def corrupt_tree(good: bytes) -> bytes:
    """The same size, the metadata intact, the search tree overwritten: every lookup fails."""
    with maxminddb.open_database(io.BytesIO(good), maxminddb.MODE_FD) as database:
        meta = database.metadata()
    tree = meta.node_count * meta.record_size * 2 // 8
    return b"\xff" * tree + good[tree:]


def corrupt_record(good: bytes) -> bytes:
    """One record's string made invalid UTF-8: only lookups of that network meet it."""
    name = "Linköping".encode()
    start = good.index(name)
    return good[:start] + b"\xff" * len(name) + good[start + len(name) :]


def rename_over(target: Path, data: bytes) -> None:
    """As an operator's `mv` or a broken copy job would: a new inode at the path."""
    staging = target.with_name(target.name + ".incoming")
    staging.write_bytes(data)
    os.replace(staging, target)


def city(client) -> tuple[int, str | None]:
    response = client.get(f"/api/v1/lookup/{LONDON_IP}")
    return response.status_code, response.json().get("city", {}).get("name")


@pytest.mark.parametrize("damage", [truncated, empty, corrupt_tree], ids=lambda damage: damage.__name__)
def test_a_bad_file_renamed_over_the_good_one_is_refused_and_the_old_one_serves(
    city_database, client, caplog, damage
):
    good = city_database.read_bytes()
    assert city(client) == (HTTPStatus.OK, "London")

    rename_over(city_database, damage(good))
    with caplog.at_level(logging.ERROR, logger="lookups.core.geoip"):
        answers = {city(client) for _ in range(20)}
        health = client.get("/health")

    assert answers == {(HTTPStatus.OK, "London")}
    assert health.status_code == HTTPStatus.OK
    body = health.json()
    assert body["status"] == "degraded"
    [warning] = body["warnings"]
    assert warning.startswith("The new file at GeoLite2-City.mmdb failed its check (")
    assert "still serving the database built on" in warning
    # Said once, not once per request.
    assert len([r for r in caplog.records if "not switched" in r.getMessage()]) == 1

    # A good file is taken up again, and the warning goes.
    build_city_database(city_database, networks=LONDINIUM)
    assert city(client) == (HTTPStatus.OK, "Londinium")
    assert client.get("/health").json()["warnings"] == []


def test_a_worker_started_meanwhile_falls_back_to_the_previous_file(geoip_dir, client, caplog):
    target = geoip_dir / "GeoLite2-City.mmdb"
    good = build_city_database(geoip_dir / "GeoLite2-City.mmdb.previous").read_bytes()
    target.write_bytes(truncated(good))  # nothing was served from it in this process yet

    with caplog.at_level(logging.ERROR, logger="lookups.core.geoip"):
        assert city(client) == (HTTPStatus.OK, "London")
        body = client.get("/health").json()

    assert body["status"] == "degraded"
    [warning] = body["warnings"]
    assert warning.startswith("The file at GeoLite2-City.mmdb failed its check (")
    assert "serving GeoLite2-City.mmdb.previous (built on" in warning
    assert FELL_BACK_MESSAGE.split("{")[0] in warning
    assert len([r for r in caplog.records if "fallback" in r.getMessage()]) == 1


@pytest.mark.parametrize("damage", [truncated, empty, corrupt_tree], ids=lambda damage: damage.__name__)
def test_with_no_good_file_at_all_lookups_are_503_with_the_reason(geoip_dir, client, tmp_path, damage):
    good = build_city_database(tmp_path / "good.mmdb").read_bytes()
    (geoip_dir / "GeoLite2-City.mmdb").write_bytes(damage(good))

    response = client.get(f"/api/v1/lookup/{LONDON_IP}")
    page = client.get("/", {"q": LONDON_IP})
    health = client.get("/health")

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    error = response.json()["error"]
    assert error["code"] == "database_unavailable"
    assert error["message"].startswith(
        "The installed GeoIP database cannot be used: the file at GeoLite2-City.mmdb"
    )
    assert page.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert health.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert health.json()["reason"] == error["message"]


def test_a_corrupt_record_the_check_did_not_reach_is_a_503_never_a_500(geoip_dir, client, tmp_path, caplog):
    good = build_city_database(tmp_path / "good.mmdb").read_bytes()
    (geoip_dir / "GeoLite2-City.mmdb").write_bytes(corrupt_record(good))

    with caplog.at_level(logging.ERROR, logger="lookups.core.geoip"):
        single = [client.get(f"/api/v1/lookup/{LINKOPING_IP}") for _ in range(3)]
        batch = client.post(
            "/api/v1/lookup/batch",
            data=json.dumps({"queries": [LONDON_IP, LINKOPING_IP]}),
            content_type="application/json",
        )
        page = client.get("/", {"q": LINKOPING_IP})
        health = client.get("/health").json()

    assert {response.status_code for response in single} == {HTTPStatus.SERVICE_UNAVAILABLE}
    assert single[0].json()["error"]["code"] == "database_unavailable"
    assert "is corrupt" in single[0].json()["error"]["message"]
    assert batch.status_code == HTTPStatus.OK
    london, linkoping = batch.json()["results"]
    assert london["city"]["name"] == "London"
    assert linkoping["error"]["code"] == "database_unavailable"
    assert page.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert any("is corrupt" in warning for warning in health["warnings"])
    assert len([r for r in caplog.records if "lookup failed" in r.getMessage()]) == 1


def test_the_reader_checks_a_new_file_before_it_switches(geoip_dir, tmp_path):
    target = geoip_dir / "GeoLite2-City.mmdb"
    good = build_city_database(target).read_bytes()
    reader = GeoIPReader(target, check_interval=0)
    assert reader.info().build_date
    rename_over(target, corrupt_tree(good))
    assert reader.problem is not None
    assert "search tree is corrupt" in reader.problem
    record, _, _ = reader.get(ipaddress.ip_address(LONDON_IP))
    assert record["city"]["names"]["en"] == "London"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_gunicorn_keeps_answering_when_a_truncated_file_is_renamed_over(
    geoip_dir, tmp_path, dns_server, collected_static
):
    target = build_city_database(geoip_dir / "GeoLite2-City.mmdb")
    # As update_maxmind leaves it: a worker that had not opened the file yet falls back to this.
    build_city_database(geoip_dir / "GeoLite2-City.mmdb.previous", networks=LONDINIUM)
    env = live_environment(geoip_dir=geoip_dir, dns_server=dns_server, static_root=collected_static)
    with run_gunicorn(env=env, tmp_path=tmp_path, workers=2) as server:
        warm = {server.get(f"/api/v1/lookup/{LONDON_IP}")[0] for _ in range(20)}  # both workers, likely
        rename_over(target, truncated(target.read_bytes()))
        answers = [server.get(f"/api/v1/lookup/{LONDON_IP}") for _ in range(30)]
        health = [json.loads(server.get("/health")[2]) for _ in range(6)]
        log = server.log.read_text()

    assert warm == {HTTPStatus.OK}
    assert [status for status, _, _ in answers if status != HTTPStatus.OK] == []
    cities = {json.loads(body)["city"]["name"] for _, _, body in answers}
    assert "London" in cities  # a worker that served the good file kept serving it
    assert cities <= {"London", "Londinium"}
    assert {body["status"] for body in health} == {"degraded"}
    assert all("failed its check" in body["warnings"][0] for body in health)
    assert log.count("GeoIP database not switched") <= 2  # once per worker, not per request


def test_a_missing_database_is_logged_once_with_the_command_that_installs_one(geoip_dir, settings, caplog):
    """Visitors get a plain sentence; the operator's log line carries the command (issue 19, item 5)."""
    settings.MANAGE_COMMAND = "docker compose exec app python manage.py"
    reader = GeoIPReader(geoip_dir / "GeoLite2-City.mmdb")
    with caplog.at_level(logging.ERROR, logger="lookups.core.geoip"):
        for _ in range(3):
            with pytest.raises(DatabaseUnavailable) as raised:
                reader.info()
    assert "manage.py" not in raised.value.message
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 1
    assert "docker compose exec app python manage.py update_maxmind" in lines[0]
    assert "update_maxmind --file PATH" in lines[0]
