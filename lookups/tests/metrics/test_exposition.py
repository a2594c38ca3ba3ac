"""What /metrics answers with, read at scrape time: the databases, the spool, the update runs."""

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import time
from http import HTTPStatus
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lookups.history import spool
from lookups.metrics import exposition
from lookups.metrics.instruments import HISTORY_LAST_FLUSH
from lookups.models import UpdateRun
from lookups.tests.geoip_data import build_asn_database, build_city_database

pytestmark = pytest.mark.django_db

CITY_BUILT = 1_700_000_000
ASN_BUILT = 1_710_000_000


def samples() -> dict[tuple[str, tuple], float]:
    text = exposition.render().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_the_databases_build_time_and_age_per_edition(geoip_dir, settings):
    build_city_database(geoip_dir / "GeoLite2-City.mmdb", build_epoch=CITY_BUILT)
    build_asn_database(geoip_dir / "GeoLite2-ASN.mmdb", build_epoch=ASN_BUILT)
    settings.GEOIP_ASN = "GeoLite2-ASN.mmdb"
    before = time.time()
    found = samples()
    after = time.time()
    city, asn = (("edition", "GeoLite2-City"),), (("edition", "GeoLite2-ASN"),)
    assert found[("easygeoip_geoip_database_build_timestamp_seconds", city)] == CITY_BUILT
    assert found[("easygeoip_geoip_database_build_timestamp_seconds", asn)] == ASN_BUILT
    assert before - CITY_BUILT <= found[("easygeoip_geoip_database_age_seconds", city)] <= after - CITY_BUILT
    assert before - ASN_BUILT <= found[("easygeoip_geoip_database_age_seconds", asn)] <= after - ASN_BUILT


def test_no_database_installed_is_no_sample_not_an_error(geoip_dir):
    names = {name for name, _ in samples()}
    assert "easygeoip_geoip_database_age_seconds" not in names
    assert "easygeoip_history_spool_files" in names


def test_the_spool_depth_and_write_lag(history_spool):
    found = samples()
    assert found[("easygeoip_history_spool_files", ())] == 0
    assert found[("easygeoip_history_write_lag_seconds", ())] == 0  # nothing waits: no lag

    history_spool.mkdir(parents=True)
    waiting = history_spool / "history-0123456789abcdef.spool"
    waiting.write_bytes(b"x" * 1000)
    (history_spool / "history-fedcba9876543210.123.replaying").write_bytes(b"y" * 24)
    (history_spool / "history-aaaaaaaaaaaaaaaa-1.rejected").write_bytes(b"z" * 5)  # set aside: not waiting
    assert len(spool.waiting_files()) == 2
    found = samples()
    assert found[("easygeoip_history_spool_files", ())] == 2
    assert found[("easygeoip_history_spool_bytes", ())] == 1024
    # Since the last flush that reached PostgreSQL, the newest of any worker's.
    HISTORY_LAST_FLUSH.set(time.time() - 60)
    assert samples()[("easygeoip_history_write_lag_seconds", ())] == pytest.approx(60, abs=5)


def test_the_write_lag_before_any_flush_is_the_oldest_files_age(history_spool):
    history_spool.mkdir(parents=True)
    for name, age in [("history-0123456789abcdef.spool", 600), ("history-fedcba9876543210.spool", 10)]:
        (history_spool / name).write_bytes(b"x")
        os.utime(history_spool / name, (time.time() - age, time.time() - age))
    families = {family.name: family for family in exposition.scrape_time_families([])}  # no flush counted
    assert families["easygeoip_history_write_lag_seconds"].samples[0].value == pytest.approx(600, abs=5)


def test_update_runs_by_outcome():
    now = dt.datetime.now(dt.UTC)
    for outcome, hours_ago in [("updated", 30), ("updated", 2), ("current", 1), ("failed", 5)]:
        run = UpdateRun.objects.create(source="dbip", outcome=outcome)
        UpdateRun.objects.filter(pk=run.pk).update(created_at=now - dt.timedelta(hours=hours_ago))
    found = samples()
    for outcome, runs, hours_ago in [("updated", 2, 2), ("current", 1, 1), ("failed", 1, 5)]:
        labels = (("outcome", outcome),)
        assert found[("easygeoip_update_runs_total", labels)] == runs
        assert found[("easygeoip_update_last_run_timestamp_seconds", labels)] == pytest.approx(
            (now - dt.timedelta(hours=hours_ago)).timestamp()
        )
    assert ("easygeoip_update_runs_total", (("outcome", "rolled_back"),)) not in found


def test_the_endpoint_answers_the_exposition_format_to_loopback(client, city_database):
    response = client.get("/metrics")
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == exposition.CONTENT_TYPE
    assert response["Cache-Control"] == "no-store"
    names = {family.name for family in text_string_to_metric_families(response.content.decode())}
    assert {
        "easygeoip_lookups",
        "easygeoip_request_duration_seconds",
        "easygeoip_geoip_database_age_seconds",
    } <= names


def test_the_endpoint_answers_plain_http_when_https_is_required(client, settings):
    """Prometheus scrapes gunicorn inside the network, not through the HTTPS proxy."""
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/metrics").status_code == HTTPStatus.OK
    assert client.get("/api/v1/lookup/").status_code == HTTPStatus.MOVED_PERMANENTLY


def test_the_endpoint_refuses_others_in_plain_text(client, settings):
    settings.METRICS_ALLOWED, settings.METRICS_TOKEN = [], ""
    response = client.get("/metrics", REMOTE_ADDR="192.0.2.7")
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert "192.0.2.7" in response.content.decode()
    assert client.post("/metrics").status_code == HTTPStatus.METHOD_NOT_ALLOWED


# --- The Grafana dashboard (docs/grafana-dashboard.json) -----------------------------------------

DASHBOARD = Path(__file__).resolve().parents[3] / "docs" / "grafana-dashboard.json"


def dashboard_expressions() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def test_the_dashboard_charts_every_metric_and_only_those(city_database):
    families = {family.name for family in text_string_to_metric_families(exposition.render().decode())}
    # This process's registry adds prometheus_client's *_created series; gunicorn's workers do not.
    ours = {name.removesuffix("_created") for name in families if name.startswith("easygeoip_")}
    charted = {
        re.sub(r"_(total|bucket|count|sum)$", "", name)
        for expr in dashboard_expressions()
        for name in re.findall(r"\beasygeoip_[a-z_]+", expr)
    }
    assert {"not charted": sorted(ours - charted), "not exposed": sorted(charted - ours)} == {
        "not charted": [],
        "not exposed": [],
    }


def test_the_dashboards_queries_are_valid_promql(tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian's prometheus package; bin/setup test installs it)")
    # Grafana's variables as Grafana would fill them in, each query a recording rule for promtool.
    rules = [
        {
            "record": f"dashboard:query_{number}",
            "expr": expr.replace("$__rate_interval", "1m").replace("$instance", ".*"),
        }
        for number, expr in enumerate(dashboard_expressions())
    ]
    path = tmp_path / "rules.json"  # YAML is a superset of JSON
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
