"""Write-behind history (the production default) on a live gunicorn: answered means recorded."""

import os
import signal
import threading
import time
from http import HTTPStatus
from pathlib import Path

import pytest
from django.utils import timezone

from conftest import live_environment, run_gunicorn
from lookups.models import Lookup
from lookups.tests.geoip_data import BERLIN_IP, LONDON_IP

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def write_behind_server(live_geoip_dir, dns_server, collected_static, tmp_path):
    env = live_environment(geoip_dir=live_geoip_dir, dns_server=dns_server, static_root=collected_static)
    spool = tmp_path / "spool"
    env.update({"HISTORY_FLUSH_INTERVAL": "0.2", "HISTORY_SPOOL_DIR": str(spool)})

    def start(workers=2):
        return run_gunicorn(env=env, tmp_path=tmp_path, workers=workers)

    start.spool = spool
    return start


def rows_since(moment, query) -> int:
    return Lookup.objects.filter(created_at__gte=moment, query=query).count()


def wait_for_rows(moment, query, expected, timeout=15.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = rows_since(moment, query)
        if count >= expected:
            return count
        time.sleep(0.1)
    return rows_since(moment, query)


def send(server, query, count):
    statuses = []
    for _ in range(count):
        statuses.append(server.get(f"/api/v1/lookup/{query}")[0])
    return statuses


def test_rows_reach_postgresql_within_the_flush_interval(write_behind_server):
    started = timezone.now()
    with write_behind_server() as server:
        threads = [threading.Thread(target=send, args=(server, LONDON_IP, 40)) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert wait_for_rows(started, LONDON_IP, 120) == 120
        time.sleep(0.5)  # nothing more, and nothing twice
        assert rows_since(started, LONDON_IP) == 120
        status, _, body = server.get("/health")
        assert status == HTTPStatus.OK
        assert b'"warnings": []' in body
    leftovers = [p for p in write_behind_server.spool.glob("*.spool") if p.stat().st_size]
    assert leftovers == []


def test_a_stopped_server_flushes_what_it_answered(write_behind_server):
    started = timezone.now()
    with write_behind_server() as server:
        assert send(server, BERLIN_IP, 30) == [HTTPStatus.OK] * 30
    # run_gunicorn stops gunicorn with SIGTERM right away: the workers flush on the way out.
    assert rows_since(started, BERLIN_IP) == 30


def test_rows_of_a_killed_worker_are_replayed_by_the_others(write_behind_server):
    started = timezone.now()
    query = "dual.example.com"
    with write_behind_server(workers=1) as server:
        assert send(server, query, 1) == [HTTPStatus.OK]
        worker = _only_worker(server.process.pid)
        # Stop the flusher's chances: kill the worker at once after it answered.
        assert send(server, query, 20) == [HTTPStatus.OK] * 20
        os.kill(worker, signal.SIGKILL)
        # gunicorn starts a new worker; its flusher finds the dead worker's spool and replays it.
        assert wait_for_rows(started, query, 21, timeout=30) == 21, server.log.read_text()[-3000:]
        assert send(server, query, 1) == [HTTPStatus.OK]
        assert wait_for_rows(started, query, 22) == 22


def _only_worker(master_pid: int) -> int:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    assert len(children) == 1
    return int(children[0])
