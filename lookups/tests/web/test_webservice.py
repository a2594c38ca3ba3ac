"""The MaxMind-compatible web service through Django's test client: bodies, errors, history, cost.

lookups/tests/web/test_webservice_clients.py drives the same endpoints with MaxMind's own clients.
"""

import base64
import datetime as dt
import json
from http import HTTPStatus

import pytest
from django.db import connection
from django.test import Client

from lookups import history
from lookups.errors import (
    ADDRESS_NOT_FOUND_MESSAGE,
    ADDRESSES_ONLY_MESSAGE,
    AUTHORIZATION_INVALID_MESSAGE,
    KEY_REVOKED_MESSAGE,
    OUT_OF_QUERIES_MESSAGE,
    PERMISSION_REQUIRED_MESSAGE,
)
from lookups.models import ApiKey, ApiKeyUsage, Channel, Lookup
from lookups.tests.geoip_data import (
    BERLIN_IP,
    COUNTRY_ONLY_IP,
    LINKOPING_IP,
    LONDON,
    LONDON_IP,
    UNKNOWN_PUBLIC_IP,
)
from lookups.web import credentials
from lookups.web.webservice import CONTENT_TYPES, ERROR_CONTENT_TYPE

pytestmark = pytest.mark.django_db


def basic(account_id, license_key) -> str:
    return "Basic " + base64.b64encode(f"{account_id}:{license_key}".encode()).decode()


@pytest.fixture
def issued():
    return credentials.create_api_key(name="test client")


@pytest.fixture
def ask(client, issued):
    """GET a web-service path with the issued key (or `authorization=` to send another header)."""

    def get(path: str, *, authorization: str | None = "default", **extra):
        if authorization == "default":
            authorization = basic(issued.api_key.account_id, issued.license_key)
        headers = {"Authorization": authorization} if authorization is not None else {}
        return client.get(path, headers=headers, **extra)

    return get


def error_of(response) -> tuple[int, str, str]:
    assert response["Content-Type"] == ERROR_CONTENT_TYPE
    body = json.loads(response.content)
    assert set(body) == {"code", "error"}
    return response.status_code, body["code"], body["error"]


def test_city_body_is_maxminds_format_from_the_record(city_database, ask):
    response = ask(f"/geoip/v2.1/city/{LONDON_IP}")
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == CONTENT_TYPES["city"]
    body = json.loads(response.content)
    assert body["continent"] == {"code": "EU", "geoname_id": 6255148, "names": LONDON["continent"]["names"]}
    assert body["country"]["names"] == {
        "en": "United Kingdom",
        "de": "Vereinigtes Königreich",
        "ja": "イギリス",
    }
    assert body["registered_country"]["iso_code"] == "GB"
    assert body["subdivisions"] == [
        {
            "iso_code": "ENG",
            "geoname_id": 6269131,
            "names": {"en": "England", "de": "England", "ja": "イングランド"},
        }
    ]
    assert body["city"]["names"]["ja"] == "ロンドン"
    assert body["postal"] == {"code": "EC2V"}
    assert body["location"] == {
        "latitude": 51.5142,
        "longitude": -0.0931,
        "accuracy_radius": 10,
        "time_zone": "Europe/London",
    }
    assert body["traits"] == {"ip_address": LONDON_IP, "network": "81.2.69.0/24"}
    assert "maxmind" not in body  # a key without a quota has no queries_remaining to report
    assert "represented_country" not in body  # absent in the database, absent here


def test_city_fills_the_time_zone_from_tz_world(city_database, ask):
    body = json.loads(ask(f"/geoip/v2.1/city/{LINKOPING_IP}").content)
    assert body["location"]["time_zone"] == "Europe/Stockholm"
    assert body["city"]["names"] == {"en": "Linköping"}
    assert body["traits"]["network"] == "89.160.20.0/24"


def test_maxminds_body_has_no_reverse_name_whatever_is_asked(city_database, ask, dns_server):
    asked = len(dns_server.queries)
    response = ask(f"/geoip/v2.1/city/{LONDON_IP}?rdns=1")
    assert response.status_code == HTTPStatus.OK
    assert "reverse_dns" not in response.json()
    assert len(dns_server.queries) == asked


def test_country_answers_only_the_country_level_parts(city_database, ask):
    response = ask(f"/geoip/v2.1/country/{BERLIN_IP}")
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == CONTENT_TYPES["country"]
    body = json.loads(response.content)
    assert set(body) == {"continent", "country", "traits"}
    assert body["country"]["names"]["de"] == "Deutschland"
    assert body["traits"] == {"ip_address": BERLIN_IP, "network": "2a02:ec80::/29"}


def test_country_only_record(city_database, ask):
    body = json.loads(ask(f"/geoip/v2.1/city/{COUNTRY_ONLY_IP}").content)
    assert set(body) == {"continent", "country", "traits"}
    assert body["country"]["iso_code"] == "BT"


def test_me_is_the_callers_address(city_database, ask, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    response = ask("/geoip/v2.1/city/me", HTTP_X_FORWARDED_FOR=LONDON_IP)
    assert json.loads(response.content)["traits"]["ip_address"] == LONDON_IP
    # Without a trusted proxy the test client's own address is a loopback one: reserved.
    settings.TRUSTED_PROXIES = []
    assert error_of(ask("/geoip/v2.1/city/me"))[:2] == (HTTPStatus.BAD_REQUEST, "IP_ADDRESS_RESERVED")


def test_lookups_are_recorded_with_the_key_that_asked(city_database, ask, issued):
    ask(f"/geoip/v2.1/city/{LONDON_IP}")
    ask(f"/geoip/v2.1/country/{UNKNOWN_PUBLIC_IP}")
    rows = list(Lookup.objects.order_by("id").values_list("query", "channel", "outcome", "api_key_id"))
    assert rows == [
        (LONDON_IP, Channel.WEBSERVICE, "ok", issued.api_key.pk),
        (UNKNOWN_PUBLIC_IP, Channel.WEBSERVICE, "address_not_found", issued.api_key.pk),
    ]


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/geoip/v2.1/city/not-an-address", HTTPStatus.BAD_REQUEST, "IP_ADDRESS_INVALID"),
        ("/geoip/v2.1/city/999.1.1.1", HTTPStatus.BAD_REQUEST, "IP_ADDRESS_INVALID"),
        ("/geoip/v2.1/city/london.example.com", HTTPStatus.BAD_REQUEST, "IP_ADDRESS_INVALID"),
        ("/geoip/v2.1/city/10.0.0.1", HTTPStatus.BAD_REQUEST, "IP_ADDRESS_RESERVED"),
        ("/geoip/v2.1/country/::1", HTTPStatus.BAD_REQUEST, "IP_ADDRESS_RESERVED"),
        (f"/geoip/v2.1/city/{UNKNOWN_PUBLIC_IP}", HTTPStatus.NOT_FOUND, "IP_ADDRESS_NOT_FOUND"),
        ("/geoip/v2.1/city/", HTTPStatus.BAD_REQUEST, "IP_ADDRESS_REQUIRED"),
        (f"/geoip/v2.1/insights/{LONDON_IP}", HTTPStatus.FORBIDDEN, "PERMISSION_REQUIRED"),
    ],
)
def test_lookup_errors_use_maxminds_codes(city_database, ask, path, status, code):
    assert error_of(ask(path))[:2] == (status, code)


def test_error_messages_are_our_domain_messages(city_database, ask):
    assert error_of(ask(f"/geoip/v2.1/city/{UNKNOWN_PUBLIC_IP}"))[2] == ADDRESS_NOT_FOUND_MESSAGE.format(
        address=UNKNOWN_PUBLIC_IP
    )
    assert error_of(ask(f"/geoip/v2.1/insights/{LONDON_IP}"))[2] == PERMISSION_REQUIRED_MESSAGE.format(
        service="insights"
    )


def test_domain_names_are_refused_not_resolved(city_database, ask):
    # london.example.com resolves (local DNS) to LONDON_IP: an answer would mean we had asked.
    status, code, message = error_of(ask("/geoip/v2.1/city/london.example.com"))
    assert (status, code) == (HTTPStatus.BAD_REQUEST, "IP_ADDRESS_INVALID")
    assert message == ADDRESSES_ONLY_MESSAGE.format(name="london.example.com")
    assert Lookup.objects.get().outcome == "invalid_query"


def test_a_missing_database_is_a_server_error(geoip_dir, ask):
    status, code, _ = error_of(ask(f"/geoip/v2.1/city/{LONDON_IP}"))
    assert (status, code) == (HTTPStatus.SERVICE_UNAVAILABLE, "DATABASE_UNAVAILABLE")


def test_a_history_row_postgresql_refuses_is_kept_aside(city_database, ask, history_spool):
    """Answered means recorded: written behind, a row PostgreSQL refuses when it is flushed
    waits in a .rejected file for an operator (the client has its answer already)."""
    with connection.cursor() as cursor:  # PostgreSQL itself refuses the row
        cursor.execute("ALTER TABLE lookups_lookup ADD CONSTRAINT refuse_all CHECK (false) NOT VALID")
    assert ask(f"/geoip/v2.1/city/{LONDON_IP}").status_code == HTTPStatus.OK
    history.flush()
    (rejected,) = history_spool.glob("*.rejected")
    assert LONDON_IP.encode() in rejected.read_bytes()


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "ACCOUNT_ID_REQUIRED"),
        ("Bearer abc", "ACCOUNT_ID_REQUIRED"),
        ("Basic ", "ACCOUNT_ID_REQUIRED"),
        (basic("", "key"), "ACCOUNT_ID_REQUIRED"),
        (basic("123456", ""), "LICENSE_KEY_REQUIRED"),
        ("Basic " + base64.b64encode(b"123456").decode(), "LICENSE_KEY_REQUIRED"),
        (basic("abc", "key"), "AUTHORIZATION_INVALID"),
        (basic("١٢٣٤٥٦", "key"), "AUTHORIZATION_INVALID"),  # Arabic-Indic digits are not an ID
        ("Basic %%%", "AUTHORIZATION_INVALID"),
        ("Basic " + base64.b64encode(b"\xff\xfe:x").decode(), "AUTHORIZATION_INVALID"),
        (basic("99", "key"), "ACCOUNT_ID_UNKNOWN"),
        (basic("99999999999999999999", "key"), "AUTHORIZATION_INVALID"),
    ],
)
def test_credential_errors(city_database, ask, authorization, code):
    response = ask(f"/geoip/v2.1/city/{LONDON_IP}", authorization=authorization)
    assert error_of(response)[:2] == (HTTPStatus.UNAUTHORIZED, code)
    assert response["WWW-Authenticate"].startswith("Basic ")
    assert not Lookup.objects.exists()  # refused requests are not lookups


def test_a_wrong_key_and_a_revoked_key_are_refused(city_database, ask, issued):
    account_id = issued.api_key.account_id
    wrong = ask(f"/geoip/v2.1/city/{LONDON_IP}", authorization=basic(account_id, issued.license_key + "x"))
    assert error_of(wrong) == (
        HTTPStatus.UNAUTHORIZED,
        "AUTHORIZATION_INVALID",
        AUTHORIZATION_INVALID_MESSAGE,
    )
    issued.api_key.revoked = True
    issued.api_key.save()
    assert error_of(ask(f"/geoip/v2.1/city/{LONDON_IP}")) == (
        HTTPStatus.UNAUTHORIZED,
        "AUTHORIZATION_INVALID",
        KEY_REVOKED_MESSAGE,
    )
    # Whoever does not hold the key is not told that it was revoked.
    wrong = ask(f"/geoip/v2.1/city/{LONDON_IP}", authorization=basic(account_id, "guess"))
    assert error_of(wrong)[2] == AUTHORIZATION_INVALID_MESSAGE


def test_quota_counts_per_utc_day_and_reports_queries_remaining(city_database, ask, issued):
    issued.api_key.daily_quota = 2
    issued.api_key.save()
    first = json.loads(ask(f"/geoip/v2.1/city/{LONDON_IP}").content)
    assert first["maxmind"] == {"queries_remaining": 1}
    second = json.loads(ask(f"/geoip/v2.1/country/{LONDON_IP}").content)
    assert second["maxmind"] == {"queries_remaining": 0}
    assert error_of(ask(f"/geoip/v2.1/city/{LONDON_IP}")) == (
        HTTPStatus.PAYMENT_REQUIRED,
        "OUT_OF_QUERIES",
        OUT_OF_QUERIES_MESSAGE.format(quota=2),
    )
    assert Lookup.objects.count() == 2  # the refused third was not looked up
    assert ApiKeyUsage.objects.get().used == 2  # and did not push the counter past the quota
    # A new UTC day starts from zero.
    credential = credentials.authenticate(basic(issued.api_key.account_id, issued.license_key))
    tomorrow = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    assert credentials.admit(credential, now=tomorrow) == 1


def test_a_zero_quota_admits_nothing(city_database, ask, issued):
    issued.api_key.daily_quota = 0
    issued.api_key.save()
    assert error_of(ask(f"/geoip/v2.1/city/{LONDON_IP}"))[:2] == (
        HTTPStatus.PAYMENT_REQUIRED,
        "OUT_OF_QUERIES",
    )


def test_other_methods_are_refused(city_database, issued):
    client = Client(enforce_csrf_checks=True)  # as in production: a 405 in JSON, not a CSRF page
    response = client.post(
        f"/geoip/v2.1/city/{LONDON_IP}",
        headers={"Authorization": basic(issued.api_key.account_id, issued.license_key)},
    )
    assert error_of(response)[:2] == (HTTPStatus.METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED")
    assert response["Allow"] == "GET"


def test_query_cost_per_lookup(city_database, ask, issued, django_assert_num_queries):
    """No quota: the key (the history row is written behind); a quota adds the counter.
    last_used_at: once a minute."""
    ask(f"/geoip/v2.1/city/{LONDON_IP}")  # first use writes last_used_at
    with django_assert_num_queries(1):
        assert ask(f"/geoip/v2.1/city/{LONDON_IP}").status_code == HTTPStatus.OK
    ApiKey.objects.filter(pk=issued.api_key.pk).update(daily_quota=100)
    with django_assert_num_queries(2):
        assert ask(f"/geoip/v2.1/city/{LONDON_IP}").status_code == HTTPStatus.OK
