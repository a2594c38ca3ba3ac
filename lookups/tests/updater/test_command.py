"""`manage.py update_maxmind` as a person and as cron see it: output, verbosity, exit status."""

import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.db import connection

from conftest import BASE_DIR
from lookups.core.geoip import GeoIPReader
from lookups.models import UpdateRun
from lookups.tests.geoip_data import build_city_database
from lookups.tests.updater.build_changes import EXPECTED, NEW_BUILD, OLD_BUILD
from lookups.tests.updater.fakes import (
    ACCOUNT_ID,
    LICENSE_KEY,
    NEW,
    NEWER,
    FakeTTY,
    city_bytes,
    update,
)
from lookups.updater import database_update, run_updates

pytestmark = pytest.mark.django_db


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
        "MAXMIND_EDITIONS": "GeoLite2-City",  # the one edition published here
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
    assert database_update.AUTH_FAILED_MESSAGE.format(status=401) in failed.stderr
    assert "not-the-key" not in failed.stderr


def test_a_second_build_records_what_it_changed_and_says_so(geoip_dir, tmp_path):
    old = build_city_database(tmp_path / "old.mmdb", networks=OLD_BUILD, build_epoch=NEW)
    new = build_city_database(tmp_path / "new.mmdb", networks=NEW_BUILD, build_epoch=NEWER)
    update("--file", str(old))
    assert UpdateRun.objects.get().changes is None  # a first install: nothing to compare with

    out, _ = update("--file", str(new))

    run = UpdateRun.objects.first()
    assert {key: run.changes[key] for key in EXPECTED} == EXPECTED
    assert run.outcome == UpdateRun.Outcome.UPDATED
    assert "compared with the build of 2026-09-21: networks added 1, removed 8, changed 4" in out
    # The swap did not wait: the new build is in place, the old one is .previous.
    assert (geoip_dir / "GeoLite2-City.mmdb").read_bytes() == new.read_bytes()
    assert (geoip_dir / "GeoLite2-City.mmdb.previous").read_bytes() == old.read_bytes()


def test_a_progress_line_for_the_comparison_only_on_a_terminal(geoip_dir, tmp_path):
    old = build_city_database(tmp_path / "old.mmdb", networks=OLD_BUILD, build_epoch=NEW)
    new = build_city_database(tmp_path / "new.mmdb", networks=NEW_BUILD, build_epoch=NEWER)
    update("--file", str(old))
    terminal = FakeTTY()
    update("--file", str(new), stdout=terminal)
    assert f"\rComparing builds: {len(OLD_BUILD) + len(NEW_BUILD)} networks (100%)\n" in terminal.getvalue()

    update("--file", str(old), "--force")  # back again: compared too, but no line off a terminal
    out, _ = update("--file", str(new))
    assert "Comparing builds" not in out
    assert UpdateRun.objects.first().changes["networks_changed"] == EXPECTED["networks_changed"]


def test_a_reinstall_of_the_same_build_compares_nothing(geoip_dir, tmp_path):
    old = build_city_database(tmp_path / "old.mmdb", networks=OLD_BUILD, build_epoch=NEW)
    update("--file", str(old))
    out, _ = update("--file", str(old), "--force")
    assert "reinstalled" in out
    assert "compared" not in out
    assert UpdateRun.objects.first().changes is None


@pytest.mark.django_db(transaction=True)  # the diff's thread reads the row on its own connection
def test_the_swap_and_the_run_row_do_not_wait_for_the_comparison(geoip_dir, tmp_path):
    old = build_city_database(tmp_path / "old.mmdb", networks=OLD_BUILD, build_epoch=NEW)
    new = build_city_database(tmp_path / "new.mmdb", networks=NEW_BUILD, build_epoch=NEWER)
    update("--file", str(old))
    during = []

    def progress(done, total):  # on the diff's thread, while it compares
        run = UpdateRun.objects.first()
        during.append(
            ((geoip_dir / "GeoLite2-City.mmdb").read_bytes() == new.read_bytes(), run.edition, run.changes)
        )
        connection.close()  # this thread's own

    run_updates(file=new, diff_progress=progress)

    assert during == [(True, "GeoLite2-City", None)]  # installed and recorded, changes still to come
    assert UpdateRun.objects.first().changes["networks_added"] == EXPECTED["networks_added"]
