"""Two instances of the service (two gunicorns) sharing one PostgreSQL, one Redis and one spool
volume, as two app replicas do (docs/operations.md, "Running several instances"): under load,
every answered lookup is recorded exactly once, a database update reaches both, and an instance
killed mid-load loses nothing it answered."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.utils import timezone

from conftest import BASE_DIR, TEST_REDIS_URL, live_environment, run_gunicorn, wait_until
from lookups.models import Lookup
from lookups.tests.geoip_data import LONDON_IP, NETWORKS, build_city_database
from lookups.tests.traffic import Traffic

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def instance_env(dns_server, collected_static, tmp_path):
    geoip_dir = tmp_path / "geoip"
    build_city_database(geoip_dir / "GeoLite2-City.mmdb")
    env = live_environment(geoip_dir=geoip_dir, dns_server=dns_server, static_root=collected_static)
    env.update(
        {
            "HISTORY_SPOOL_DIR": str(tmp_path / "spool"),  # the replicas' shared spool volume
            "REDIS_URL": TEST_REDIS_URL,
            "GEOIP_RELOAD_CHECK_INTERVAL": "0.5",
        }
    )
    return env


def _recorded_since(moment) -> dict[str, int]:
    rows = Lookup.objects.filter(created_at__gte=moment).values_list("query", flat=True)
    counts: dict[str, int] = {}
    for query in rows:
        counts[query] = counts.get(query, 0) + 1
    return counts


def _kill_instance(master_pid: int) -> None:
    """SIGKILL the master and every worker at once: nobody flushes on the way out."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    os.kill(master_pid, signal.SIGKILL)
    for child in children:
        os.kill(int(child), signal.SIGKILL)


def test_two_instances_record_every_answer_once_even_when_one_is_killed(instance_env, tmp_path):
    started = timezone.now()
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir()
    second_dir.mkdir()
    with (
        run_gunicorn(env=instance_env, tmp_path=first_dir) as first,
        run_gunicorn(env=instance_env, tmp_path=second_dir) as second,
    ):
        port = lambda server: int(server.url.rsplit(":", 1)[1])  # noqa: E731
        for server in (first, second):
            server.get("/health", timeout=60)  # both workers booted: the load meets live servers
        on_first = Traffic(port(first), threads=2).start()
        on_second = Traffic(port(second), threads=2).start()
        wait_until(lambda: on_first.tally.answered > 100, 30)
        _kill_instance(first.process.pid)
        time.sleep(0.5)
        lost_on_first = on_first.stop()
        time.sleep(2.5)
        on_second_tally = on_second.stop()

    assert lost_on_first.answered > 50
    assert on_second_tally.answered > 50
    assert on_second_tally.server_errors == []
    expected: dict[str, int] = {}
    for tally in (lost_on_first, on_second_tally):
        for query, count in tally.expected_rows.items():
            expected[query] = expected.get(query, 0) + count
    # The killed instance's spool file is the second's to replay (the shared volume): every row
    # it answered arrives. A request cut off by the kill may have been recorded without an
    # answer, so at most that many more; never one row twice (`uid` is unique).
    in_flight = sum(count for kind, count in lost_on_first.by_kind.items() if kind.startswith("connection"))
    # Starting the second again replays what the first left, if its flusher had not yet.
    with run_gunicorn(env=instance_env, tmp_path=second_dir):
        wait_until(lambda: all(_recorded_since(started).get(q, 0) >= n for q, n in expected.items()), 30)
    recorded = _recorded_since(started)
    missing = {q: (n, recorded.get(q, 0)) for q, n in expected.items() if recorded.get(q, 0) < n}
    assert missing == {}
    extra = sum(recorded.values()) - sum(expected.values())
    assert 0 <= extra <= in_flight * 5  # a batch in flight carries up to five rows
    total = Lookup.objects.filter(created_at__gte=started)
    assert total.values("uid").distinct().count() == total.count()


def test_a_database_update_reaches_every_instance(instance_env, tmp_path):
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir()
    second_dir.mkdir()
    moved = {**NETWORKS}
    london_network = next(cidr for cidr in NETWORKS if cidr.startswith("81.2.69."))
    moved[london_network] = {**NETWORKS[london_network], "city": {"names": {"en": "Moved Town"}}}
    new_build = build_city_database(tmp_path / "new" / "GeoLite2-City.mmdb", networks=moved)
    with (
        run_gunicorn(env=instance_env, tmp_path=first_dir) as first,
        run_gunicorn(env=instance_env, tmp_path=second_dir) as second,
    ):
        for server in (first, second):
            server.get("/health", timeout=60)
            assert b"Moved Town" not in server.get(f"/api/v1/lookup/{LONDON_IP}", timeout=60)[2]
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **instance_env}
        env.setdefault("DJANGO_SECRET_KEY", "instances-test-secret-key-not-for-production-0123456789")
        subprocess.run(
            [sys.executable, "manage.py", "update_maxmind", "--file", str(new_build)],
            cwd=BASE_DIR,
            env=env,
            check=True,
            capture_output=True,
        )
        for server in (first, second):
            # Every worker of each instance notices the new file (one `stat` per check interval).
            for _ in range(6):
                wait_until(lambda s=server: b"Moved Town" in s.get(f"/api/v1/lookup/{LONDON_IP}")[2], 10)
                assert b"Moved Town" in server.get(f"/api/v1/lookup/{LONDON_IP}")[2]
