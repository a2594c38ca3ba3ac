"""/metrics on a real gunicorn with several workers: the counts add up across them, the text passes
promtool, and only loopback, METRICS_ALLOWED networks and the token get in."""

import glob
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import urllib.request
from http import HTTPStatus
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import live_environment, run_gunicorn, wait_until
from lookups.tests.geoip_data import LONDON_IP, UNKNOWN_PUBLIC_IP

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "metrics-test-token-0123456789"
WORKERS = 3


@pytest.fixture(scope="module")
def metrics_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("prometheus-multiproc")


@pytest.fixture(scope="module")
def server(
    django_db_setup,
    django_db_blocker,
    live_geoip_dir,
    dns_server,
    collected_static,
    metrics_dir,
    tmp_path_factory,
):
    """One gunicorn for the module: several workers, a proxy on loopback, a token."""
    env = live_environment(geoip_dir=live_geoip_dir, dns_server=dns_server, static_root=collected_static)
    env.update(
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        TRUSTED_PROXIES="127.0.0.1",
        METRICS_ALLOWED="10.0.0.0/8",
        METRICS_TOKEN=TOKEN,
    )
    with run_gunicorn(env=env, tmp_path=tmp_path_factory.mktemp("gunicorn"), workers=WORKERS) as live:
        warm_up(live)
        yield live


def warm_up(server) -> None:
    """Wait for every worker to have loaded Django: run_gunicorn returns once the port accepts, and
    on a busy machine a worker's first request waits longer for that than a test's timeout."""
    statuses = []
    threads = [
        threading.Thread(target=lambda: statuses.append(server.get("/health", timeout=120)[0]))
        for _ in range(2 * WORKERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [HTTPStatus.OK] * len(threads)


def scrape(server) -> dict[tuple[str, tuple], float]:
    status, _headers, body = server.get("/metrics", timeout=60)
    assert status == HTTPStatus.OK, body
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def lookups_total(samples, **labels) -> float:
    return sum(
        value
        for (name, sample_labels), value in samples.items()
        if name == "easygeoip_lookups_total" and labels.items() <= dict(sample_labels).items()
    )


def post_batch(server, queries: list[str]) -> int:
    request = urllib.request.Request(
        server.url + "/api/v1/lookup/batch",
        data=json.dumps({"queries": queries}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def hammer(server, paths: list[str], threads: int = 6) -> list[int]:
    """GET every path once, from several threads at once (so that every worker answers some)."""
    statuses: list[int] = []
    lock = threading.Lock()
    queue = list(paths)

    def work():
        while True:
            with lock:
                if not queue:
                    return
                path = queue.pop()
            status, _, _ = server.get(path)
            with lock:
                statuses.append(status)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return statuses


def worker_pids(server) -> list[int]:
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def test_counters_add_up_across_workers_under_load(server, metrics_dir):
    before = scrape(server)
    paths = [f"/api/v1/lookup/{LONDON_IP}"] * 150 + [f"/api/v1/lookup/{UNKNOWN_PUBLIC_IP}"] * 30
    paths += [f"/lookup/{LONDON_IP}"] * 20
    statuses = hammer(server, paths)
    assert statuses.count(HTTPStatus.OK) == 170
    assert statuses.count(HTTPStatus.NOT_FOUND) == 30
    assert post_batch(server, [LONDON_IP, "london.example.com", "10.0.0.1"]) == HTTPStatus.OK

    after = scrape(server)
    added = {
        key: lookups_total(after, channel=key[0], outcome=key[1])
        - lookups_total(before, channel=key[0], outcome=key[1])
        for key in [
            ("api", "ok"),
            ("api", "address_not_found"),
            ("web", "ok"),
            ("batch", "ok"),
            ("batch", "address_not_public"),
        ]
    }
    assert added == {
        ("api", "ok"): 150,
        ("api", "address_not_found"): 30,
        ("web", "ok"): 20,
        ("batch", "ok"): 2,
        ("batch", "address_not_public"): 1,
    }
    assert lookups_total(after) - lookups_total(before) == 203
    # More than one worker counted (each writes files of its own): the sum is across them.
    assert len(list(metrics_dir.glob("counter_*.db"))) > 1
    latency = after[("easygeoip_request_duration_seconds_count", (("view", "api-lookup"),))]
    assert (
        latency - before.get(("easygeoip_request_duration_seconds_count", (("view", "api-lookup"),)), 0)
        == 180
    )


def test_a_workers_counts_outlive_it(server):
    hammer(server, [f"/api/v1/lookup/{LONDON_IP}"] * 30)
    before = lookups_total(scrape(server), channel="api", outcome="ok")
    old = worker_pids(server)
    os.kill(old[0], signal.SIGTERM)  # gunicorn starts another in its place
    wait_until(lambda: len(worker_pids(server)) == WORKERS and old[0] not in worker_pids(server))
    assert old[0] not in worker_pids(server)
    hammer(server, [f"/api/v1/lookup/{LONDON_IP}"] * 30)
    assert lookups_total(scrape(server), channel="api", outcome="ok") == before + 30


def test_the_database_age_and_spool_are_exposed(server):
    samples = scrape(server)
    age = samples[("easygeoip_geoip_database_age_seconds", (("edition", "GeoLite2-City"),))]
    assert 0 <= age < 3600  # the session's test database was built when the session started
    assert ("easygeoip_history_spool_files", ()) in samples
    assert ("easygeoip_history_write_lag_seconds", ()) in samples


def test_the_exposition_passes_promtool(server):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian's prometheus package; bin/setup test installs it)")
    hammer(server, [f"/api/v1/lookup/{LONDON_IP}", "/health", f"/lookup/{LONDON_IP}"])
    _, _, body = server.get("/metrics")
    checked = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, check=False)
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()


def test_a_client_outside_the_allowed_networks_is_refused_through_the_proxy(server):
    status, headers, body = server.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert status == HTTPStatus.UNAUTHORIZED  # a token is configured: it says how to get in
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert "203.0.113.9" in body.decode()
    assert "METRICS_TOKEN" in body.decode()
    status, _, body = server.get(
        "/metrics", headers={"X-Forwarded-For": "203.0.113.9", "Authorization": "Bearer wrong"}
    )
    assert status == HTTPStatus.UNAUTHORIZED
    assert b"easygeoip_lookups" not in body


def test_an_allowed_network_and_the_token_get_in(server):
    status, _, body = server.get("/metrics", headers={"X-Forwarded-For": "10.20.30.40"})
    assert status == HTTPStatus.OK
    assert b"easygeoip_lookups_total" in body
    status, _, body = server.get(
        "/metrics", headers={"X-Forwarded-For": "203.0.113.9", "Authorization": f"Bearer {TOKEN}"}
    )
    assert status == HTTPStatus.OK
    assert b"easygeoip_lookups_total" in body


def test_a_new_gunicorn_starts_counting_from_zero(
    django_db_blocker, live_geoip_dir, dns_server, collected_static, tmp_path
):
    env = live_environment(geoip_dir=live_geoip_dir, dns_server=dns_server, static_root=collected_static)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "metrics")
    for _ in range(2):
        with run_gunicorn(env=env, tmp_path=tmp_path, workers=1) as server:
            assert lookups_total(scrape(server)) == 0  # what the first one counted is wiped
            hammer(server, [f"/api/v1/lookup/{LONDON_IP}"] * 5, threads=1)
            assert lookups_total(scrape(server), channel="api", outcome="ok") == 5


def test_by_default_each_gunicorn_counts_in_a_folder_of_its_own_removed_when_it_stops(
    django_db_blocker, live_geoip_dir, dns_server, collected_static, tmp_path
):
    env = live_environment(geoip_dir=live_geoip_dir, dns_server=dns_server, static_root=collected_static)
    env["PROMETHEUS_MULTIPROC_DIR"] = ""  # unset: config/gunicorn.conf.py makes one
    pattern = os.path.join(tempfile.gettempdir(), "easygeoip-metrics-*")
    before = set(glob.glob(pattern))
    with run_gunicorn(env=env, tmp_path=tmp_path, workers=2) as server:
        warm_up(server)
        hammer(server, [f"/api/v1/lookup/{LONDON_IP}"] * 6, threads=2)
        assert lookups_total(scrape(server), channel="api", outcome="ok") == 6
        pids = worker_pids(server)
        ours = [
            folder
            for folder in set(glob.glob(pattern)) - before
            if any(Path(folder, f"counter_{pid}.db").exists() for pid in pids)
        ]
        assert len(ours) == 1
    assert not Path(ours[0]).exists()
