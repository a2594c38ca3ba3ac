"""The fast lane answers plain JSON lookups of an address exactly as Django would, and leaves
everything else to Django.

Both apps are called as gunicorn calls them (WSGI, with a real environ), on the same database;
they record history for real, so these tests run outside a wrapping transaction.
"""

import io
import sys

import pytest
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler

from lookups.fastlane import FastLane
from lookups.models import Lookup
from lookups.tests.geoip_data import (
    BERLIN_IP,
    COUNTRY_ONLY_IP,
    LINKOPING_IP,
    LONDON_IP,
    UNKNOWN_PUBLIC_IP,
)

pytestmark = pytest.mark.django_db(transaction=True)

# Columns that differ between two recordings of the same lookup.
_PER_RECORDING = {"id", "uid", "created_at"}


def environ(path: str, *, query_string: str = "", secure: bool = False, **headers: str) -> dict:
    return {
        "REQUEST_METHOD": headers.pop("method", "GET"),
        "PATH_INFO": path,
        "QUERY_STRING": query_string,
        "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "443" if secure else "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "198.51.100.7",
        "HTTP_HOST": "localhost:8000",
        "HTTP_ACCEPT": "*/*",
        "wsgi.url_scheme": "https" if secure else "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
        **headers,
    }


def call(app, env: dict) -> tuple[str, list[tuple[str, str]], bytes]:
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, headers

    body = b"".join(app(dict(env, **{"wsgi.input": io.BytesIO(b"")}), start_response))
    return answer["status"], answer["headers"], body


class CountingDjango:
    """Django's own WSGI handler, counting the requests that reach it."""

    def __init__(self):
        self.handler = WSGIHandler()
        self.paths: list[str] = []

    def __call__(self, environ, start_response):
        self.paths.append(environ["PATH_INFO"])
        return self.handler(environ, start_response)


@pytest.fixture(autouse=True)
def no_fast_lane_failures(caplog):
    """The lane hands a request to Django when it fails: that must never hide a bug here."""
    yield
    failures = [record for record in caplog.records if record.name == "lookups.fastlane"]
    assert failures == [], [record.getMessage() for record in failures]


def build_apps() -> tuple[CountingDjango, FastLane]:
    """Django reads its security settings when it builds its middleware: change them first."""
    django_app = CountingDjango()
    return django_app, FastLane(django_app)


@pytest.fixture
def apps(city_database, settings):
    settings.API_FAST_LANE = True
    settings.SECURE_HSTS_SECONDS = 3600
    return build_apps()


def newest_history_row() -> dict:
    row = Lookup.objects.order_by("-id").values().first()
    return {key: value for key, value in row.items() if key not in _PER_RECORDING}


def test_the_fast_lane_answers_without_django_after_the_first_request(apps):
    django_app, fast_lane = apps
    first = call(fast_lane, environ(f"/api/v1/lookup/{LONDON_IP}"))
    assert first[0] == "200 OK"
    assert django_app.paths == [f"/api/v1/lookup/{LONDON_IP}"]  # learns Django's headers
    second = call(fast_lane, environ(f"/api/v1/lookup/{BERLIN_IP}"))
    assert second[0] == "200 OK"
    assert django_app.paths == [f"/api/v1/lookup/{LONDON_IP}"]
    assert Lookup.objects.filter(query=BERLIN_IP, channel="api", outcome="ok").count() == 1


@pytest.mark.parametrize(
    ("address", "options"),
    [
        (LONDON_IP, {}),
        (BERLIN_IP, {}),
        (BERLIN_IP, {"query_string": "lang=de"}),
        (BERLIN_IP, {"query_string": "lang="}),
        (BERLIN_IP, {"HTTP_ACCEPT_LANGUAGE": "fr-CH, de;q=0.9"}),
        (BERLIN_IP, {"HTTP_ACCEPT_LANGUAGE": "xx", "query_string": "lang=ja"}),
        (LINKOPING_IP, {}),  # no time zone in the record: tz_world's answer
        (COUNTRY_ONLY_IP, {}),
        (LONDON_IP, {"HTTP_ACCEPT": "application/json"}),
        (LONDON_IP, {"secure": True}),  # HSTS on HTTPS only
        (LONDON_IP, {"HTTP_COOKIE": "sessionid=nothing"}),
        ("2a02:EC80:0:0:0:0:0:1", {}),
        ("::ffff:81.2.69.142", {}),
    ],
)
def test_same_answer_and_same_history_as_django(apps, settings, address, options):
    django_app, fast_lane = apps
    path = f"/api/v1/lookup/{address}"
    call(fast_lane, environ(path, **options))  # the first of its kind teaches the headers
    through_django = call(django_app, environ(path, **options))
    django_row, rows = newest_history_row(), Lookup.objects.count()
    reached_django = len(django_app.paths)
    through_fast_lane = call(fast_lane, environ(path, **options))
    assert len(django_app.paths) == reached_django, "the fast lane handed it to Django"
    assert through_fast_lane == through_django
    assert Lookup.objects.count() == rows + 1
    assert newest_history_row() == django_row


@pytest.mark.parametrize(
    ("address", "options", "status"),
    [
        (UNKNOWN_PUBLIC_IP, {}, "404 Not Found"),  # not in the database
        ("10.0.0.1", {}, "400 Bad Request"),  # not public
        ("999.1.1.1", {}, "400 Bad Request"),  # not an address
        ("1.2.3", {}, "400 Bad Request"),  # ambiguous IPv4
        ("london.example.com", {}, "200 OK"),  # a name: DNS
        (LONDON_IP, {"query_string": "format=xml"}, "200 OK"),
        (LONDON_IP, {"query_string": "lang=de&lang=fr"}, "200 OK"),
        (LONDON_IP, {"HTTP_ACCEPT": "application/xml"}, "200 OK"),
        (LONDON_IP, {"HTTP_ACCEPT": "text/csv"}, "200 OK"),
        (LONDON_IP, {"method": "HEAD"}, "200 OK"),
        (LONDON_IP, {"method": "POST"}, "405 Method Not Allowed"),
        (LONDON_IP, {"HTTP_HOST": "evil.example"}, "400 Bad Request"),
        (f"{LONDON_IP}/", {}, "400 Bad Request"),
    ],
)
def test_everything_else_is_django_s(apps, address, options, status):
    django_app, fast_lane = apps
    call(fast_lane, environ(f"/api/v1/lookup/{LONDON_IP}"))  # headers learnt: the lane is open
    path = f"/api/v1/lookup/{address}"
    reached_django = len(django_app.paths)
    through_fast_lane = call(fast_lane, environ(path, **options))
    assert len(django_app.paths) == reached_django + 1
    assert through_fast_lane[0] == status
    assert through_fast_lane == call(django_app, environ(path, **options))


def test_failures_are_recorded_once(apps):
    _, fast_lane = apps
    call(fast_lane, environ(f"/api/v1/lookup/{LONDON_IP}"))
    call(fast_lane, environ(f"/api/v1/lookup/{UNKNOWN_PUBLIC_IP}"))
    assert list(Lookup.objects.filter(query=UNKNOWN_PUBLIC_IP).values_list("outcome", flat=True)) == [
        "address_not_found"
    ]


def test_plain_http_is_redirected_when_https_is_required(city_database, settings):
    settings.SECURE_SSL_REDIRECT = True
    _, fast_lane = build_apps()
    call(fast_lane, environ(f"/api/v1/lookup/{LONDON_IP}", secure=True))
    status, headers, _ = call(fast_lane, environ(f"/api/v1/lookup/{LONDON_IP}"))
    assert status == "301 Moved Permanently"
    assert ("Location", f"https://localhost:8000/api/v1/lookup/{LONDON_IP}") in headers
    assert call(fast_lane, environ(f"/api/v1/lookup/{LONDON_IP}", secure=True))[0] == "200 OK"


def test_a_proxy_s_https_header_counts_when_trusted(city_database, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 3600
    _, fast_lane = build_apps()
    for _ in range(2):  # learnt, then from the fast lane
        _, headers, _ = call(
            fast_lane, environ(f"/api/v1/lookup/{LONDON_IP}", HTTP_X_FORWARDED_PROTO="https")
        )
        assert ("Strict-Transport-Security", "max-age=3600; includeSubDomains") in headers
        _, headers, _ = call(fast_lane, environ(f"/api/v1/lookup/{LONDON_IP}", HTTP_X_FORWARDED_PROTO="http"))
        assert "Strict-Transport-Security" not in dict(headers)


@pytest.mark.throttled
def test_the_rate_limit_counts_each_request_once(apps, settings):
    _, fast_lane = apps
    cache.clear()
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "4/minute"}}
    statuses = [call(fast_lane, environ(f"/api/v1/lookup/{LONDON_IP}"))[0] for _ in range(5)]
    assert statuses == ["200 OK"] * 4 + ["429 Too Many Requests"]
    other_client = environ(f"/api/v1/lookup/{LONDON_IP}", REMOTE_ADDR="198.51.100.8")
    assert call(fast_lane, other_client)[0] == "200 OK"
    cache.clear()


def test_switched_off_everything_goes_to_django(apps, settings):
    django_app, fast_lane = apps
    settings.API_FAST_LANE = False
    for _ in range(3):
        assert call(fast_lane, environ(f"/api/v1/lookup/{LONDON_IP}"))[0] == "200 OK"
    assert len(django_app.paths) == 3


def test_a_lookup_is_one_round_trip(apps, django_assert_num_queries):
    _, fast_lane = apps
    call(fast_lane, environ(f"/api/v1/lookup/{LONDON_IP}"))
    with django_assert_num_queries(0):  # the history is written behind
        assert call(fast_lane, environ(f"/api/v1/lookup/{BERLIN_IP}"))[0] == "200 OK"
