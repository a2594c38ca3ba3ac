"""GET /api/v1/lookup/<address>/timeline across three installed builds."""

from http import HTTPStatus

import pytest
from rest_framework.test import APIClient

from lookups.core.timeline import TIMELINE_ADDRESS_MESSAGE
from lookups.tests.geoip_data import BERLIN_IP, LINKOPING_IP, LONDON_IP
from lookups.tests.timeline_builds import install_three_builds

pytestmark = pytest.mark.django_db


def timeline(address: str, **params):
    return APIClient().get(f"/api/v1/lookup/{address}/timeline", params)


def test_an_address_across_three_builds_oldest_first_marking_the_change(geoip_dir, tmp_path):
    install_three_builds(tmp_path)

    response = timeline(LONDON_IP)

    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert body["address"] == LONDON_IP
    assert body["changes"] == 1
    builds = body["builds"]
    assert [b["build_date"][:10] for b in builds] == ["2026-05-28", "2026-09-21", "2026-11-18"]
    assert [b["city"] for b in builds] == ["London", "London", "Londinium"]
    assert [(b["change"], b["changed_fields"]) for b in builds] == [
        (None, []),
        (None, []),
        ("changed", ["city"]),
    ]
    assert [b["current"] for b in builds] == [False, False, True]
    assert builds[0]["country"] == {"code": "GB", "name": "United Kingdom"}
    assert builds[0]["subdivision"] == {"code": "ENG", "name": "England"}
    assert builds[0]["network"] == "81.2.69.0/24"
    assert builds[0]["location"] == {"latitude": 51.5142, "longitude": -0.0931, "accuracy_radius": 10}
    assert builds[0]["time_zone"] == "Europe/London"


def test_removed_and_unchanged_and_names_in_the_asked_language(geoip_dir, tmp_path):
    install_three_builds(tmp_path)
    gone = timeline(LINKOPING_IP).json()["builds"]
    assert [(b["found"], b["change"]) for b in gone] == [(True, None), (False, "removed"), (False, None)]
    assert gone[1]["country"] is None
    steady = timeline(BERLIN_IP, lang="de").json()
    assert steady["changes"] == 0
    assert {b["country"]["name"] for b in steady["builds"]} == {"Deutschland"}


@pytest.mark.parametrize(
    ("address", "status", "code"),
    [
        ("example.com", HTTPStatus.BAD_REQUEST, "invalid_query"),
        ("10.0.0.1", HTTPStatus.BAD_REQUEST, "address_not_public"),
        ("8.8.8.8.", HTTPStatus.BAD_REQUEST, "invalid_query"),
    ],
)
def test_bad_addresses_are_clear_errors(city_database, address, status, code):
    response = timeline(address)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_a_name_is_refused_with_the_reason(city_database):
    assert timeline("example.com").json()["error"]["message"] == TIMELINE_ADDRESS_MESSAGE.format(
        query="example.com"
    )


def test_no_database_is_503(geoip_dir):
    response = timeline(LONDON_IP)
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["error"]["code"] == "database_unavailable"


def test_the_lookup_itself_still_answers_and_the_schema_lists_the_timeline(city_database):
    assert APIClient().get(f"/api/v1/lookup/{LONDON_IP}").json()["city"]["name"] == "London"
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    assert "/api/v1/lookup/{address}/timeline" in schema["paths"]
