"""The history partitioned by day: the migration that partitions a table keeps every row, rows
land in their day's partition (or the default one), retention drops whole partitions, and the
dashboard's counts follow rows in and out."""

import datetime as dt
import uuid
from collections.abc import Callable
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from lookups import history
from lookups.admin.dashboard import history_stats
from lookups.history import partitions
from lookups.history.retention import purge_history
from lookups.models import Lookup, LookupDayCount, LookupDayQuery
from lookups.tests.history_data import make_lookup

pytestmark = pytest.mark.django_db

BEFORE = [("lookups", "0007_subdivisions")]


def today_at(days: int, hour: int) -> dt.datetime:
    """`days` after today (UTC), at `hour` o'clock."""
    day = timezone.now().astimezone(dt.UTC).date() + dt.timedelta(days=days)
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


def laid_out_day() -> Callable[[int, int], dt.datetime]:
    """`days` after the day the partitions were laid out, at `hour` o'clock: the migration's
    first partition ends the day after it. That day is today, unless the run crossed midnight
    (UTC) since the migrations, when today's partitions are already the second day's."""
    first_end = partitions.range_partitions()[0].end
    return lambda days, hour: first_end + dt.timedelta(days=days - 1, hours=hour)


def partition_of(lookup: Lookup) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM lookups_lookup WHERE id = %s", [lookup.pk])
        return cursor.fetchone()[0]


def day_counts() -> dict[dt.date, int]:
    return {row.day: row.total for row in LookupDayCount.objects.all() if row.total}


@pytest.mark.django_db(transaction=True)
def test_partitioning_an_existing_history_keeps_every_row():
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes("lookups")
    executor.migrate(BEFORE)
    old_lookup = (
        MigrationExecutor(connection).loader.project_state(BEFORE).apps.get_model("lookups", "Lookup")
    )
    times = [today_at(-400, 3), today_at(-1, 23), today_at(0, 0), today_at(3, 12), today_at(40, 1)]
    before = [
        old_lookup.objects.create(query=f"q{n}", channel="api", created_at=moment, uid=uuid.uuid4())
        for n, moment in enumerate(times)
    ]
    MigrationExecutor(connection).migrate(latest)

    after = {lookup.uid: lookup for lookup in Lookup.objects.all()}
    assert {(row.pk, row.uid, row.created_at, row.query) for row in before} == {
        (row.pk, row.uid, row.created_at, row.query) for row in after.values()
    }
    # The old table is the first partition, up to the day after its newest row.
    assert partition_of(after[before[-1].uid]) == "lookups_lookup_initial"
    first, *days = partitions.range_partitions()
    assert (first.name, first.start, first.end) == ("lookups_lookup_initial", None, today_at(41, 0))
    assert [p.name for p in days] == [partitions.day_partition_name(today_at(41 + n, 0)) for n in range(8)]
    # Ids go on from the old sequence; the existing rows are counted for the dashboard.
    assert make_lookup(created_at=today_at(45, 1)).pk > max(row.pk for row in before)
    assert sum(day_counts().values()) == len(times) + 1
    assert LookupDayQuery.objects.get(query="q0").lookups == 1


def test_rows_land_in_their_days_partition_and_beyond_them_in_the_default_one():
    assert partition_of(make_lookup(created_at=today_at(2, 10))) == partitions.day_partition_name(
        today_at(2, 0)
    )
    far = make_lookup(created_at=today_at(60, 10))
    assert partition_of(far) == partitions.DEFAULT_PARTITION
    counted = day_counts()

    created = partitions.ensure_partitions(now=today_at(59, 0), days_ahead=2)

    assert created == [partitions.day_partition_name(today_at(59 + n, 0)) for n in range(3)]
    assert partition_of(far) == partitions.day_partition_name(today_at(60, 0))  # moved, same row
    assert Lookup.objects.get(pk=far.pk).uid == far.uid
    assert day_counts() == counted  # a move is not a new lookup
    assert partitions.ensure_partitions(now=today_at(59, 0), days_ahead=2) == []


def test_retention_drops_whole_partitions_and_deletes_rows_only_in_the_boundary_one():
    laid_out_day_at = laid_out_day()
    for days, hour in ((-30, 1), (1, 1), (2, 1), (3, 1), (4, 5), (4, 20), (5, 1)):
        make_lookup(query=f"day{days}-{hour}", created_at=laid_out_day_at(days, hour))
    now = laid_out_day_at(5, 12)  # the cutoff is the fourth day at 12:00

    with CaptureQueriesContext(connection) as queries:
        result = purge_history(dt.timedelta(days=1), now=now, batch_size=100)

    assert result.dropped_partitions == (
        "lookups_lookup_initial",
        *(partitions.day_partition_name(laid_out_day_at(n, 0)) for n in (1, 2, 3)),
    )
    assert result.deleted == 5
    assert result.batches == 1
    deletes = [
        q["sql"] for q in queries.captured_queries if q["sql"].startswith('DELETE FROM "lookups_lookup"')
    ]
    assert len(deletes) == 1  # only the boundary day's early row went by DELETE
    assert sorted(Lookup.objects.values_list("query", flat=True)) == ["day4-20", "day5-1"]
    assert day_counts() == {laid_out_day_at(4, 0).date(): 1, laid_out_day_at(5, 0).date(): 1}
    # The run created the days ahead of its `now`.
    assert partitions.range_partitions()[-1].name == partitions.day_partition_name(laid_out_day_at(12, 0))


def test_counts_follow_rows_in_and_out_and_a_replayed_row_once(city_database, history_spool):
    rows = [history.new_row(query=q, channel="api", created_at=today_at(0, 1)) for q in ("a", "a", "b")]
    history.record(rows)
    copy = next(history_spool.glob("*.spool")).read_bytes()
    history.replay()
    (history_spool / "history-again.spool").write_bytes(copy)
    history.replay()
    assert Lookup.objects.count() == 3
    assert day_counts() == {today_at(0, 0).date(): 3}
    assert dict(LookupDayQuery.objects.values_list("query", "lookups")) == {"a": 2, "b": 1}
    Lookup.objects.filter(query="a").delete()
    assert day_counts() == {today_at(0, 0).date(): 1}
    stats = history_stats(now=today_at(0, 12))
    assert (stats.total, [q.label for q in stats.queries]) == (1, ["b"])


def test_create_history_partitions_command():
    out = StringIO()
    call_command("create_history_partitions", "--days-ahead", "12", stdout=out)
    assert partitions.day_partition_name(today_at(12, 0)) in out.getvalue()
    out = StringIO()
    call_command("create_history_partitions", "--days-ahead", "12", stdout=out)
    assert "has its partition already" in out.getvalue()
    with pytest.raises(CommandError, match="--days-ahead"):
        call_command("create_history_partitions", "--days-ahead", "many")
