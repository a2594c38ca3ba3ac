"""`manage.py update_maxmind` against local servers that behave like MaxMind's and DB-IP's."""

import base64
import datetime as dt
import fcntl
import gzip
import hashlib
import io
import json
import logging
import os
import re
import subprocess
import sys
import tarfile
import threading
import time
from http import HTTPStatus
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError

from conftest import BASE_DIR, live_environment, run_gunicorn
from lookups import maxmind
from lookups.geoip import DBIP_ATTRIBUTION, GEOLITE_ATTRIBUTION, GeoIPReader
from lookups.models import UpdateRun
from lookups.tests.download_server import LocalHTTPServer, Reply
from lookups.tests.geoip_data import LONDON, LONDON_IP, build_asn_database, build_city_database

pytestmark = pytest.mark.django_db

ACCOUNT_ID = "424242"
LICENSE_KEY = "Xk3y_SuperSecret_0123456789ab"
AUTHORIZATION = "Basic " + base64.b64encode(f"{ACCOUNT_ID}:{LICENSE_KEY}".encode()).decode()
SECRETS = (LICENSE_KEY, AUTHORIZATION.removeprefix("Basic "))

OLD = 1_780_000_000  # 2026-05-28
NEW = 1_790_000_000  # 2026-09-21
NEWER = 1_795_000_000  # 2026-11-18
DECEMBER_2025 = 1_765_000_000  # 2025-12-06: DB-IP tests run with their clock in early 2026
LAST_MODIFIED = "Fri, 20 Nov 2026 12:00:00 GMT"
LONDINIUM = {"81.2.69.0/24": {**LONDON, "city": {"names": {"en": "Londinium"}}}}


# --- Test data and servers ----------------------------------------------------------------------


def city_bytes(tmp_path: Path, **kwargs) -> bytes:
    """A City database's bytes (built once per distinct arguments in this test)."""
    name = hashlib.sha256(repr(sorted(kwargs.items())).encode()).hexdigest()[:12]
    return build_city_database(tmp_path / "built" / f"{name}.mmdb", **kwargs).read_bytes()


def asn_bytes(tmp_path: Path, **kwargs) -> bytes:
    return build_asn_database(
        tmp_path / "built" / f"asn-{kwargs.get('build_epoch')}.mmdb", **kwargs
    ).read_bytes()


def tar_gz(mmdb: bytes, edition: str, date: str = "20261120", *, include_mmdb: bool = True) -> bytes:
    """An archive laid out as MaxMind's: a dated folder with the licence files and the .mmdb."""
    buffer = io.BytesIO()
    members = [(f"{edition}_{date}/COPYRIGHT.txt", b"Database and Contents Copyright (c) MaxMind, Inc.\n")]
    if include_mmdb:
        members.append((f"{edition}_{date}/{edition}.mmdb", mmdb))
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        folder = tarfile.TarInfo(f"{edition}_{date}")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class FakeMaxMind:
    """MaxMind's download service: basic auth, permalinks redirecting to a storage host, .sha256."""

    def __init__(self, api: LocalHTTPServer, storage: LocalHTTPServer):
        self.api, self.storage = api, storage

    @staticmethod
    def permalink(edition: str, suffix: str = "tar.gz") -> str:
        return f"/geoip/databases/{edition}/download?suffix={suffix}"

    def publish(
        self,
        edition: str,
        mmdb: bytes = b"",
        *,
        archive: bytes | None = None,
        sha256: str | None = None,
        storage_replies: tuple[Reply, ...] = (),
        date: str = "20261120",
    ) -> bytes:
        archive = tar_gz(mmdb, edition, date) if archive is None else archive
        name = f"{edition}_{date}.tar.gz"
        signed = f"/geoip-storage/{name}?X-Amz-Signature=signed-{date}"
        self.api.route(self.permalink(edition), Reply(302, headers={"Location": self.storage.url + signed}))
        published = sha256 or hashlib.sha256(archive).hexdigest()
        self.api.route(
            self.permalink(edition, "tar.gz.sha256"), Reply(200, f"{published}  {name}\n".encode())
        )
        self.storage.route(
            signed, *(storage_replies or (Reply(200, archive, {"Last-Modified": LAST_MODIFIED}),))
        )
        return archive

    def downloads(self) -> int:
        return len(self.storage.seen())


@pytest.fixture
def storage():
    server = LocalHTTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def fake_maxmind(settings, geoip_dir, storage):
    api = LocalHTTPServer(credentials=(ACCOUNT_ID, LICENSE_KEY)).start()
    settings.MAXMIND_ACCOUNT_ID = ACCOUNT_ID
    settings.MAXMIND_LICENSE_KEY = LICENSE_KEY
    settings.MAXMIND_DOWNLOAD_URL = api.url
    settings.MAXMIND_EDITIONS = ["GeoLite2-City"]
    yield FakeMaxMind(api, storage)
    api.stop()


@pytest.fixture
def fake_dbip(settings, geoip_dir):
    server = LocalHTTPServer().start()
    settings.MAXMIND_ACCOUNT_ID = ""
    settings.MAXMIND_LICENSE_KEY = ""
    settings.DBIP_DOWNLOAD_URL = server.url + "/free"
    yield server
    server.stop()


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def update(*args, stdout=None, **options) -> tuple[str, str]:
    """Run the command; (stdout, stderr). CommandError propagates, as it does to manage.py."""
    out, err = stdout or io.StringIO(), io.StringIO()
    call_command("update_maxmind", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def files_in(directory: Path) -> set[str]:
    return {path.name for path in directory.iterdir()}


def no_sleep_client(sleeps: list[float], **kwargs) -> maxmind.HTTPClient:
    return maxmind.HTTPClient(sleep=sleeps.append, timeout=5, **kwargs)


# --- MaxMind ------------------------------------------------------------------------------------


def test_first_install_from_maxmind(fake_maxmind, geoip_dir, tmp_path):
    mmdb = city_bytes(tmp_path, build_epoch=NEW)
    fake_maxmind.publish("GeoLite2-City", mmdb)

    out, _ = update()

    target = geoip_dir / "GeoLite2-City.mmdb"
    assert target.read_bytes() == mmdb
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert "GeoLite2-City: installed the database built on 2026-09-21" in out
    run = UpdateRun.objects.get()
    assert (run.source, run.edition, run.outcome) == ("maxmind", "GeoLite2-City", "updated")
    assert run.build_date == dt.datetime.fromtimestamp(NEW, tz=dt.UTC)
    assert run.checksum == hashlib.sha256(mmdb).hexdigest()
    # Credentials went to the download service, never to the storage host it redirected to.
    assert [seen.headers.get("authorization") for seen in fake_maxmind.api.seen()] == [AUTHORIZATION] * 2
    assert [seen.headers.get("authorization") for seen in fake_maxmind.storage.seen()] == [None]
    assert files_in(geoip_dir) == {
        "GeoLite2-City.mmdb",
        "GeoLite2-City.mmdb.update.json",
        ".update_maxmind.lock",
    }
    assert GeoIPReader(target).info().edition == "GeoLite2-City"


def test_an_unchanged_database_is_not_downloaded_again(fake_maxmind, geoip_dir, tmp_path):
    fake_maxmind.publish("GeoLite2-City", city_bytes(tmp_path, build_epoch=NEW))
    update()
    inode = (geoip_dir / "GeoLite2-City.mmdb").stat().st_ino

    out, _ = update()

    assert "GeoLite2-City: already current (built on 2026-09-21)" in out
    assert fake_maxmind.downloads() == 1  # only the checksum was asked for the second time
    assert (geoip_dir / "GeoLite2-City.mmdb").stat().st_ino == inode
    assert list(UpdateRun.objects.order_by("id").values_list("outcome", flat=True)) == ["updated", "current"]


def test_a_hand_installed_identical_file_is_recognised(fake_maxmind, geoip_dir, tmp_path):
    mmdb = city_bytes(tmp_path, build_epoch=NEW)
    (geoip_dir / "GeoLite2-City.mmdb").write_bytes(mmdb)
    fake_maxmind.publish("GeoLite2-City", mmdb)

    out, _ = update()  # no record of where it came from: downloaded once, found identical

    assert "already current" in out
    assert not (geoip_dir / "GeoLite2-City.mmdb.previous").exists()
    update()
    assert fake_maxmind.downloads() == 1  # now recorded: not downloaded again


def test_a_newer_database_replaces_the_old_one_which_is_kept_and_can_be_rolled_back(
    fake_maxmind, geoip_dir, tmp_path
):
    old, new = (
        city_bytes(tmp_path, build_epoch=NEW),
        city_bytes(tmp_path, build_epoch=NEWER, networks=LONDINIUM),
    )
    target, previous = geoip_dir / "GeoLite2-City.mmdb", geoip_dir / "GeoLite2-City.mmdb.previous"
    fake_maxmind.publish("GeoLite2-City", old, date="20260921")
    update()
    fake_maxmind.publish("GeoLite2-City", new, date="20261118")
    reader = GeoIPReader(target, check_interval=0)
    assert reader.get(__import__("ipaddress").ip_address(LONDON_IP))[0]["city"]["names"]["en"] == "London"

    update()

    assert target.read_bytes() == new
    assert previous.read_bytes() == old
    assert reader.get(__import__("ipaddress").ip_address(LONDON_IP))[0]["city"]["names"]["en"] == "Londinium"

    out, _ = update("--rollback")

    assert target.read_bytes() == old
    assert previous.read_bytes() == new  # a swap: rolling back again undoes the rollback
    assert "put back the previous database (built on 2026-09-21)" in out
    assert reader.get(__import__("ipaddress").ip_address(LONDON_IP))[0]["city"]["names"]["en"] == "London"
    run = UpdateRun.objects.first()
    assert (run.source, run.outcome, run.checksum) == (
        "rollback",
        "rolled_back",
        hashlib.sha256(old).hexdigest(),
    )
    # The records followed their files: the next run knows the installed file is not the published one.
    update()
    assert target.read_bytes() == new
    assert fake_maxmind.downloads() == 3


def test_rollback_without_a_previous_file(geoip_dir, settings):
    settings.MAXMIND_LICENSE_KEY = ""
    with pytest.raises(CommandError) as error:
        update("--rollback")
    assert str(error.value) == maxmind.NO_PREVIOUS_MESSAGE.format(
        path=geoip_dir / "GeoLite2-City.mmdb.previous"
    )
    assert UpdateRun.objects.get().outcome == "failed"


def test_wrong_credentials_end_at_once_with_what_to_fix(fake_maxmind, geoip_dir, tmp_path, settings):
    build_city_database(geoip_dir / "GeoLite2-City.mmdb", build_epoch=OLD)
    before = (geoip_dir / "GeoLite2-City.mmdb").read_bytes()
    fake_maxmind.publish("GeoLite2-City", city_bytes(tmp_path, build_epoch=NEW))
    settings.MAXMIND_LICENSE_KEY = "a-wrong-key-" + LICENSE_KEY[::-1]

    with pytest.raises(CommandError) as error:
        update()

    assert str(error.value) == maxmind.AUTH_FAILED_MESSAGE.format(status=401)
    assert len(fake_maxmind.api.seen()) == 1  # no retry
    assert (geoip_dir / "GeoLite2-City.mmdb").read_bytes() == before
    assert UpdateRun.objects.get().message == maxmind.AUTH_FAILED_MESSAGE.format(status=401)


def test_an_edition_the_account_may_not_download(fake_maxmind, settings):
    settings.MAXMIND_EDITIONS = ["GeoIP2-City"]
    fake_maxmind.api.route(FakeMaxMind.permalink("GeoIP2-City", "tar.gz.sha256"), Reply(403, b"Forbidden"))
    with pytest.raises(CommandError, match="GeoIP2 editions need a subscription"):
        update()
    assert len(fake_maxmind.api.seen()) == 1


def test_an_unknown_edition(fake_maxmind, settings):
    settings.MAXMIND_EDITIONS = ["GeoLite2-Cty"]
    with pytest.raises(CommandError) as error:
        update()
    assert "GeoLite2-Cty is neither a City nor an ASN edition" in str(error.value)
    assert fake_maxmind.api.seen() == []  # refused before asking anyone


def test_an_edition_maxmind_does_not_have(fake_maxmind, settings):
    settings.MAXMIND_EDITIONS = ["GeoIP2-City-Europe"]
    with pytest.raises(CommandError) as error:
        update()
    assert str(error.value) == maxmind.EDITION_NOT_FOUND_MESSAGE.format(edition="GeoIP2-City-Europe")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"MAXMIND_LICENSE_KEY": ""}, maxmind.CREDENTIALS_INCOMPLETE_MESSAGE),
        ({"MAXMIND_DOWNLOAD_URL": "http://download.maxmind.com"}, maxmind.INSECURE_URL_MESSAGE),
        ({"MAXMIND_EDITIONS": ["GeoLite2-City", "GeoIP2-City"]}, "names two city editions"),
    ],
)
def test_settings_that_cannot_work_are_explained(fake_maxmind, settings, changes, message):
    for name, value in changes.items():
        setattr(settings, name, value)
    with pytest.raises(CommandError) as error:
        update()
    assert message in str(error.value)
    assert fake_maxmind.api.seen() == []


def test_a_checksum_mismatch_is_refused(fake_maxmind, geoip_dir, tmp_path):
    build_city_database(geoip_dir / "GeoLite2-City.mmdb", build_epoch=OLD)
    before = (geoip_dir / "GeoLite2-City.mmdb").read_bytes()
    archive = fake_maxmind.publish("GeoLite2-City", city_bytes(tmp_path, build_epoch=NEW), sha256="ab" * 32)

    with pytest.raises(CommandError) as error:
        update()

    actual = hashlib.sha256(archive).hexdigest()
    assert str(error.value) == maxmind.CHECKSUM_MISMATCH_MESSAGE.format(
        name="GeoLite2-City", expected="ab" * 32, actual=actual
    )
    assert (geoip_dir / "GeoLite2-City.mmdb").read_bytes() == before
    assert files_in(geoip_dir) == {"GeoLite2-City.mmdb", ".update_maxmind.lock"}  # no temporary left


def test_a_truncated_body_is_retried(fake_maxmind, geoip_dir, tmp_path):
    mmdb = city_bytes(tmp_path, build_epoch=NEW)
    archive = tar_gz(mmdb, "GeoLite2-City")
    fake_maxmind.publish(
        "GeoLite2-City",
        archive=archive,
        storage_replies=(Reply(200, archive, cut_after=100), Reply(200, archive)),
    )
    sleeps: list[float] = []

    [outcome] = maxmind.run_updates(client=no_sleep_client(sleeps))

    assert outcome.outcome == "updated"
    assert sleeps == [maxmind.BACKOFF]
    assert (geoip_dir / "GeoLite2-City.mmdb").read_bytes() == mmdb


def test_a_body_always_truncated_fails_after_bounded_attempts(fake_maxmind, geoip_dir, tmp_path):
    archive = tar_gz(city_bytes(tmp_path, build_epoch=NEW), "GeoLite2-City")
    fake_maxmind.publish(
        "GeoLite2-City", archive=archive, storage_replies=(Reply(200, archive, cut_after=100),)
    )
    sleeps: list[float] = []

    [outcome] = maxmind.run_updates(client=no_sleep_client(sleeps))

    assert outcome.failed
    assert f"stopped after 100 of {len(archive)} bytes" in outcome.message
    assert fake_maxmind.downloads() == maxmind.ATTEMPTS
    assert not (geoip_dir / "GeoLite2-City.mmdb").exists()


def test_server_errors_are_retried_with_exponential_backoff(fake_maxmind, geoip_dir, tmp_path):
    archive = tar_gz(city_bytes(tmp_path, build_epoch=NEW), "GeoLite2-City")
    fake_maxmind.publish(
        "GeoLite2-City",
        archive=archive,
        storage_replies=(Reply(503), Reply(502), Reply(200, archive)),
    )
    sleeps: list[float] = []

    [outcome] = maxmind.run_updates(client=no_sleep_client(sleeps))

    assert outcome.outcome == "updated"
    assert sleeps == [2.0, 4.0]
    assert fake_maxmind.downloads() == 3


def test_server_errors_give_up_after_bounded_attempts(fake_maxmind, geoip_dir, tmp_path):
    build_city_database(geoip_dir / "GeoLite2-City.mmdb", build_epoch=OLD)
    before = (geoip_dir / "GeoLite2-City.mmdb").read_bytes()
    fake_maxmind.publish("GeoLite2-City", storage_replies=(Reply(500),))
    sleeps: list[float] = []

    [outcome] = maxmind.run_updates(client=no_sleep_client(sleeps))

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

    [outcome] = maxmind.run_updates(client=no_sleep_client(sleeps))

    assert outcome.outcome == "updated"
    assert sleeps == [7.0]  # more than the backoff's 2 seconds: the server's wish wins


def test_retry_after_as_a_date_and_too_long_a_wait(fake_maxmind, geoip_dir):
    now = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
    assert maxmind.parse_retry_after("Fri, 20 Nov 2026 12:00:30 GMT", now=now) == 30.0
    fake_maxmind.publish("GeoLite2-City", storage_replies=(Reply(429, headers={"Retry-After": "3600"}),))
    sleeps: list[float] = []

    [outcome] = maxmind.run_updates(client=no_sleep_client(sleeps))

    assert outcome.failed
    assert "asks us to come back in 3600 seconds" in outcome.message
    assert sleeps == []
    assert fake_maxmind.downloads() == 1


def test_other_client_errors_are_not_retried(fake_maxmind, geoip_dir):
    fake_maxmind.publish("GeoLite2-City", storage_replies=(Reply(400),))
    sleeps: list[float] = []
    [outcome] = maxmind.run_updates(client=no_sleep_client(sleeps))
    assert outcome.failed
    assert "answered HTTP 400 Bad Request" in outcome.message
    assert sleeps == []


def test_a_corrupt_archive_is_refused(fake_maxmind, geoip_dir, tmp_path):
    build_city_database(geoip_dir / "GeoLite2-City.mmdb", build_epoch=OLD)
    archive = tar_gz(city_bytes(tmp_path, build_epoch=NEW), "GeoLite2-City")
    middle = len(archive) // 2
    corrupt = (
        archive[:middle]
        + bytes(byte ^ 0xFF for byte in archive[middle : middle + 64])
        + archive[middle + 64 :]
    )
    # The published checksum matches: the archive was damaged before it was published.
    fake_maxmind.publish("GeoLite2-City", archive=corrupt)

    with pytest.raises(
        CommandError, match=r"GeoLite2-City is not a readable \.mmdb, \.mmdb\.gz or \.tar\.gz file"
    ):
        update()

    assert GeoIPReader(geoip_dir / "GeoLite2-City.mmdb").info().build_date.year == 2026
    assert files_in(geoip_dir) == {"GeoLite2-City.mmdb", ".update_maxmind.lock"}


def test_an_archive_without_a_database(fake_maxmind, tmp_path):
    fake_maxmind.publish("GeoLite2-City", archive=tar_gz(b"", "GeoLite2-City", include_mmdb=False))
    with pytest.raises(CommandError) as error:
        update()
    assert str(error.value) == maxmind.NO_MMDB_IN_ARCHIVE_MESSAGE.format(name="GeoLite2-City")


def test_a_database_of_the_wrong_kind_is_refused_and_the_old_one_keeps_serving(
    fake_maxmind, geoip_dir, tmp_path, client
):
    build_city_database(geoip_dir / "GeoLite2-City.mmdb", build_epoch=OLD)
    fake_maxmind.publish("GeoLite2-City", asn_bytes(tmp_path, build_epoch=NEW))

    with pytest.raises(CommandError) as error:
        update()

    assert str(error.value) == maxmind.WRONG_KIND_MESSAGE.format(
        name="GeoLite2-City", edition="GeoLite2-ASN", kind_name="a City database"
    )
    assert client.get(f"/api/v1/lookup/{LONDON_IP}").json()["city"]["name"] == "London"
    assert not (geoip_dir / "GeoLite2-ASN.mmdb").exists()


def test_a_file_that_is_not_a_database_is_refused(fake_maxmind, geoip_dir):
    fake_maxmind.publish("GeoLite2-City", b"this is not a MaxMind DB file at all" * 100)
    with pytest.raises(CommandError, match="GeoLite2-City is not a MaxMind DB file"):
        update()
    assert not (geoip_dir / "GeoLite2-City.mmdb").exists()


def test_implausible_metadata_is_refused(fake_maxmind, tmp_path):
    in_the_future = int(time.time()) + 10 * 86400
    fake_maxmind.publish("GeoLite2-City", city_bytes(tmp_path, build_epoch=in_the_future))
    with pytest.raises(CommandError, match="GeoLite2-City has implausible metadata: build date"):
        update()


def test_an_older_database_is_refused_unless_forced(fake_maxmind, geoip_dir, tmp_path):
    installed = build_city_database(geoip_dir / "GeoLite2-City.mmdb", build_epoch=NEW).read_bytes()
    older = city_bytes(tmp_path, build_epoch=OLD)
    fake_maxmind.publish("GeoLite2-City", older)

    with pytest.raises(CommandError) as error:
        update()

    assert "was built on 2026-05-28" in str(error.value)
    assert "use --force to install it anyway" in str(error.value)
    assert (geoip_dir / "GeoLite2-City.mmdb").read_bytes() == installed

    update("--force")
    assert (geoip_dir / "GeoLite2-City.mmdb").read_bytes() == older


def test_city_and_asn_editions_each_go_where_the_service_reads_them(
    fake_maxmind, geoip_dir, tmp_path, settings, client
):
    settings.MAXMIND_EDITIONS = ["GeoLite2-City", "GeoLite2-ASN"]
    fake_maxmind.publish("GeoLite2-City", city_bytes(tmp_path, build_epoch=NEW))
    fake_maxmind.publish("GeoLite2-ASN", asn_bytes(tmp_path, build_epoch=NEW))

    update()

    assert (geoip_dir / "GeoLite2-ASN.mmdb").exists()
    body = client.get(f"/api/v1/lookup/{LONDON_IP}").json()
    assert body["traits"] == {
        "autonomous_system_number": 20712,
        "autonomous_system_organization": "Andrews & Arnold Ltd",
    }
    assert body["database"]["attribution"] == GEOLITE_ATTRIBUTION
    health = client.get("/health").json()
    assert health["asn_database"]["edition"] == "GeoLite2-ASN"
    assert sorted(UpdateRun.objects.values_list("edition", flat=True)) == ["GeoLite2-ASN", "GeoLite2-City"]


def test_one_edition_failing_does_not_stop_the_other(fake_maxmind, geoip_dir, tmp_path, settings):
    settings.MAXMIND_EDITIONS = ["GeoLite2-City", "GeoLite2-ASN"]
    fake_maxmind.publish("GeoLite2-City", city_bytes(tmp_path, build_epoch=NEW))
    fake_maxmind.publish("GeoLite2-ASN", city_bytes(tmp_path, build_epoch=NEW))  # the wrong kind

    with pytest.raises(CommandError, match="is a GeoLite2-City database, not an ASN database"):
        update()

    assert (geoip_dir / "GeoLite2-City.mmdb").exists()
    assert not (geoip_dir / "GeoLite2-ASN.mmdb").exists()
    assert dict(UpdateRun.objects.values_list("edition", "outcome")) == {
        "GeoLite2-City": "updated",
        "GeoLite2-ASN": "failed",
    }


def test_lookups_without_an_asn_record_have_null_traits(geoip_dir, client):
    build_city_database(geoip_dir / "GeoLite2-City.mmdb")
    build_asn_database(
        geoip_dir / "GeoLite2-ASN.mmdb", networks={"8.8.8.0/24": {"autonomous_system_number": 1}}
    )
    body = client.get(f"/api/v1/lookup/{LONDON_IP}").json()
    assert body["traits"] == {"autonomous_system_number": None, "autonomous_system_organization": None}


# --- DB-IP, --url and --file --------------------------------------------------------------------


def test_dbip_lite_without_an_account_falls_back_to_last_month(fake_dbip, geoip_dir, tmp_path):
    mmdb = city_bytes(tmp_path, edition="DBIP-City-Lite", build_epoch=DECEMBER_2025)
    fake_dbip.route("/free/dbip-city-lite-2025-12.mmdb.gz", Reply(200, gzip.compress(mmdb)))
    new_year = dt.datetime(2026, 1, 2, 8, 0, tzinfo=dt.UTC)

    [outcome] = maxmind.run_updates(now=lambda: new_year)

    assert outcome.outcome == "updated"
    assert (geoip_dir / "GeoLite2-City.mmdb").read_bytes() == mmdb  # GEOIP_CITY, whatever the source
    assert [seen.target for seen in fake_dbip.seen()] == [
        "/free/dbip-city-lite-2026-01.mmdb.gz",
        "/free/dbip-city-lite-2025-12.mmdb.gz",
    ]
    assert UpdateRun.objects.get().source == "dbip"


def test_dbip_this_month_and_the_attribution_it_needs(fake_dbip, geoip_dir, tmp_path, client):
    mmdb = city_bytes(tmp_path, edition="DBIP-City-Lite", build_epoch=DECEMBER_2025)
    month = dt.datetime.now(dt.UTC)  # the command's own clock
    fake_dbip.route(f"/free/dbip-city-lite-{month:%Y-%m}.mmdb.gz", Reply(200, gzip.compress(mmdb)))

    update()

    body = client.get(f"/api/v1/lookup/{LONDON_IP}").json()
    assert body["database"] == {
        "edition": "DBIP-City-Lite",
        "build_date": dt.datetime.fromtimestamp(DECEMBER_2025, tz=dt.UTC).isoformat(),
        "attribution": DBIP_ATTRIBUTION,
    }
    assert DBIP_ATTRIBUTION in client.get("/").content.decode()


def test_dbip_not_modified_is_not_downloaded_again(fake_dbip, geoip_dir, tmp_path):
    mmdb = gzip.compress(city_bytes(tmp_path, edition="DBIP-City-Lite", build_epoch=DECEMBER_2025))

    def conditional(seen):
        if seen.headers.get("if-modified-since") == LAST_MODIFIED:
            return Reply(304)
        return Reply(200, mmdb, {"Last-Modified": LAST_MODIFIED})

    fake_dbip.route("/free/dbip-city-lite-2026-03.mmdb.gz", conditional)
    march = dt.datetime(2026, 3, 9, tzinfo=dt.UTC)
    maxmind.run_updates(now=lambda: march)
    inode = (geoip_dir / "GeoLite2-City.mmdb").stat().st_ino

    [outcome] = maxmind.run_updates(now=lambda: march)

    assert outcome.outcome == "current"
    assert outcome.message == maxmind.NOT_MODIFIED_MESSAGE.format(
        edition="DBIP-City-Lite",
        url=fake_dbip.url + "/free/dbip-city-lite-2026-03.mmdb.gz",
        since=LAST_MODIFIED,
    )
    assert fake_dbip.seen()[-1].headers["if-modified-since"] == LAST_MODIFIED
    assert (geoip_dir / "GeoLite2-City.mmdb").stat().st_ino == inode


def test_dbip_with_neither_month_out(fake_dbip, geoip_dir):
    march = dt.datetime(2026, 3, 9, tzinfo=dt.UTC)
    [outcome] = maxmind.run_updates(now=lambda: march)
    assert outcome.message == maxmind.DBIP_NOT_FOUND_MESSAGE.format(
        months="2026-03 or 2026-02", base=fake_dbip.url + "/free"
    )


def test_an_unreachable_server_is_retried_then_reported(settings, geoip_dir):
    settings.MAXMIND_LICENSE_KEY = ""
    settings.MAXMIND_ACCOUNT_ID = ""
    server = LocalHTTPServer().start()
    settings.DBIP_DOWNLOAD_URL = server.url  # nobody listens there once stopped
    server.stop()
    sleeps: list[float] = []

    [outcome] = maxmind.run_updates(client=no_sleep_client(sleeps))

    assert outcome.failed
    assert "Connection refused" in outcome.message
    assert sleeps == [2.0, 4.0, 8.0]


@pytest.mark.parametrize("packing", ["mmdb", "mmdb.gz", "tar.gz"])
def test_install_from_a_local_file(geoip_dir, tmp_path, packing):
    mmdb = city_bytes(tmp_path, build_epoch=NEW)
    packed = {"mmdb": mmdb, "mmdb.gz": gzip.compress(mmdb), "tar.gz": tar_gz(mmdb, "GeoLite2-City")}[packing]
    source = tmp_path / f"download.{packing}"
    source.write_bytes(packed)

    update("--file", str(source))

    assert (geoip_dir / "GeoLite2-City.mmdb").read_bytes() == mmdb
    assert UpdateRun.objects.get().source == "file"
    assert source.read_bytes() == packed  # the source is left alone


def test_a_local_asn_file_goes_to_geoip_asn(geoip_dir, tmp_path, client):
    build_city_database(geoip_dir / "GeoLite2-City.mmdb")
    source = build_asn_database(tmp_path / "asn.mmdb", build_epoch=NEW)

    update("--file", str(source))

    assert (geoip_dir / "GeoLite2-ASN.mmdb").read_bytes() == source.read_bytes()
    assert client.get(f"/api/v1/lookup/{LONDON_IP}").json()["traits"]["autonomous_system_number"] == 20712


def test_a_missing_local_file(geoip_dir, tmp_path):
    with pytest.raises(CommandError) as error:
        update("--file", str(tmp_path / "nowhere.mmdb"))
    assert str(error.value) == maxmind.FILE_NOT_FOUND_MESSAGE.format(path=tmp_path / "nowhere.mmdb")


def test_install_from_a_url_then_not_again_when_not_modified(storage, geoip_dir, tmp_path):
    mmdb = city_bytes(tmp_path, build_epoch=NEW)

    def conditional(seen):
        if seen.headers.get("if-modified-since") == LAST_MODIFIED:
            return Reply(304)
        return Reply(200, gzip.compress(mmdb), {"Last-Modified": LAST_MODIFIED})

    storage.route("/mirror/city.mmdb.gz?token=s3cr3t", conditional)
    url = storage.url + "/mirror/city.mmdb.gz?token=s3cr3t"

    out, _ = update("--url", url)
    assert (geoip_dir / "GeoLite2-City.mmdb").read_bytes() == mmdb
    out, _ = update("--url", url)

    assert "has not changed since" in out
    assert "s3cr3t" not in out  # a URL's query (often a token) is not repeated in messages
    assert list(UpdateRun.objects.order_by("id").values_list("source", "outcome")) == [
        ("url", "updated"),
        ("url", "current"),
    ]


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
    assert str(error.value) == maxmind.UNSUPPORTED_URL_MESSAGE.format(url="file:///etc/passwd")


# --- Safety: the lock, leftovers, dry runs ------------------------------------------------------


def test_a_second_run_waits_for_no_one_and_changes_nothing(fake_maxmind, geoip_dir, tmp_path):
    fake_maxmind.publish("GeoLite2-City", city_bytes(tmp_path, build_epoch=NEW))
    with open(geoip_dir / ".update_maxmind.lock", "a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running update holds it
        with pytest.raises(CommandError) as error:
            update()
    assert str(error.value) == maxmind.LOCKED_MESSAGE.format(path=geoip_dir / ".update_maxmind.lock")
    assert fake_maxmind.api.seen() == []
    assert not (geoip_dir / "GeoLite2-City.mmdb").exists()
    update()  # the lock released, the next run proceeds
    assert (geoip_dir / "GeoLite2-City.mmdb").exists()


def test_leftovers_of_a_killed_run_are_removed(fake_maxmind, geoip_dir, tmp_path):
    (geoip_dir / ".update-abc123.download").write_bytes(b"half an archive")
    (geoip_dir / "notes.txt").write_text("not ours")
    fake_maxmind.publish("GeoLite2-City", city_bytes(tmp_path, build_epoch=NEW))
    update()
    assert files_in(geoip_dir) == {
        "GeoLite2-City.mmdb",
        "GeoLite2-City.mmdb.update.json",
        ".update_maxmind.lock",
        "notes.txt",
    }


def test_a_dry_run_downloads_and_changes_nothing(fake_maxmind, geoip_dir, tmp_path):
    fake_maxmind.publish("GeoLite2-City", city_bytes(tmp_path, build_epoch=NEW))

    out, _ = update("--dry-run")

    assert "GeoLite2-City: would download" in out
    assert [seen.target for seen in fake_maxmind.api.seen()] == [
        FakeMaxMind.permalink("GeoLite2-City", "tar.gz.sha256")
    ]
    assert fake_maxmind.downloads() == 0
    assert not (geoip_dir / "GeoLite2-City.mmdb").exists()
    assert not UpdateRun.objects.exists()


def test_a_dry_run_of_dbip_asks_with_head(fake_dbip, geoip_dir, tmp_path):
    mmdb = gzip.compress(city_bytes(tmp_path, edition="DBIP-City-Lite", build_epoch=DECEMBER_2025))
    fake_dbip.route("/free/dbip-city-lite-2026-03.mmdb.gz", Reply(200, mmdb))
    march = dt.datetime(2026, 3, 9, tzinfo=dt.UTC)

    [outcome] = maxmind.run_updates(dry_run=True, now=lambda: march)

    assert outcome.dry_run
    assert [seen.method for seen in fake_dbip.seen()] == ["HEAD"]
    assert not (geoip_dir / "GeoLite2-City.mmdb").exists()


def test_a_dry_run_of_a_file_checks_it(geoip_dir, tmp_path):
    installed = build_city_database(geoip_dir / "GeoLite2-City.mmdb", build_epoch=NEW).read_bytes()
    older = build_city_database(tmp_path / "older.mmdb", build_epoch=OLD)
    with pytest.raises(CommandError, match="use --force"):
        update("--file", str(older), "--dry-run")
    out, _ = update("--file", str(older), "--dry-run", "--force")
    assert "would install the database built on 2026-05-28" in out
    assert (geoip_dir / "GeoLite2-City.mmdb").read_bytes() == installed


# --- Output, exit status, secrets ---------------------------------------------------------------


def test_a_progress_bar_on_a_terminal_and_nothing_at_verbosity_0(fake_maxmind, geoip_dir, tmp_path):
    fake_maxmind.publish("GeoLite2-City", city_bytes(tmp_path, build_epoch=NEW))
    terminal = FakeTTY()
    update(stdout=terminal)
    assert "100%" in terminal.getvalue()
    assert "\r[" in terminal.getvalue()

    fake_maxmind.publish("GeoLite2-City", city_bytes(tmp_path, build_epoch=NEWER), date="20261118")
    quiet = FakeTTY()
    update(stdout=quiet, verbosity=0)
    assert quiet.getvalue() == ""
    assert GeoIPReader(geoip_dir / "GeoLite2-City.mmdb").info().build_date.day == 18


def test_no_progress_bar_when_not_a_terminal(fake_maxmind, tmp_path):
    fake_maxmind.publish("GeoLite2-City", city_bytes(tmp_path, build_epoch=NEW))
    out, _ = update()
    assert "%" not in out
    assert out.count("\n") == 1


def test_the_licence_key_never_appears(fake_maxmind, geoip_dir, tmp_path, settings, caplog):
    caplog.set_level(logging.DEBUG)
    seen_text: list[str] = []
    # A server that puts the key in its reason phrase: our messages still never show it.
    fake_maxmind.publish("GeoLite2-City", storage_replies=(Reply(500, reason=f"oops {LICENSE_KEY}"),))
    sleeps: list[float] = []
    report: list[str] = []
    [outcome] = maxmind.run_updates(
        client=no_sleep_client(sleeps), report=lambda text, level=2: report.append(text)
    )
    seen_text += [outcome.message, *report]
    assert outcome.failed

    fake_maxmind.publish("GeoLite2-City", city_bytes(tmp_path, build_epoch=NEW))
    out, err = update(verbosity=3)
    seen_text += [out, err]

    fake_maxmind.publish("GeoLite2-City", city_bytes(tmp_path, build_epoch=NEWER), date="20261118")
    settings.MAXMIND_LICENSE_KEY = LICENSE_KEY + "-revoked"
    with pytest.raises(CommandError) as error:
        update(verbosity=3)
    seen_text.append(str(error.value))
    settings.MAXMIND_LICENSE_KEY = LICENSE_KEY

    seen_text += [caplog.text, *UpdateRun.objects.values_list("message", flat=True)]
    seen_text += [path.read_text(errors="replace") for path in geoip_dir.glob("*.json")]
    assert len(UpdateRun.objects.all()) == 3
    for text in seen_text:
        for secret in SECRETS:
            assert secret not in text
    assert "[redacted]" in outcome.message  # the key was there, and was taken out


@pytest.mark.django_db(transaction=True)  # the command's own process writes UpdateRun rows
def test_exit_status_and_stderr_of_the_real_command(fake_maxmind, geoip_dir, tmp_path, settings):
    """As cron sees it: manage.py in its own process, status 0 and silence at -v0, 1 and a reason."""
    fake_maxmind.publish("GeoLite2-City", city_bytes(tmp_path, build_epoch=NEW))
    database = django_settings.DATABASES["default"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_SECRET_KEY": "exit-status-test-key-not-for-production",
        "DATABASE_URL": f"postgis://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "GEOIP_PATH": str(geoip_dir),
        "MAXMIND_ACCOUNT_ID": ACCOUNT_ID,
        "MAXMIND_LICENSE_KEY": LICENSE_KEY,
        "MAXMIND_DOWNLOAD_URL": settings.MAXMIND_DOWNLOAD_URL,
    }
    command = [sys.executable, "manage.py", "update_maxmind"]

    done = subprocess.run(
        [*command, "-v0"], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    again = subprocess.run(command, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0
    assert "already current" in again.stdout

    env["MAXMIND_LICENSE_KEY"] = "not-the-key"
    failed = subprocess.run(
        [*command, "-v0"], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert failed.returncode == 1
    assert failed.stdout == ""
    assert maxmind.AUTH_FAILED_MESSAGE.format(status=401) in failed.stderr
    assert "not-the-key" not in failed.stderr


# --- /health, the admin -------------------------------------------------------------------------


def test_health_warns_about_an_old_database(geoip_dir, client, settings):
    settings.GEOIP_MAX_AGE_DAYS = 30
    build_city_database(geoip_dir / "GeoLite2-City.mmdb", build_epoch=int(time.time()) - 40 * 86400)

    response = client.get("/health")

    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert body["status"] == "warning"
    assert body["database"]["age_days"] == 40
    # The reason is among the warnings, with a command that works as typed.
    [warning] = body["warnings"]
    assert "GeoLite2-City database is 40 days old" in warning
    assert "Update it with bin/manage update_maxmind;" in warning
    settings.GEOIP_MAX_AGE_DAYS = 45
    assert client.get("/health").json()["status"] == "ok"


def test_update_runs_in_the_admin_are_read_only(admin_client, fake_maxmind, tmp_path):
    fake_maxmind.publish("GeoLite2-City", city_bytes(tmp_path, build_epoch=NEW))
    update()
    run = UpdateRun.objects.get()
    listing = admin_client.get("/admin/lookups/updaterun/")
    assert listing.status_code == HTTPStatus.OK
    assert "GeoLite2-City" in listing.content.decode()
    assert admin_client.get("/admin/lookups/updaterun/add/").status_code == HTTPStatus.FORBIDDEN
    detail = admin_client.get(f"/admin/lookups/updaterun/{run.pk}/change/")
    assert detail.status_code == HTTPStatus.OK
    assert run.checksum in detail.content.decode()
    assert 'name="_save"' not in detail.content.decode()


# --- A live gunicorn during the swap ------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_gunicorn_answers_from_the_new_database_with_no_failed_request(
    fake_maxmind, geoip_dir, tmp_path, dns_server, collected_static
):
    fake_maxmind.publish("GeoLite2-City", city_bytes(tmp_path, build_epoch=NEW), date="20260921")
    update()
    env = live_environment(geoip_dir=geoip_dir, dns_server=dns_server, static_root=collected_static)
    with run_gunicorn(env=env, tmp_path=tmp_path, workers=2) as server:

        def city() -> str:
            return json.loads(server.get(f"/api/v1/lookup/{LONDON_IP}")[2])["city"]["name"]

        assert city() == "London"
        statuses: list[int] = []
        stop = threading.Event()

        def hammer():
            while not stop.is_set():
                statuses.append(server.get(f"/api/v1/lookup/{LONDON_IP}")[0])

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(0.3)
            fake_maxmind.publish(
                "GeoLite2-City", city_bytes(tmp_path, build_epoch=NEWER, networks=LONDINIUM), date="20261118"
            )
            update()
            time.sleep(0.3)
            after_update = {city() for _ in range(10)}  # enough to reach both workers
            update("--rollback")
            time.sleep(0.3)
            after_rollback = {city() for _ in range(10)}
        finally:
            stop.set()
            for thread in threads:
                thread.join()

        assert [status for status in statuses if status != HTTPStatus.OK] == []
        assert len(statuses) > 20
        assert after_update == {"Londinium"}
        assert after_rollback == {"London"}
        assert json.loads(server.get("/health")[2])["database"]["build_date"].startswith("2026-09-21")
        print(f"\n{len(statuses)} requests during update and rollback, 0 failed")
