"""lookups.updater.retry: what is retried, the backoff between tries and Retry-After, against real local
servers."""

import datetime as dt

import pytest

from lookups.models import UpdateRun
from lookups.tests.download_server import LocalHTTPServer, Reply
from lookups.tests.geoip_data import build_city_database
from lookups.tests.updater.fakes import (
    NEW,
    OLD,
    city_bytes,
    no_sleep_client,
    tar_gz,
)
from lookups.updater import retry, run

pytestmark = pytest.mark.django_db


def test_server_errors_are_retried_with_exponential_backoff(fake_maxmind, geoip_dir, tmp_path):
    archive = tar_gz(city_bytes(tmp_path, build_epoch=NEW), "GeoLite2-City")
    fake_maxmind.publish(
        "GeoLite2-City",
        archive=archive,
        storage_replies=(Reply(503), Reply(502), Reply(200, archive)),
    )
    sleeps: list[float] = []

    [outcome] = run.run_updates(client=no_sleep_client(sleeps))

    assert outcome.outcome == "updated"
    assert sleeps == [2.0, 4.0]
    assert fake_maxmind.downloads() == 3


def test_server_errors_give_up_after_bounded_attempts(fake_maxmind, geoip_dir, tmp_path):
    build_city_database(geoip_dir / "GeoLite2-City.mmdb", build_epoch=OLD)
    before = (geoip_dir / "GeoLite2-City.mmdb").read_bytes()
    fake_maxmind.publish("GeoLite2-City", storage_replies=(Reply(500),))
    sleeps: list[float] = []

    [outcome] = run.run_updates(client=no_sleep_client(sleeps))

    assert outcome.failed
    assert "failed 4 times (HTTP 500 Internal Server Error)" in outcome.message
    assert "The installed database is unchanged" in outcome.message
    assert sleeps == [2.0, 4.0, 8.0]
    assert (geoip_dir / "GeoLite2-City.mmdb").read_bytes() == before
    assert UpdateRun.objects.get().outcome == "failed"


@pytest.mark.parametrize("status", [408, 429])
def test_too_many_requests_honours_retry_after(fake_maxmind, geoip_dir, tmp_path, status):
    archive = tar_gz(city_bytes(tmp_path, build_epoch=NEW), "GeoLite2-City")
    fake_maxmind.publish(
        "GeoLite2-City",
        archive=archive,
        storage_replies=(Reply(status, headers={"Retry-After": "7"}), Reply(200, archive)),
    )
    sleeps: list[float] = []

    [outcome] = run.run_updates(client=no_sleep_client(sleeps))

    assert outcome.outcome == "updated"
    assert sleeps == [7.0]  # more than the backoff's 2 seconds: the server's wish wins


def test_retry_after_as_a_date_and_too_long_a_wait(fake_maxmind, geoip_dir):
    now = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
    assert retry.parse_retry_after("Fri, 20 Nov 2026 12:00:30 GMT", now=now) == 30.0
    fake_maxmind.publish("GeoLite2-City", storage_replies=(Reply(429, headers={"Retry-After": "3600"}),))
    sleeps: list[float] = []

    [outcome] = run.run_updates(client=no_sleep_client(sleeps))

    assert outcome.failed
    assert "asks us to come back in 3600 seconds" in outcome.message
    assert sleeps == []
    assert fake_maxmind.downloads() == 1


def test_other_client_errors_are_not_retried(fake_maxmind, geoip_dir):
    fake_maxmind.publish("GeoLite2-City", storage_replies=(Reply(400),))
    sleeps: list[float] = []
    [outcome] = run.run_updates(client=no_sleep_client(sleeps))
    assert outcome.failed
    assert "answered HTTP 400 Bad Request" in outcome.message
    assert sleeps == []


def test_an_unreachable_server_is_retried_then_reported(settings, geoip_dir, caplog):
    settings.MAXMIND_LICENSE_KEY = ""
    settings.MAXMIND_ACCOUNT_ID = ""
    server = LocalHTTPServer().start()
    settings.DBIP_DOWNLOAD_URL = server.url  # nobody listens there once stopped
    server.stop()
    sleeps: list[float] = []

    outcomes = run.run_updates(client=no_sleep_client(sleeps))

    # DB-IP's City Lite and ASN Lite, each retried on its own.
    assert [outcome.failed for outcome in outcomes] == [True, True]
    assert all("Connection refused" in outcome.message for outcome in outcomes)
    assert sleeps == [2.0, 4.0, 8.0] * 2
    # Our own line says each retry; urllib3's timestamped WARNING for it would only repeat it.
    assert [record.getMessage() for record in caplog.records if record.name.startswith("urllib3")] == []
