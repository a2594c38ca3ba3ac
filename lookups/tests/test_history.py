"""The history's durable path: spool files on disk, their replay, the breaker, /health about them.

The real PostgreSQL outage (a cluster stopped under a live gunicorn) is in test_faults.py; here
the breaker stands for "PostgreSQL just failed", which is exactly the state record() acts on.
"""

import contextlib
import json
import math
import os
import shutil
import subprocess
import threading
import time
import uuid
from http import HTTPStatus

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from lookups import history
from lookups.core.history_row import history_row
from lookups.core.pipeline import geolocate
from lookups.errors import HISTORY_UNAVAILABLE_MESSAGE, InvalidQuery
from lookups.models import Lookup
from lookups.tests.geoip_data import LINKOPING_IP, LONDON_IP
from lookups.web.health import (
    HISTORY_SPOOLED_WARNING,
    POSTGRESQL_DOWN_SPOOL_UNWRITABLE,
    POSTGRESQL_DOWN_WARNING,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def spool_dir(tmp_path, settings):
    settings.HISTORY_SPOOL_DIR = tmp_path / "spool"
    history._mark_reachable()
    history._next_replay_check = 0.0
    yield settings.HISTORY_SPOOL_DIR
    history._mark_reachable()
    history._next_replay_check = 0.0


def postgresql_just_failed():
    """The state record() is in right after an INSERT failed with an OperationalError."""
    history._database_down_until = time.monotonic() + 3600


def spool_lines(directory):
    return [
        json.loads(line)
        for path in sorted(directory.glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


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


def test_rows_go_to_postgresql_when_it_answers(city_database, spool_dir):
    history.record(make_rows(city_database))
    assert Lookup.objects.count() == 3
    assert Lookup.objects.filter(uid__isnull=True).count() == 0
    assert not spool_dir.exists() or not list(spool_dir.iterdir())


def test_rows_are_spooled_while_postgresql_is_away_and_replayed_identically(
    city_database, spool_dir, django_assert_num_queries
):
    rows = make_rows(city_database)
    postgresql_just_failed()
    with django_assert_num_queries(0):  # straight to disk: no connect timeout per request
        history.record(rows)
    assert Lookup.objects.count() == 0
    lines = spool_lines(spool_dir)
    assert [line["query"] for line in lines] == [LONDON_IP, "nope nope", LINKOPING_IP]
    files = list(spool_dir.glob("*.jsonl"))
    assert len(files) == 1
    assert files[0].name == f"history-{os.uname().nodename.replace('.', '_')}-{os.getpid()}.jsonl"
    assert oct(files[0].stat().st_mode & 0o777) == "0o600"

    history._mark_reachable()
    report = history.replay()
    assert (report.files, report.rows, report.rejected) == (1, 3, 0)
    stored = {str(lookup.uid): lookup for lookup in Lookup.objects.all()}
    for row in rows:
        assert as_row(stored[row["uid"]]) == row
    assert stored[rows[0]["uid"]].location.srid == 4326
    assert list(spool_dir.iterdir()) == []


def test_a_row_replayed_twice_is_stored_once(city_database, spool_dir):
    rows = make_rows(city_database)
    history.spool(rows)
    backup = spool_dir.parent / "copy.jsonl"
    shutil.copy(next(spool_dir.glob("*.jsonl")), backup)
    history.replay()
    shutil.copy(backup, spool_dir / "history-elsewhere-1.jsonl")
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
        {"query": "tiny", "location": (1e-05, -0.0), "accuracy_radius": 0},
        {"query": "far", "location": (-179.99999999999997, 89.123456789012345), "accuracy_radius": 1000},
    ],
)
def test_replayed_rows_are_stored_exactly_as_recorded(city_database, spool_dir, values):
    """The flusher COPYs spooled lines in: every value comes back as the row had it."""
    (london,) = make_rows(city_database, count=1)
    row = {**london, **values}
    history.spool([row])
    line = next(spool_dir.glob("*.jsonl")).read_bytes().strip()
    assert history._copy_spooled([json.loads(line)])  # by COPY, not the INSERT behind it
    assert as_row(Lookup.objects.get()) == row
    Lookup.objects.all().delete()
    assert history.replay().rows == 1
    assert as_row(Lookup.objects.get()) == row


def test_a_replay_that_copies_a_stored_row_again_stores_each_once(city_database, spool_dir):
    rows = make_rows(city_database)
    history.record(rows[:1])  # stored, as if its file's replay had committed before a crash
    history.spool(rows)
    assert history.replay().rows == 3  # COPY refused on the uid: the INSERT skipped that row
    assert sorted(str(uid) for uid in Lookup.objects.values_list("uid", flat=True)) == sorted(
        row["uid"] for row in rows
    )


def test_the_next_insert_replays_the_spool_first(city_database, spool_dir, settings):
    settings.HISTORY_SPOOL_REPLAY_INTERVAL = 3600
    postgresql_just_failed()
    history.record(make_rows(city_database, count=2))
    history._mark_reachable()
    history.record(make_rows(city_database, count=1))
    assert Lookup.objects.count() == 3
    assert list(spool_dir.iterdir()) == []
    # At most once per interval: a spool that appears now waits for the next turn.
    history.spool(make_rows(city_database, count=1))
    history.record(make_rows(city_database, count=1))
    assert Lookup.objects.count() == 4
    assert len(spool_lines(spool_dir)) == 1


def test_a_claim_left_by_a_dead_replayer_is_taken_over_but_a_fresh_one_is_not(city_database, spool_dir):
    history.spool(make_rows(city_database))
    path = next(spool_dir.glob("*.jsonl"))
    claimed = path.with_name(path.stem + f".{os.getpid()}-1.replaying")  # a live replayer: us
    os.rename(path, claimed)
    assert history.replay().rows == 0  # somebody is replaying it right now
    old = time.time() - history.STALE_CLAIM_SECONDS - 5
    os.utime(claimed, (old, old))
    assert history.replay().rows == 3
    assert Lookup.objects.count() == 3
    assert list(spool_dir.iterdir()) == []


def test_a_claim_of_a_replayer_that_died_is_taken_over_at_once(city_database, spool_dir):
    history.spool(make_rows(city_database))
    path = next(spool_dir.glob("*.jsonl"))
    child = subprocess.Popen(["true"])
    child.wait()  # its pid is free now: a replayer that died
    os.rename(path, path.with_name(path.stem + f".{child.pid}-1.replaying"))
    assert history.replay().rows == 3
    assert Lookup.objects.count() == 3


def test_unreadable_lines_are_kept_aside_and_the_rest_is_stored(city_database, spool_dir):
    history.spool(make_rows(city_database, count=2))
    path = next(spool_dir.glob("*.jsonl"))
    with open(path, "ab") as spool_file:
        spool_file.write(b'{"query": "half a line, the writer died he')
    report = history.replay()
    assert (report.rows, report.rejected) == (2, 1)
    rejected = list(spool_dir.glob("*.rejected"))
    assert len(rejected) == 1
    assert b"half a line" in rejected[0].read_bytes()


def test_spool_files_are_sealed_at_the_size_limit(city_database, spool_dir, settings):
    settings.HISTORY_SPOOL_FILE_MAX_BYTES = 1500
    for _ in range(4):
        history.spool(make_rows(city_database))
    assert len(list(spool_dir.glob("*.jsonl"))) >= 3
    assert len(spool_lines(spool_dir)) == 12
    assert history.replay().rows == 12
    assert Lookup.objects.count() == 12


def test_lines_of_every_kind_replay_in_order_as_their_rows(city_database, spool_dir):
    """Lines this version writes go to PostgreSQL as they are; the others (an older version's
    line without some columns, a NaN location, text that looks like an escaped NUL) through
    their rows: all in spool order, each stored as its row, a row PostgreSQL refuses kept aside."""
    london, invalid, linkoping = make_rows(city_database)
    nan = history.new_row(query="nan", channel="api", location=(math.nan, 1.0))
    nul = history.new_row(query="nul", channel="api", city="a\\u0000b")
    refused = history.new_row(query="refused", channel="api", country_code="XXX")
    history.spool([london, invalid, nan, linkoping, nul, refused])
    older = {key: value for key, value in history.row_to_data(london).items() if key != "uid"}
    with next(spool_dir.glob("*.jsonl")).open("a") as spool_file:
        spool_file.write(json.dumps({**older, "query": "older"}) + "\n")

    report = history.replay()
    assert (report.rows, report.rejected) == (6, 1)
    stored = list(Lookup.objects.order_by("id"))
    assert [lookup.query for lookup in stored] == [
        london["query"],
        "nope nope",
        "nan",
        LINKOPING_IP,
        "nul",
        "older",
    ]
    for row, lookup in zip([london, invalid, linkoping], [stored[0], stored[1], stored[3]], strict=True):
        assert as_row(lookup) == row
    assert math.isnan(stored[2].location.x)
    assert as_row(stored[4]) == nul
    assert {**as_row(stored[5]), "uid": None, "created_at": None} == {
        **london,
        "query": "older",
        "uid": None,
        "created_at": None,
    }
    assert b"refused" in next(spool_dir.glob("*.rejected")).read_bytes()


def test_a_file_taken_away_while_it_is_sealed_loses_no_rows(city_database, spool_dir, settings):
    """A replayer may rename the spool file away between the writer's check and its sealing
    rename (gunicorn's flusher thread did, under the batch benchmark): the writer must neither
    fail (a 503 for a recorded lookup) nor lose the rows."""
    settings.HISTORY_SPOOL_FILE_MAX_BYTES = 1  # every append seals the file
    rows = make_rows(city_database)
    own_file = history._own_spool_path()
    done = threading.Event()

    def take_away():  # what a replayer's claim does to the writer's file
        while not done.is_set():
            with contextlib.suppress(FileNotFoundError):
                os.rename(own_file, history.put_back_name(own_file))

    thief = threading.Thread(target=take_away)
    thief.start()
    try:
        for _ in range(300):
            history.spool([dict(row, uid=None) for row in rows])
    finally:
        done.set()
        thief.join()
    assert len(spool_lines(spool_dir)) == 900
    assert history.replay().rows == 900


def test_no_spool_and_no_postgresql_is_a_clear_503(client, city_database, spool_dir):
    spool_dir.parent.mkdir(exist_ok=True)
    spool_dir.write_text("a file where the folder should be")
    postgresql_just_failed()
    response = client.get(f"/api/v1/lookup/{LONDON_IP}")
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json() == {
        "error": {"code": "history_unavailable", "message": HISTORY_UNAVAILABLE_MESSAGE}
    }
    health = client.get("/health")
    assert health.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert health.json() == {"status": "unavailable", "reason": POSTGRESQL_DOWN_SPOOL_UNWRITABLE}


def test_lookups_are_answered_and_spooled_while_postgresql_is_away(client, city_database, spool_dir):
    postgresql_just_failed()
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
    history.spool(make_rows(city_database, count=1))
    assert client.get("/health").json()["status"] == "degraded"
    call_command("replay_history_spool", verbosity=0)
    body = client.get("/health").json()
    assert (body["status"], body["warnings"]) == ("ok", [])


def test_replay_command(city_database, spool_dir, capsys):
    call_command("replay_history_spool")
    assert "No history waits" in capsys.readouterr().out
    history.spool(make_rows(city_database))
    call_command("replay_history_spool")
    assert "Replayed 3 history row(s) from 1 spool file(s)." in capsys.readouterr().out
    assert Lookup.objects.count() == 3


def test_replay_command_says_when_postgresql_refuses_a_row(city_database, spool_dir):
    row = make_rows(city_database, count=1)[0]
    row["country_code"] = "TOO LONG FOR TWO CHARACTERS"
    history.spool([row])
    with pytest.raises(CommandError, match="refused 1 row"):
        call_command("replay_history_spool", verbosity=0)
    assert len(list(spool_dir.glob("*.rejected"))) == 1


def test_uid_is_unique_in_postgresql(city_database):
    shared = uuid.uuid4()
    Lookup.objects.create(query="a", channel="api", uid=shared)
    with pytest.raises(IntegrityError), transaction.atomic():
        Lookup.objects.create(query="b", channel="api", uid=shared)


def test_a_file_put_back_after_failed_replays_keeps_a_short_name(tmp_path):
    path = tmp_path / "history-my-host-4242.jsonl"
    for _ in range(200):  # a replay every 0.25 s through a long outage
        claimed = path.with_name(f"{path.name.split('.')[0]}.{os.getpid()}-{time.time_ns()}.replaying")
        path = history.put_back_name(claimed)
    assert path.name.startswith("history-my-host-4242-")
    assert len(path.name) < 60
