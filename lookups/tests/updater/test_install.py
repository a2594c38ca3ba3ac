"""lookups.updater.install: the rename into place, the previous file, rollback, the lock; a live
gunicorn during the swap."""

import fcntl
import hashlib
import ipaddress
import json
import threading
import time
from http import HTTPStatus

import pytest
from django.core.management.base import CommandError

from conftest import live_environment, run_gunicorn
from lookups.core.geoip import GeoIPReader
from lookups.models import UpdateRun
from lookups.tests.geoip_data import LONDON_IP, build_city_database
from lookups.tests.updater.fakes import (
    LONDINIUM,
    NEW,
    NEWER,
    city_bytes,
    files_in,
    update,
)
from lookups.updater import files, run

pytestmark = pytest.mark.django_db


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
    assert reader.get(ipaddress.ip_address(LONDON_IP))[0]["city"]["names"]["en"] == "London"

    update()

    assert target.read_bytes() == new
    assert previous.read_bytes() == old
    assert reader.get(ipaddress.ip_address(LONDON_IP))[0]["city"]["names"]["en"] == "Londinium"

    out, _ = update("--rollback")

    assert target.read_bytes() == old
    assert previous.read_bytes() == new  # a swap: rolling back again undoes the rollback
    assert "put back the previous database (built on 2026-09-21)" in out
    assert reader.get(ipaddress.ip_address(LONDON_IP))[0]["city"]["names"]["en"] == "London"
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
    assert str(error.value) == run.NO_PREVIOUS_MESSAGE.format(path=geoip_dir / "GeoLite2-City.mmdb.previous")
    assert UpdateRun.objects.get().outcome == "failed"


def test_a_second_run_waits_for_no_one_and_changes_nothing(fake_maxmind, geoip_dir, tmp_path):
    fake_maxmind.publish("GeoLite2-City", city_bytes(tmp_path, build_epoch=NEW))
    with open(geoip_dir / ".update_maxmind.lock", "a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running update holds it
        with pytest.raises(CommandError) as error:
            update()
    assert str(error.value) == files.LOCKED_MESSAGE.format(path=geoip_dir / ".update_maxmind.lock")
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


def test_force_reinstalls_the_same_build_and_says_so(fake_maxmind, geoip_dir, tmp_path):
    old, new = city_bytes(tmp_path, build_epoch=NEW), city_bytes(tmp_path, build_epoch=NEWER)
    target, previous = geoip_dir / "GeoLite2-City.mmdb", geoip_dir / "GeoLite2-City.mmdb.previous"
    fake_maxmind.publish("GeoLite2-City", old, date="20260921")
    update()
    fake_maxmind.publish("GeoLite2-City", new, date="20261118")
    update()
    inode = target.stat().st_ino

    out, _ = update("--force")

    assert "GeoLite2-City: reinstalled the database built on 2026-11-18" in out
    assert "already current" not in out.replace("it was already current", "")
    assert fake_maxmind.downloads() == 3  # --force asks again even though the checksum matched
    assert target.read_bytes() == new
    assert target.stat().st_ino != inode  # a fresh copy
    assert previous.read_bytes() == old  # still the one to roll back to
    assert list(UpdateRun.objects.order_by("id").values_list("outcome", flat=True)) == ["updated"] * 3


def test_force_reinstalls_a_local_file_identical_to_the_installed_one(geoip_dir, tmp_path):
    source = build_city_database(tmp_path / "city.mmdb", build_epoch=NEW)
    update("--file", str(source))
    out, _ = update("--file", str(source))
    assert "already current" in out
    out, _ = update("--file", str(source), "--force")
    assert "reinstalled the database built on 2026-09-21" in out
