import csv
import io
import json
from http import HTTPStatus
from urllib.parse import quote

import pytest
import yaml
from django.test import Client

from lookups.core.geoip import DBIP_ATTRIBUTION, GEOLITE_ATTRIBUTION
from lookups.errors import (
    ADDRESS_NOT_FOUND_MESSAGE,
    BATCH_INVALID_MESSAGE,
    DATABASE_MISSING_MESSAGE,
    INVALID_QUERY_MESSAGE,
)
from lookups.models import Lookup
from lookups.tests.geoip_data import (
    AT_SEA_IP,
    BERLIN_IP,
    COUNTRY_ONLY_IP,
    LINKOPING_IP,
    LONDON_IP,
    UNKNOWN_PUBLIC_IP,
)
from lookups.web.api_body import LOOKUP_CSV
from lookups.web.health import ALTERNATIVE_UNUSABLE_WARNING

pytestmark = pytest.mark.django_db

HOSTILE = '=HYPERLINK("http://evil","x")'

REQUIRED_KEYS = {
    "query",
    "ip_address",
    "addresses",
    "network",
    "continent",
    "country",
    "subdivisions",
    "city",
    "postal",
    "location",
    "database",
}


def test_lookup_an_address(client, city_database, django_assert_max_num_queries):
    with django_assert_max_num_queries(1):  # the history INSERT, nothing else
        response = client.get(f"/api/v1/lookup/{LONDON_IP}")
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert body.keys() >= REQUIRED_KEYS
    assert body["query"] == LONDON_IP
    assert body["ip_address"] == LONDON_IP
    assert body["addresses"] == [LONDON_IP]
    assert body["network"] == "81.2.69.0/24"
    assert body["continent"] == {"code": "EU", "name": "Europe"}
    assert body["country"] == {"iso_code": "GB", "name": "United Kingdom"}
    assert body["subdivisions"] == [{"iso_code": "ENG", "name": "England"}]
    assert body["city"] == {"name": "London"}
    assert body["postal"] == {"code": "EC2V"}
    assert body["location"] == {
        "latitude": 51.5142,
        "longitude": -0.0931,
        "accuracy_radius": 10,
        "time_zone": "Europe/London",
        "time_zone_source": "maxmind",
    }
    assert body["database"]["edition"] == "GeoLite2-City"
    assert Lookup.objects.get().channel == "api"


def test_absent_data_is_null_not_missing(client, city_database):
    body = client.get(f"/api/v1/lookup/{COUNTRY_ONLY_IP}").json()
    assert body.keys() >= REQUIRED_KEYS
    assert body["city"] is None
    assert body["subdivisions"] == []
    assert body["postal"] == {"code": None}
    assert body["location"] == {
        "latitude": None,
        "longitude": None,
        "accuracy_radius": None,
        "time_zone": None,
        "time_zone_source": None,
    }


def test_time_zone_from_tz_world(client, city_database):
    body = client.get(f"/api/v1/lookup/{LINKOPING_IP}").json()
    assert body["location"]["time_zone"] == "Europe/Stockholm"
    assert body["location"]["time_zone_source"] == "tz_world"


def test_lookup_ipv6_and_a_domain(client, city_database):
    assert client.get(f"/api/v1/lookup/{BERLIN_IP}").json()["country"]["iso_code"] == "DE"
    body = client.get("/api/v1/lookup/dual.example.com").json()
    assert body["addresses"] == [LONDON_IP, BERLIN_IP]
    assert body["name"] == "dual.example.com"
    idn = client.get("/api/v1/lookup/bücher.example").json()
    assert idn["ip_address"] == BERLIN_IP


@pytest.mark.parametrize(
    ("lang", "accept", "country"),
    [
        ("de", None, "Vereinigtes Königreich"),
        ("ja", None, "イギリス"),
        (None, "de-CH, en;q=0.5", "Vereinigtes Königreich"),
        (None, "fr, ja;q=0.8", "イギリス"),
        ("xx", None, "United Kingdom"),
        (None, None, "United Kingdom"),
    ],
)
def test_place_names_in_the_language_asked_for(client, city_database, lang, accept, country):
    headers = {"Accept-Language": accept} if accept else {}
    url = f"/api/v1/lookup/{LONDON_IP}" + (f"?lang={lang}" if lang else "")
    response = client.get(url, headers=headers)
    assert response.json()["country"]["name"] == country
    # A shared cache must not hand one caller's language to another.
    assert {"Accept", "Accept-Language"} <= {value.strip() for value in response["Vary"].split(",")}


def test_names_missing_in_a_language_fall_back_to_english(client, city_database):
    body = client.get(f"/api/v1/lookup/{BERLIN_IP}?lang=ja").json()
    assert body["country"]["name"] == "ドイツ"
    assert body["subdivisions"][0]["name"] == "Land Berlin"  # no Japanese name in the record


def test_own_address(client, city_database):
    body = client.get("/api/v1/lookup/", REMOTE_ADDR=LONDON_IP).json()
    assert body["ip_address"] == LONDON_IP


def test_own_address_when_it_is_not_public(client, city_database):
    response = client.get("/api/v1/lookup/", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"]["code"] == "address_not_public"


def test_forwarding_headers_count_only_from_trusted_proxies(client, city_database, settings):
    forwarded = {"HTTP_X_FORWARDED_FOR": f"{BERLIN_IP}, {LONDON_IP}"}
    body = client.get("/api/v1/lookup/", REMOTE_ADDR="203.0.113.5", **forwarded)
    assert body.json()["error"]["code"] == "address_not_public"  # 203.0.113.5 itself
    settings.TRUSTED_PROXIES = ["203.0.113.0/24"]
    body = client.get("/api/v1/lookup/", REMOTE_ADDR="203.0.113.5", **forwarded).json()
    assert body["ip_address"] == LONDON_IP  # the rightmost hop the proxy saw
    settings.TRUSTED_PROXIES = ["203.0.113.0/24", "81.2.69.0/24"]
    body = client.get("/api/v1/lookup/", REMOTE_ADDR="203.0.113.5", **forwarded).json()
    assert body["ip_address"] == BERLIN_IP


@pytest.mark.parametrize("path", [f"/api/v1/lookup/{LONDON_IP}/", f"/api/v1/lookup/{LONDON_IP}/?lang=de"])
def test_a_trailing_slash_still_looks_the_address_up(client, city_database, path):
    response = client.get(path)
    assert response.status_code == HTTPStatus.OK
    assert response.json()["ip_address"] == LONDON_IP
    assert Lookup.objects.get().query == LONDON_IP


@pytest.mark.parametrize(
    ("query", "status", "code", "message"),
    [
        ("not%20a%20name", HTTPStatus.BAD_REQUEST, "invalid_query", INVALID_QUERY_MESSAGE),
        ("10.0.0.1", HTTPStatus.BAD_REQUEST, "address_not_public", None),
        ("internal.example.com", HTTPStatus.BAD_REQUEST, "address_not_public", None),
        ("nope.example.com", HTTPStatus.NOT_FOUND, "name_not_resolved", None),
        (
            UNKNOWN_PUBLIC_IP,
            HTTPStatus.NOT_FOUND,
            "address_not_found",
            ADDRESS_NOT_FOUND_MESSAGE.format(address=UNKNOWN_PUBLIC_IP),
        ),
        ("silent.test.example", HTTPStatus.SERVICE_UNAVAILABLE, "dns_unavailable", None),
    ],
)
def test_errors_have_one_shape(client, city_database, query, status, code, message):
    response = client.get(f"/api/v1/lookup/{query}")
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    if message:
        assert body["error"]["message"] == message
    assert "10.1.2.3" not in response.content.decode()


def test_no_database_is_503(client, geoip_dir):
    response = client.get(f"/api/v1/lookup/{LONDON_IP}")
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json() == {"error": {"code": "database_unavailable", "message": DATABASE_MISSING_MESSAGE}}


def test_unknown_api_path_is_json_404(client, city_database):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["error"]["code"] == "not_found"


def test_method_not_allowed(client, city_database):
    response = client.delete(f"/api/v1/lookup/{LONDON_IP}")
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert response.json()["error"]["code"] == "method_not_allowed"


# --- Formats ---------------------------------------------------------------------------------


def test_xml_yaml_and_csv_formats(client, city_database):
    xml = client.get(f"/api/v1/lookup/{LONDON_IP}?format=xml")
    assert xml["Content-Type"].startswith("application/xml")
    assert b"<iso_code>GB</iso_code>" in xml.content
    yml = client.get(f"/api/v1/lookup/{LONDON_IP}", headers={"Accept": "application/yaml"})
    assert yaml.safe_load(yml.content)["country"]["iso_code"] == "GB"
    response = client.get(f"/api/v1/lookup/{LONDON_IP}?format=csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    (row,) = csv.DictReader(io.StringIO(response.content.decode()))
    assert row["country_code"] == "GB"
    assert row["subdivision_1_name"] == "England"
    assert row["subdivision_2_name"] == ""
    assert row["time_zone"] == "Europe/London"
    assert row["longitude"] == "-0.0931"  # a number, not text made safe
    assert row["error_code"] == ""


def csv_table(response) -> list[list[str]]:
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_every_lookup_answers_csv_in_the_same_columns(client, city_database):
    """Whatever the data (two places, one, none, no record, an error), one documented column set."""
    for query in (LONDON_IP, AT_SEA_IP, COUNTRY_ONLY_IP, UNKNOWN_PUBLIC_IP, "10.0.0.1", "nope.example.com"):
        header, *rows = csv_table(client.get(f"/api/v1/lookup/{query}?format=csv"))
        assert tuple(header) == LOOKUP_CSV.columns, query
        assert len(rows) == 1, query
    header, *rows = csv_table(client.get("/api/v1/lookup/", {"format": "csv"}))  # 127.0.0.1: an error
    assert tuple(header) == LOOKUP_CSV.columns
    (row,) = csv.DictReader(io.StringIO(client.get("/api/v1/lookup/10.0.0.1?format=csv").content.decode()))
    assert row["error_code"] == "address_not_public"
    assert row["country_code"] == ""


def test_a_failed_lookup_in_csv_names_its_query_made_safe(client, city_database):
    response = client.get(f"/api/v1/lookup/{quote(HOSTILE, safe='')}?format=csv")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    (row,) = csv.DictReader(io.StringIO(response.content.decode()))
    assert row["query"] == "'" + HOSTILE
    assert row["error_code"] == "invalid_query"


def test_negative_coordinates_stay_numbers_in_csv(client, city_database):
    (row,) = csv.DictReader(
        io.StringIO(client.get(f"/api/v1/lookup/{AT_SEA_IP}?format=csv").content.decode())
    )
    assert (row["latitude"], row["longitude"]) == ("30.0", "-40.0")


def test_errors_in_other_formats(client, city_database):
    response = client.get("/api/v1/lookup/10.0.0.1?format=yaml")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert yaml.safe_load(response.content)["error"]["code"] == "address_not_public"


# --- Batch -----------------------------------------------------------------------------------


def post_batch(client, payload, **extra):
    return client.post(
        "/api/v1/lookup/batch", data=json.dumps(payload), content_type="application/json", **extra
    )


def test_batch(client, city_database, django_assert_max_num_queries):
    queries = [LONDON_IP, "nope.example.com", "dual.example.com", LONDON_IP, "bad query"]
    with django_assert_max_num_queries(1):
        response = post_batch(client, {"queries": queries})
    assert response.status_code == HTTPStatus.OK
    results = response.json()["results"]
    assert [r["query"] for r in results] == queries
    assert results[0]["country"]["iso_code"] == "GB"
    assert results[1]["error"]["code"] == "name_not_resolved"
    assert results[2]["addresses"] == [LONDON_IP, BERLIN_IP]
    assert results[3] == results[0]
    assert results[4]["error"]["code"] == "invalid_query"
    assert Lookup.objects.filter(channel="batch").count() == 4


def test_batch_in_csv(client, city_database):
    queries = [LONDON_IP, "10.0.0.1", AT_SEA_IP, HOSTILE]
    header, *rows = csv_table(post_batch(client, {"queries": queries}, HTTP_ACCEPT="text/csv"))
    assert tuple(header) == LOOKUP_CSV.columns
    rows = [dict(zip(header, row, strict=True)) for row in rows]
    assert [row["query"] for row in rows] == [LONDON_IP, "10.0.0.1", AT_SEA_IP, "'" + HOSTILE]
    assert rows[1]["error_code"] == "address_not_public"
    assert rows[2]["longitude"] == "-40.0"
    assert rows[3]["error_code"] == "invalid_query"
    # A batch whose entries all lack a subdivision still has the column; one that fails whole too.
    header, *_ = csv_table(post_batch(client, {"queries": [COUNTRY_ONLY_IP]}, HTTP_ACCEPT="text/csv"))
    assert tuple(header) == LOOKUP_CSV.columns
    refused = post_batch(client, {"queries": "8.8.8.8"}, HTTP_ACCEPT="text/csv")
    assert refused.status_code == HTTPStatus.BAD_REQUEST
    header, row = csv_table(refused)
    assert tuple(header) == LOOKUP_CSV.columns
    assert dict(zip(header, row, strict=True))["error_code"] == "invalid_batch"


def test_batch_too_large(client, city_database, settings):
    settings.LOOKUP_BATCH_MAX = 5
    response = post_batch(client, {"queries": [LONDON_IP] * 6})
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert response.json()["error"]["code"] == "batch_too_large"


@pytest.mark.parametrize(
    "payload",
    [{}, {"queries": []}, {"queries": "8.8.8.8"}, {"queries": [1, 2]}, [LONDON_IP], {"queries": [None]}],
)
def test_batch_refuses_malformed_bodies(client, city_database, payload):
    response = post_batch(client, payload)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json() == {"error": {"code": "invalid_batch", "message": BATCH_INVALID_MESSAGE}}


def test_batch_refuses_invalid_json_and_other_media(client, city_database):
    response = client.post("/api/v1/lookup/batch", data="{nope", content_type="application/json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"]["code"] == "parse_error"
    response = client.post("/api/v1/lookup/batch", data="q=1", content_type="text/plain")
    assert response.status_code == HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_request_body_too_large(client, city_database, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = post_batch(client, {"queries": [LONDON_IP] * 200})
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert response.json()["error"]["code"] == "request_too_large"


# --- Throttling, schema, health ----------------------------------------------------------------


@pytest.mark.throttled
def test_anonymous_callers_are_throttled_per_address(client, city_database, settings):
    settings.API_THROTTLE_RATE = "3/minute"
    statuses = [
        client.get(f"/api/v1/lookup/{LONDON_IP}", REMOTE_ADDR="198.51.100.1").status_code for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    response = client.get(f"/api/v1/lookup/{LONDON_IP}", REMOTE_ADDR="198.51.100.1")
    assert response.json()["error"]["code"] == "throttled"
    assert 0 < int(response["Retry-After"]) <= 60
    assert client.get(f"/api/v1/lookup/{LONDON_IP}", REMOTE_ADDR="198.51.100.2").status_code == 200


def test_openapi_schema_and_docs(client):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    assert schema["openapi"].startswith("3.")
    assert {"/api/v1/lookup/{query}", "/api/v1/lookup/", "/api/v1/lookup/batch"} <= set(schema["paths"])
    docs = client.get("/api/docs/")
    assert docs.status_code == HTTPStatus.OK
    assert b"cdn" not in docs.content.lower()
    assert b"swagger-ui" in docs.content


def test_the_schema_documents_health_and_the_web_service(client):
    schema = client.get("/api/schema/?format=json").json()
    health = schema["paths"]["/health"]["get"]
    assert health["operationId"] == "health"
    assert health["security"] == [{}]
    assert {"200", "503"} <= set(health["responses"])
    assert "parameters" not in health  # it takes none (no ?format=: it is JSON only)
    webservice = schema["paths"]["/geoip/v2.1/{service}/{ip_address}"]["get"]
    assert webservice["operationId"] == "webservice_lookup"
    assert webservice["security"] == [{"basicAuth": []}]
    service = next(p for p in webservice["parameters"] if p["name"] == "service")
    assert service["schema"]["enum"] == ["city", "country", "insights"]
    assert {"200", "400", "401", "402", "403", "404", "503"} <= set(webservice["responses"])
    assert set(webservice["responses"]["200"]["content"]) == {
        "application/vnd.maxmind.com-city+json",
        "application/vnd.maxmind.com-country+json",
    }
    assert set(webservice["responses"]["401"]["content"]) == {"application/vnd.maxmind.com-error+json"}


def test_health_answers_other_methods_405_not_a_csrf_refusal(city_database):
    client = Client(enforce_csrf_checks=True)
    for method in ("post", "put", "delete"):
        response = getattr(client, method)("/health")
        assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED, method
        assert response["Allow"] == "GET"
    response = client.generic("QUERY", "/health")
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED


def test_health_answers_what_the_schema_documents(client, city_database):
    from lookups.web.api_schema import HealthSerializer

    body = client.get("/health").json()
    serializer = HealthSerializer(data=body)
    assert serializer.is_valid(), serializer.errors
    assert set(body) <= set(HealthSerializer().fields)


def test_the_schema_describes_real_bodies(client, city_database):
    from lookups.web.api_schema import LookupResultSerializer

    body = client.get(f"/api/v1/lookup/{LONDON_IP}").json()
    fields = LookupResultSerializer().fields
    assert set(fields) - {"reverse_dns"} == set(body)  # with ?rdns=1 only (test_api_reverse_dns)
    for nested in ("location", "database", "traits"):
        assert set(fields[nested].fields) == set(body[nested]), nested
    assert body["database"]["attribution"] == GEOLITE_ATTRIBUTION
    # No ASN database installed: the keys are there, with nulls.
    assert body["traits"] == {"autonomous_system_number": None, "autonomous_system_organization": None}


def test_health(client, city_database):
    response = client.get("/health")
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["edition"] == "GeoLite2-City"
    assert body["database"]["age_days"] == 0


def test_health_names_the_alternative_database(client, city_database, alternative_database):
    from lookups.web.api_schema import HealthSerializer

    body = client.get("/health").json()
    assert HealthSerializer(data=body).is_valid()
    assert body["alternative_database"]["edition"] == "DBIP-City-Lite"
    assert body["alternative_database"]["attribution"] == DBIP_ATTRIBUTION
    # Its build (2026-09-01) is old by GEOIP_MAX_AGE_DAYS as any database's would be.
    assert body["status"] == "warning"


def test_health_without_an_alternative_configured_or_installed(client, city_database, settings):
    body = client.get("/health").json()
    assert (body["status"], body["alternative_database"]) == ("ok", None)
    settings.GEOIP_CITY_ALTERNATIVE = "dbip-city-lite.mmdb"  # configured, never installed
    response = client.get("/health")
    assert response.status_code == HTTPStatus.OK  # lookups are answered: only comparisons are not
    body = response.json()
    assert body["status"] == "degraded"
    assert body["alternative_database"] is None
    assert body["warnings"] == [
        ALTERNATIVE_UNUSABLE_WARNING.format(name="dbip-city-lite.mmdb", reason=DATABASE_MISSING_MESSAGE)
    ]


def test_health_without_database(client, geoip_dir):
    response = client.get("/health")
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json() == {
        "status": "unavailable",
        "reason": DATABASE_MISSING_MESSAGE,
        # /health is for operators: the command to run, as they would type it.
        "fix": "bin/manage update_maxmind (or, for a file you have: bin/manage update_maxmind --file PATH)",
    }


def test_messages_for_visitors_hold_no_commands_or_markdown(client, geoip_dir):
    message = client.get(f"/api/v1/lookup/{LONDON_IP}").json()["error"]["message"]
    assert message == DATABASE_MISSING_MESSAGE
    for operator_words in ("`", "manage", "update_maxmind", "operator"):
        assert operator_words not in message
