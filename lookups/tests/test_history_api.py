import csv
import datetime as dt
import io
import json
from http import HTTPStatus

import pytest
from django.contrib.gis.geos import Point
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from lookups.models import Lookup
from lookups.tests.history_data import NOW, make_failed_lookup, make_lookup, make_user
from lookups.web import history_filters as selectors

pytestmark = pytest.mark.django_db

URL = "/api/v1/history/"


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def staff() -> APIClient:
    return token_client(make_user("admin", staff=True, superuser=True))


def queries(response) -> list[str]:
    return [row["query"] for row in response.json()["results"]]


# --- Who may read it ------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [{}, {"country": "GB"}, {"since": "not-a-date"}, {"cursor": "bad"}])
def test_anonymous_callers_learn_nothing(params):
    make_lookup()
    response = APIClient().get(URL, params)
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {
        "error": {"code": "not_authenticated", "message": "Authentication credentials were not provided."}
    }


def test_a_wrong_token_is_refused():
    make_lookup()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    response = client.get(URL)
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert set(response.json()) == {"error"}
    assert response.json()["error"]["code"] == "authentication_failed"


@pytest.mark.parametrize(
    "user_kwargs",
    [
        {"staff": False, "can_view": True},  # a permission, but not staff
        {"staff": True, "can_view": False},  # staff, but not allowed to view lookups
    ],
)
def test_users_who_are_not_staff_viewers_are_forbidden(user_kwargs):
    make_lookup()
    response = token_client(make_user("someone", **user_kwargs)).get(URL, {"country": "nonsense"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert set(response.json()) == {"error"}
    assert "81.2.69.142" not in response.content.decode()


def test_inactive_staff_tokens_stop_working():
    user = make_user("former", staff=True, superuser=True)
    client = token_client(user)
    user.is_active = False
    user.save()
    assert client.get(URL).status_code == HTTPStatus.UNAUTHORIZED


def test_staff_read_with_a_token_or_a_session(django_assert_max_num_queries):
    make_lookup()
    viewer = make_user("viewer", staff=True, can_view=True)
    client = token_client(viewer)
    with django_assert_max_num_queries(4):  # token + user, two for permissions, the page
        assert client.get(URL).status_code == HTTPStatus.OK
    session = APIClient()
    session.force_login(viewer)
    assert session.get(URL).json()["results"][0]["query"] == "81.2.69.142"


# --- What it answers -------------------------------------------------------------------------------


def test_a_row(staff, django_assert_max_num_queries):
    row = make_lookup()
    with django_assert_max_num_queries(2):  # the token with its user, the page
        response = staff.get(URL)
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert body["next"] is None
    assert body["previous"] is None
    assert body["results"] == [
        {
            "id": row.pk,
            "created_at": "2026-11-20T12:00:00+00:00",
            "query": "81.2.69.142",
            "channel": "api",
            "outcome": "ok",
            "addresses": ["81.2.69.142"],
            "ip_address": "81.2.69.142",
            "network": "81.2.69.0/24",
            "continent_code": "EU",
            "country": {"iso_code": "GB", "name": "United Kingdom"},
            "subdivision": {"iso_code": "ENG", "name": "England"},
            "subdivisions": [{"iso_code": "ENG", "name": "England"}],
            "city": "London",
            "postal_code": "EC2V",
            "location": {
                "latitude": 51.5142,
                "longitude": -0.0931,
                "accuracy_radius": 10,
                "time_zone": "Europe/London",
                "time_zone_source": "maxmind",
            },
            "requester": "203.0.113.0",
            "requester_country": "GB",
            "database": {"edition": "GeoLite2-City", "build_date": "2026-11-17T12:00:00+00:00"},
        }
    ]


def test_a_failed_lookup_has_nulls_not_missing_keys(staff):
    make_failed_lookup()
    row = staff.get(URL).json()["results"][0]
    assert row["outcome"] == "name_not_resolved"
    assert row["addresses"] == []
    for key in (
        "ip_address",
        "network",
        "country",
        "subdivision",
        "city",
        "postal_code",
        "requester_country",
        "database",
    ):
        assert row[key] is None, key
    assert row["location"] == {
        "latitude": None,
        "longitude": None,
        "accuracy_radius": None,
        "time_zone": None,
        "time_zone_source": None,
    }


def test_pages_newest_first_without_gaps_or_repeats(staff, django_assert_max_num_queries):
    # Pairs of rows recorded at the same instant: a page boundary may fall between them.
    for minute in range(5):
        for twin in "ab":
            make_lookup(query=f"{minute}{twin}", created_at=NOW - dt.timedelta(minutes=minute))
    seen = []
    response = staff.get(URL, {"page_size": 3})
    while True:
        seen.extend(queries(response))
        assert len(queries(response)) <= 3
        if not response.json()["next"]:
            break
        with django_assert_max_num_queries(2):
            response = staff.get(response.json()["next"])
    assert [q[0] for q in seen] == ["0", "0", "1", "1", "2", "2", "3", "3", "4", "4"]
    assert sorted(seen) == sorted(Lookup.objects.values_list("query", flat=True))


def test_previous_pages(staff):
    for minute in range(7):
        make_lookup(query=f"q{minute}", created_at=NOW - dt.timedelta(minutes=minute))
    first = staff.get(URL, {"page_size": 3}).json()
    second = staff.get(first["next"]).json()
    third = staff.get(second["next"]).json()
    assert queries_of(third) == ["q6"]
    assert queries_of(staff.get(third["previous"]).json()) == ["q3", "q4", "q5"]
    assert queries_of(staff.get(second["previous"]).json()) == ["q0", "q1", "q2"]


def test_default_page_size(staff):
    Lookup.objects.bulk_create(
        [Lookup(query=f"q{n}", channel="api") for n in range(selectors.DEFAULT_PAGE_SIZE + 1)]
    )
    body = staff.get(URL).json()
    assert len(body["results"]) == selectors.DEFAULT_PAGE_SIZE
    assert body["next"]


def csv_table(response) -> list[dict[str, str]]:
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    header, *rows = csv.reader(io.StringIO(response.content.decode()))
    assert tuple(header) == selectors.HISTORY_CSV.columns
    return [dict(zip(header, row, strict=True)) for row in rows]


def test_csv(staff):
    make_lookup()
    make_failed_lookup(created_at=NOW - dt.timedelta(minutes=1))
    rows = csv_table(staff.get(URL, {"format": "csv"}))
    assert [row["query"] for row in rows] == ["81.2.69.142", "nope.example.com"]
    assert rows[0]["country_code"] == "GB"
    assert rows[0]["subdivision_name"] == "England"
    assert rows[0]["longitude"] == "-0.0931"  # a number, not text made safe
    assert rows[0]["requester_country"] == "GB"
    assert rows[1]["outcome"] == "name_not_resolved"
    assert rows[1]["requester_country"] == ""


def test_csv_columns_are_the_same_on_every_page(staff):
    """A page of rows with a subdivision, one without, one failed, one empty: one column set."""
    make_lookup()
    make_lookup(subdivision_code="", subdivision_name="", created_at=NOW - dt.timedelta(minutes=1))
    make_failed_lookup(created_at=NOW - dt.timedelta(minutes=2))
    page, cursors = staff.get(URL, {"page_size": 1}).json(), []
    while page["next"]:
        cursors.append(page["next"])
        page = staff.get(page["next"]).json()
    assert len(cursors) == 2
    for url in [URL + "?page_size=1", *cursors]:
        assert len(csv_table(staff.get(url + "&format=csv"))) == 1
    assert csv_table(staff.get(URL, {"format": "csv", "country": "ZZ"})) == []


def test_csv_defuses_formulas_sent_by_anyone(staff, client, city_database):
    """The issue's attack: a public batch lookup stores a formula; staff export the history."""
    hostile = '=HYPERLINK("http://evil","x")'
    client.post(
        "/api/v1/lookup/batch", {"queries": [hostile, "-1+2", "@SUM(A1)"]}, content_type="application/json"
    )
    make_lookup(query="at-sea", location=Point(-40.0, -30.0, srid=4326))
    rows = {row["query"]: row for row in csv_table(staff.get(URL, {"format": "csv"}))}
    assert set(rows) == {"'" + hostile, "'-1+2", "'@SUM(A1)", "at-sea"}
    assert (rows["at-sea"]["latitude"], rows["at-sea"]["longitude"]) == ("-30.0", "-40.0")


# --- Filters ------------------------------------------------------------------------------------------


@pytest.fixture
def rows():
    make_lookup(query="london-today", created_at=dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC))
    make_lookup(
        query="Berlin-Yesterday",
        created_at=dt.datetime(2026, 11, 19, 23, 59, 59, tzinfo=dt.UTC),
        country_code="DE",
        country_name="Germany",
        channel="web",
    )
    make_failed_lookup(query="nope.example.com", created_at=dt.datetime(2026, 11, 18, 12, 0, tzinfo=dt.UTC))
    make_lookup(query="batch-old", created_at=dt.datetime(2026, 10, 1, tzinfo=dt.UTC), channel="batch")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["london-today", "Berlin-Yesterday", "nope.example.com", "batch-old"]),
        ({"since": "2026-11-19"}, ["london-today", "Berlin-Yesterday"]),
        ({"since": "2026-11-20T00:00:00Z"}, ["london-today"]),
        ({"since": "2026-11-20T01:00:00+02:00"}, ["london-today", "Berlin-Yesterday"]),
        ({"since": "2026-11-19T23:59:59"}, ["london-today", "Berlin-Yesterday"]),  # naive is UTC
        ({"until": "2026-11-19"}, ["Berlin-Yesterday", "nope.example.com", "batch-old"]),  # the whole day
        ({"until": "2026-11-19T23:59:59Z"}, ["nope.example.com", "batch-old"]),  # exclusive
        ({"since": "2026-11-01", "until": "2026-11-18"}, ["nope.example.com"]),
        ({"country": "de"}, ["Berlin-Yesterday"]),
        ({"country": "GB"}, ["london-today", "batch-old"]),
        ({"channel": "batch"}, ["batch-old"]),
        ({"outcome": "name_not_resolved"}, ["nope.example.com"]),
        ({"outcome": "ok", "channel": "api"}, ["london-today"]),
        ({"query": "berlin"}, ["Berlin-Yesterday"]),  # contains, any case
        ({"query": "EXAMPLE"}, ["nope.example.com"]),
        ({"query": "nothing"}, []),
        ({"country": ""}, ["london-today", "Berlin-Yesterday", "nope.example.com", "batch-old"]),
    ],
)
def test_filters(staff, rows, params, expected):
    response = staff.get(URL, params)
    assert response.status_code == HTTPStatus.OK
    assert queries(response) == expected


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "yesterday"}, selectors.MOMENT_MESSAGE.format(name="since", value="yesterday")),
        ({"until": "2026-13-01"}, selectors.MOMENT_MESSAGE.format(name="until", value="2026-13-01")),
        (
            {"since": "2026-02-30T10:00"},
            selectors.MOMENT_MESSAGE.format(name="since", value="2026-02-30T10:00"),
        ),
        ({"since": "2026-11-20", "until": "2026-11-19"}, selectors.RANGE_MESSAGE),
        # PostgreSQL takes offsets up to 15:59 only: these were a 503 history_unavailable.
        (
            {"since": "0001-01-01T00:00:00-23:59"},
            selectors.OFFSET_MESSAGE.format(name="since", value="0001-01-01T00:00:00-23:59"),
        ),
        (
            {"until": "2026-11-01T00:00+16:00"},
            selectors.OFFSET_MESSAGE.format(name="until", value="2026-11-01T00:00+16:00"),
        ),
        ({"since": "2026-11-20T12:00Z", "until": "2026-11-20T12:00Z"}, selectors.RANGE_MESSAGE),
        ({"country": "GBR"}, selectors.COUNTRY_MESSAGE.format(value="GBR")),
        ({"country": "1"}, selectors.COUNTRY_MESSAGE.format(value="1")),
        ({"channel": "fax"}, selectors.CHANNEL_MESSAGE.format(value="fax")),
        ({"outcome": "DROP TABLE"}, selectors.OUTCOME_MESSAGE.format(value="DROP TABLE")),
        ({"query": "x" * 256}, selectors.QUERY_MESSAGE),
        ({"contry": "GB"}, selectors.UNKNOWN_PARAMETER_MESSAGE.format(name="contry")),
        ({"page_size": "0"}, selectors.PAGE_SIZE_MESSAGE.format(value="0")),
        ({"page_size": "1001"}, selectors.PAGE_SIZE_MESSAGE.format(value="1001")),
        ({"page_size": "ten"}, selectors.PAGE_SIZE_MESSAGE.format(value="ten")),
    ],
)
def test_bad_filters_are_a_clear_400(staff, params, message):
    response = staff.get(URL, params)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json() == {"error": {"code": "invalid_filter", "message": message}}


# "garbage", then base64 of "p=garbage" (a position that is no time), and of "o=x".
@pytest.mark.parametrize("cursor", ["garbage", "cD1nYXJiYWdl", "bz14"])
def test_a_bad_cursor_is_a_clear_400(staff, cursor):
    response = staff.get(f"{URL}?cursor={cursor}")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json() == {"error": {"code": "invalid_cursor", "message": selectors.CURSOR_MESSAGE}}


def test_filters_hold_across_pages(staff):
    Lookup.objects.bulk_create(
        [Lookup(query=f"de{n}", channel="web", country_code="DE", created_at=NOW) for n in range(5)]
        + [Lookup(query=f"gb{n}", channel="web", country_code="GB", created_at=NOW) for n in range(5)]
    )
    first = staff.get(URL, {"country": "DE", "page_size": 3}).json()
    second = staff.get(first["next"]).json()
    assert {q[:2] for q in queries_of(first) + queries_of(second)} == {"de"}
    assert len(queries_of(first) + queries_of(second)) == 5


def queries_of(body: dict) -> list[str]:
    return [row["query"] for row in body["results"]]


def test_the_schema_documents_the_history(staff):
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/history/"]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"since", "until", "country", "channel", "outcome", "query", "page_size", "cursor"} <= names
    assert {"200", "400", "401", "403"} <= set(operation["responses"])


TWO_SUBDIVISIONS = [{"iso_code": "ENG", "name": "England"}, {"iso_code": "LND", "name": "Greater London"}]


def test_every_subdivision_is_in_the_json_the_first_also_on_its_own(staff):
    make_lookup(subdivisions=TWO_SUBDIVISIONS)
    make_lookup(created_at=NOW - dt.timedelta(minutes=1))  # recorded before the list was kept
    make_failed_lookup(created_at=NOW - dt.timedelta(minutes=2))
    rows = staff.get(URL).json()["results"]
    assert [row["subdivisions"] for row in rows] == [TWO_SUBDIVISIONS, TWO_SUBDIVISIONS[:1], []]
    assert rows[0]["subdivision"] == {"iso_code": "ENG", "name": "England"}


def test_csv_has_every_subdivision_as_json_in_a_column_added_after_the_older_ones(staff):
    make_lookup(subdivisions=TWO_SUBDIVISIONS)
    make_failed_lookup(created_at=NOW - dt.timedelta(minutes=1))
    rows = csv_table(staff.get(URL, {"format": "csv"}))
    # Added last, in turn: a spreadsheet reading the older columns by place still finds them.
    assert selectors.HISTORY_CSV.columns[-2:] == ("subdivisions", "requester_country")
    assert json.loads(rows[0]["subdivisions"]) == TWO_SUBDIVISIONS
    assert (rows[0]["subdivision_code"], rows[0]["subdivision_name"]) == ("ENG", "England")
    assert rows[1]["subdivisions"] == "[]"
