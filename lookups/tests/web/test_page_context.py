import datetime as dt

import pytest

from lookups.tests.geoip_data import BERLIN_IP, LONDON_IP
from lookups.tests.timeline_builds import ADDED_IP, install_three_builds
from lookups.web import page_context as display


@pytest.mark.parametrize(
    ("code", "flag"),
    [
        ("GB", "\U0001f1ec\U0001f1e7"),
        ("se", "\U0001f1f8\U0001f1ea"),
        (None, ""),
        ("", ""),
        ("EU1", ""),
        ("1A", ""),
    ],
)
def test_flag_emoji(code, flag):
    assert display.flag_emoji(code) == flag


def test_local_time_follows_summer_time():
    winter = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)
    summer = dt.datetime(2026, 7, 15, 12, 0, tzinfo=dt.UTC)
    assert display.local_time("Europe/Berlin", now=winter) == display.LocalTime(
        iso="2026-01-15T13:00:00+01:00", text="Thu 13:00", offset="UTC+01:00"
    )
    assert display.local_time("Europe/Berlin", now=summer).offset == "UTC+02:00"
    assert display.local_time("Asia/Kolkata", now=winter).offset == "UTC+05:30"
    assert display.local_time("America/St_Johns", now=winter).text == "Thu 08:30"


@pytest.mark.parametrize("zone", [None, "", "Mars/Olympus_Mons", "../etc/passwd"])
def test_no_local_time_for_an_unknown_zone(zone):
    assert display.local_time(zone) is None


def test_curl_command_quotes_what_the_shell_would_read():
    assert display.curl_command("http://h/api/v1/lookup/8.8.8.8") == "curl http://h/api/v1/lookup/8.8.8.8"
    assert display.curl_command("http://h/x?a=1&b=2") == "curl 'http://h/x?a=1&b=2'"


# --- "changed on <date>: was <place>" (lookups.core.timeline) ------------------------------------


@pytest.mark.django_db
def test_the_page_says_when_a_build_changed_the_answer(client, geoip_dir, tmp_path):
    install_three_builds(tmp_path)
    page = client.get(f"/lookup/{LONDON_IP}").content.decode()
    assert 'changed on <time datetime="2026-11-18">2026-11-18</time>: was London, United Kingdom' in page
    arrived = client.get(f"/lookup/{ADDED_IP}").content.decode()
    assert 'changed on <time datetime="2026-09-21">2026-09-21</time>: was not in the database' in arrived


@pytest.mark.django_db
def test_no_line_with_one_build_installed(client, city_database):
    page = client.get(f"/lookup/{LONDON_IP}").content.decode()
    assert "London" in page
    assert "moved-note" not in page


@pytest.mark.django_db
def test_no_line_when_nothing_changed(client, geoip_dir, tmp_path):
    install_three_builds(tmp_path)
    page = client.get(f"/lookup/{BERLIN_IP}").content.decode()
    assert "Berlin" in page
    assert "moved-note" not in page
