"""The history's durable path: spool files on disk, their replay, the breaker, /health about them.

The real PostgreSQL outage (a cluster stopped under a live gunicorn) is in test_faults.py; here
the breaker stands for "PostgreSQL just failed", which is exactly the state record() acts on.
"""

import datetime as dt
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from http import HTTPStatus

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from conftest import BASE_DIR
from lookups import history
from lookups.core.history_row import history_row
from lookups.core.pipeline import geolocate
from lookups.errors import HISTORY_UNAVAILABLE_MESSAGE, InvalidQuery
from lookups.history import breaker, spool
from lookups.history.encoding import encode_row
from lookups.history.rows import COLUMNS, give_uids
from lookups.models import Lookup
from lookups.tests.geoip_data import LINKOPING_IP, LONDON_IP
from lookups.web.health import (
    HISTORY_SPOOLED_WARNING,
    POSTGRESQL_DOWN_SPOOL_UNWRITABLE,
    POSTGRESQL_DOWN_WARNING,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def spool_dir(history_spool):
    return history_spool


def postgresql_just_failed(settings):
    """The state the flusher is in right after PostgreSQL failed to answer, for the whole test."""
    settings.HISTORY_DB_RETRY_INTERVAL = 3600
    breaker.mark_unreachable()


def process_env(spool_dir) -> dict[str, str]:
    """The environment of another process writing or replaying this test's spool."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "HISTORY_SPOOL_DIR": str(spool_dir),
    }


def spool_lines(directory):
    """Every spooled row as {column: its COPY text}."""
    rows = []
    for path in sorted(directory.glob("*.spool")):
        header, *lines = path.read_text().splitlines()
        columns = header.split("\t")[1:]
        rows += [dict(zip(columns, line.split("\t"), strict=True)) for line in lines]
    return rows


def make_rows(city_database, count=3):
    rows = [history_row(LONDON_IP, geolocate(LONDON_IP), channel="api", requester="198.51.100.7")]
    rows.append(history_row("nope nope", InvalidQuery("bad"), channel="batch", requester=None))
    rows += [history_row(LINKOPING_IP, geolocate(LINKOPING_IP), channel="web", requester="2001:db8::1")]
    return rows[:count]


def as_row(lookup: Lookup) -> dict:
    """A stored Lookup in the shape of a history row, to compare with what was recorded."""
    row = {f.attname: getattr(lookup, f.attname) for f in Lookup._meta.concrete_fields if not f.primary_key}
    row["uid"] = str(row["uid"])
    row["location"] = lookup.location.coords if lookup.location else None
    return row


def test_rows_go_to_postgresql_when_the_spool_is_flushed(city_database, spool_dir):
    history.record(make_rows(city_database))
    assert len(spool_lines(spool_dir)) == 3  # written behind: spooled first
    history.flush()
    assert Lookup.objects.count() == 3
    assert Lookup.objects.filter(uid__isnull=True).count() == 0
    assert list(spool_dir.iterdir()) == []


def test_without_write_behind_rows_are_stored_before_record_returns(city_database, spool_dir, settings):
    """HISTORY_FLUSH_INTERVAL = 0: the same path (spool, replay, COPY), flushed in the caller's
    thread; while PostgreSQL is away the rows wait, and the next lookup brings them all in."""
    settings.HISTORY_FLUSH_INTERVAL = 0
    postgresql_just_failed(settings)
    history.record(make_rows(city_database, count=2))
    assert len(spool_lines(spool_dir)) == 2
    breaker.mark_reachable()
    history.record(make_rows(city_database, count=1))
    assert list(spool_dir.iterdir()) == []  # stored before record() returned, no flush of ours
    assert Lookup.objects.count() == 3


def test_rows_are_spooled_while_postgresql_is_away_and_replayed_identically(
    city_database, spool_dir, django_assert_num_queries, settings
):
    rows = make_rows(city_database)
    postgresql_just_failed(settings)
    with django_assert_num_queries(0):  # straight to disk: no connect timeout per request
        history.record(rows)
    assert Lookup.objects.count() == 0
    lines = spool_lines(spool_dir)
    assert [line["query"] for line in lines] == [LONDON_IP, "nope nope", LINKOPING_IP]
    files = list(spool_dir.glob("*.spool"))
    assert len(files) == 1
    assert re.fullmatch(r"history-[0-9a-f]{16}\.spool", files[0].name)  # no host name, no pid
    assert oct(files[0].stat().st_mode & 0o777) == "0o600"

    breaker.mark_reachable()
    report = history.replay()
    assert (report.files, report.rows, report.rejected) == (1, 3, 0)
    stored = {str(lookup.uid): lookup for lookup in Lookup.objects.all()}
    for row in rows:
        assert as_row(stored[row["uid"]]) == row
    assert stored[rows[0]["uid"]].location.srid == 4326
    assert list(spool_dir.iterdir()) == []


def test_a_row_replayed_twice_is_stored_once(city_database, spool_dir):
    rows = make_rows(city_database)
    history.record(rows)
    backup = spool_dir.parent / "copy.spool"
    shutil.copy(next(spool_dir.glob("*.spool")), backup)
    history.replay()
    shutil.copy(backup, spool_dir / "history-elsewhere.spool")
    report = history.replay()
    assert report.rows == 3  # offered again...
    assert Lookup.objects.count() == 3  # ...and ignored by the unique uid


@pytest.mark.parametrize(
    "values",
    [
        {"query": "tab\there, new\nline, return\r, back\\slash, \\N, \\t"},
        {"query": "Zürich \u2028 東京 \U0001f600", "city": "Kraków", "country_name": ""},
        {"query": "\x01\x1f\x7f controls"},
        {"query": "v6", "addresses": ["2a02:ec80::1", "81.2.69.142"], "ip_address": "2a02:ec80::1"},
        {
            "query": "none",
            "addresses": [],
            "ip_address": None,
            "requester": None,
            "database_build_date": None,
        },
        {
            "query": "subdivisions",
            "subdivisions": [
                {"iso_code": "ENG", "name": 'back\\slash, "quoted", \\N, tab\there, new\nline'},
                {"iso_code": "LND", "name": "Groß-London \u2028 \U0001f600"},
            ],
        },
        {"query": "tiny", "location": (1e-05, -0.0), "accuracy_radius": 0},
        {"query": "far", "location": (-179.99999999999997, 89.123456789012345), "accuracy_radius": 1000},
    ],
)
def test_replayed_rows_are_stored_exactly_as_recorded(city_database, spool_dir, values):
    (london,) = make_rows(city_database, count=1)
    row = {**london, **values}
    history.record([row])
    assert history.replay().rows == 1
    assert as_row(Lookup.objects.get()) == row


def test_a_nan_location_is_stored_as_recorded(city_database, spool_dir):
    history.record([history.new_row(query="nan", channel="api", location=(math.nan, 1.0))])
    (stored,) = Lookup.objects.all()
    assert math.isnan(stored.location.x)
    assert stored.location.y == 1.0


def test_a_replay_that_copies_a_stored_row_again_stores_each_once(city_database, spool_dir):
    rows = make_rows(city_database)
    history.record(rows[:1])
    history.flush()  # stored, as if its file's replay had committed before a crash
    history.record(rows)
    assert history.replay().rows == 3  # COPY took all three, the INSERT skipped the stored one
    assert sorted(str(uid) for uid in Lookup.objects.values_list("uid", flat=True)) == sorted(
        row["uid"] for row in rows
    )


def test_processes_never_share_a_spool_file_even_with_the_same_pid_and_host(city_database, spool_dir):
    """Containers on host networking share the host name and each starts its pids from 1: two
    processes that are both pid 1 of their own pid namespace, on one spool folder."""
    probe = subprocess.run(["unshare", "--pid", "--fork", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a pid namespace here: {probe.stderr.decode().strip()}")
    script = (
        "import os, django; django.setup(); from lookups.history import rows, spool; "
        "assert os.getpid() == 1; "
        "spool.append([rows.new_row(query=f'from pid {os.getpid()}', channel='api', uid=rows.new_uid())])"
    )
    env = process_env(spool_dir)
    for _ in range(2):
        subprocess.run(
            ["unshare", "--pid", "--fork", sys.executable, "-c", script], cwd=BASE_DIR, env=env, check=True
        )
    assert len(list(spool_dir.glob("*.spool"))) == 2
    assert history.replay().rows == 2
    assert Lookup.objects.filter(query="from pid 1").count() == 2


CLAIMER = """
import sys, django
django.setup()
from lookups.history import spool
claim = spool.claim(spool.waiting_files()[0])
print(claim.path, flush=True)
sys.stdin.read()  # holds the claim (and its lock) until killed
"""


def test_a_live_claimers_file_is_left_alone_and_a_dead_ones_replayed_at_once(city_database, spool_dir):
    history.record(make_rows(city_database))
    spool.seal_own()  # as this process's replay would: then any process's replayer may claim it
    env = process_env(spool_dir)
    claimer = subprocess.Popen(
        [sys.executable, "-c", CLAIMER], cwd=BASE_DIR, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        claimed = claimer.stdout.readline().decode().strip()
        assert claimed.endswith(".replaying")
        old = time.time() - 3600
        os.utime(claimed, (old, old))  # however old the claim: its claimer is alive
        assert history.replay().rows == 0
        assert Lookup.objects.count() == 0
    finally:
        claimer.send_signal(signal.SIGKILL)
        claimer.wait()
    assert history.replay().rows == 3  # at once: its lock died with it
    assert Lookup.objects.count() == 3
    assert list(spool_dir.iterdir()) == []


def test_unreadable_lines_are_kept_aside_and_the_rest_is_stored(city_database, spool_dir):
    history.record(make_rows(city_database, count=2))
    path = next(spool_dir.glob("*.spool"))
    with open(path, "ab") as spool_file:
        spool_file.write(b"2026-12-01T00:00:00+00:00\thalf a line, the writer died he")
    report = history.replay()
    assert (report.rows, report.rejected) == (2, 1)
    rejected = list(spool_dir.glob("*.rejected"))
    assert len(rejected) == 1
    assert b"half a line" in rejected[0].read_bytes()


def test_spool_files_are_sealed_at_the_size_limit(city_database, spool_dir, settings):
    settings.HISTORY_SPOOL_FILE_MAX_BYTES = 1000
    for _ in range(4):
        history.record([dict(row, uid=None) for row in make_rows(city_database)])
    assert len(list(spool_dir.glob("*.spool"))) >= 3
    assert len(spool_lines(spool_dir)) == 12
    assert history.replay().rows == 12
    assert Lookup.objects.count() == 12


def as_json_line(row: dict) -> str:
    """A row as the JSON-lines spool of the previous version wrote it."""
    data = {**row, "created_at": row["created_at"].isoformat()}
    if isinstance(data.get("database_build_date"), dt.datetime):
        data["database_build_date"] = data["database_build_date"].isoformat()
    if data["location"] is not None:
        data["location"] = list(data["location"])
    return json.dumps(data) + "\n"


def test_a_spool_file_of_the_json_lines_format_replays_in_order(city_database, spool_dir):
    """Files the previous version spooled (JSON lines) are read after an upgrade: each line
    stored as its row, in order; a line that is not one, or that PostgreSQL refuses, kept aside."""
    london, invalid, linkoping = (dict(row, uid=history.new_uid()) for row in make_rows(city_database))
    nan = history.new_row(query="nan", channel="api", location=(math.nan, 1.0), uid=history.new_uid())
    nul = history.new_row(query="nul", channel="api", city="a\\u0000b", uid=history.new_uid())
    refused = history.new_row(query="refused", channel="api", country_code="XXX", uid=history.new_uid())
    older = {key: value for key, value in as_json_line_data(london).items() if key != "uid"}
    spool_dir.mkdir(parents=True)
    (spool_dir / "history-oldhost-42.jsonl").write_text(
        "".join(as_json_line(row) for row in (london, invalid, nan, linkoping, nul, refused))
        + json.dumps({**older, "query": "older"})
        + "\n"
        + '{"query": "half a line\n'
    )
    report = history.replay()
    assert (report.rows, report.rejected) == (6, 2)
    stored = list(Lookup.objects.order_by("id"))
    assert [lookup.query for lookup in stored] == [
        london["query"],
        "nope nope",
        "nan",
        LINKOPING_IP,
        "nul",
        "older",
    ]
    for row, lookup in zip(
        [london, invalid, linkoping, nul], [stored[0], stored[1], stored[3], stored[4]], strict=True
    ):
        assert as_row(lookup) == row
    assert math.isnan(stored[2].location.x)
    assert {**as_row(stored[5]), "uid": None, "created_at": None} == {
        **london,
        "query": "older",
        "uid": None,
        "created_at": None,
    }
    rejected = next(spool_dir.glob("*.rejected")).read_bytes()
    assert b"refused" in rejected
    assert b"half a line" in rejected


def test_a_spool_file_of_a_version_without_the_subdivisions_column_replays(city_database, spool_dir):
    """A file spooled before the history kept every subdivision names the columns it has: its
    rows are stored with no subdivisions list (their first one is in subdivision_code/name)."""
    (london,) = make_rows(city_database, count=1)
    give_uids([london])
    columns = [column for column in COLUMNS if column != "subdivisions"]
    line = encode_row(london).split(b"\t")
    del line[COLUMNS.index("subdivisions")]
    spool_dir.mkdir(parents=True)
    (spool_dir / "history-oldhost-7.spool").write_bytes(
        b"#history-copy\t" + "\t".join(columns).encode() + b"\n" + b"\t".join(line)
    )
    assert history.replay().rows == 1
    stored = Lookup.objects.get()
    assert as_row(stored) == {**london, "subdivisions": []}
    assert (stored.subdivision_code, stored.subdivision_name) == ("ENG", "England")


def as_json_line_data(row: dict) -> dict:
    return json.loads(as_json_line(row))


def test_a_file_sealed_and_claimed_while_it_is_written_loses_no_rows(city_database, spool_dir, settings):
    """This process's flusher seals the writer's file between appends, and replayers claim the
    sealed files and may put them back: the writer must neither fail (a 503 for a recorded
    lookup) nor lose the rows, also when every append seals the file itself."""
    rows = make_rows(city_database)
    done = threading.Event()

    def seal_claim_and_put_back():  # a flusher whose PostgreSQL is away
        while not done.is_set():
            spool.seal_own()
            for path in spool.waiting_files():
                claim = spool.claim(path)
                if claim is not None:
                    claim.put_back()

    for max_bytes in (1, settings.HISTORY_SPOOL_FILE_MAX_BYTES):
        settings.HISTORY_SPOOL_FILE_MAX_BYTES = max_bytes
        done.clear()
        thief = threading.Thread(target=seal_claim_and_put_back)
        thief.start()
        try:
            for _ in range(300):
                history.record([dict(row, uid=None) for row in rows])
        finally:
            done.set()
            thief.join()
        assert len(spool_lines(spool_dir)) == 900
        assert history.replay().rows == 900


WRITER = """
import sys, django
django.setup()
from lookups.history import rows, spool
spool.append([rows.new_row(query="from a live writer", channel="api", uid=rows.new_uid())])
print(spool.own_path(), flush=True)
sys.stdin.read()  # keeps writing the file (and holds its lock) until killed
"""


def test_a_live_writers_file_is_its_own_and_a_dead_ones_is_replayed_at_once(city_database, spool_dir):
    """A writer holds its file's lock while it has it open, so that an append is one write():
    another process's replay leaves the file alone, and takes it as soon as the writer dies."""
    env = process_env(spool_dir)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER], cwd=BASE_DIR, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        written = writer.stdout.readline().decode().strip()
        assert written.endswith(".spool")
        assert history.replay().rows == 0
        assert os.path.exists(written)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert history.replay().rows == 1  # at once: its lock died with it, its row did not
    assert Lookup.objects.get().query == "from a live writer"
    assert list(spool_dir.iterdir()) == []


def test_a_forked_child_writes_a_file_of_its_own_with_uids_of_its_own(city_database, spool_dir):
    history.record(make_rows(city_database, count=1))
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its own file, and uids its parent will not draw
        try:
            os.close(read_end)
            row = history.new_row(query="from the child", channel="api")
            history.record([row])
            os.write(write_end, f"{spool.own_path()}\n{row['uid']}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        child_path, child_uid = pipe.read().split("\n")
    os.waitpid(pid, 0)
    parent_row = history.new_row(query="from the parent", channel="api")
    history.record([parent_row])
    assert child_path != str(spool.own_path())
    assert parent_row["uid"] != child_uid
    assert history.replay().rows == 3
    assert Lookup.objects.filter(query__startswith="from the").count() == 2


def test_no_spool_and_no_postgresql_is_a_clear_503(client, city_database, spool_dir, settings):
    spool_dir.parent.mkdir(exist_ok=True)
    spool_dir.write_text("a file where the folder should be")
    postgresql_just_failed(settings)
    response = client.get(f"/api/v1/lookup/{LONDON_IP}")
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json() == {
        "error": {"code": "history_unavailable", "message": HISTORY_UNAVAILABLE_MESSAGE}
    }
    health = client.get("/health")
    assert health.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert health.json() == {"status": "unavailable", "reason": POSTGRESQL_DOWN_SPOOL_UNWRITABLE}


def test_lookups_are_answered_and_spooled_while_postgresql_is_away(
    client, city_database, spool_dir, settings
):
    postgresql_just_failed(settings)
    response = client.get(f"/api/v1/lookup/{LONDON_IP}")
    assert response.status_code == HTTPStatus.OK
    batch = client.post(
        "/api/v1/lookup/batch",
        data=json.dumps({"queries": [LONDON_IP, "10.0.0.1", "london.example.com"]}),
        content_type="application/json",
    )
    assert batch.status_code == HTTPStatus.OK
    assert [line["outcome"] for line in spool_lines(spool_dir)] == ["ok", "ok", "address_not_public", "ok"]

    health = client.get("/health")
    assert health.status_code == HTTPStatus.OK
    body = health.json()
    assert body["status"] == "degraded"
    assert body["warnings"][0] == POSTGRESQL_DOWN_WARNING
    size = sum(path.stat().st_size for path in spool_dir.iterdir())
    assert body["warnings"][1] == HISTORY_SPOOLED_WARNING.format(bytes=size, files=1)


def test_health_is_ok_again_once_the_spool_is_replayed(client, city_database, spool_dir):
    history.record(make_rows(city_database, count=1))
    old = time.time() - 60  # left alone by the flushers for a while
    os.utime(next(spool_dir.glob("*.spool")), (old, old))
    assert client.get("/health").json()["status"] == "degraded"
    call_command("replay_history_spool", verbosity=0)
    body = client.get("/health").json()
    assert (body["status"], body["warnings"]) == ("ok", [])


def test_replay_command(city_database, spool_dir, capsys):
    call_command("replay_history_spool")
    assert "No history waits" in capsys.readouterr().out
    history.record(make_rows(city_database))
    call_command("replay_history_spool")
    assert "Replayed 3 history row(s) from 1 spool file(s)." in capsys.readouterr().out
    assert Lookup.objects.count() == 3


def test_replay_command_says_when_postgresql_refuses_a_row(city_database, spool_dir):
    row = make_rows(city_database, count=1)[0]
    row["country_code"] = "TOO LONG FOR TWO CHARACTERS"
    history.record([row])
    with pytest.raises(CommandError, match="refused 1 row"):
        call_command("replay_history_spool", verbosity=0)
    assert len(list(spool_dir.glob("*.rejected"))) == 1


def test_uid_is_unique_in_postgresql_with_the_time_it_carries(city_database):
    """Unique with created_at (a partitioned table's constraints include its partition column):
    a replayed row repeats both, so that is what must be refused."""
    shared, moment = uuid.uuid4(), dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
    Lookup.objects.create(query="a", channel="api", uid=shared, created_at=moment)
    with pytest.raises(IntegrityError), transaction.atomic():
        Lookup.objects.create(query="b", channel="api", uid=shared, created_at=moment)


def test_a_file_put_back_after_failed_replays_keeps_a_short_name(tmp_path):
    path = tmp_path / "history-0123456789abcdef.spool"
    for _ in range(200):  # a replay every 0.25 s through a long outage
        claimed = path.with_name(f"{path.name.split('.')[0]}.{time.time_ns()}.replaying")
        path = spool.put_back_name(claimed)
    assert path.name.startswith("history-0123456789abcdef-")
    assert len(path.name) < 60
