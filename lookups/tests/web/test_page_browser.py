"""The pages in a real browser: Debian's Chromium driven by Playwright, against a live gunicorn.

Nothing leaves the machine: every request that is not for our server is aborted, so the map's
OpenStreetMap tiles fail as they would offline, and the only console errors allowed are those
tile requests. Screenshots go to test-artifacts/browser/ for a person to look at.
"""

import csv
import datetime as dt
import re
import urllib.request
from http import HTTPStatus
from pathlib import Path
from urllib.parse import quote

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.gis.geos import Point
from django.utils import timezone
from playwright.sync_api import ConsoleMessage, Page, expect, sync_playwright

from conftest import BASE_DIR, live_environment, run_gunicorn, wait_until
from lookups.errors import (
    ADDRESS_NOT_FOUND_MESSAGE,
    DATABASE_MISSING_MESSAGE,
    INVALID_QUERY_MESSAGE,
    NAME_NOT_PUBLIC_MESSAGE,
    NAME_NOT_RESOLVED_MESSAGE,
    THROTTLED_MESSAGE,
)
from lookups.models import Lookup, UpdateRun
from lookups.tests.geoip_data import (
    AT_SEA_IP,
    BERLIN_IP,
    COUNTRY_ONLY_IP,
    LINKOPING_IP,
    LONDON_IP,
    UNKNOWN_PUBLIC_IP,
)
from lookups.web.api_body import LOOKUP_CSV
from lookups.web.history_filters import HISTORY_CSV

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = BASE_DIR / "test-artifacts" / "browser"
# Map tiles cannot load here; their failed requests are the one console error we accept.
TILE_URL = re.compile(r"^https://([a-z0-9-]+\.)?tile\.openstreetmap\.org/")


def is_tile_failure(message: ConsoleMessage) -> bool:
    return message.text.startswith("Failed to load resource") and bool(
        TILE_URL.match(message.location.get("url", ""))
    )


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run bin/setup-browser")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # Playwright's sync API keeps an asyncio loop registered on this thread, and Django then
    # refuses the (synchronous) ORM calls these tests and their teardown make.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def start_server(tmp_path_factory, *, geoip_dir, dns_server, static_root, **env):
    environment = {
        **live_environment(geoip_dir=geoip_dir, dns_server=dns_server, static_root=static_root),
        "DJANGO_ALLOW_ASYNC_UNSAFE": "",  # the server keeps Django's check (see browser())
        **env,
    }
    return run_gunicorn(env=environment, tmp_path=tmp_path_factory.mktemp("gunicorn"), workers=1)


@pytest.fixture(scope="module")
def server(
    django_db_setup, django_db_blocker, live_geoip_dir, dns_server, collected_static, tmp_path_factory
):
    """Our pages, with loopback as a trusted proxy so a test can choose the visitor's address."""
    with start_server(
        tmp_path_factory,
        geoip_dir=live_geoip_dir,
        dns_server=dns_server,
        static_root=collected_static,
        TRUSTED_PROXIES="127.0.0.1",
    ) as live:
        yield live


class Browsing:
    """A browser context on one server that records what the console and CSP report."""

    def __init__(self, browser, base_url: str, **context_options):
        self.base_url = base_url
        self.context = browser.new_context(base_url=base_url, **context_options)
        self.context.route("**/*", self._local_only)
        self.errors: list[str] = []
        self.tile_failures = 0
        # Error statuses a test provokes on purpose: Chromium logs each one as a console error.
        self.expected_statuses: dict[str, int] = {}
        self.seen_statuses: dict[str, int] = {}
        self.accepted: list[re.Pattern] = []
        self.page = self.new_page()

    def _local_only(self, route):
        if route.request.url.startswith(self.base_url):
            route.continue_()
        else:
            route.abort()

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "")
        status = self._status_of(message.text)
        if is_tile_failure(message):
            self.tile_failures += 1
        elif status and self.expected_statuses.get(url) == status:
            self.seen_statuses[url] = status
        elif any(pattern.search(message.text) for pattern in self.accepted):
            pass
        else:
            self.errors.append(f"{message.text} ({message.location.get('url')})")

    @staticmethod
    def _status_of(text: str) -> int | None:
        match = re.fullmatch(r"Failed to load resource: the server responded with a status of (\d+) .*", text)
        return int(match.group(1)) if match else None

    def expect_status(self, path: str, status: int) -> None:
        """Accept (and require) the console's report of this error status for this URL."""
        self.expected_statuses[self.base_url + path] = status

    def check_console(self) -> None:
        assert self.errors == []
        assert self.seen_statuses == self.expected_statuses

    def new_page(self) -> Page:
        page = self.context.new_page()
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', e => console.error("
            "'CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
        )
        return page

    def screenshot(self, name: str, *, full_page: bool = True) -> None:
        self.page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=full_page)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def browsing(browser, server):
    """A desktop-sized browser on our server; fails the test on any console error but tiles."""
    session = Browsing(browser, server.url, viewport={"width": 1280, "height": 900})
    yield session
    session.close()
    session.check_console()


def lookup_path(query: str) -> str:
    """The address the page's script pushes for a query (encodeURIComponent, colons kept)."""
    return "/lookup/" + quote(query, safe="!'()*-._~:")


def look_up(page: Page, query: str) -> None:
    page.fill("#q", query)
    page.press("#q", "Enter")


def test_type_a_query_and_see_the_result_and_marker(browsing):
    page = browsing.page
    response = page.goto("/")
    assert response.status == HTTPStatus.OK
    assert page.evaluate("document.activeElement.id") == "q"  # the form is focused
    expect(page.locator(".note")).to_contain_text("Your address, 127.0.0.1, is not a public address")
    page.evaluate("window.notReloaded = true")

    look_up(page, LONDON_IP)

    expect(page.locator("#result-heading")).to_contain_text(LONDON_IP)
    assert page.evaluate("window.notReloaded") is True  # no reload
    assert page.url == f"{browsing.base_url}/lookup/{LONDON_IP}"
    assert page.title() == f"{LONDON_IP} · easygeoip"
    expect(page.locator("#lookup-status")).to_have_text(f"{LONDON_IP}: London, England, United Kingdom")
    facts = page.locator(".facts")
    for expected in [
        "United Kingdom (GB)",
        "England (ENG)",
        "EC2V",
        "51.5142, -0.0931",
        "10 km",
        "81.2.69.0/24",
    ]:
        expect(facts).to_contain_text(expected)
    expect(page.locator("time.local-time")).to_have_text(re.compile(r"^[A-Z][a-z]{2} \d{2}:\d{2}$"))
    expect(page.locator(".local-offset")).to_have_text(re.compile(r"^\(UTC[+-]\d{2}:\d{2}\)$"))
    expect(page.locator(".leaflet-marker-icon")).to_be_visible()
    expect(page.locator("path.leaflet-interactive")).to_have_count(1)  # the accuracy circle
    # the marker's image comes from our static files
    assert "/static/leaflet/images/marker-icon" in page.locator(".leaflet-marker-icon").get_attribute("src")
    # tiles fail here; the page says so and keeps working
    expect(page.locator(".tiles-note")).to_be_visible()
    assert browsing.tile_failures > 0
    browsing.screenshot("lookup-london")
    page.locator("#q").blur()
    browsing.screenshot("readme", full_page=False)  # docs/screenshot.png is a copy of this one
    wait_until(Lookup.objects.filter(query=LONDON_IP, channel="web", outcome="ok").exists)
    assert Lookup.objects.filter(query=LONDON_IP, channel="web", outcome="ok").exists()


def test_raw_record_copy_and_curl(browsing):
    browsing.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=browsing.base_url)
    page = browsing.page
    page.goto(f"/lookup/{LINKOPING_IP}")
    raw = page.locator("details.raw")
    expect(raw.locator("pre")).not_to_be_visible()
    raw.locator("summary").click()
    expect(raw.locator("#raw-json")).to_contain_text('"time_zone": "Europe/Stockholm"')
    raw.get_by_role("button", name="Copy JSON").click()
    expect(raw.get_by_role("button", name="Copied")).to_be_visible()
    assert '"Linköping"' in page.evaluate("navigator.clipboard.readText()")
    curl = f"curl {browsing.base_url}/api/v1/lookup/{LINKOPING_IP}"
    expect(page.locator("#curl-command")).to_have_text(curl)
    page.locator(".api-call").get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == curl
    expect(page.locator(".facts")).to_contain_text("from the time-zone polygons")
    browsing.screenshot("raw-record")


def test_share_the_address_reload_and_go_back(browsing):
    page = browsing.page
    page.goto("/lookup/dual.example.com")
    expect(page.locator("#result-heading")).to_contain_text("dual.example.com")
    addresses = page.locator(".addresses a")
    expect(addresses).to_have_count(2)
    addresses.nth(1).click()  # every resolved address looks itself up
    expect(page.locator("#result-heading")).to_contain_text(BERLIN_IP)
    assert page.url == f"{browsing.base_url}/lookup/{BERLIN_IP}"
    assert page.input_value("#q") == BERLIN_IP
    page.reload()  # the shared address renders the same result on the server
    expect(page.locator("#result-heading")).to_contain_text(BERLIN_IP)
    expect(page.locator(".facts")).to_contain_text("Land Berlin (BE)")
    expect(page.locator(".leaflet-marker-icon")).to_be_visible()
    page.go_back()
    expect(page.locator("#result-heading")).to_contain_text("dual.example.com")
    assert page.input_value("#q") == "dual.example.com"
    page.goto(f"/?q={LONDON_IP}")  # the form's own address works too
    expect(page.locator("#result-heading")).to_contain_text(LONDON_IP)


def test_the_visitors_own_address_on_the_first_visit(browser, server):
    session = Browsing(browser, server.url, extra_http_headers={"X-Forwarded-For": LONDON_IP})
    page = session.page
    page.goto("/")
    expect(page.locator("#result-heading")).to_contain_text(LONDON_IP)
    expect(page.locator(".own-note")).to_have_text("This is your own address.")
    expect(page.locator(".own-address")).to_have_text(LONDON_IP)
    assert page.input_value("#q") == ""
    session.close()
    session.check_console()


@pytest.mark.parametrize(
    ("query", "code", "message"),
    [
        ("not a query!", "invalid_query", INVALID_QUERY_MESSAGE),
        (
            "nowhere.example.com",
            "name_not_resolved",
            NAME_NOT_RESOLVED_MESSAGE.format(name="nowhere.example.com"),
        ),
        (
            "internal.example.com",
            "address_not_public",
            NAME_NOT_PUBLIC_MESSAGE.format(name="internal.example.com"),
        ),
        ("10.0.0.1", "address_not_public", "10.0.0.1 is not a public address"),
        (UNKNOWN_PUBLIC_IP, "address_not_found", ADDRESS_NOT_FOUND_MESSAGE.format(address=UNKNOWN_PUBLIC_IP)),
    ],
)
def test_errors_in_the_page(browsing, query, code, message):
    page = browsing.page
    status = (
        HTTPStatus.NOT_FOUND if code in {"name_not_resolved", "address_not_found"} else HTTPStatus.BAD_REQUEST
    )
    browsing.expect_status(lookup_path(query) + "?partial=1", status)
    browsing.expect_status(lookup_path(query), status)
    page.goto(f"/lookup/{LONDON_IP}")
    look_up(page, query)
    error = page.locator(f'.error[data-code="{code}"]')
    expect(error).to_contain_text(message)
    expect(page.locator("#lookup-status")).to_contain_text(message[:20])
    expect(page.locator(".leaflet-container")).to_have_count(0)  # the old map is gone
    expect(page.locator("#q")).to_be_editable()
    # The shared address of an error answers the same message, with its status code.
    response = page.reload()
    expect(page.locator(f'.error[data-code="{code}"]')).to_contain_text(message)
    assert response.status == status
    browsing.screenshot(f"error-{code}-{query.replace(' ', '_').replace('!', '')}")


def test_database_missing(browser, tmp_path_factory, dns_server, collected_static):
    empty = tmp_path_factory.mktemp("no-geoip")
    with start_server(
        tmp_path_factory, geoip_dir=empty, dns_server=dns_server, static_root=collected_static
    ) as live:
        session = Browsing(browser, live.url)
        session.expect_status(f"/lookup/{LONDON_IP}", HTTPStatus.SERVICE_UNAVAILABLE)
        response = session.page.goto(f"/lookup/{LONDON_IP}")
        assert response.status == HTTPStatus.SERVICE_UNAVAILABLE
        expect(session.page.locator('.error[data-code="database_unavailable"]')).to_contain_text(
            DATABASE_MISSING_MESSAGE.split("`")[0].strip()
        )
        expect(session.page.locator(".site-footer")).to_contain_text("No GeoIP database is installed.")
        session.screenshot("error-database-missing")
        session.close()
    session.check_console()


def test_throttled(browser, tmp_path_factory, live_geoip_dir, dns_server, collected_static):
    with start_server(
        tmp_path_factory,
        geoip_dir=live_geoip_dir,
        dns_server=dns_server,
        static_root=collected_static,
        PAGE_THROTTLE_RATE="2/minute",
    ) as live:
        session = Browsing(browser, live.url)
        session.expect_status(f"/lookup/{LINKOPING_IP}?partial=1", HTTPStatus.TOO_MANY_REQUESTS)
        session.expect_status(f"/lookup/{LINKOPING_IP}", HTTPStatus.TOO_MANY_REQUESTS)
        page = session.page
        page.goto(f"/lookup/{LONDON_IP}")  # 1
        look_up(page, BERLIN_IP)  # 2
        expect(page.locator("#result-heading")).to_contain_text(BERLIN_IP)
        look_up(page, LINKOPING_IP)  # 3: over the limit
        expect(page.locator('.error[data-code="throttled"]')).to_contain_text(THROTTLED_MESSAGE.split("{")[0])
        response = page.reload()
        assert response.status == HTTPStatus.TOO_MANY_REQUESTS
        assert int(response.headers["retry-after"]) >= 1
        session.screenshot("error-throttled")
        session.close()
    session.check_console()


def test_country_level_and_approximate_results_are_not_pins(browsing):
    page = browsing.page
    page.goto(f"/lookup/{COUNTRY_ONLY_IP}")
    expect(page.locator(".country-only")).to_contain_text("Only the country is known")
    expect(page.locator(".leaflet-container")).to_have_count(0)
    expect(page.locator("#result-heading")).to_contain_text(COUNTRY_ONLY_IP)
    browsing.screenshot("country-only")
    look_up(page, AT_SEA_IP)
    expect(page.locator(".approximate")).to_contain_text("somewhere within 1000 km")
    expect(page.locator(".leaflet-container")).to_have_count(1)
    expect(page.locator("path.leaflet-interactive")).to_have_count(1)
    expect(page.locator(".leaflet-marker-icon")).to_have_count(0)
    browsing.screenshot("approximate")


def test_javascript_off(browser, server):
    session = Browsing(browser, server.url, java_script_enabled=False)
    page = session.page
    page.goto("/")
    page.fill("#q", "london.example.com")
    with page.expect_navigation():
        page.press("#q", "Enter")
    assert page.url == f"{server.url}/?q=london.example.com"
    expect(page.locator("#result-heading")).to_contain_text("london.example.com")
    expect(page.locator(".facts")).to_contain_text("United Kingdom (GB)")
    expect(page.locator(".facts a.external")).to_have_attribute("href", re.compile("openstreetmap.org"))
    expect(page.locator("[data-map]")).to_be_hidden()  # no empty map box
    expect(page.locator("button[data-copy]").first).to_be_hidden()
    page.locator("details.raw summary").click()  # native, no script needed
    expect(page.locator("#raw-json")).to_be_visible()
    with page.expect_navigation():
        page.locator(".addresses a").first.click()
    assert page.url == f"{server.url}/lookup/{LONDON_IP}"
    expect(page.locator("#result-heading")).to_contain_text(LONDON_IP)
    session.screenshot("javascript-off")
    session.close()
    session.check_console()


def test_phone_viewport(browser, server):
    session = Browsing(
        browser,
        server.url,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    page = session.page
    page.goto("/")
    look_up(page, "dual.example.com")
    expect(page.locator("#result-heading")).to_contain_text("dual.example.com")
    expect(page.locator(".leaflet-marker-icon")).to_be_visible()
    # Nothing wider than the screen: no sideways scrolling of the page.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    button = page.locator(".lookup-form button").bounding_box()
    assert button["height"] >= 40  # a comfortable touch target
    assert axe_violations(page) == []
    session.screenshot("phone-result")
    page.goto("/batch")
    page.fill("#id_queries", f"{LONDON_IP}\n{COUNTRY_ONLY_IP}\nbad!")
    page.get_by_role("button", name="Look up", exact=True).click()
    expect(page.locator(".results-table tbody tr")).to_have_count(3)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # the table scrolls inside its box
    session.screenshot("phone-batch")
    session.close()
    session.check_console()


def test_keyboard_only(browsing):
    page = browsing.page
    page.goto("/")
    page.keyboard.type(LONDON_IP)  # the input has focus already
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Look up"
    page.keyboard.press("Enter")
    expect(page.locator("#result-heading")).to_contain_text(LONDON_IP)
    page.locator("details.raw summary").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#raw-json")).to_be_visible()
    # On a page without autofocus, the skip link is the first stop and leads to the content.
    page.goto("/batch")
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    expect(page.locator(".skip-link")).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()


def test_batch_table_and_csv(browsing, tmp_path):
    page = browsing.page
    page.goto("/batch")
    page.fill("#id_queries", f"{LONDON_IP}\n{BERLIN_IP}\n10.0.0.1")
    upload = tmp_path / "more.csv"
    # A cell holding a space is one query (the download once split it into two), and a known
    # header names the column without being looked up.
    upload.write_text(
        f"host,query\na,dual.example.com\nb,{COUNTRY_ONLY_IP}\nc,nowhere.example.com\nd,bad input\ne,=1+1\n"
    )
    page.set_input_files("#id_csv_file", upload)
    page.get_by_role("button", name="Look up", exact=True).click()
    rows = page.locator(".results-table tbody tr")
    expect(rows).to_have_count(8)
    expect(page.locator(".batch-results .summary")).to_have_text("8 queries: 4 found, 4 not.")
    expect(rows.nth(0)).to_contain_text("London")
    expect(rows.nth(2)).to_contain_text("is not a public address")
    expect(rows.nth(5)).to_contain_text("does not resolve")
    browsing.screenshot("batch")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download these results as CSV").click()
    download = download_info.value
    assert download.suggested_filename.startswith("easygeoip-batch-")
    path = tmp_path / "results.csv"
    download.save_as(path)
    with open(path, newline="", encoding="utf-8") as file:
        header = next(csv.reader(file))
        file.seek(0)
        records = list(csv.DictReader(file))
    assert tuple(header) == LOOKUP_CSV.columns
    assert [r["query"] for r in records] == [
        LONDON_IP,
        BERLIN_IP,
        "10.0.0.1",
        "dual.example.com",
        COUNTRY_ONLY_IP,
        "nowhere.example.com",
        "bad input",
        "'=1+1",
    ]
    assert records[1]["city"] == "Berlin"
    assert records[0]["longitude"] == "-0.0931"
    assert records[2]["error_code"] == "address_not_public"
    # Looked up for the table, then for the CSV (a repeat within a batch is recorded once).
    wait_until(lambda: Lookup.objects.filter(channel="batch").count() >= 16)
    assert Lookup.objects.filter(channel="batch").count() == 16


def test_batch_errors(browsing, tmp_path):
    page = browsing.page
    browsing.expect_status("/batch#results", HTTPStatus.BAD_REQUEST)
    page.goto("/batch")
    with page.expect_response(
        lambda r: r.url.endswith("/batch") and r.request.method == "POST"
    ) as response_info:
        page.get_by_role("button", name="Look up", exact=True).click()
    assert response_info.value.status == HTTPStatus.BAD_REQUEST
    expect(page.locator("#batch-errors")).to_contain_text("Enter at least one IP address")
    binary = tmp_path / "image.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    page.set_input_files("#id_csv_file", binary)
    page.get_by_role("button", name="Look up", exact=True).click()
    expect(page.locator("#csv-error")).to_contain_text("not a UTF-8 text")
    expect(page.locator("#id_csv_file")).to_have_attribute("aria-invalid", "true")
    browsing.screenshot("batch-error")


def test_api_docs_render_under_the_policy(browsing):
    page = browsing.page
    response = page.goto("/api/docs/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("easygeoip API")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    browsing.screenshot("api-docs", full_page=False)


def test_redoc_renders_under_its_policy(browsing):
    # Redoc's side menu always shows a logo from its makers' CDN; the policy blocks it (no
    # visitor's browser is sent to a third party) and Redoc hides it when it fails to load.
    browsing.accepted.append(re.compile(r"cdn\.redoc\.ly/redoc/logo-mini\.svg"))
    page = browsing.page
    response = page.goto("/api/redoc/")
    assert "script-src 'self';" in response.headers["content-security-policy"]
    expect(page.locator("h1")).to_contain_text("easygeoip API")
    expect(page.get_by_text("/api/v1/lookup/batch").first).to_be_attached()
    browsing.screenshot("redoc", full_page=False)


def axe_violations(page: Page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{violation['id']} ({violation['impact']}): {node['target']}"
        for violation in results.response["violations"]
        for node in violation["nodes"]
    ]


def test_accessibility_checks(browsing, tmp_path):
    """axe-core's automated WCAG checks (contrast, labels, landmarks, names) on every page state."""
    page = browsing.page
    browsing.expect_status(lookup_path("not a query!") + "?partial=1", HTTPStatus.BAD_REQUEST)
    page.goto("/")
    assert axe_violations(page) == []
    look_up(page, "dual.example.com")
    expect(page.locator(".leaflet-marker-icon")).to_be_visible()
    page.locator("details.raw summary").click()
    assert axe_violations(page) == []
    look_up(page, "not a query!")
    expect(page.locator(".error")).to_be_visible()
    assert axe_violations(page) == []
    page.goto("/batch")
    page.fill("#id_queries", f"{LONDON_IP}\nbad!")
    page.get_by_role("button", name="Look up", exact=True).click()
    expect(page.locator(".results-table")).to_be_visible()
    assert axe_violations(page) == []


def test_every_page_has_an_icon(browser, server):
    """Chromium asks for /favicon.ico by itself (the admin's pages, the API docs) unless a page links
    an icon: both must be there, or the console reports a 404 on every page."""
    # No request routing here: with it, Chromium does not ask for the icon at all. These pages
    # load nothing from elsewhere (no lookup, so no map tiles).
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.location["url"]))
    for path in ["/", "/batch", "/admin/login/", "/api/docs/"]:
        page.goto(path)
        page.wait_for_timeout(700)  # the browser asks for the icon after the page has loaded
    context.close()
    assert errors == []
    linked = page_icon_href(server.get("/")[2].decode())
    status, headers, _ = server.get(linked)
    assert (status, headers["Content-Type"]) == (HTTPStatus.OK, "image/svg+xml")
    status, headers, body = server.get("/favicon.ico")
    assert (status, headers["Content-Type"]) == (HTTPStatus.OK, "image/x-icon")
    assert body[:4] == b"\x00\x00\x01\x00"  # an ICO file


def page_icon_href(html: str) -> str:
    match = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', html)
    assert match, "base.html links no icon"
    return match.group(1)


# --- Long text stays in its box (issue 19) ----------------------------------------------------------

# 253 characters, a name no server knows: the page repeats it in the error's heading and message.
LONG_NAME = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
PHONE = {
    "viewport": {"width": 375, "height": 812},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


def overflow(page: Page, selector: str) -> list[tuple[int, int]]:
    """(scrollWidth, clientWidth) of each element that `selector` finds and whose content is wider."""
    return page.eval_on_selector_all(
        selector,
        "els => els.filter(e => e.scrollWidth > e.clientWidth).map(e => [e.scrollWidth, e.clientWidth])",
    )


def page_width(page: Page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


@pytest.mark.parametrize(
    ("size", "options"), [("desktop", {"viewport": {"width": 1280, "height": 900}}), ("phone", PHONE)]
)
def test_a_long_query_stays_in_its_error_box(browser, server, size, options):
    session = Browsing(browser, server.url, **options)
    session.expect_status(lookup_path(LONG_NAME), HTTPStatus.NOT_FOUND)
    page = session.page
    page.goto(lookup_path(LONG_NAME))
    expect(page.locator(".error")).to_contain_text("does not resolve to any address")
    session.screenshot(f"long-query-{size}")
    width = options["viewport"]["width"]
    assert page_width(page) <= width
    assert overflow(page, ".error, .error *") == []
    session.close()
    session.check_console()


def signed_in_staff(browser, base_url: str, django_user_model) -> Browsing:
    """A browser signed in to the admin of the server at `base_url` as a new superuser."""
    # Hashed as the server (production settings) checks it, not with the tests' fast hasher.
    hashed = PBKDF2PasswordHasher().encode("the right password 42", PBKDF2PasswordHasher().salt())
    django_user_model.objects.create(username="admin", password=hashed, is_staff=True, is_superuser=True)
    session = Browsing(browser, base_url, viewport={"width": 1280, "height": 900})
    page = session.page
    page.goto("/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "the right password 42")
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text("admin")
    return session


@pytest.fixture
def staff_browsing(browser, server, django_user_model):
    session = signed_in_staff(browser, server.url, django_user_model)
    yield session
    session.close()
    session.check_console()


def test_a_long_query_in_the_admin_list_is_cut_with_the_whole_on_hover(staff_browsing):
    long_query = "q" * 255
    row = Lookup.objects.create(query=long_query, channel="web", outcome="invalid_query")
    Lookup.objects.create(query="example.com", channel="web", city="London", country_code="GB")
    page = staff_browsing.page
    page.goto("/admin/lookups/lookup/")
    staff_browsing.screenshot("admin-list-long-query", full_page=False)
    # Every column fits the screen: the table is no wider than its box.
    assert overflow(page, "#changelist .results") == []
    assert page_width(page) <= 1280
    # The query is cut to its column, whole in the title a pointer shows, and links to its page.
    cut = page.locator(f'#result_list .field-query_cut a[href$="/{row.pk}/change/"] [title="{long_query}"]')
    assert cut.bounding_box()["width"] <= 240
    assert cut.evaluate("e => e.scrollWidth > e.clientWidth")  # cut, with an ellipsis
    expect(page.locator("#result_list thead")).to_contain_text("Outcome")
    assert page.locator("#result_list th.column-outcome").bounding_box()["x"] < 1280
    # The whole query on the lookup's own page, wrapped inside it.
    page.goto(f"/admin/lookups/lookup/{row.pk}/change/")
    expect(page.locator(".field-query .readonly")).to_have_text(long_query)
    staff_browsing.screenshot("admin-detail-long-query")
    assert page_width(page) <= 1280


def test_the_admin_exports_the_history_columns_with_formulas_defused(staff_browsing, tmp_path):
    Lookup.objects.create(query='=HYPERLINK("http://evil","x")', channel="batch", outcome="invalid_query")
    Lookup.objects.create(
        query="at-sea", channel="api", country_code="GB", location=Point(-40.0, -30.0, srid=4326)
    )
    page = staff_browsing.page
    page.goto("/admin/lookups/lookup/")
    page.check("#action-toggle")
    page.select_option("select[name=action]", "export_csv")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Go").click()
    path = tmp_path / "export.csv"
    download_info.value.save_as(path)
    with open(path, newline="", encoding="utf-8") as file:
        header, *rows = csv.reader(file)
    assert tuple(header) == HISTORY_CSV.columns
    records = {row[header.index("query")]: dict(zip(header, row, strict=True)) for row in rows}
    assert set(records) == {'\'=HYPERLINK("http://evil","x")', "at-sea"}
    assert (records["at-sea"]["latitude"], records["at-sea"]["longitude"]) == ("-30.0", "-40.0")


def test_the_dashboards_last_updates_fit_their_card(staff_browsing):
    UpdateRun.objects.create(
        source="url",
        edition="GeoLite2-City",
        outcome="failed",
        message="https://mirror.example.com/"
        + "x" * 100
        + "/GeoLite2-City.tar.gz failed 4 times (ConnectionRefusedError)",
    )
    UpdateRun.objects.create(
        source="file", edition="GeoLite2-City", outcome="installed", message="Installed " + "/y" * 60
    )
    page = staff_browsing.page
    page.goto("/admin/lookups/lookup/dashboard/")
    staff_browsing.screenshot("admin-dashboard")
    [(table, card)] = page.eval_on_selector_all(
        "table.update-runs",
        "els => els.map(e => [e.getBoundingClientRect().right,"
        " e.closest('.dashboard-panel').getBoundingClientRect().right])",
    )
    assert table <= card
    assert overflow(page, ".dashboard-panel") == []
    assert page_width(page) <= 1280


def test_the_batch_page_is_centred_like_the_home_page(browser, server):
    session = Browsing(browser, server.url, viewport={"width": 1600, "height": 900})
    page = session.page
    boxes = {}
    for path in ["/", "/batch"]:
        page.goto(path)
        session.screenshot(f"centred{path.replace('/', '-') or '-home'}", full_page=False)
        boxes[path] = page.locator("main").bounding_box()
    session.close()
    session.check_console()
    assert boxes["/batch"]["x"] == boxes["/"]["x"]
    assert boxes["/batch"]["width"] == boxes["/"]["width"]


# Where the dashboard map's made-up lookups point: (latitude, longitude, lookups), a city a cell.
WORLD_LOOKUPS = [
    (40.7128, -74.006, 40),  # New York
    (34.0522, -118.2437, 18),  # Los Angeles
    (-23.5505, -46.6333, 25),  # São Paulo
    (48.8566, 2.3522, 15),  # Paris
    (6.5244, 3.3792, 9),  # Lagos
    (19.076, 72.8777, 20),  # Mumbai
    (35.6762, 139.6503, 30),  # Tokyo
    (-33.8688, 151.2093, 12),  # Sydney
]


def api_lookup(base_url: str, query: str, *, requester: str) -> None:
    request = urllib.request.Request(
        f"{base_url}/api/v1/lookup/{query}", headers={"X-Forwarded-For": requester}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == HTTPStatus.OK


def test_the_dashboard_maps_where_lookups_point_without_tiles(
    browser, live_geoip_dir, dns_server, collected_static, tmp_path_factory, django_user_model
):
    """Markers for the period's cells, clustered, each showing its lookups, on a blank map (tiles
    cannot load here); the requesters' countries as the server's City database placed them."""
    now = timezone.now()
    Lookup.objects.bulk_create(  # one statement: the trigger counts them at once
        Lookup(
            query=f"city-{index}",
            channel="api",
            location=Point(longitude, latitude, srid=4326),
            country_code="US" if longitude < -60 else "",
            created_at=now - dt.timedelta(hours=index % 50),
            requester_country="US",
        )
        for latitude, longitude, lookups in WORLD_LOOKUPS
        for index in range(lookups)
    )
    # A server of its own: another test's visit would have cached the dashboard's figures.
    with start_server(
        tmp_path_factory,
        geoip_dir=live_geoip_dir,
        dns_server=dns_server,
        static_root=collected_static,
        TRUSTED_PROXIES="127.0.0.1",
    ) as live:
        # Real lookups, written behind: requesters in Sweden and in Great Britain.
        for _ in range(3):
            api_lookup(live.url, LONDON_IP, requester="89.160.20.5")
        for _ in range(2):
            api_lookup(live.url, LINKOPING_IP, requester="81.2.69.7")
        wait_until(lambda: Lookup.objects.filter(query__in=[LONDON_IP, LINKOPING_IP]).count() >= 5)
        assert (
            sorted(
                Lookup.objects.filter(query__in=[LONDON_IP, LINKOPING_IP]).values_list(
                    "query", "requester_country"
                )
            )
            == [(LONDON_IP, "SE")] * 3 + [(LINKOPING_IP, "GB")] * 2
        )
        session = signed_in_staff(browser, live.url, django_user_model)
        page = session.page
        page.goto("/admin/lookups/lookup/dashboard/")
        markers = page.locator(".dashboard-map .marker-cluster")
        expect(markers.first).to_be_visible()
        expect(page.locator(".dashboard-map-tiles-note")).to_be_visible()  # and the map still works
        # Every located lookup is counted once, in one marker or cluster or another.
        located = sum(lookups for _, _, lookups in WORLD_LOOKUPS) + 5
        shown = [int(text) for text in page.locator(".dashboard-map .marker-cluster span").all_inner_texts()]
        assert sum(shown) == located
        assert len(shown) > 3  # clusters, not one blob: the continents stay apart
        map_box = page.locator(".dashboard-map").bounding_box()
        assert map_box["width"] > 500
        assert map_box["height"] > 300
        requesters = page.locator("section[aria-labelledby=requesters-title] tr")
        expect(requesters).to_have_count(3)
        expect(requesters.nth(0)).to_contain_text("US")
        expect(requesters.nth(1)).to_contain_text("SE · Sweden")
        expect(requesters.nth(2)).to_contain_text("GB · United Kingdom")
        session.screenshot("admin-dashboard-map")
        session.close()
        session.check_console()


def test_ask_for_the_reverse_name(browsing):
    page = browsing.page
    page.goto("/")
    look_up(page, LONDON_IP)
    cell = page.locator(".facts .reverse-dns")
    link = cell.get_by_role("link", name="Look up the reverse name")
    expect(link).to_be_visible()
    link.click()
    expect(cell).to_contain_text("london.example.com")
    expect(cell).to_contain_text("verified: the name resolves back to this address")
    assert page.url == f"{browsing.base_url}/lookup/{LONDON_IP}?rdns=1"
    assert page.input_value("#q") == LONDON_IP
    curl = f"curl '{browsing.base_url}/api/v1/lookup/{LONDON_IP}?rdns=1'"
    expect(page.locator("#curl-command")).to_have_text(curl)
    browsing.screenshot("reverse-dns")
    # Typing the next query asks no reverse name: the link is back.
    look_up(page, LINKOPING_IP)
    expect(page.locator("#result-heading")).to_contain_text(LINKOPING_IP)
    expect(cell.get_by_role("link", name="Look up the reverse name")).to_be_visible()
