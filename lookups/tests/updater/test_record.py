"""lookups.updater.record: the UpdateRun rows, scrubbed of the licence key; how they and the
data's age show."""

import logging
import time
from http import HTTPStatus

import pytest
from django.core.management.base import CommandError

from lookups.models import UpdateRun
from lookups.tests.download_server import Reply
from lookups.tests.geoip_data import build_city_database
from lookups.tests.updater.fakes import (
    LICENSE_KEY,
    NEW,
    NEWER,
    SECRETS,
    city_bytes,
    no_sleep_client,
    update,
)
from lookups.updater import run

pytestmark = pytest.mark.django_db


def test_the_licence_key_never_appears(fake_maxmind, geoip_dir, tmp_path, settings, caplog):
    caplog.set_level(logging.DEBUG)
    seen_text: list[str] = []
    # A server that puts the key in its reason phrase: our messages still never show it.
    fake_maxmind.publish("GeoLite2-City", storage_replies=(Reply(500, reason=f"oops {LICENSE_KEY}"),))
    sleeps: list[float] = []
    report: list[str] = []
    [outcome] = run.run_updates(
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
