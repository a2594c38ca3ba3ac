"""The single lookups as plain Django views (lookups.web.api_lookup): methods, formats, hosts,
HTTPS, the rate limit, and the middleware they go without."""

from http import HTTPStatus

import pytest
from django.contrib.auth.models import User

from lookups.models import Lookup
from lookups.tests.geoip_data import BERLIN_IP, LONDON_IP, UNKNOWN_PUBLIC_IP

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("path", "options", "status"),
    [
        (f"/api/v1/lookup/{UNKNOWN_PUBLIC_IP}", {}, HTTPStatus.NOT_FOUND),
        ("/api/v1/lookup/10.0.0.1", {}, HTTPStatus.BAD_REQUEST),
        ("/api/v1/lookup/999.1.1.1", {}, HTTPStatus.BAD_REQUEST),
        ("/api/v1/lookup/1.2.3", {}, HTTPStatus.BAD_REQUEST),
        (f"/api/v1/lookup/{LONDON_IP}/", {}, HTTPStatus.OK),  # no query ends in a slash
        ("/api/v1/lookup/london.example.com", {}, HTTPStatus.OK),
        (f"/api/v1/lookup/{LONDON_IP}?lang=de&lang=fr", {}, HTTPStatus.OK),
        (f"/api/v1/lookup/{LONDON_IP}", {"HTTP_HOST": "evil.example"}, HTTPStatus.BAD_REQUEST),
    ],
)
def test_statuses(client, city_database, path, options, status):
    assert client.get(path, **options).status_code == status


def test_head_answers_as_get(client, city_database):
    response = client.head(f"/api/v1/lookup/{LONDON_IP}")
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("method", ["post", "put", "delete", "patch", "options"])
def test_other_methods_are_405_in_the_api_s_shape(client, city_database, method):
    response = getattr(client, method)(f"/api/v1/lookup/{LONDON_IP}")
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert response["Allow"] == "GET, HEAD"
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert not Lookup.objects.exists()  # not a lookup


def test_every_answer_says_what_caches_must_key_on(client, city_database):
    for path in (
        f"/api/v1/lookup/{LONDON_IP}",
        "/api/v1/lookup/10.0.0.1",
        f"/api/v1/lookup/{LONDON_IP}?format=xml",
    ):
        vary = {value.strip() for value in client.get(path)["Vary"].split(",")}
        assert {"Accept", "Accept-Language"} <= vary, path


def test_plain_http_is_redirected_when_https_is_required(client, city_database, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get(f"/api/v1/lookup/{LONDON_IP}")
    assert response.status_code == HTTPStatus.MOVED_PERMANENTLY
    assert response["Location"] == f"https://testserver/api/v1/lookup/{LONDON_IP}"
    assert client.get(f"/api/v1/lookup/{LONDON_IP}", secure=True).status_code == HTTPStatus.OK


def test_a_proxy_s_https_header_counts_when_trusted(client, city_database, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 3600
    response = client.get(f"/api/v1/lookup/{LONDON_IP}", HTTP_X_FORWARDED_PROTO="https")
    assert response["Strict-Transport-Security"] == "max-age=3600; includeSubDomains"
    response = client.get(f"/api/v1/lookup/{LONDON_IP}", HTTP_X_FORWARDED_PROTO="http")
    assert "Strict-Transport-Security" not in response


def test_failures_are_recorded_once(client, city_database):
    client.get(f"/api/v1/lookup/{UNKNOWN_PUBLIC_IP}")
    assert list(Lookup.objects.filter(query=UNKNOWN_PUBLIC_IP).values_list("outcome", flat=True)) == [
        "address_not_found"
    ]


@pytest.mark.throttled
def test_the_rate_limit_counts_each_request_once(client, city_database, settings):
    settings.API_THROTTLE_RATE = "4/minute"
    statuses = [client.get(f"/api/v1/lookup/{LONDON_IP}").status_code for _ in range(5)]
    assert statuses == [HTTPStatus.OK] * 4 + [HTTPStatus.TOO_MANY_REQUESTS]
    assert client.get(f"/api/v1/lookup/{LONDON_IP}", REMOTE_ADDR="198.51.100.8").status_code == HTTPStatus.OK


@pytest.mark.throttled
def test_signed_in_staff_are_limited_like_anyone_on_the_public_lookups(client, city_database, settings):
    """The public lookups take no credentials: a staff session exempts no one there."""
    settings.API_THROTTLE_RATE = "2/minute"
    client.force_login(User.objects.create_superuser("staff", password="a long pass phrase"))
    statuses = [client.get(f"/api/v1/lookup/{BERLIN_IP}").status_code for _ in range(3)]
    assert statuses == [HTTPStatus.OK] * 2 + [HTTPStatus.TOO_MANY_REQUESTS]
    assert client.get("/admin/").status_code == HTTPStatus.OK  # the session still works elsewhere


def test_the_lookup_api_sets_no_cookie_and_needs_no_csrf_token(client, city_database):
    client.get("/")  # a page sets the CSRF cookie
    client.cookies.clear()
    response = client.get(f"/api/v1/lookup/{LONDON_IP}")
    assert response.cookies == {}
    csrf_checking = client.__class__(enforce_csrf_checks=True)
    assert csrf_checking.post(f"/api/v1/lookup/{LONDON_IP}").status_code == HTTPStatus.METHOD_NOT_ALLOWED


def test_the_schema_describes_the_plain_views(client):
    schema = client.get("/api/schema/?format=json").json()
    assert schema["paths"]["/api/v1/lookup/{query}"]["get"]["operationId"] == "lookup"
    assert schema["paths"]["/api/v1/lookup/"]["get"]["operationId"] == "lookup_own_address"
    assert set(schema["paths"]["/api/v1/lookup/{query}"]) == {"get"}
    for path in ("/api/v1/lookup/{query}", "/api/v1/lookup/"):  # public: no credentials taken
        assert schema["paths"][path]["get"]["security"] == [{}]
