"""check_data, as `make run` and the container's start run it: what it says is missing, and how to fix it."""

import gzip
import io
import logging
import time

import pytest
from django.core.management import call_command

from lookups.tests.download_server import DBIP_CITY_LITE, LocalHTTPServer, Reply
from lookups.tests.geoip_data import build_city_database

pytestmark = pytest.mark.django_db


def check_data(**options) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("check_data", stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def test_no_database_gives_commands_that_work_as_typed(geoip_dir, settings, caplog):
    caplog.set_level(logging.INFO)
    settings.MANAGE_COMMAND = "bin/manage"

    out, err = check_data()

    assert "  Fix: bin/manage update_maxmind " in out
    assert "bin/manage update_maxmind --file PATH" in out
    assert "python manage.py" not in out
    assert "`" not in out
    assert err == ""
    # The command says it in words with the fix: no ERROR line from the reader before it.
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR] == []


def test_the_commands_follow_the_manage_command_setting(geoip_dir, settings):
    settings.MANAGE_COMMAND = "docker compose exec app python manage.py"
    out, _ = check_data()
    assert "  Fix: docker compose exec app python manage.py update_maxmind " in out
    assert "docker compose exec app python manage.py update_maxmind --file PATH" in out


def test_an_old_database_is_named_at_start(geoip_dir, settings):
    settings.MANAGE_COMMAND = "bin/manage"
    settings.GEOIP_MAX_AGE_DAYS = 30
    build_city_database(geoip_dir / "GeoLite2-City.mmdb", build_epoch=int(time.time()) - 74 * 86400)

    out, _ = check_data()

    assert "GeoLite2-City database is 74 days old (more than GEOIP_MAX_AGE_DAYS = 30)" in out
    assert "Update it with bin/manage update_maxmind" in out


def test_a_fresh_database_is_not_called_old(city_database, settings):
    out, _ = check_data()
    assert "days old" not in out


def test_install_serves_the_city_database_when_only_the_asn_one_failed(geoip_dir, settings, tmp_path):
    # DB-IP with its City Lite out and its ASN Lite not: the City one is installed and served.
    city = build_city_database(tmp_path / "dbip.mmdb", edition="DBIP-City-Lite").read_bytes()
    server = LocalHTTPServer().start()
    try:
        settings.MAXMIND_ACCOUNT_ID = settings.MAXMIND_LICENSE_KEY = ""
        settings.DBIP_DOWNLOAD_URL = server.url + "/free"
        month = f"{time.gmtime().tm_year:04d}-{time.gmtime().tm_mon:02d}"
        server.publish_dbip(DBIP_CITY_LITE, month, Reply(200, gzip.compress(city)))

        out, err = check_data(install=True)
    finally:
        server.stop()

    assert "GeoIP database: DBIP-City-Lite, built" in out
    assert "Could not install" not in err
    assert "update_maxmind: DB-IP ASN Lite is not published" in err
    assert (geoip_dir / "GeoLite2-City.mmdb").read_bytes() == city
