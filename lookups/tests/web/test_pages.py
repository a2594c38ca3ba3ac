"""The HTML pages through Django's test client: results, every error, batch, CSV, CSP."""

import csv
import html
import io
import json
import re
from http import HTTPStatus

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from lookups.core.geoip import DBIP_ATTRIBUTION, GEOLITE_ATTRIBUTION
from lookups.errors import (
    ADDRESS_NOT_FOUND_MESSAGE,
    ADDRESS_NOT_PUBLIC_MESSAGE,
    BATCH_TOO_LARGE_MESSAGE,
    DATABASE_MISSING_MESSAGE,
    INVALID_QUERY_MESSAGE,
    NAME_NOT_PUBLIC_MESSAGE,
    NAME_NOT_RESOLVED_MESSAGE,
    THROTTLED_MESSAGE,
)
from lookups.models import Lookup
from lookups.tests.geoip_data import (
    AT_SEA_IP,
    BERLIN_IP,
    COUNTRY_ONLY_IP,
    LINKOPING_DISTANCE_KM,
    LINKOPING_IP,
    LONDON_DISTANCE_KM,
    LONDON_IP,
    REGISTERED_ONLY_IP,
    UNKNOWN_PUBLIC_IP,
)
from lookups.web.api_body import LOOKUP_CSV
from lookups.web.forms import (
    BATCH_EMPTY_MESSAGE,
    FILE_NOT_TEXT_MESSAGE,
    FILE_TOO_LARGE_MESSAGE,
    LOOKED_UP_INVALID_MESSAGE,
)
from lookups.web.pages import OWN_ADDRESS_NOT_PUBLIC_MESSAGE

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return response.content.decode()


# --- The lookup page ------------------------------------------------------------------------------


def test_lookup_page_shows_every_field(client, city_database, django_assert_num_queries):
    with django_assert_num_queries(0):  # the history is written behind: none in the request
        response = client.get(f"/lookup/{LONDON_IP}")
    assert response.status_code == HTTPStatus.OK
    page = text(response)
    assert "\U0001f1ec\U0001f1e7" in page  # the flag of GB
    for expected in [
        "United Kingdom (GB)",
        "England (ENG)",
        "London",
        "EC2V",
        "51.5142, -0.0931",
        "10 km",
        "Europe/London",
        "from the GeoIP record",
        "81.2.69.0/24",
        "GeoLite2-City, built",
        'data-precise="true"',
        'data-lat="51.5142"',
        f"curl http://testserver/api/v1/lookup/{LONDON_IP}",
        GEOLITE_ATTRIBUTION.split(",")[0],
    ]:
        assert expected in page, expected
    assert 'class="local-time"' in page
    row = Lookup.objects.get()
    assert (row.query, row.channel, row.outcome) == (LONDON_IP, "web", "ok")


def test_raw_record_is_the_databases_record_pretty_printed(client, city_database):
    response = client.get(f"/lookup/{LINKOPING_IP}")
    raw = html.unescape(text(response).split('<code id="raw-json">')[1].split("</code>")[0])
    record = json.loads(raw)
    assert record["city"]["names"]["en"] == "Linköping"
    # filled in from tz_world, and said so
    assert record["location"]["time_zone"] == "Europe/Stockholm"
    assert "from the time-zone polygons" in text(response)
    assert '\n  "city": {' in raw  # indented


def test_the_form_address_renders_the_same_result(client, city_database):
    by_form = client.get("/", {"q": f"  {LONDON_IP} "})
    by_path = client.get(f"/lookup/{LONDON_IP}")
    assert by_form.status_code == by_path.status_code == HTTPStatus.OK
    assert 'id="result-heading"' in text(by_form)
    assert f'value="{LONDON_IP}"' in text(by_form)


def test_partial_is_only_the_result(client, city_database):
    response = client.get(f"/lookup/{LONDON_IP}", {"partial": "1"})
    assert response.status_code == HTTPStatus.OK
    page = text(response)
    assert "<html" not in page
    assert 'class="result-content"' in page
    assert f'data-title="{LONDON_IP} · easygeoip"' in page


def test_a_domain_lists_every_address_as_a_link(client, city_database):
    response = client.get("/lookup/dual.example.com")
    page = text(response)
    assert f'href="/lookup/{LONDON_IP}" data-lookup-link' in page
    assert f'href="/lookup/{BERLIN_IP}" data-lookup-link' in page
    assert "resolves to" in page


def test_place_names_follow_the_language(client, city_database):
    response = client.get(f"/lookup/{LONDON_IP}", HTTP_ACCEPT_LANGUAGE="de")
    assert "Vereinigtes Königreich" in text(response)
    assert f"/api/v1/lookup/{LONDON_IP}?lang=de" in text(response)


def test_a_large_radius_is_not_a_pin(client, city_database):
    page = text(client.get(f"/lookup/{AT_SEA_IP}"))
    assert 'data-precise="false"' in page
    assert "Approximate position only: somewhere within 1000 km" in page


def test_a_country_level_result_has_no_map(client, city_database):
    response = client.get(f"/lookup/{COUNTRY_ONLY_IP}")
    assert response.status_code == HTTPStatus.OK
    page = text(response)
    assert "data-map" not in page
    assert "Only the country is known" in page
    assert "Bhutan (BT)" in page
    assert '<p class="summary">Bhutan</p>' in page


def test_only_the_registered_country_known_is_said_alike_in_the_heading_and_the_map(client, city_database):
    page = text(client.get(f"/lookup/{REGISTERED_ONLY_IP}"))
    assert "No place is known" not in page
    assert "Only the country is known" not in page
    summary = "Only the country where this network is registered is known: Australia."
    assert f'<p class="summary">{summary}</p>' in page
    assert "Only the registered country is known for this address: there is no position to show" in page
    assert "Registered in</dt><dd>Australia (AU)" in page


@pytest.mark.parametrize(
    ("path", "status", "code", "message"),
    [
        ("/lookup/not a query!", HTTPStatus.BAD_REQUEST, "invalid_query", INVALID_QUERY_MESSAGE),
        ("/?q=10.0.0.1", HTTPStatus.BAD_REQUEST, "address_not_public", None),
        ("/lookup/internal.example.com", HTTPStatus.BAD_REQUEST, "address_not_public", None),
        ("/lookup/nowhere.example.com", HTTPStatus.NOT_FOUND, "name_not_resolved", None),
        (f"/lookup/{UNKNOWN_PUBLIC_IP}", HTTPStatus.NOT_FOUND, "address_not_found", None),
    ],
)
def test_errors_are_messages_in_the_page(client, city_database, path, status, code, message):
    response = client.get(path)
    assert response.status_code == status
    page = text(response)
    assert f'data-code="{code}"' in page
    assert 'role="alert"' in page
    assert 'id="q"' in page  # the form is still there: a page, not an error page
    expected = {
        "invalid_query": INVALID_QUERY_MESSAGE,
        "address_not_public": ADDRESS_NOT_PUBLIC_MESSAGE.format(subject="10.0.0.1").split(":")[0]
        if "10.0.0.1" in path
        else NAME_NOT_PUBLIC_MESSAGE.format(name="internal.example.com"),
        "name_not_resolved": NAME_NOT_RESOLVED_MESSAGE.format(name="nowhere.example.com"),
        "address_not_found": ADDRESS_NOT_FOUND_MESSAGE.format(address=UNKNOWN_PUBLIC_IP),
    }[code]
    assert expected in page
    assert Lookup.objects.get().outcome == code


def test_a_trailing_slash_on_the_lookup_page_still_looks_up(client, city_database):
    response = client.get(f"/lookup/{LONDON_IP}/")
    assert response.status_code == HTTPStatus.OK
    assert Lookup.objects.get().query == LONDON_IP


@pytest.mark.parametrize("blank", [" ", "   ", "\t"])
def test_a_blank_query_asks_for_an_address(client, city_database, blank):
    response = client.get("/", {"q": blank})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    page = text(response)
    assert 'data-code="invalid_query"' in page
    assert INVALID_QUERY_MESSAGE in page
    assert "not a public address" not in page
    assert Lookup.objects.count() == 0  # nothing was looked up


def test_database_missing_is_a_message(client, geoip_dir):
    response = client.get(f"/lookup/{LONDON_IP}")
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert DATABASE_MISSING_MESSAGE.split("`")[0] in text(response)
    assert "No GeoIP database is installed." in text(response)  # the footer says so too


@pytest.mark.throttled
def test_throttled_is_a_message_with_retry_after(client, city_database, settings):
    settings.PAGE_THROTTLE_RATE = "2/minute"
    assert client.get(f"/lookup/{LONDON_IP}").status_code == HTTPStatus.OK
    assert client.get(f"/lookup/{LONDON_IP}").status_code == HTTPStatus.OK
    response = client.get(f"/lookup/{LONDON_IP}", {"partial": "1"})
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert int(response["Retry-After"]) >= 1
    assert THROTTLED_MESSAGE.split("{")[0] in text(response)
    assert 'data-code="throttled"' in text(response)
    # the API's allowance is its own
    settings.API_THROTTLE_RATE = "5/minute"
    assert client.get(f"/api/v1/lookup/{LONDON_IP}").status_code == HTTPStatus.OK


def test_first_visit_from_a_private_address_says_so(client, city_database, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/")
    assert response.status_code == HTTPStatus.OK
    assert OWN_ADDRESS_NOT_PUBLIC_MESSAGE.format(address="127.0.0.1") in text(response)
    assert Lookup.objects.count() == 0


def test_first_visit_looks_the_visitor_up(client, city_database, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    response = client.get("/", HTTP_X_FORWARDED_FOR=LONDON_IP)
    assert response.status_code == HTTPStatus.OK
    page = text(response)
    assert "This is your own address." in page
    assert f'href="/lookup/{LONDON_IP}" data-lookup-link class="own-address"' in page
    assert 'value=""' in page  # the input stays empty for the next query
    row = Lookup.objects.get()
    assert (row.query, row.channel, row.requester) == (LONDON_IP, "web", "81.2.69.0")


def test_lookup_pages_only_answer_get(client, city_database):
    assert client.post(f"/lookup/{LONDON_IP}").status_code == HTTPStatus.METHOD_NOT_ALLOWED


# --- Content-Security-Policy -----------------------------------------------------------------------


def test_every_response_carries_the_policy(client, city_database, settings):
    for path in ["/", f"/lookup/{LONDON_IP}", "/batch", "/health", f"/api/v1/lookup/{LONDON_IP}", "/nowhere"]:
        policy = client.get(path)["Content-Security-Policy"]
        assert "script-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
    settings.CONTENT_SECURITY_POLICY = ""
    assert "Content-Security-Policy" not in client.get("/health")


def test_pages_hold_no_inline_script_or_style(client, city_database):
    for path in ["/", f"/lookup/{LONDON_IP}", "/batch", "/api/docs/"]:
        page = text(client.get(path))
        assert "<script>" not in page, path
        assert "<style" not in page, path
        assert " style=" not in page, path
        assert " onclick=" not in page, path


def test_api_docs_serve_their_script_as_a_file(client):
    page = text(client.get("/api/docs/"))
    assert 'src="/api/docs/?script="' in page
    script = client.get("/api/docs/", {"script": ""})
    assert script.status_code == HTTPStatus.OK
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle(" in text(script)


# --- Batch ------------------------------------------------------------------------------------------


def test_batch_form(client):
    response = client.get("/batch")
    assert response.status_code == HTTPStatus.OK
    assert 'name="csrfmiddlewaretoken"' in text(response)
    assert 'enctype="multipart/form-data"' in text(response)


def test_batch_table(client, city_database, django_assert_num_queries):
    with django_assert_num_queries(0):  # the whole batch's history written behind
        response = client.post("/batch", {"queries": f"{LONDON_IP}\n{BERLIN_IP}, 10.0.0.1\n\nnot_valid!"})
    assert response.status_code == HTTPStatus.OK
    page = text(response)
    assert "4 queries: 2 found, 2 not." in page
    assert page.count('class="row-error"') == 2
    assert "Land Berlin" in page
    assert set(Lookup.objects.values_list("channel", flat=True)) == {"batch"}


def test_batch_csv_upload_uses_the_query_column(client, city_database):
    upload = SimpleUploadedFile(
        "hosts.csv",
        f"name;query\nfirst;{LONDON_IP}\nsecond;dual.example.com\n".encode("utf-8-sig"),
        content_type="text/csv",
    )
    response = client.post("/batch", {"queries": "", "csv_file": upload})
    assert response.status_code == HTTPStatus.OK
    assert "2 queries: 2 found, 0 not." in text(response)


def test_batch_csv_upload_without_a_header_uses_the_first_column(client, city_database):
    upload = SimpleUploadedFile(
        "hosts.csv", f"{LONDON_IP},x\n{BERLIN_IP},y\n".encode(), content_type="text/csv"
    )
    response = client.post("/batch", {"csv_file": upload})
    assert "2 queries: 2 found, 0 not." in text(response)


def test_batch_csv_download(client, city_database):
    response = client.post(
        "/batch", {"queries": f"{LONDON_IP}\n=cmd|x\n{COUNTRY_ONLY_IP}\n{AT_SEA_IP}", "format": "csv"}
    )
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="easygeoip-batch-')
    header, *_ = csv.reader(io.StringIO(text(response)))
    assert tuple(header) == LOOKUP_CSV.columns  # the API's lookup columns, documented once
    rows = list(csv.DictReader(io.StringIO(text(response))))
    assert [row["query"] for row in rows] == [LONDON_IP, "'=cmd|x", COUNTRY_ONLY_IP, AT_SEA_IP]
    assert rows[0]["city"] == "London"
    assert rows[0]["longitude"] == "-0.0931"  # numbers are not "made safe"
    assert rows[1]["error_code"] == "invalid_query"
    assert rows[2]["country_code"] == "BT"
    assert rows[2]["latitude"] == ""
    assert rows[3]["longitude"] == "-40.0"


def download_form(response) -> dict[str, str]:
    """The fields of the results' "Download these results as CSV" form, as a browser would post them."""
    form = text(response).split('class="download-form"', 1)[1].split("</form>", 1)[0]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))
    return {name: html.unescape(value) for name, value in fields.items()} | {"format": "csv"}


def test_the_download_has_exactly_the_rows_shown(client, city_database):
    """Cells holding spaces, commas, quotes and line breaks are each one query, shown and downloaded."""
    cells = [LONDON_IP, "bad input", "a,b", 'say "hi"', "two\nlines", "=1+1", COUNTRY_ONLY_IP]
    content = "query\n" + "".join(f'"{cell.replace(chr(34), chr(34) * 2)}"\n' for cell in cells)
    upload = SimpleUploadedFile("cells.csv", content.encode(), content_type="text/csv")
    shown = client.post("/batch", {"csv_file": upload})
    assert "7 queries: 2 found, 5 not." in text(shown)
    downloaded = client.post("/batch", download_form(shown))
    assert downloaded["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(text(downloaded))))
    assert [row["query"] for row in rows] == [*cells[:5], "'=1+1", COUNTRY_ONLY_IP]


def test_a_download_form_that_was_tampered_with_is_refused(client, city_database):
    for value in ("not json", '{"a": 1}', "[1, 2]", "[]"):
        response = client.post("/batch", {"looked_up": value, "format": "csv"})
        assert response.status_code == HTTPStatus.BAD_REQUEST, value
        assert html.escape(LOOKED_UP_INVALID_MESSAGE) in text(response)


@pytest.mark.parametrize("name", ["ip", "IP", "address", "Host", "query", "ip_address", " IP_Address "])
def test_a_csv_header_is_not_looked_up(client, city_database, name):
    upload = SimpleUploadedFile(
        "hosts.csv", f"{name}\n{LONDON_IP}\n{BERLIN_IP}\n".encode(), content_type="text/csv"
    )
    response = client.post("/batch", {"csv_file": upload})
    assert "2 queries: 2 found, 0 not." in text(response)


def test_a_known_header_names_the_column(client, city_database):
    upload = SimpleUploadedFile(
        "hosts.csv",
        f"name,Address\nfirst,{LONDON_IP}\nsecond,{BERLIN_IP}\n".encode(),
        content_type="text/csv",
    )
    response = client.post("/batch", {"csv_file": upload})
    assert "2 queries: 2 found, 0 not." in text(response)


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        ({"queries": "  \n "}, HTTPStatus.BAD_REQUEST, BATCH_EMPTY_MESSAGE),
        ({"queries": "1.1.1.1 " * 4}, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, None),
    ],
)
def test_batch_input_errors(client, city_database, settings, data, status, message):
    settings.LOOKUP_BATCH_MAX = 3
    response = client.post("/batch", data)
    assert response.status_code == status
    expected = message or BATCH_TOO_LARGE_MESSAGE.format(limit=3, count=4)
    assert expected in text(response)
    assert Lookup.objects.count() == 0


def test_batch_file_too_large(client, city_database, settings):
    settings.LOOKUP_BATCH_UPLOAD_MAX_BYTES = 100
    upload = SimpleUploadedFile("big.csv", b"8.8.8.8\n" * 5000, content_type="text/csv")
    response = client.post("/batch", {"queries": LONDON_IP, "csv_file": upload})
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert FILE_TOO_LARGE_MESSAGE.format(limit="100\xa0bytes") in text(response)
    assert f">{LONDON_IP}</textarea>" in text(response)  # what was typed is kept


def test_batch_file_not_text(client, city_database):
    upload = SimpleUploadedFile("photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", content_type="text/csv")
    response = client.post("/batch", {"csv_file": upload})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert FILE_NOT_TEXT_MESSAGE in text(response)


def test_batch_body_too_large(client, city_database, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client.post("/batch", {"queries": "8.8.8.8\n" * 500})
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert "The request body is too large." in text(response)
    assert 'name="queries"' in text(response)


def test_batch_without_database(client, geoip_dir):
    response = client.post("/batch", {"queries": LONDON_IP})
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert DATABASE_MISSING_MESSAGE.split("`")[0] in text(response)


def test_batch_needs_the_csrf_token(city_database):
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post("/batch", {"queries": LONDON_IP})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert Lookup.objects.count() == 0


# --- The comparison panel (GEOIP_CITY_ALTERNATIVE) ------------------------------------------------


def test_the_page_compares_with_the_alternative_database(client, city_database, alternative_database):
    response = client.get(f"/lookup/{LINKOPING_IP}")
    assert response.status_code == HTTPStatus.OK
    page = text(response)
    panel = page[page.index('class="comparison"') :]
    for expected in [
        '<th scope="col">GeoLite2-City</th>',
        '<th scope="col">DBIP-City-Lite</th>',
        "Sweden (SE)",
        "Norway (NO)",
        "Oslo",
        "59.9127, 10.7461",
        "2026-09-01",
        "<dt>Same country</dt><dd>no</dd>",
        "<dt>Same city</dt><dd>no</dd>",
        f"{LINKOPING_DISTANCE_KM:g} km apart, beyond their accuracy radii",
        "<dt>Newer build</dt><dd>GeoLite2-City</dd>",
        DBIP_ATTRIBUTION,
    ]:
        assert expected in panel, expected
    # One lookup in the history, as without the panel.
    assert list(Lookup.objects.values_list("query", "channel", "outcome")) == [(LINKOPING_IP, "web", "ok")]


def test_the_panel_agrees_within_the_radii(client, city_database, alternative_database):
    page = text(client.get(f"/lookup/{LONDON_IP}"))
    assert "<dt>Same country</dt><dd>yes</dd>" in page
    assert "<dt>Same city</dt><dd>yes</dd>" in page
    assert f"{LONDON_DISTANCE_KM:g} km apart, within their accuracy radii" in page


def test_the_panel_says_when_the_alternative_does_not_know_the_address(
    client, city_database, alternative_database
):
    page = text(client.get(f"/lookup/{AT_SEA_IP}"))
    assert 'class="comparison-error" data-code="address_not_found"' in page
    assert html.escape(ADDRESS_NOT_FOUND_MESSAGE.format(address=AT_SEA_IP)) in page


def test_no_panel_without_an_alternative(client, city_database, settings):
    page = text(client.get(f"/lookup/{LONDON_IP}"))
    assert 'class="comparison"' not in page
    # Configured but not installed: the page is the plain lookup, never an error.
    settings.GEOIP_CITY_ALTERNATIVE = "dbip-city-lite.mmdb"
    response = client.get(f"/lookup/{LONDON_IP}")
    assert response.status_code == HTTPStatus.OK
    assert 'class="comparison"' not in text(response)


def test_the_primary_error_is_the_page_error_with_an_alternative(client, city_database, alternative_database):
    # 8.8.8.8 is only in the alternative: the page answers as a lookup does.
    response = client.get(f"/lookup/{UNKNOWN_PUBLIC_IP}")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert html.escape(ADDRESS_NOT_FOUND_MESSAGE.format(address=UNKNOWN_PUBLIC_IP)) in text(response)


# --- Reverse DNS, on request ----------------------------------------------------------------------


def reverse_dns_cell(response) -> str:
    match = re.search(r'<dd class="reverse-dns"[^>]*>(.*?)</dd>', response.content.decode(), re.S)
    assert match, "no reverse DNS line"
    return match.group(1)


def test_the_result_offers_the_reverse_name_without_asking_it(client, city_database, dns_server):
    asked = len(dns_server.queries)
    cell = reverse_dns_cell(client.get(f"/lookup/{LONDON_IP}"))
    assert f'href="/lookup/{LONDON_IP}?rdns=1"' in cell
    assert len(dns_server.queries) == asked


def test_the_link_shows_the_verified_name(client, city_database):
    response = client.get(f"/lookup/{LONDON_IP}", {"rdns": "1"})
    assert response.status_code == HTTPStatus.OK
    cell = reverse_dns_cell(response)
    assert "<code>london.example.com</code>" in cell
    assert "verified: the name resolves back to this address" in cell
    assert "rdns=1" not in cell  # no link: it was asked
    assert f"/api/v1/lookup/{LONDON_IP}?rdns=1" in response.content.decode()  # the curl line too


def test_an_unverified_name_says_so_and_no_internal_address(client, city_database):
    response = client.get(f"/lookup/{LINKOPING_IP}", {"rdns": "1", "partial": "1"})
    cell = reverse_dns_cell(response)
    assert "<code>internal.example.com</code>" in cell
    assert "not verified" in cell
    assert "10.1.2.3" not in response.content.decode()


def test_no_reverse_name_and_a_silent_one(client, city_database, settings):
    settings.RDNS_TIMEOUT = 0.2
    assert "has no reverse name" in reverse_dns_cell(client.get(f"/lookup/{REGISTERED_ONLY_IP}?rdns=1"))
    assert "did not answer in time" in reverse_dns_cell(client.get(f"/lookup/{AT_SEA_IP}?rdns=1"))


def test_the_home_page_query_takes_it_too(client, city_database):
    cell = reverse_dns_cell(client.get("/", {"q": "london.example.com", "rdns": "1"}))
    assert "<code>london.example.com</code>" in cell


def test_the_comparing_page_shows_it_too(client, city_database, alternative_database):
    response = client.get(f"/lookup/{LONDON_IP}?rdns=1")
    assert "Compared with a second database" in response.content.decode()
    assert "<code>london.example.com</code>" in reverse_dns_cell(response)
