"""lookups.updater.verify (and archive): what is refused before it can replace the installed database."""

import hashlib
import time

import pytest
from django.core.management.base import CommandError

from lookups.core.geoip import GeoIPReader
from lookups.tests.geoip_data import LONDON_IP, build_city_database
from lookups.tests.updater.fakes import (
    NEW,
    OLD,
    asn_bytes,
    city_bytes,
    files_in,
    many_networks,
    tar_gz,
    update,
)
from lookups.updater import archive, database_update, verify

pytestmark = pytest.mark.django_db


def test_a_checksum_mismatch_is_refused(fake_maxmind, geoip_dir, tmp_path):
    build_city_database(geoip_dir / "GeoLite2-City.mmdb", build_epoch=OLD)
    before = (geoip_dir / "GeoLite2-City.mmdb").read_bytes()
    archive = fake_maxmind.publish("GeoLite2-City", city_bytes(tmp_path, build_epoch=NEW), sha256="ab" * 32)

    with pytest.raises(CommandError) as error:
        update()

    actual = hashlib.sha256(archive).hexdigest()
    assert str(error.value) == database_update.CHECKSUM_MISMATCH_MESSAGE.format(
        name="GeoLite2-City", expected="ab" * 32, actual=actual
    )
    assert (geoip_dir / "GeoLite2-City.mmdb").read_bytes() == before
    assert files_in(geoip_dir) == {"GeoLite2-City.mmdb", ".update_maxmind.lock"}  # no temporary left


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
    assert str(error.value) == archive.NO_MMDB_IN_ARCHIVE_MESSAGE.format(name="GeoLite2-City")


def test_a_database_of_the_wrong_kind_is_refused_and_the_old_one_keeps_serving(
    fake_maxmind, geoip_dir, tmp_path, client
):
    build_city_database(geoip_dir / "GeoLite2-City.mmdb", build_epoch=OLD)
    fake_maxmind.publish("GeoLite2-City", asn_bytes(tmp_path, build_epoch=NEW))

    with pytest.raises(CommandError) as error:
        update()

    assert str(error.value) == verify.WRONG_KIND_MESSAGE.format(
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


def test_a_dry_run_of_a_file_checks_it(geoip_dir, tmp_path):
    installed = build_city_database(geoip_dir / "GeoLite2-City.mmdb", build_epoch=NEW).read_bytes()
    older = build_city_database(tmp_path / "older.mmdb", build_epoch=OLD)
    with pytest.raises(CommandError, match="use --force"):
        update("--file", str(older), "--dry-run")
    out, _ = update("--file", str(older), "--dry-run", "--force")
    assert "would install the database built on 2026-05-28" in out
    assert (geoip_dir / "GeoLite2-City.mmdb").read_bytes() == installed


def test_a_much_smaller_database_is_refused_unless_allowed(geoip_dir, tmp_path):
    """A 2.5 KB City database must not replace a 65 MB one without a word."""
    installed = build_city_database(
        geoip_dir / "GeoLite2-City.mmdb", build_epoch=OLD, networks=many_networks(2000)
    ).read_bytes()
    small = build_city_database(tmp_path / "small.mmdb", build_epoch=NEW)

    with pytest.raises(CommandError) as error:
        update("--file", str(small))
    message = str(error.value)
    assert "search-tree nodes, under half the installed database's" in message
    assert "use --allow-shrink to install it anyway" in message
    assert (geoip_dir / "GeoLite2-City.mmdb").read_bytes() == installed

    with pytest.raises(CommandError, match="--allow-shrink"):
        update("--file", str(small), "--force")  # --force is about the build date only
    assert (geoip_dir / "GeoLite2-City.mmdb").read_bytes() == installed

    out, _ = update("--file", str(small), "--allow-shrink")
    assert "installed the database built on 2026-09-21" in out
    assert (geoip_dir / "GeoLite2-City.mmdb").read_bytes() == small.read_bytes()
    assert (geoip_dir / "GeoLite2-City.mmdb.previous").read_bytes() == installed


def test_a_database_a_little_smaller_is_installed(geoip_dir, tmp_path):
    build_city_database(geoip_dir / "GeoLite2-City.mmdb", build_epoch=OLD, networks=many_networks(100))
    slightly_smaller = build_city_database(tmp_path / "new.mmdb", build_epoch=NEW, networks=many_networks(80))
    update("--file", str(slightly_smaller))
    assert (geoip_dir / "GeoLite2-City.mmdb").read_bytes() == slightly_smaller.read_bytes()
