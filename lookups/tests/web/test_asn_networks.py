"""`GET /api/v1/asn/<number>/networks` (lookups.core.asn_networks): an AS's networks from the
index built at install, in order, paginated, as CSV; no ASN database 404, no index 503."""

import csv
import io
from http import HTTPStatus

import pytest

from lookups.core.networks import MAX_LIMIT
from lookups.errors import (
    ASN_DATABASE_MISSING_MESSAGE,
    ASN_INDEX_MISSING_MESSAGE,
    INVALID_ASN_MESSAGE,
    NETWORKS_LIMIT_MESSAGE,
)
from lookups.tests.geoip_data import build_asn_database
from lookups.tests.updater.fakes import update

pytestmark = pytest.mark.django_db

AA = {"autonomous_system_number": 20712, "autonomous_system_organization": "Andrews & Arnold Ltd"}
ASNS = {
    "81.187.0.0/16": AA,
    "81.2.69.0/24": AA,
    "90.155.0.0/17": AA,
    "2001:8b0::/32": AA,
    "2a02:8010::/29": AA,
    "8.8.8.0/24": {"autonomous_system_number": 15169, "autonomous_system_organization": "Google LLC"},
}
AA_NETWORKS = ["81.2.69.0/24", "81.187.0.0/16", "90.155.0.0/17", "2001:8b0::/32", "2a02:8010::/29"]


@pytest.fixture
def indexed_asn(city_database, tmp_path):
    update("--file", str(build_asn_database(tmp_path / "asn.mmdb", networks=ASNS, build_epoch=1_760_000_000)))


def networks(response) -> list[str]:
    assert response.status_code == HTTPStatus.OK, response.content
    return [entry["network"] for entry in response.json()["networks"]]


@pytest.mark.parametrize("number", ["20712", "AS20712", "as20712"])
def test_an_as_s_networks_ipv4_first_in_order(client, indexed_asn, number):
    response = client.get(f"/api/v1/asn/{number}/networks")
    assert networks(response) == AA_NETWORKS
    body = response.json()
    assert body["autonomous_system_number"] == 20712
    assert body["autonomous_system_organization"] == "Andrews & Arnold Ltd"
    assert (body["truncated"], body["next"]) == (False, None)


def test_an_as_without_networks_is_an_empty_list(client, indexed_asn):
    body = client.get("/api/v1/asn/64512/networks").json()
    assert body == {
        "autonomous_system_number": 64512,
        "autonomous_system_organization": None,
        "networks": [],
        "truncated": False,
        "next": None,
    }


def test_pages_follow_one_another(client, indexed_asn):
    seen, url = [], "/api/v1/asn/20712/networks?limit=2"
    while url:
        response = client.get(url)
        seen += networks(response)
        body = response.json()
        assert body["truncated"] is (body["next"] is not None)
        if body["next"]:
            assert response["Link"] == f'<{body["next"]}>; rel="next"'
        url = body["next"]
    assert seen == AA_NETWORKS


def test_csv_is_one_network_a_line(client, indexed_asn):
    response = client.get("/api/v1/asn/20712/networks", {"format": "csv"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert list(csv.reader(io.StringIO(response.content.decode()))) == [
        ["network"],
        *[[n] for n in AA_NETWORKS],
    ]


@pytest.mark.parametrize(
    ("number", "params", "message"),
    [
        ("nope", {}, INVALID_ASN_MESSAGE),
        ("-1", {}, INVALID_ASN_MESSAGE),
        ("4294967296", {}, INVALID_ASN_MESSAGE),
        ("20712", {"limit": "0"}, NETWORKS_LIMIT_MESSAGE.format(maximum=MAX_LIMIT)),
    ],
)
def test_bad_requests_are_400(client, indexed_asn, number, params, message):
    response = client.get(f"/api/v1/asn/{number}/networks", params)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"]["message"] == message


def test_a_bad_start_is_400(client, indexed_asn):
    response = client.get("/api/v1/asn/20712/networks", {"start": "nope"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"]["code"] == "invalid_prefix"


def test_without_an_asn_database_404(client, city_database):
    response = client.get("/api/v1/asn/20712/networks")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["error"] == {
        "code": "asn_database_missing",
        "message": ASN_DATABASE_MISSING_MESSAGE,
    }


def test_an_asn_database_installed_without_the_updater_has_no_index_503(client, city_database):
    build_asn_database(city_database.parent / "GeoLite2-ASN.mmdb", networks=ASNS)
    response = client.get("/api/v1/asn/20712/networks")
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["error"]["message"] == ASN_INDEX_MISSING_MESSAGE


def test_the_schema_documents_it_and_matches_its_bodies(client, indexed_asn):
    from lookups.web.api_schema import AsnNetworkPageSerializer

    operation = client.get("/api/schema/?format=json").json()["paths"]["/api/v1/asn/{number}/networks"]["get"]
    assert operation["operationId"] == "asn_networks"
    assert {"200", "400", "503"} <= set(operation["responses"])
    assert set(client.get("/api/v1/asn/20712/networks").json()) == set(AsnNetworkPageSerializer().fields)
