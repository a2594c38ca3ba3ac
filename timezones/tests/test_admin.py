import json
import re
from http import HTTPStatus

import pytest
from django.urls import reverse

from timezones.models import TzWorld
from timezones.tests.conftest import replace_tz_world

pytestmark = pytest.mark.django_db

# Zone/A: two rows, the second a two-part multipolygon (three polygons); Zone/B: one.
POLYGONS = [
    ("Zone/A", "MULTIPOLYGON(((0 0,1 0,1 1,0 1,0 0)))"),
    ("Zone/B", "MULTIPOLYGON(((5 5,6 5,6 6,5 6,5 5)))"),
    ("Zone/A", "MULTIPOLYGON(((2 0,3 0,3 1,2 1,2 0)),((4 0,4.5 0,4.5 1,4 1,4 0)))"),
]
CHANGELIST = reverse("admin:timezones_tzworld_changelist")


def zone_url(tzid: str) -> str:
    gid = TzWorld.objects.filter(tzid=tzid).order_by("gid").values_list("gid", flat=True)[0]
    return reverse("admin:timezones_tzworld_change", args=[gid])


def test_the_list_has_one_line_per_zone_with_its_polygon_count(admin_client, django_assert_max_num_queries):
    replace_tz_world(POLYGONS)
    with django_assert_max_num_queries(6):  # session, user, the page's zones (no full count)
        response = admin_client.get(CHANGELIST)
    assert response.status_code == HTTPStatus.OK
    lines = [(zone.tzid, zone.polygon_count) for zone in response.context["cl"].result_list]
    assert lines == [("Zone/A", 3), ("Zone/B", 1)]
    assert reverse("admin:timezones_tzworld_add").encode() not in response.content  # read only


def test_the_list_can_be_searched_and_sorted_by_polygons(admin_client):
    replace_tz_world(POLYGONS)
    response = admin_client.get(CHANGELIST, {"q": "zone/b"})
    assert [zone.tzid for zone in response.context["cl"].result_list] == ["Zone/B"]
    response = admin_client.get(CHANGELIST, {"o": "-1"})  # the polygons column, descending
    assert [zone.tzid for zone in response.context["cl"].result_list] == ["Zone/A", "Zone/B"]
    response = admin_client.get(CHANGELIST, {"o": "1"})
    assert [zone.tzid for zone in response.context["cl"].result_list] == ["Zone/B", "Zone/A"]


def test_a_zone_page_draws_all_its_polygons_on_a_map(admin_client):
    replace_tz_world(POLYGONS)
    response = admin_client.get(zone_url("Zone/A"))
    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    assert 'data-zone-map="zone-shape"' in html
    assert 'data-tiles="//tile.openstreetmap.org/{z}/{x}/{y}.png"' in html
    shape = json.loads(re.search(r'<script id="zone-shape" type="application/json">(.*?)</script>', html)[1])
    assert shape["type"] == "GeometryCollection"
    assert sum(len(part["coordinates"]) for part in shape["geometries"]) == 3
    # Leaflet from our own static files, no CDN.
    assert "/static/leaflet/leaflet.js" in html
    assert "/static/timezones/zone_map.js" in html
    assert "cdn" not in html.lower()


def test_zones_cannot_be_changed_added_or_deleted(admin_client):
    replace_tz_world(POLYGONS)
    url = zone_url("Zone/B")
    response = admin_client.post(url, {"tzid": "Zone/C"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert admin_client.get(reverse("admin:timezones_tzworld_add")).status_code == HTTPStatus.FORBIDDEN
    delete = reverse("admin:timezones_tzworld_delete", args=[TzWorld.objects.get(tzid="Zone/B").gid])
    assert admin_client.post(delete, {"post": "yes"}).status_code == HTTPStatus.FORBIDDEN
    assert TzWorld.objects.filter(tzid="Zone/B").exists()


def test_only_staff_see_the_zones(client):
    response = client.get(CHANGELIST)
    assert response.status_code == HTTPStatus.FOUND
    assert "/admin/login/" in response["Location"]


@pytest.mark.browser
def test_the_map_draws_the_zone_in_a_real_browser(live_server, django_user_model, restore_tz_world):
    """Chromium loads Leaflet from our static files and draws every polygon of the zone (the
    tiles cannot load here; the shape does not need them)."""
    playwright = pytest.importorskip("playwright.sync_api")
    replace_tz_world(POLYGONS)
    django_user_model.objects.create_superuser("admin", "admin@example.com", "a-long-test-password")
    url = f"{live_server.url}/admin/login/?next={zone_url('Zone/A')}"
    with playwright.sync_playwright() as p:  # no database calls in here: it runs an event loop
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        try:
            page = browser.new_page()
            page.goto(url)
            page.fill("#id_username", "admin")
            page.fill("#id_password", "a-long-test-password")
            page.click("input[type=submit]")
            page.wait_for_selector("[data-zone-map][data-drawn]", state="attached")
            shapes = page.locator(".zone-map path.leaflet-interactive")
            assert shapes.count() == 2  # the two rows of Zone/A
            # Both shapes, whole, on a map that has a size (and not cut by the page's layout).
            frame = page.locator("[data-zone-map]").bounding_box()
            assert frame["width"] > 300
            for index in range(2):
                shape = shapes.nth(index).bounding_box()
                assert shape["width"] > 10
                assert frame["x"] <= shape["x"]
                assert shape["x"] + shape["width"] <= frame["x"] + frame["width"]
                assert frame["y"] <= shape["y"]
                assert shape["y"] + shape["height"] <= frame["y"] + frame["height"]
            assert page.locator("[data-zone-map]").evaluate("e => e.getBoundingClientRect().right") <= (
                page.locator("#content").evaluate("e => e.getBoundingClientRect().right")
            )
        finally:
            browser.close()
