"""lookups.updater.download: bodies cut short, redirects, what a URL may be, against real local servers."""

import re

import pytest
from django.core.management.base import CommandError

from lookups.tests.download_server import Reply
from lookups.tests.updater.fakes import (
    NEW,
    city_bytes,
    no_sleep_client,
    tar_gz,
    update,
)
from lookups.updater import download, retry, run

pytestmark = pytest.mark.django_db


def test_a_truncated_body_is_retried(fake_maxmind, geoip_dir, tmp_path):
    mmdb = city_bytes(tmp_path, build_epoch=NEW)
    archive = tar_gz(mmdb, "GeoLite2-City")
    fake_maxmind.publish(
        "GeoLite2-City",
        archive=archive,
        storage_replies=(Reply(200, archive, cut_after=100), Reply(200, archive)),
    )
    sleeps: list[float] = []

    [outcome] = run.run_updates(client=no_sleep_client(sleeps))

    assert outcome.outcome == "updated"
    assert sleeps == [retry.BACKOFF]
    assert (geoip_dir / "GeoLite2-City.mmdb").read_bytes() == mmdb


def test_a_body_always_truncated_fails_after_bounded_attempts(fake_maxmind, geoip_dir, tmp_path):
    archive = tar_gz(city_bytes(tmp_path, build_epoch=NEW), "GeoLite2-City")
    fake_maxmind.publish(
        "GeoLite2-City", archive=archive, storage_replies=(Reply(200, archive, cut_after=100),)
    )
    sleeps: list[float] = []

    [outcome] = run.run_updates(client=no_sleep_client(sleeps))

    assert outcome.failed
    assert f"stopped after 100 of {len(archive)} bytes" in outcome.message
    assert fake_maxmind.downloads() == retry.ATTEMPTS
    assert not (geoip_dir / "GeoLite2-City.mmdb").exists()


def test_redirects_only_to_http(storage, geoip_dir):
    storage.route("/moved.mmdb", Reply(302, headers={"Location": "ftp://example.com/city.mmdb"}))
    with pytest.raises(
        CommandError, match=re.escape("answered HTTP 302 redirect to ftp://example.com/city.mmdb refused")
    ):
        update("--url", storage.url + "/moved.mmdb")
    assert len(storage.seen()) == 1


def test_only_http_urls(geoip_dir):
    with pytest.raises(CommandError) as error:
        update("--url", "file:///etc/passwd")
    assert str(error.value) == download.UNSUPPORTED_URL_MESSAGE.format(url="file:///etc/passwd")
