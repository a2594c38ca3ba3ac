"""lookups.updater.sources and run: MaxMind, DB-IP, --url and --file, against local servers that
speak their protocols."""

import datetime as dt
import gzip
import hashlib

import pytest
from django.core.management.base import CommandError

from lookups.core.geoip import DBIP_ATTRIBUTION, GEOLITE_ATTRIBUTION, GeoIPReader
from lookups.models import UpdateRun
from lookups.tests.download_server import DBIP_ASN_LITE, DBIP_CITY_LITE, Reply, dbip_target
from lookups.tests.geoip_data import LONDON_IP, build_asn_database, build_city_database
from lookups.tests.updater.fakes import (
    AUTHORIZATION,
    DECEMBER_2025,
    LAST_MODIFIED,
    LICENSE_KEY,
    NEW,
    OLD,
    FakeMaxMind,
    asn_bytes,
    city_bytes,
    files_in,
    tar_gz,
    update,
)
from lookups.updater import database_update, run, sources

# How DB-IP's ASN Lite names itself in its metadata.
DBIP_ASN_EDITION = "DBIP-ASN-Lite (compat=GeoLite2-ASN)"

pytestmark = pytest.mark.django_db


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


def test_wrong_credentials_end_at_once_with_what_to_fix(fake_maxmind, geoip_dir, tmp_path, settings):
    build_city_database(geoip_dir / "GeoLite2-City.mmdb", build_epoch=OLD)
    before = (geoip_dir / "GeoLite2-City.mmdb").read_bytes()
    fake_maxmind.publish("GeoLite2-City", city_bytes(tmp_path, build_epoch=NEW))
    settings.MAXMIND_LICENSE_KEY = "a-wrong-key-" + LICENSE_KEY[::-1]

    with pytest.raises(CommandError) as error:
        update()

    assert str(error.value) == database_update.AUTH_FAILED_MESSAGE.format(status=401)
    assert len(fake_maxmind.api.seen()) == 1  # no retry
    assert (geoip_dir / "GeoLite2-City.mmdb").read_bytes() == before
    assert UpdateRun.objects.get().message == database_update.AUTH_FAILED_MESSAGE.format(status=401)


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
    assert str(error.value) == database_update.EDITION_NOT_FOUND_MESSAGE.format(edition="GeoIP2-City-Europe")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"MAXMIND_LICENSE_KEY": ""}, sources.CREDENTIALS_INCOMPLETE_MESSAGE),
        ({"MAXMIND_DOWNLOAD_URL": "http://download.maxmind.com"}, sources.INSECURE_URL_MESSAGE),
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


def test_dbip_lite_without_an_account_falls_back_to_last_month(fake_dbip, geoip_dir, tmp_path):
    mmdb = city_bytes(tmp_path, edition="DBIP-City-Lite", build_epoch=DECEMBER_2025)
    asn = asn_bytes(tmp_path, edition=DBIP_ASN_EDITION, build_epoch=DECEMBER_2025)
    fake_dbip.publish_dbip(DBIP_CITY_LITE, "2025-12", Reply(200, gzip.compress(mmdb)))
    fake_dbip.publish_dbip(DBIP_ASN_LITE, "2025-12", Reply(200, gzip.compress(asn)))
    new_year = dt.datetime(2026, 1, 2, 8, 0, tzinfo=dt.UTC)

    city, asn_outcome = run.run_updates(now=lambda: new_year)

    assert (city.outcome, asn_outcome.outcome) == ("updated", "updated")
    assert (geoip_dir / "GeoLite2-City.mmdb").read_bytes() == mmdb  # GEOIP_CITY, whatever the source
    assert (geoip_dir / "GeoLite2-ASN.mmdb").read_bytes() == asn  # GEOIP_ASN, likewise
    assert [seen.target for seen in fake_dbip.seen()] == [
        "/free/dbip-city-lite-2026-01.mmdb.gz",
        "/free/dbip-city-lite-2025-12.mmdb.gz",
        "/free/dbip-asn-lite-2026-01.mmdb.gz",
        "/free/dbip-asn-lite-2025-12.mmdb.gz",
    ]
    assert set(UpdateRun.objects.values_list("source", "edition")) == {
        ("dbip", "DBIP-City-Lite"),
        ("dbip", DBIP_ASN_EDITION),
    }


def test_dbip_this_month_and_the_attribution_it_needs(fake_dbip, geoip_dir, tmp_path, client):
    mmdb = city_bytes(tmp_path, edition="DBIP-City-Lite", build_epoch=DECEMBER_2025)
    asn = asn_bytes(tmp_path, edition=DBIP_ASN_EDITION, build_epoch=DECEMBER_2025)
    month = f"{dt.datetime.now(dt.UTC):%Y-%m}"  # the command's own clock
    fake_dbip.publish_dbip(DBIP_CITY_LITE, month, Reply(200, gzip.compress(mmdb)))
    fake_dbip.publish_dbip(DBIP_ASN_LITE, month, Reply(200, gzip.compress(asn)))

    update()

    body = client.get(f"/api/v1/lookup/{LONDON_IP}").json()
    assert body["database"] == {
        "edition": "DBIP-City-Lite",
        "build_date": dt.datetime.fromtimestamp(DECEMBER_2025, tz=dt.UTC).isoformat(),
        "attribution": DBIP_ATTRIBUTION,
    }
    # A keyless install answers the AS too, with no set-up beyond the command.
    assert body["traits"] == {
        "autonomous_system_number": 20712,
        "autonomous_system_organization": "Andrews & Arnold Ltd",
    }
    assert DBIP_ATTRIBUTION in client.get("/").content.decode()


def test_dbip_not_modified_is_not_downloaded_again(fake_dbip, geoip_dir, tmp_path):
    mmdb = gzip.compress(city_bytes(tmp_path, edition="DBIP-City-Lite", build_epoch=DECEMBER_2025))

    def conditional(seen):
        if seen.headers.get("if-modified-since") == LAST_MODIFIED:
            return Reply(304)
        return Reply(200, mmdb, {"Last-Modified": LAST_MODIFIED})

    fake_dbip.publish_dbip(DBIP_CITY_LITE, "2026-03", conditional)
    march = dt.datetime(2026, 3, 9, tzinfo=dt.UTC)
    run.run_updates(now=lambda: march)
    inode = (geoip_dir / "GeoLite2-City.mmdb").stat().st_ino

    outcome, _ = run.run_updates(now=lambda: march)  # and the ASN Lite one, not published here

    assert outcome.outcome == "current"
    assert outcome.message == database_update.NOT_MODIFIED_MESSAGE.format(
        edition="DBIP-City-Lite",
        url=fake_dbip.url + "/free/dbip-city-lite-2026-03.mmdb.gz",
        since=LAST_MODIFIED,
    )
    city_requests = fake_dbip.seen(dbip_target(DBIP_CITY_LITE, "2026-03"))
    assert city_requests[-1].headers["if-modified-since"] == LAST_MODIFIED
    assert (geoip_dir / "GeoLite2-City.mmdb").stat().st_ino == inode


def test_dbip_with_neither_month_out(fake_dbip, geoip_dir):
    march = dt.datetime(2026, 3, 9, tzinfo=dt.UTC)
    outcomes = run.run_updates(now=lambda: march)
    assert [outcome.message for outcome in outcomes] == [
        database_update.DBIP_NOT_FOUND_MESSAGE.format(
            label=label, months="2026-03 or 2026-02", base=fake_dbip.url + "/free"
        )
        for label in ("DB-IP City Lite", "DB-IP ASN Lite")
    ]


def test_dbip_asn_lite_missing_leaves_the_city_installed(fake_dbip, geoip_dir, tmp_path):
    mmdb = city_bytes(tmp_path, edition="DBIP-City-Lite", build_epoch=DECEMBER_2025)
    fake_dbip.publish_dbip(DBIP_CITY_LITE, "2026-03", Reply(200, gzip.compress(mmdb)))
    march = dt.datetime(2026, 3, 9, tzinfo=dt.UTC)

    city, asn = run.run_updates(now=lambda: march)

    assert city.outcome == "updated"
    assert asn.failed
    assert (geoip_dir / "GeoLite2-City.mmdb").read_bytes() == mmdb
    assert not (geoip_dir / "GeoLite2-ASN.mmdb").exists()


def test_dbip_asn_lite_that_is_a_city_database_is_refused(fake_dbip, geoip_dir, tmp_path):
    wrong = city_bytes(tmp_path, edition="DBIP-City-Lite", build_epoch=DECEMBER_2025)
    fake_dbip.publish_dbip(DBIP_ASN_LITE, "2026-03", Reply(200, gzip.compress(wrong)))
    march = dt.datetime(2026, 3, 9, tzinfo=dt.UTC)

    _, asn = run.run_updates(now=lambda: march)

    assert asn.failed
    assert "is a DBIP-City-Lite database, not an ASN database" in asn.message
    assert not (geoip_dir / "GeoLite2-ASN.mmdb").exists()


def test_maxmind_installs_geolite2_asn_by_default(settings):
    from config import settings as project_settings

    settings.MAXMIND_ACCOUNT_ID, settings.MAXMIND_LICENSE_KEY = "1", "key"
    settings.MAXMIND_EDITIONS = project_settings.MAXMIND_EDITIONS  # the default, not a test's
    jobs = sources.plan(now=dt.datetime(2026, 3, 9, tzinfo=dt.UTC))
    assert [(job.label, job.kind) for job in jobs] == [("GeoLite2-City", "city"), ("GeoLite2-ASN", "asn")]


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
    assert str(error.value) == database_update.FILE_NOT_FOUND_MESSAGE.format(path=tmp_path / "nowhere.mmdb")


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
    fake_dbip.publish_dbip(DBIP_CITY_LITE, "2026-03", Reply(200, mmdb))
    fake_dbip.publish_dbip(DBIP_ASN_LITE, "2026-03", Reply(200, mmdb))
    march = dt.datetime(2026, 3, 9, tzinfo=dt.UTC)

    outcomes = run.run_updates(dry_run=True, now=lambda: march)

    assert [outcome.dry_run for outcome in outcomes] == [True, True]
    assert [seen.method for seen in fake_dbip.seen()] == ["HEAD", "HEAD"]
    assert not (geoip_dir / "GeoLite2-City.mmdb").exists()


def test_a_directory_given_as_file_is_named_as_such(geoip_dir, tmp_path):
    with pytest.raises(CommandError) as error:
        update("--file", str(tmp_path))
    assert str(error.value) == database_update.FILE_IS_DIRECTORY_MESSAGE.format(path=tmp_path)
    assert "No such file" not in str(error.value)


def test_a_plain_http_url_is_refused_unless_insecure(plain_http, geoip_dir, tmp_path):
    mmdb = city_bytes(tmp_path, build_epoch=NEW)
    plain_http.route("/city.mmdb", Reply(200, mmdb))
    url = plain_http.url + "/city.mmdb"

    with pytest.raises(CommandError) as error:
        update("--url", url)

    assert str(error.value) == sources.INSECURE_DOWNLOAD_MESSAGE.format(url=url)
    assert plain_http.seen() == []  # refused before asking
    assert not (geoip_dir / "GeoLite2-City.mmdb").exists()

    out, _ = update("--url", url, "--insecure")
    assert "installed the database built on 2026-09-21" in out
    assert (geoip_dir / "GeoLite2-City.mmdb").read_bytes() == mmdb


def test_an_https_url_is_verified_against_the_trusted_cas(storage, geoip_dir, tmp_path, monkeypatch):
    storage.route("/city.mmdb", Reply(200, city_bytes(tmp_path, build_epoch=NEW)))
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")  # the test CA no longer trusted: the default bundle
    with pytest.raises(CommandError, match="CERTIFICATE_VERIFY_FAILED"):
        update("--url", storage.url + "/city.mmdb")
    assert not (geoip_dir / "GeoLite2-City.mmdb").exists()
