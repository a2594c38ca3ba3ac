"""The admin's update page: what a second build changed, as a table and bars."""

import re
from http import HTTPStatus

import pytest
from django.test import Client

from lookups.admin.update_changes import BAR_WIDTH, changes_report
from lookups.models import UpdateRun
from lookups.tests.geoip_data import build_city_database
from lookups.tests.history_data import make_user
from lookups.tests.updater.build_changes import NEW_BUILD, OLD_BUILD
from lookups.tests.updater.fakes import NEW, NEWER, update

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client() -> Client:
    client = Client()
    client.force_login(make_user("admin", staff=True, superuser=True))
    return client


def install_two_builds(tmp_path) -> UpdateRun:
    update("--file", str(build_city_database(tmp_path / "old.mmdb", networks=OLD_BUILD, build_epoch=NEW)))
    update("--file", str(build_city_database(tmp_path / "new.mmdb", networks=NEW_BUILD, build_epoch=NEWER)))
    return UpdateRun.objects.first()


def test_the_update_page_shows_the_counts_bars_countries_and_examples(staff_client, geoip_dir, tmp_path):
    run = install_two_builds(tmp_path)

    response = staff_client.get(f"/admin/lookups/updaterun/{run.pk}/change/")

    assert response.status_code == HTTPStatus.OK
    page = response.content.decode()
    main = page.split('id="content-main"')[1]
    assert "From the build of 2026-09-21" in main
    counts = dict(re.findall(r'<th scope="row">([^<]+)</th><td class="count">([\d,]+)</td>', main))
    assert counts["Networks added"] == "1"
    assert counts["Networks removed"] == "8"
    assert counts["Networks changed"] == "4"
    assert counts["Country"] == "2"
    # In the order operators read them, whatever order PostgreSQL's jsonb keeps the keys in.
    labels = re.findall(r'<th scope="row">([^<]+)</th>', main)
    assert labels[4:] == [
        "Country",
        "Subdivision",
        "City",
        "Coordinates (beyond the accuracy radius)",
        "Time zone",
        "ASN",
    ]
    # The longest bar is the most networks: removed.
    assert f'<rect class="bar removed" x="0" y="0" width="{BAR_WIDTH}.0"' in main
    assert "<td>BT</td><td>IN</td>" in main
    assert "<code>5.0.2.0 - 5.0.255.255</code>" in main
    assert ' style="' not in main  # the site's CSP allows no inline styles
    assert "lookups/admin.css" in page


def test_the_list_shows_a_short_summary(staff_client, geoip_dir, tmp_path):
    install_two_builds(tmp_path)
    page = staff_client.get("/admin/lookups/updaterun/").content.decode()
    assert "+1 −8 ~4" in page


def test_a_run_without_changes_says_why(staff_client):
    run = UpdateRun.objects.create(source="file", outcome=UpdateRun.Outcome.FAILED, message="No such file.")
    page = staff_client.get(f"/admin/lookups/updaterun/{run.pk}/change/").content.decode()
    assert "Nothing compared" in page
    assert changes_report(None) is None
