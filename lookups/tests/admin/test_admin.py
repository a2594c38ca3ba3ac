import csv
import datetime as dt
import io
from http import HTTPStatus

import pytest
from django.contrib.gis.geos import Point
from django.core.cache import cache
from django.db.models import QuerySet
from django.test import Client

from lookups.admin import history_queries
from lookups.admin.dashboard_map import MapCell
from lookups.admin.history_queries import HistoryQuerySet
from lookups.admin.model_admins import NUL_IN_FILTER_MESSAGE
from lookups.models import Lookup, UpdateRun
from lookups.tests.geoip_data import LONDON_IP
from lookups.tests.history_data import NOW, ago, earlier_today, make_failed_lookup, make_lookup, make_user
from lookups.web import credentials
from lookups.web.history_filters import HISTORY_CSV

pytestmark = pytest.mark.django_db

LIST = "/admin/lookups/lookup/"
DASHBOARD = "/admin/lookups/lookup/dashboard/"


def detail(row: Lookup) -> str:
    return f"/admin/lookups/lookup/{row.pk}/change/"


@pytest.fixture(autouse=True)
def _fresh_dashboard_figures():
    cache.clear()  # the dashboard's figures are cached between requests


@pytest.fixture
def staff_client() -> Client:
    client = Client()
    client.force_login(make_user("admin", staff=True, superuser=True))
    return client


@pytest.fixture
def viewer_client() -> Client:
    """Staff who may view lookups and nothing else."""
    client = Client()
    client.force_login(make_user("viewer", staff=True, can_view=True))
    return client


def rows_shown(response) -> list[str]:
    """The queries in the change list's rows, in order."""
    return [str(row.query) for row in response.context["cl"].result_list]


# --- Who may see it -------------------------------------------------------------------------------


@pytest.mark.parametrize("make_client", ["anonymous", "not_staff"])
def test_anonymous_and_non_staff_users_are_sent_to_the_login_page(make_client):
    row = make_lookup()
    client = Client()
    if make_client == "not_staff":
        client.force_login(make_user("visitor", can_view=True))  # a permission, but not staff
    for url in (LIST, detail(row), DASHBOARD, "/admin/"):
        response = client.get(url)
        assert response.status_code == HTTPStatus.FOUND, url
        assert response["Location"].startswith("/admin/login/"), url
        assert "81.2.69.142" not in response.content.decode()
    response = client.post(LIST, {"action": "export_csv", "_selected_action": [row.pk]})
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith("/admin/login/")


def test_staff_without_the_view_permission_are_refused():
    row = make_lookup()
    client = Client()
    client.force_login(make_user("other-staff", staff=True))
    for url in (LIST, detail(row), DASHBOARD):
        assert client.get(url).status_code == HTTPStatus.FORBIDDEN, url
    index = client.get("/admin/").content.decode()
    assert "Lookup history dashboard" not in index


def test_nobody_adds_changes_or_deletes_history(staff_client):
    row = make_lookup()
    assert staff_client.get("/admin/lookups/lookup/add/").status_code == HTTPStatus.FORBIDDEN
    assert staff_client.get(f"/admin/lookups/lookup/{row.pk}/delete/").status_code == HTTPStatus.FORBIDDEN
    response = staff_client.post(detail(row), {"query": "changed"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert Lookup.objects.get().query == "81.2.69.142"
    actions = staff_client.get(LIST).context["action_form"].fields["action"].choices
    assert [name for name, _ in actions if name] == ["export_csv"]


# --- The list ------------------------------------------------------------------------------------


def test_list_shows_the_columns_newest_first(viewer_client):
    make_lookup(created_at=NOW - dt.timedelta(hours=2), query="older.example.com")
    make_lookup(created_at=NOW, query="newer.example.com", time_zone_source="tz_world")
    make_failed_lookup(created_at=NOW - dt.timedelta(hours=1), query="nope.example.com")
    response = viewer_client.get(LIST)
    assert response.status_code == HTTPStatus.OK
    assert rows_shown(response) == ["newer.example.com", "nope.example.com", "older.example.com"]
    page = response.content.decode()
    for text in ("81.2.69.142", "GB", "London", "Europe/London", "tz_world", "api", "name_not_resolved"):
        assert text in page
    assert "3 lookups" in page  # small lists are counted exactly


def test_list_queries_do_not_grow_with_rows(viewer_client, django_assert_max_num_queries):
    make_lookup()
    make_lookup(created_at=ago(days=1))
    with django_assert_max_num_queries(12) as few:
        viewer_client.get(LIST)
    Lookup.objects.bulk_create(
        [Lookup(query=f"host{n}.example.com", channel="web", country_code="DE") for n in range(150)]
    )
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = viewer_client.get(LIST)
    assert len(rows_shown(response)) == 100  # one page


def test_a_big_list_shows_an_estimate_not_a_full_count(viewer_client, monkeypatch):
    monkeypatch.setattr(history_queries, "EXACT_COUNT_UP_TO", 5)
    Lookup.objects.bulk_create([Lookup(query=f"q{n}", channel="web") for n in range(12)])
    make_lookup(query="only-one-in-gb")
    response = viewer_client.get(LIST)
    paginator = response.context["cl"].paginator
    assert paginator.estimated
    assert paginator.count >= 6  # never fewer than were counted
    assert "about" in response.content.decode()
    filtered = viewer_client.get(LIST, {"country": "GB"})
    assert not filtered.context["cl"].paginator.estimated
    assert "1 lookup" in filtered.content.decode()
    assert "1 result (" in filtered.content.decode()
    searched = viewer_client.get(LIST, {"q": "q"})
    assert searched.context["cl"].paginator.estimated
    assert "about " in searched.content.decode().split('id="changelist-search"')[1].split("</form>")[0]


def test_the_paginator_counts_exactly_up_to_its_cap(monkeypatch):
    monkeypatch.setattr(history_queries, "EXACT_COUNT_UP_TO", 5)
    Lookup.objects.bulk_create([Lookup(query=f"q{n}", channel="web") for n in range(5)])
    paginator = history_queries.EstimatedCountPaginator(Lookup.objects.order_by("-id"), 2)
    assert paginator.count == 5
    assert not paginator.estimated


def test_filter_by_country_with_choices_from_the_data(viewer_client):
    make_lookup(query="london")
    make_lookup(query="berlin", country_code="DE", country_name="Germany")
    make_failed_lookup(query="nowhere")
    response = viewer_client.get(LIST)
    filters = {spec.title: spec for spec in response.context["cl"].filter_specs}
    assert filters["country"].lookup_choices == [
        ("DE", "DE · Germany"),
        ("GB", "GB · United Kingdom"),
        ("none", "No country"),
    ]
    assert rows_shown(viewer_client.get(LIST, {"country": "DE"})) == ["berlin"]
    assert rows_shown(viewer_client.get(LIST, {"country": "none"})) == ["nowhere"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"channel__exact": "web"}, ["web-lookup"]),
        ({"outcome": "name_not_resolved"}, ["failed"]),
        ({"outcome": "ok"}, ["from-polygons", "web-lookup", "api-lookup"]),
        ({"tz_source": "tz_world"}, ["from-polygons"]),
        ({"tz_source": "maxmind"}, ["web-lookup", "api-lookup"]),
        ({"tz_source": "none"}, ["failed"]),
    ],
)
def test_filter_by_channel_outcome_and_time_zone_source(viewer_client, params, expected):
    make_lookup(query="api-lookup", created_at=NOW - dt.timedelta(minutes=4))
    make_lookup(query="web-lookup", channel="web", created_at=NOW - dt.timedelta(minutes=3))
    make_failed_lookup(query="failed", channel="batch", created_at=NOW - dt.timedelta(minutes=2))
    make_lookup(query="from-polygons", time_zone_source="tz_world", created_at=NOW - dt.timedelta(minutes=1))
    assert rows_shown(viewer_client.get(LIST, params)) == expected


def test_outcome_choices_list_ok_first(viewer_client):
    make_lookup()
    make_failed_lookup(outcome="name_not_resolved")
    make_failed_lookup(outcome="address_not_public")
    filters = {spec.title: spec for spec in viewer_client.get(LIST).context["cl"].filter_specs}
    assert [value for value, _ in filters["outcome"].lookup_choices] == [
        "ok",
        "address_not_public",
        "name_not_resolved",
    ]


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("wiki", ["en.wikipedia.org"]),  # part of a query
        ("WIKIPEDIA", ["en.wikipedia.org"]),  # any case
        ("berlin", ["berlin-office"]),  # the city
        (LONDON_IP, ["london.example.com", LONDON_IP]),  # the address geolocated, exactly
        ("nothing-like-this", []),
    ],
)
def test_search_queries_cities_and_addresses(viewer_client, term, expected):
    make_lookup(query=LONDON_IP, created_at=NOW - dt.timedelta(minutes=3))
    make_lookup(query="london.example.com", created_at=NOW - dt.timedelta(minutes=2))
    make_lookup(
        query="en.wikipedia.org",
        ip_address="2a02:ec80::1",
        city="Amsterdam",
        created_at=NOW - dt.timedelta(minutes=1),
    )
    make_lookup(query="berlin-office", ip_address="2a02:ec80::2", city="Berlin", created_at=NOW)
    assert rows_shown(viewer_client.get(LIST, {"q": term})) == expected


def test_date_hierarchy_drills_down_from_months_to_days(viewer_client):
    make_lookup(created_at=dt.datetime(2026, 9, 30, 23, 0, tzinfo=dt.UTC), query="september")
    make_lookup(created_at=dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC), query="november-2")
    make_lookup(created_at=dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC), query="november-20")
    page = viewer_client.get(LIST).content.decode()
    assert "created_at__month=9" in page
    assert "created_at__month=11" in page
    assert "created_at__month=10" not in page  # no lookups in October
    november = viewer_client.get(LIST, {"created_at__year": 2026, "created_at__month": 11})
    assert rows_shown(november) == ["november-20", "november-2"]
    days = november.content.decode()
    assert "created_at__day=2" in days
    assert "created_at__day=20" in days
    assert "created_at__day=3&" not in days


@pytest.mark.parametrize("kind", ["year", "month", "day"])
def test_cheap_date_list_matches_djangos(kind):
    for moment in (
        dt.datetime(2025, 12, 31, 23, 59, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 1, 0, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 1, 0, 0, 1, tzinfo=dt.UTC),
    ):
        make_lookup(created_at=moment)
    make_lookup(created_at=dt.datetime(2026, 2, 10, tzinfo=dt.UTC), country_code="DE")
    cheap = HistoryQuerySet(model=Lookup).filter(country_code="GB")
    django_list = list(QuerySet(model=Lookup).filter(country_code="GB").datetimes("created_at", kind))
    assert cheap.datetimes("created_at", kind) == django_list
    assert HistoryQuerySet(model=Lookup).none().datetimes("created_at", kind) == []


def test_only_time_is_sortable(viewer_client):
    make_lookup(query="b-older", created_at=NOW - dt.timedelta(minutes=1))
    make_lookup(query="a-newer", created_at=NOW)
    # ?o=2 would sort by the query column if it were sortable.
    assert rows_shown(viewer_client.get(LIST, {"o": "2"})) == ["a-newer", "b-older"]
    assert rows_shown(viewer_client.get(LIST, {"o": "1"})) == ["b-older", "a-newer"]


# --- A lookup ------------------------------------------------------------------------------------


def test_detail_shows_the_lookup_and_its_map(viewer_client, django_assert_max_num_queries):
    row = make_lookup()
    with django_assert_max_num_queries(6):
        response = viewer_client.get(detail(row))
    assert response.status_code == HTTPStatus.OK
    page = response.content.decode()
    for text in ("81.2.69.0/24", "United Kingdom", "England", "EC2V", "Europe/London", "GeoLite2-City"):
        assert text in page
    assert 'class="lookup-map" data-latitude="51.5142" data-longitude="-0.0931" data-radius-km="10"' in page
    assert "tile.openstreetmap.org" in page
    assert "leaflet/leaflet.js" in page
    assert "lookups/lookup-map.js" in page
    assert "cdn" not in page.lower()


def test_detail_shows_every_subdivision(viewer_client):
    two = [{"iso_code": "ENG", "name": "England"}, {"iso_code": "LND", "name": "Greater London"}]
    page = viewer_client.get(detail(make_lookup(subdivisions=two))).content.decode()
    assert "England (ENG), Greater London (LND)" in page
    # A row recorded before the history kept them all shows its first one.
    page = viewer_client.get(detail(make_lookup(query="older"))).content.decode()
    assert "England (ENG)" in page


def test_detail_without_coordinates_says_so(viewer_client):
    row = make_failed_lookup()
    page = viewer_client.get(detail(row)).content.decode()
    assert "No coordinates in the answer." in page
    assert 'class="lookup-map"' not in page


@pytest.mark.parametrize(
    ("mode", "remote", "shown", "policy"),
    [
        ("anonymize", "81.2.69.77", "81.2.69.0 in GB", "IPv4 to its /24 network, IPv6 to its /48"),
        ("full", "81.2.69.77", "81.2.69.77 in GB", "recorded whole"),
        ("none", "81.2.69.77", "—", "not recorded"),
    ],
)
def test_detail_shows_the_requester_as_recorded_and_the_policy(
    viewer_client, city_database, settings, mode, remote, shown, policy
):
    settings.LOOKUP_REQUESTER_ADDRESS = mode
    Client(REMOTE_ADDR=remote).get(f"/api/v1/lookup/{LONDON_IP}")
    row = Lookup.objects.get()
    page = viewer_client.get(detail(row)).content.decode()
    assert f"{shown} (requester addresses are" in page
    assert policy in page
    if mode != "full":
        assert remote not in page


# --- CSV export ----------------------------------------------------------------------------------


def export(client: Client, ids: list[int], **extra) -> list[list[str]]:
    response = client.post(LIST, {"action": "export_csv", "_selected_action": ids, **extra})
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="lookups-')
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_export_the_selected_rows_as_csv(viewer_client):
    chosen = make_lookup(created_at=NOW)
    make_lookup(query="not-chosen")
    failed = make_failed_lookup(created_at=NOW - dt.timedelta(minutes=1))
    header, *rows = export(viewer_client, [chosen.pk, failed.pk])
    assert tuple(header) == HISTORY_CSV.columns  # the history API's CSV columns, documented once
    first = dict(zip(header, rows[0], strict=True))
    assert first["id"] == str(chosen.pk)
    assert first["created_at"] == "2026-11-20T12:00:00+00:00"
    assert first["country_code"] == "GB"
    assert first["latitude"] == "51.5142"
    assert first["longitude"] == "-0.0931"
    assert first["requester"] == "203.0.113.0"
    second = dict(zip(header, rows[1], strict=True))
    assert second["outcome"] == "name_not_resolved"
    assert second["latitude"] == ""
    assert len(rows) == 2


def test_export_across_every_page_follows_the_filters(viewer_client):
    Lookup.objects.bulk_create([Lookup(query=f"de{n}", channel="web", country_code="DE") for n in range(130)])
    make_lookup()
    everything = {"action": "export_csv", "select_across": "1", "index": "0", "_selected_action": [1]}
    assert len(export(viewer_client, [1], select_across="1", index="0")) == 1 + 131
    # The change list's filters travel in the URL the action form posts to.
    response = viewer_client.post(f"{LIST}?country=DE", everything)
    header, *rows = csv.reader(io.StringIO(b"".join(response.streaming_content).decode()))
    assert len(rows) == 130
    assert {row[header.index("country_code")] for row in rows} == {"DE"}


def test_export_defuses_spreadsheet_formulas(viewer_client):
    row = make_failed_lookup(query='=HYPERLINK("http://evil.example")', outcome="invalid_query")
    at_sea = make_lookup(query="-1+2", city="@SUM(A1)", location=Point(-40.0, -30.0, srid=4326))
    header, *rows = export(viewer_client, [row.pk, at_sea.pk])
    exported = {line[0]: dict(zip(header, line, strict=True)) for line in rows}
    assert exported[str(row.pk)]["query"] == '\'=HYPERLINK("http://evil.example")'
    assert exported[str(at_sea.pk)]["query"] == "'-1+2"
    assert exported[str(at_sea.pk)]["city"] == "'@SUM(A1)"
    assert (exported[str(at_sea.pk)]["latitude"], exported[str(at_sea.pk)]["longitude"]) == ("-30.0", "-40.0")


# --- The dashboard ---------------------------------------------------------------------------------


def test_dashboard(viewer_client, city_database, django_assert_max_num_queries):
    make_lookup(created_at=ago(hours=1), query="github.com", requester_country="SE")
    make_lookup(
        created_at=ago(hours=2), query="github.com", time_zone_source="tz_world", requester_country="GB"
    )
    make_lookup(
        created_at=ago(days=3),
        query="example.com",
        country_code="DE",
        country_name="Germany",
        location=Point(13.4, 52.52, srid=4326),
        requester_country="SE",
    )
    make_failed_lookup(created_at=ago(days=3), requester_country="SE")
    make_lookup(
        created_at=ago(days=45), query="too-old.example.com", country_code="FR", requester_country="FR"
    )
    with django_assert_max_num_queries(10):
        response = viewer_client.get(DASHBOARD)
    assert response.status_code == HTTPStatus.OK
    stats = response.context["stats"]
    assert stats.total == 4
    assert stats.failed == 1
    assert stats.tz_world_percent == pytest.approx(100 / 3)
    assert [(row.label, row.value) for row in stats.countries] == [
        ("GB · United Kingdom", 2),
        ("DE · Germany", 1),
    ]
    assert (stats.queries[0].label, stats.queries[0].value) == ("github.com", 2)
    assert len(stats.per_day.bars) == 30
    # The map: one marker per cell, at its lookups' mean; the old lookup's cell is out of the period.
    assert stats.map.cells == (MapCell(51.5142, -0.0931, 2), MapCell(52.52, 13.4, 1))
    assert (stats.map.total_cells, stats.map.lookups) == (2, 3)
    # The requesters' countries, failures included, named where a looked-up country names them.
    assert [(row.label, row.value) for row in stats.requesters] == [("SE", 3), ("GB · United Kingdom", 1)]
    page = response.content.decode()
    assert 'data-cells="[[51.5142, -0.0931, 2], [52.52, 13.4, 1]]"' in page
    assert "3 located lookups in 2 cells of 1°" in page
    assert "/static/vendor/leaflet.markercluster/leaflet.markercluster.js" in page
    assert '<svg class="day-chart"' in page
    assert "<script" not in page.split('id="content-main"')[1]
    assert ' style="' not in page.split('id="content-main"')[1]
    assert "too-old.example.com" not in page
    assert "33.3%" in page
    assert "GeoLite2-City.mmdb" in page
    assert "GeoLite2-City" in page
    assert "No update has run yet: <code>bin/manage update_maxmind</code>." in page


def test_dashboard_period_is_chosen_with_days(viewer_client, city_database):
    make_lookup(created_at=earlier_today(), location=Point(13.4, 52.52, srid=4326), requester_country="SE")
    make_lookup(created_at=ago(days=3), location=Point(-0.09, 51.51, srid=4326), requester_country="GB")
    make_lookup(created_at=ago(days=45), location=Point(2.35, 48.85, srid=4326), requester_country="FR")
    expected = {"1": (1, 1, 1), "7": (7, 2, 2), "30": (30, 2, 2), "90": (90, 3, 3)}
    for days, (bars, total, cells) in expected.items():
        response = viewer_client.get(DASHBOARD, {"days": days})
        stats = response.context["stats"]
        assert (len(stats.per_day.bars), stats.total, stats.map.total_cells) == (bars, total, cells), days
        assert len(stats.requesters) == cells
        page = response.content.decode()
        assert f'<strong aria-current="page">{days} day' in page
        assert f"Where lookups point, last {days} day" in page
    # Anything else is the default period, not an error.
    for odd in ("", "0", "365", "seven", "-7"):
        assert viewer_client.get(DASHBOARD, {"days": odd}).context["stats"].days == 30


def test_dashboard_lists_the_last_update_runs(viewer_client):
    UpdateRun.objects.create(source="dbip", edition="DBIP-City-Lite", outcome="updated", message="Installed.")
    UpdateRun.objects.create(
        source="maxmind", edition="GeoLite2-City", outcome="failed", message="HTTP 401: check the key"
    )
    page = viewer_client.get(DASHBOARD).content.decode()
    assert page.index("HTTP 401: check the key") < page.index("Installed.")  # newest first
    assert "Failed" in page
    assert "DBIP-City-Lite" in page


def test_dashboard_figures_are_cached_for_a_few_minutes(viewer_client, django_assert_max_num_queries):
    make_lookup(created_at=ago(hours=1))
    assert viewer_client.get(DASHBOARD).context["stats"].total == 1
    make_lookup(created_at=ago(hours=1))
    with django_assert_max_num_queries(5):  # session, user, permissions, update runs: no figures
        assert viewer_client.get(DASHBOARD).context["stats"].total == 1
    cache.clear()
    assert viewer_client.get(DASHBOARD).context["stats"].total == 2


def test_dashboard_without_lookups_or_a_database(viewer_client, geoip_dir):
    page = viewer_client.get(DASHBOARD).content.decode()
    assert "No lookups yet." in page
    assert "No lookups with a location in the last 30 days." in page
    assert 'class="dashboard-map"' not in page
    assert "No lookups from a requester of known country yet." in page
    assert "No answers with a time zone" in page
    assert "No GeoIP database is installed" in page


def test_dashboard_is_linked_from_the_admin_index_and_the_list(viewer_client):
    assert DASHBOARD in viewer_client.get("/admin/").content.decode()
    assert DASHBOARD in viewer_client.get(LIST).content.decode()


# PostgreSQL refuses NUL in text: a filter holding one was a 500 (issue 19).
@pytest.mark.parametrize(
    "params",
    [
        {"country": "\x00"},
        {"country": "G\x00B"},
        {"channel__exact": "\x00"},
        {"outcome": "\x00"},
        {"tz_source": "\x00"},
        {"time_zone_source__exact": "\x00"},
        {"api_key__id__exact": "\x00"},
        {"q": "\x00"},
        {"created_at__year": "\x00"},
    ],
)
def test_a_nul_in_a_filter_is_a_400_not_a_500(viewer_client, params):
    make_lookup(query="london")
    response = viewer_client.get(LIST, params)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.content.decode() == NUL_IN_FILTER_MESSAGE


@pytest.mark.parametrize(
    "url", ["/admin/lookups/updaterun/?outcome=%00", "/admin/lookups/apikey/?revoked__exact=%00"]
)
def test_a_nul_in_the_other_lists_filters_is_a_400(staff_client, url):
    UpdateRun.objects.create(source="file", outcome="installed")
    assert staff_client.get(url).status_code == HTTPStatus.BAD_REQUEST


# --- Labels and columns (issue 19) ----------------------------------------------------------------


def test_labels_spell_ip_and_api_as_people_do(viewer_client):
    row = make_lookup()
    listing = viewer_client.get(LIST).content.decode()
    page = viewer_client.get(detail(row)).content.decode()
    for text in (listing, page):
        assert "IP address" in text
        assert "API key" in text
        assert "Ip address" not in text
        assert "Api key" not in text


def test_the_key_filter_names_the_rows_without_a_key(viewer_client):
    make_lookup()
    credentials.create_api_key(name="nightly import")  # the filter shows once there is a key
    response = viewer_client.get(LIST)
    cl = response.context["cl"]
    [spec] = [spec for spec in cl.filter_specs if spec.title == "API key"]
    displays = [choice["display"] for choice in spec.choices(cl)]
    assert displays[-1] == "No API key (pages and the JSON API)"
    assert "-" not in displays


def test_a_failed_update_shows_no_file_name_as_its_edition(staff_client):
    UpdateRun.objects.create(
        source="file", edition="my-download.mmdb", outcome="failed", message="No such file: my-download.mmdb."
    )
    UpdateRun.objects.create(
        source="file",
        edition="GeoLite2-City",
        build_date=NOW,
        outcome="installed",
        message="Installed GeoLite2-City.",
    )
    response = staff_client.get("/admin/lookups/updaterun/")
    cells = [run_edition for run_edition in response.context["cl"].result_list]
    admin_edition = response.context["cl"].model_admin.edition_read
    assert [admin_edition(run) for run in cells] == ["GeoLite2-City", "—"]
    page = response.content.decode()
    assert page.count("my-download.mmdb") == 1  # in its message, not as an edition
    cl = response.context["cl"]
    [spec] = [spec for spec in cl.filter_specs if spec.title == "edition"]
    assert [value for value, _ in spec.lookup_choices] == ["GeoLite2-City"]
