import datetime as dt
from io import StringIO

import psycopg2
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lookups.history import retention
from lookups.history.retention import InvalidDuration, parse_duration, purge_history
from lookups.models import Lookup
from lookups.tests.history_data import NOW, ago, make_lookup

pytestmark = pytest.mark.django_db


def purge(*args, **options) -> str:
    out = StringIO()
    call_command("purge_lookups", *args, stdout=out, **options)
    return out.getvalue()


def remaining() -> list[str]:
    return list(Lookup.objects.order_by("created_at").values_list("query", flat=True))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90d", dt.timedelta(days=90)),
        ("12h", dt.timedelta(hours=12)),
        ("2w", dt.timedelta(weeks=2)),
        (" 7D ", dt.timedelta(days=7)),
        ("1h", dt.timedelta(hours=1)),
    ],
)
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("90", retention.DURATION_MESSAGE.format(value="90")),
        ("90x", retention.DURATION_MESSAGE.format(value="90x")),
        ("-1d", retention.DURATION_MESSAGE.format(value="-1d")),
        ("1.5d", retention.DURATION_MESSAGE.format(value="1.5d")),
        ("d", retention.DURATION_MESSAGE.format(value="d")),
        ("", retention.DURATION_MESSAGE.format(value="")),
        ("99999999999w", retention.DURATION_MESSAGE.format(value="99999999999w")),
        ("0d", retention.ZERO_DURATION_MESSAGE.format(value="0d")),
    ],
)
def test_bad_durations_are_a_clear_command_error(text, message):
    with pytest.raises(InvalidDuration, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"):
        parse_duration(text)
    make_lookup(created_at=ago(days=400))
    with pytest.raises(CommandError, match="--older-than"):
        purge("--older-than", text)
    assert Lookup.objects.count() == 1


@pytest.mark.parametrize("size", ["0", "-5", "many"])
def test_bad_batch_sizes_are_a_clear_command_error(size):
    with pytest.raises(CommandError, match="--batch-size"):
        purge("--batch-size", size)


def test_default_retention_comes_from_the_setting(settings):
    settings.LOOKUP_RETENTION_DAYS = 90
    make_lookup(query="old", created_at=ago(days=91))
    make_lookup(query="recent", created_at=ago(days=89))
    output = purge()
    assert remaining() == ["recent"]
    assert output.startswith("Deleted 1 lookups recorded before ")
    assert "in 1 batch." in output


def test_retention_zero_keeps_everything(settings):
    settings.LOOKUP_RETENTION_DAYS = 0
    make_lookup(created_at=ago(days=4000))
    assert "kept forever" in purge()
    assert Lookup.objects.count() == 1
    # An explicit --older-than still works: the operator asked for it.
    purge("--older-than", "1w")
    assert Lookup.objects.count() == 0


def test_the_cutoff_itself_is_kept():
    make_lookup(query="just-before", created_at=NOW - dt.timedelta(days=30, microseconds=1))
    make_lookup(query="exactly-at", created_at=NOW - dt.timedelta(days=30))
    make_lookup(query="after", created_at=NOW - dt.timedelta(days=29))
    result = purge_history(dt.timedelta(days=30), now=NOW)
    assert result.deleted == 1
    assert result.cutoff == NOW - dt.timedelta(days=30)
    assert remaining() == ["exactly-at", "after"]


def test_dry_run_counts_and_deletes_nothing():
    for days in (100, 120, 5):
        make_lookup(created_at=ago(days=days))
    output = purge("--older-than", "90d", "--dry-run")
    assert output.startswith("Dry run: 2 lookups recorded before ")
    assert output.strip().endswith("would go.")
    assert Lookup.objects.count() == 3


def test_deletes_oldest_first_in_batches_each_its_own_transaction():
    Lookup.objects.bulk_create(
        [Lookup(query=f"old{n:02}", channel="api", created_at=ago(days=200 - n)) for n in range(25)]
        + [Lookup(query="recent", channel="api", created_at=ago(days=1))]
    )
    with CaptureQueriesContext(connection) as queries:
        output = purge("--older-than", "90d", "--batch-size", "10", verbosity=2)
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 3
    assert all("LIMIT 10" in sql for sql in deletes)
    assert "batch 1: 10 deleted so far" in output
    assert "batch 3: 25 deleted so far" in output
    assert "Deleted 25 lookups" in output
    assert "in 3 batches." in output
    assert remaining() == ["recent"]


@pytest.mark.django_db(transaction=True)
def test_each_batch_is_committed_before_the_next_starts():
    """Another connection sees each batch gone at once: no transaction spans the purge."""
    Lookup.objects.bulk_create(
        [Lookup(query=f"old{n}", channel="api", created_at=ago(days=300)) for n in range(6)]
    )
    seen_elsewhere = []
    with psycopg2.connect(**connection.get_connection_params()) as other:
        other.autocommit = True

        def count_elsewhere(batches: int, deleted: int) -> None:
            with other.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM lookups_lookup")
                seen_elsewhere.append(cursor.fetchone()[0])

        purge_history(dt.timedelta(days=90), batch_size=2, progress=count_elsewhere)
    assert seen_elsewhere == [4, 2, 0]


def test_a_batch_stops_at_the_oldest_rows():
    Lookup.objects.bulk_create(
        [Lookup(query=f"old{n}", channel="api", created_at=ago(days=300 - n)) for n in range(5)]
    )
    deleted_batches = []
    purge_history(
        dt.timedelta(days=90),
        batch_size=2,
        progress=lambda batches, deleted: deleted_batches.append((batches, deleted, remaining())),
    )
    assert deleted_batches[0] == (1, 2, ["old2", "old3", "old4"])  # the two oldest went first
    assert deleted_batches[-1][:2] == (3, 5)


def test_quiet_at_verbosity_zero():
    make_lookup(created_at=ago(days=365))
    assert purge("--older-than", "90d", verbosity=0) == ""
    assert purge("--older-than", "90d", "--dry-run", verbosity=0) == ""
    assert Lookup.objects.count() == 0


def test_nothing_to_delete():
    make_lookup(created_at=ago(days=1))
    assert "Deleted 0 lookups" in purge("--older-than", "90d")
    assert Lookup.objects.count() == 1
