"""What the service counts as it works, through Django's test client (this process's registry)."""

import base64
from http import HTTPStatus

import pytest
from prometheus_client import REGISTRY

from lookups.tests.geoip_data import LONDON_IP, UNKNOWN_PUBLIC_IP
from lookups.web import credentials

pytestmark = pytest.mark.django_db


def lookups_counted(channel: str, outcome: str) -> float:
    return (
        REGISTRY.get_sample_value("easygeoip_lookups_total", {"channel": channel, "outcome": outcome}) or 0.0
    )


def test_lookups_are_counted_by_channel_and_outcome(client, city_database):
    before = {
        key: lookups_counted(*key)
        for key in [
            ("api", "ok"),
            ("api", "address_not_found"),
            ("api", "invalid_query"),
            ("web", "ok"),
            ("batch", "ok"),
            ("batch", "address_not_public"),
            ("webservice", "ok"),
        ]
    }
    assert client.get(f"/api/v1/lookup/{LONDON_IP}").status_code == HTTPStatus.OK
    assert client.get(f"/api/v1/lookup/{LONDON_IP}").status_code == HTTPStatus.OK
    assert client.get(f"/api/v1/lookup/{UNKNOWN_PUBLIC_IP}").status_code == HTTPStatus.NOT_FOUND
    assert client.get("/api/v1/lookup/not..valid").status_code == HTTPStatus.BAD_REQUEST
    assert client.get(f"/lookup/{LONDON_IP}").status_code == HTTPStatus.OK
    batch = {"queries": [LONDON_IP, "london.example.com", "10.0.0.1", LONDON_IP]}  # the repeat counts once
    response = client.post("/api/v1/lookup/batch", batch, content_type="application/json")
    assert response.status_code == HTTPStatus.OK
    issued = credentials.create_api_key(name="metrics test")
    basic = base64.b64encode(f"{issued.api_key.account_id}:{issued.license_key}".encode()).decode()
    response = client.get(f"/geoip/v2.1/city/{LONDON_IP}", headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == HTTPStatus.OK

    added = {key: lookups_counted(*key) - value for key, value in before.items()}
    assert added == {
        ("api", "ok"): 2,
        ("api", "address_not_found"): 1,
        ("api", "invalid_query"): 1,
        ("web", "ok"): 1,
        ("batch", "ok"): 2,
        ("batch", "address_not_public"): 1,
        ("webservice", "ok"): 1,
    }


def test_a_lookup_whose_history_cannot_be_kept_is_not_counted(client, city_database, history_spool):
    before = lookups_counted("api", "ok")
    history_spool.parent.mkdir(parents=True, exist_ok=True)
    history_spool.write_text("a file where the spool folder should be")
    assert client.get(f"/api/v1/lookup/{LONDON_IP}").status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert lookups_counted("api", "ok") == before


@pytest.mark.throttled
def test_rate_limit_refusals_are_counted_by_view(client, city_database, settings):
    settings.API_THROTTLE_RATE = "1/minute"
    settings.PAGE_THROTTLE_RATE = "1/minute"

    def refused(view):
        return REGISTRY.get_sample_value("easygeoip_rate_limited_total", {"view": view}) or 0.0

    before = {view: refused(view) for view in ("api-lookup", "api-lookup-batch", "lookup")}
    statuses = [client.get(f"/api/v1/lookup/{LONDON_IP}").status_code for _ in range(3)]
    batch = client.post("/api/v1/lookup/batch", {"queries": [LONDON_IP]}, content_type="application/json")
    statuses.append(batch.status_code)  # DRF's own throttle, the same bucket
    statuses += [client.get(f"/lookup/{LONDON_IP}").status_code for _ in range(2)]
    assert statuses == [200, 429, 429, 429, 200, 429]
    assert {view: refused(view) - count for view, count in before.items()} == {
        "api-lookup": 2,
        "api-lookup-batch": 1,
        "lookup": 1,
    }


def test_request_latency_is_observed_by_url_pattern(client, city_database):
    def observed(view):
        return REGISTRY.get_sample_value("easygeoip_request_duration_seconds_count", {"view": view}) or 0.0

    before = {view: observed(view) for view in ("api-lookup", "health", "admin", "other")}
    client.get(f"/api/v1/lookup/{LONDON_IP}")
    client.get("/health")
    client.get("/admin/login/")
    client.get("/no/such/page")
    assert {view: observed(view) - count for view, count in before.items()} == {
        "api-lookup": 1,
        "health": 1,
        "admin": 1,
        "other": 1,
    }


def test_a_comparison_counts_as_one_lookup(client, city_database, alternative_database):
    keys = [("api", "ok"), ("api", "address_not_found"), ("web", "ok"), ("batch", "ok")]
    before = {key: lookups_counted(*key) for key in keys}
    assert client.get(f"/api/v1/compare/{LONDON_IP}").status_code == HTTPStatus.OK
    # Only the second database knows it: counted with the first's outcome, as it is recorded.
    assert client.get(f"/api/v1/compare/{UNKNOWN_PUBLIC_IP}").status_code == HTTPStatus.OK
    assert client.get(f"/lookup/{LONDON_IP}").status_code == HTTPStatus.OK  # the page with its panel
    batch = {"queries": [LONDON_IP, LONDON_IP]}
    response = client.post("/api/v1/lookup/batch?compare=1", batch, content_type="application/json")
    assert response.status_code == HTTPStatus.OK
    added = {key: lookups_counted(*key) - value for key, value in before.items()}
    assert added == {("api", "ok"): 1, ("api", "address_not_found"): 1, ("web", "ok"): 1, ("batch", "ok"): 1}
