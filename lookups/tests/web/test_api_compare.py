"""Two City databases side by side (lookups.core.pipeline.compare, lookups.web.comparison_body):
GET /api/v1/compare/<query> and the batch API's compare=1, against a GeoLite2-style and a
DB-IP-style database whose answers the tests know."""

from http import HTTPStatus

import pytest
import yaml

from lookups.core.geoip import DBIP_ATTRIBUTION
from lookups.errors import (
    ADDRESS_NOT_FOUND_MESSAGE,
    ADDRESS_NOT_PUBLIC_MESSAGE,
    ALTERNATIVE_UNAVAILABLE_MESSAGE,
    COMPARE_FLAG_MESSAGE,
    COMPARISON_NOT_CONFIGURED_MESSAGE,
    DATABASE_MISSING_MESSAGE,
    INVALID_QUERY_MESSAGE,
    NAME_NOT_RESOLVED_MESSAGE,
    THROTTLED_MESSAGE,
)
from lookups.models import Lookup
from lookups.tests.geoip_data import (
    AT_SEA_IP,
    BERLIN_DISTANCE_KM,
    BERLIN_IP,
    DBIP_EDITION,
    LINKOPING_DISTANCE_KM,
    LINKOPING_IP,
    LONDON_DISTANCE_KM,
    LONDON_IP,
    UNKNOWN_PUBLIC_IP,
    build_city_database,
)
from lookups.web.api_schema import ComparisonSerializer

pytestmark = pytest.mark.django_db


def compare(client, query: str, **extra):
    return client.get(f"/api/v1/compare/{query}", **extra)


def test_each_database_answers_with_a_lookups_body(client, city_database, alternative_database):
    response = compare(client, LONDON_IP)
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    lookup = client.get(f"/api/v1/lookup/{LONDON_IP}").json()
    assert body["primary"] == lookup
    alternative = body["alternative"]
    assert alternative.keys() == lookup.keys()
    assert alternative["database"]["edition"] == DBIP_EDITION
    assert alternative["database"]["attribution"] == DBIP_ATTRIBUTION
    assert alternative["city"] == {"name": "London"}
    assert alternative["location"]["latitude"] == 51.5085
    assert alternative["location"]["accuracy_radius"] is None
    # No time zone in DB-IP's record: the tz_world polygons answer, as for a lookup.
    assert alternative["location"]["time_zone"] == "Europe/London"
    assert alternative["location"]["time_zone_source"] == "tz_world"
    assert body["query"] == LONDON_IP


def test_agreement_of_the_same_city(client, city_database, alternative_database):
    agreement = compare(client, LONDON_IP).json()["agreement"]
    assert agreement == {
        "same_country": True,
        # The City database has London's GeoNames ID, DB-IP's has none: compared by name.
        "same_city": True,
        "distance_km": LONDON_DISTANCE_KM,
        # DB-IP gives no radius: the City database's 10 km alone.
        "within_accuracy": True,
        "newer": "primary",
    }


def test_agreement_of_the_same_country_another_city(client, city_database, alternative_database):
    agreement = compare(client, BERLIN_IP).json()["agreement"]
    assert agreement["same_country"] is True
    assert agreement["same_city"] is False
    assert agreement["distance_km"] == BERLIN_DISTANCE_KM
    assert agreement["within_accuracy"] is True  # 26.6 km apart, the City database says 50 km


def test_disagreement_beyond_the_accuracy_radii(client, city_database, alternative_database):
    agreement = compare(client, LINKOPING_IP).json()["agreement"]
    assert agreement["same_country"] is False
    assert agreement["same_city"] is False
    assert agreement["distance_km"] == LINKOPING_DISTANCE_KM
    assert agreement["within_accuracy"] is False  # 323.5 km apart, 20 km of radius


def test_the_newer_build_is_named(client, geoip_dir, settings, alternative_database):
    build_city_database(geoip_dir / "GeoLite2-City.mmdb", build_epoch=1_780_000_000)  # 2026-05-28
    assert compare(client, LONDON_IP).json()["agreement"]["newer"] == "alternative"


def test_an_address_only_one_database_knows(client, city_database, alternative_database):
    response = compare(client, UNKNOWN_PUBLIC_IP)
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert body["primary"] == {
        "error": {
            "code": "address_not_found",
            "message": ADDRESS_NOT_FOUND_MESSAGE.format(address=UNKNOWN_PUBLIC_IP),
        }
    }
    assert body["alternative"]["city"] == {"name": "Mountain View"}
    assert set(body["agreement"].values()) == {None}

    body = compare(client, AT_SEA_IP).json()
    assert body["primary"]["country"]["iso_code"] == "US"
    assert body["alternative"]["error"]["code"] == "address_not_found"


def test_a_name_is_resolved_once_for_both(client, city_database, alternative_database, dns_server):
    lookup_asked = len(dns_server.queries)
    client.get("/api/v1/lookup/london.example.com")
    lookup_asked = len(dns_server.queries) - lookup_asked
    compare_asked = len(dns_server.queries)
    body = compare(client, "london.example.com").json()
    compare_asked = len(dns_server.queries) - compare_asked
    assert body["primary"]["name"] == body["alternative"]["name"] == "london.example.com"
    assert body["primary"]["ip_address"] == body["alternative"]["ip_address"] == LONDON_IP
    assert compare_asked == lookup_asked > 0


def test_counted_and_recorded_as_one_lookup(client, city_database, alternative_database):
    compare(client, LONDON_IP)
    compare(client, "bad query")
    rows = list(Lookup.objects.order_by("id").values("query", "channel", "outcome", "database_edition"))
    assert rows == [
        {"query": LONDON_IP, "channel": "api", "outcome": "ok", "database_edition": "GeoLite2-City"},
        {"query": "bad query", "channel": "api", "outcome": "invalid_query", "database_edition": ""},
    ]


@pytest.mark.parametrize(
    ("query", "status", "code", "message"),
    [
        ("bad query", 400, "invalid_query", INVALID_QUERY_MESSAGE),
        ("10.0.0.1", 400, "address_not_public", ADDRESS_NOT_PUBLIC_MESSAGE.format(subject="10.0.0.1")),
        (
            "nope.example.com",
            404,
            "name_not_resolved",
            NAME_NOT_RESOLVED_MESSAGE.format(name="nope.example.com"),
        ),
    ],
)
def test_errors_as_the_lookup_api_answers_them(
    client, city_database, alternative_database, query, status, code, message
):
    response = compare(client, query)
    assert response.status_code == status
    assert response.json() == {"error": {"code": code, "message": message}}
    assert client.get(f"/api/v1/lookup/{query}").json() == response.json()


def test_an_address_neither_database_knows_is_404(client, city_database, alternative_database):
    response = compare(client, "9.9.9.9")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["error"]["code"] == "address_not_found"


def test_no_alternative_configured_is_409(client, city_database, settings):
    settings.GEOIP_CITY_ALTERNATIVE = ""
    response = compare(client, LONDON_IP)
    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json() == {
        "error": {"code": "comparison_not_configured", "message": COMPARISON_NOT_CONFIGURED_MESSAGE}
    }


def test_alternative_configured_but_missing_is_503(client, city_database, settings):
    settings.GEOIP_CITY_ALTERNATIVE = "dbip-city-lite.mmdb"  # configured, never installed
    response = compare(client, LONDON_IP)
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    message = ALTERNATIVE_UNAVAILABLE_MESSAGE.format(reason=DATABASE_MISSING_MESSAGE)
    assert response.json() == {"error": {"code": "database_unavailable", "message": message}}


def test_primary_missing_is_503(client, geoip_dir, alternative_database):
    response = compare(client, LONDON_IP)
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["error"]["message"] == DATABASE_MISSING_MESSAGE


def test_xml_and_yaml_but_no_csv(client, city_database, alternative_database):
    response = compare(client, LONDON_IP, HTTP_ACCEPT="application/yaml")
    assert response.status_code == HTTPStatus.OK
    assert yaml.safe_load(response.content)["agreement"]["same_city"] is True
    response = client.get(f"/api/v1/compare/{LONDON_IP}?format=xml")
    assert response.status_code == HTTPStatus.OK
    assert b"<same_country>True</same_country>" in response.content
    response = client.get(f"/api/v1/compare/{LONDON_IP}?format=csv")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"]["code"] == "unknown_format"
    assert compare(client, LONDON_IP, HTTP_ACCEPT="text/csv").status_code == HTTPStatus.NOT_ACCEPTABLE


@pytest.mark.throttled
def test_throttled_with_the_lookups(client, city_database, alternative_database, settings):
    settings.API_THROTTLE_RATE = "2/minute"
    assert client.get(f"/api/v1/lookup/{LONDON_IP}").status_code == HTTPStatus.OK
    assert compare(client, LONDON_IP).status_code == HTTPStatus.OK
    # The compare counted once, in the lookups' bucket: the next lookup or compare is refused.
    response = compare(client, LONDON_IP)
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    seconds = int(response["Retry-After"])
    assert response.json()["error"]["message"] == THROTTLED_MESSAGE.format(seconds=seconds)
    assert client.get(f"/api/v1/lookup/{LONDON_IP}").status_code == HTTPStatus.TOO_MANY_REQUESTS


def test_the_schema_describes_real_bodies(client, city_database, alternative_database):
    for query in (LONDON_IP, BERLIN_IP, LINKOPING_IP):
        serializer = ComparisonSerializer(data=compare(client, query).json())
        assert serializer.is_valid(), serializer.errors


def test_the_schema_documents_compare(client):
    schema = client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/compare/{query}"]["get"]
    assert operation["operationId"] == "compare"
    assert {"200", "400", "404", "409", "429", "503"} <= set(operation["responses"])
    batch = schema["paths"]["/api/v1/lookup/batch"]["post"]
    assert "compare" in {parameter["name"] for parameter in batch["parameters"]}
    assert "BatchAgreement" in schema["components"]["schemas"]


# --- The batch API's compare=1 -------------------------------------------------------------------

BATCH = [LONDON_IP, BERLIN_IP, LINKOPING_IP, AT_SEA_IP, UNKNOWN_PUBLIC_IP, "10.0.0.1", LONDON_IP]


def post_batch(client, queries, query_string=""):
    return client.post(
        f"/api/v1/lookup/batch{query_string}", {"queries": queries}, content_type="application/json"
    )


def test_batch_agreement_figures(client, city_database, alternative_database):
    response = post_batch(client, BATCH, "?compare=1")
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert body["results"] == post_batch(client, BATCH).json()["results"]
    figures = body["agreement"]
    # Compared: London (twice), Berlin, Linköping; the others are known to one database or none.
    assert figures["compared"] == 4
    assert figures["countries_agreeing_percent"] == 75.0  # GB, GB, DE agree; SE/NO does not
    assert figures["cities_agreeing_percent"] == 50.0  # London twice
    assert figures["median_distance_km"] == round((LONDON_DISTANCE_KM + BERLIN_DISTANCE_KM) / 2, 1)
    assert figures["alternative_database"]["edition"] == DBIP_EDITION
    assert figures["alternative_database"]["attribution"] == DBIP_ATTRIBUTION


def test_batch_compare_is_recorded_once_per_distinct_query(client, city_database, alternative_database):
    post_batch(client, BATCH, "?compare=1")
    assert Lookup.objects.count() == len(set(BATCH))


def test_batch_without_compare_has_no_figures(client, city_database, alternative_database):
    assert "agreement" not in post_batch(client, BATCH, "?compare=0").json()


def test_batch_compare_flag_must_be_0_or_1(client, city_database, alternative_database):
    response = post_batch(client, BATCH, "?compare=yes")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json() == {
        "error": {"code": "invalid_compare", "message": COMPARE_FLAG_MESSAGE.format(given="yes")}
    }
    assert Lookup.objects.count() == 0


def test_batch_compare_without_alternative(client, city_database, settings):
    settings.GEOIP_CITY_ALTERNATIVE = ""
    response = post_batch(client, BATCH, "?compare=1")
    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["error"]["code"] == "comparison_not_configured"
    settings.GEOIP_CITY_ALTERNATIVE = "dbip-city-lite.mmdb"
    response = post_batch(client, BATCH, "?compare=1")
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert Lookup.objects.count() == 0


def test_batch_compare_in_csv_keeps_the_lookup_columns(client, city_database, alternative_database):
    compared = client.post(
        "/api/v1/lookup/batch?compare=1",
        {"queries": BATCH},
        content_type="application/json",
        HTTP_ACCEPT="text/csv",
    )
    plain = client.post(
        "/api/v1/lookup/batch", {"queries": BATCH}, content_type="application/json", HTTP_ACCEPT="text/csv"
    )
    assert compared.status_code == HTTPStatus.OK
    assert compared["Content-Type"].startswith("text/csv")
    assert compared.content == plain.content
