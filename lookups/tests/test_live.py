"""The real thing: gunicorn with the production settings, spoken to over HTTP."""

import json
import threading
import time
from http import HTTPStatus

import dns.reversename
import pytest

from conftest import live_environment, run_gunicorn, wait_until
from lookups.models import Lookup
from lookups.tests.geoip_data import (
    AT_SEA_IP,
    BERLIN_IP,
    DBIP_EDITION,
    LONDON,
    LONDON_IP,
    build_city_database,
    build_dbip_city_database,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_gunicorn_serves_lookups_and_records_them(gunicorn_server):
    status, headers, body = gunicorn_server.get("/api/v1/lookup/london.example.com")
    assert status == HTTPStatus.OK
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["country"]["iso_code"] == "GB"
    wait_until(Lookup.objects.filter(query="london.example.com").exists)
    assert Lookup.objects.filter(query="london.example.com", outcome="ok", requester="127.0.0.0").exists()


def test_gunicorn_answers_reverse_names_within_their_budget(
    live_geoip_dir, dns_server, collected_static, tmp_path
):
    # One worker, so that the plain lookup below is served beside the silent one in that worker,
    # and a budget long enough that the order of the answers says it, whatever the machine's load.
    env = live_environment(geoip_dir=live_geoip_dir, dns_server=dns_server, static_root=collected_static)
    env["RDNS_TIMEOUT"] = "5"
    with run_gunicorn(env=env, tmp_path=tmp_path, workers=1) as server:
        status, _, body = server.get(f"/api/v1/lookup/{LONDON_IP}?rdns=1")
        assert status == HTTPStatus.OK
        assert json.loads(body)["reverse_dns"] == {
            "status": "ok",
            "name": "london.example.com",
            "verified": True,
        }
        # A reverse name that never answers: the lookup still comes, once its budget is spent, and a
        # plain lookup meanwhile is not kept waiting behind it.
        answers = {}
        silent = threading.Thread(
            target=lambda: answers.setdefault("silent", server.get(f"/api/v1/lookup/{AT_SEA_IP}?rdns=1"))
        )
        silent.start()
        ptr = dns.reversename.from_address(AT_SEA_IP).to_text().rstrip(".")
        wait_until(lambda: (ptr, "PTR") in dns_server.queries)  # the silent reverse name was asked
        status, _, _ = server.get(f"/api/v1/lookup/{BERLIN_IP}")
        assert status == HTTPStatus.OK
        assert "silent" not in answers  # answered while the reverse name was still waited for
        silent.join()
        status, _, body = answers["silent"]
        assert status == HTTPStatus.OK
        assert json.loads(body)["reverse_dns"]["status"] == "timeout"


def test_gunicorn_health_and_security_headers(gunicorn_server):
    status, headers, body = gunicorn_server.get("/health")
    assert status == HTTPStatus.OK
    assert json.loads(body)["status"] == "ok"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"


def test_gunicorn_never_answers_500_for_a_strange_query(gunicorn_server):
    for query in ["%00", "%ff%fe", "..%2f..%2fetc%2fpasswd", "a" * 2000, "1" * 300, "%E2%80%AE"]:
        status, _, body = gunicorn_server.get(f"/api/v1/lookup/{query}")
        assert 400 <= status < 500, (query, status)
        assert "error" in json.loads(body)


def test_a_replaced_database_is_picked_up_without_restart(
    django_db_blocker, dns_server, collected_static, tmp_path
):
    geoip_dir = tmp_path / "geoip"
    path = build_city_database(geoip_dir / "GeoLite2-City.mmdb", build_epoch=1_700_000_000)
    env = live_environment(geoip_dir=geoip_dir, dns_server=dns_server, static_root=collected_static)
    with run_gunicorn(env=env, tmp_path=tmp_path, workers=2) as server:
        assert json.loads(server.get(f"/api/v1/lookup/{LONDON_IP}")[2])["city"]["name"] == "London"
        failures = []
        stop = threading.Event()

        def hammer():
            while not stop.is_set():
                status, _, _ = server.get(f"/api/v1/lookup/{LONDON_IP}")
                if status != HTTPStatus.OK:
                    failures.append(status)

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(0.3)
        renamed = {**LONDON, "city": {"names": {"en": "Londinium"}}}
        build_city_database(path, build_epoch=1_800_000_000, networks={"81.2.69.0/24": renamed})
        time.sleep(0.3)
        stop.set()
        for thread in threads:
            thread.join()
        assert failures == []
        # Every worker now answers from the new file: ask enough times to reach both.
        cities = {json.loads(server.get(f"/api/v1/lookup/{LONDON_IP}")[2])["city"]["name"] for _ in range(10)}
        assert cities == {"Londinium"}
        health = json.loads(server.get("/health")[2])
        assert health["database"]["build_date"].startswith("2027-01-15")


def test_a_disallowed_host_is_one_warning_line_not_a_traceback(gunicorn_server):
    """Anyone can send a wrong Host header: each one must cost the log a line, not fifteen."""
    before = gunicorn_server.log.stat().st_size
    for path in ["/", "/api/v1/lookup/8.8.8.8", "/health"]:
        status, _, _ = gunicorn_server.get(path, headers={"Host": "evil.example"})
        assert status == HTTPStatus.BAD_REQUEST
    time.sleep(0.5)  # the worker's log lines reach the file
    with open(gunicorn_server.log, "rb") as log:
        log.seek(before)
        lines = log.read().decode().splitlines()
    assert not [line for line in lines if "Traceback" in line or " ERROR " in line], lines
    about_it = [line for line in lines if "evil.example" in line]
    assert len(about_it) == 3, lines
    for line in about_it:
        assert " WARNING django.security.DisallowedHost Invalid HTTP_HOST header: 'evil.example'." in line


def test_gunicorn_compares_two_databases_named_in_the_environment(dns_server, collected_static, tmp_path):
    geoip_dir = tmp_path / "geoip"
    build_city_database(geoip_dir / "GeoLite2-City.mmdb")
    build_dbip_city_database(geoip_dir / "dbip-city-lite.mmdb")
    env = live_environment(geoip_dir=geoip_dir, dns_server=dns_server, static_root=collected_static)
    with run_gunicorn(
        env={**env, "GEOIP_CITY_ALTERNATIVE": "dbip-city-lite.mmdb"}, tmp_path=tmp_path
    ) as server:
        status, _, body = server.get(f"/api/v1/compare/{LONDON_IP}")
        assert status == HTTPStatus.OK
        body = json.loads(body)
        assert body["alternative"]["database"]["edition"] == DBIP_EDITION
        assert body["agreement"]["same_city"] is True
        status, _, page = server.get(f"/lookup/{LONDON_IP}")
        assert status == HTTPStatus.OK
        assert b'class="comparison"' in page
    with run_gunicorn(env=env, tmp_path=tmp_path) as server:  # no GEOIP_CITY_ALTERNATIVE
        status, _, body = server.get(f"/api/v1/compare/{LONDON_IP}")
        assert status == HTTPStatus.CONFLICT
        assert json.loads(body)["error"]["code"] == "comparison_not_configured"
