"""The history's partitions: one per UTC day on created_at, created ahead, dropped whole when old.

Migration 0008 made the table partitioned: its first partition holds every row from before (up to
the day after the migration), then come day partitions, and a DEFAULT partition takes a row that
no day partition covers (when nobody created partitions ahead for a while), so that no row is ever
refused for its time. ensure_partitions() creates the days ahead (`manage.py
create_history_partitions`, run daily, and `purge_lookups`), first moving any rows of that day the
default partition took. drop_partitions_before() is the retention: a partition wholly older than
the cutoff goes in one short statement, with no row-by-row DELETE and nothing left to vacuum.
"""

import datetime as dt
import re
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from lookups.models import Lookup

TABLE = Lookup._meta.db_table
DEFAULT_PARTITION = f"{TABLE}_default"
DAYS_AHEAD = 7
# DDL on the history waits no longer than this for a lock (a long admin query holding one), and
# fails rather than make every lookup's write queue up behind it; the next run tries again.
LOCK_TIMEOUT = "5s"
# The dashboard's per-day tables (migrations 0009 and 0011), whose days go with their partition.
COUNT_TABLES = (
    "lookups_lookupdaycount",
    "lookups_lookupdayquery",
    "lookups_lookupdaycell",
    "lookups_lookupdayrequester",
)

_BOUND = re.compile(r"FOR VALUES FROM \((?:MINVALUE|'([^']+)')\) TO \((?:MAXVALUE|'([^']+)')\)")


@dataclass(frozen=True)
class Partition:
    name: str
    start: dt.datetime | None  # None: from the beginning of time
    end: dt.datetime | None  # None: to its end


def day_partition_name(day: dt.date) -> str:
    return f"{TABLE}_p{day:%Y%m%d}"


def _moment(text: str | None) -> dt.datetime | None:
    # PostgreSQL writes bounds in the session's time zone, which Django sets to UTC: "+00".
    return None if text is None else dt.datetime.fromisoformat(text)


def range_partitions() -> list[Partition]:
    """The day (and first) partitions, oldest first; the default partition is not one."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT child.relname, pg_get_expr(child.relpartbound, child.oid) FROM pg_inherits "
            "JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
            "WHERE pg_inherits.inhparent = %s::regclass",
            [TABLE],
        )
        found = []
        for name, bound in cursor.fetchall():
            match = _BOUND.fullmatch(bound)
            if match:
                found.append(Partition(name, _moment(match.group(1)), _moment(match.group(2))))
    return sorted(found, key=lambda part: part.start or dt.datetime.min.replace(tzinfo=dt.UTC))


def _covered(partitions: list[Partition], start: dt.datetime, end: dt.datetime) -> bool:
    """Whether any partition overlaps [start, end) (PostgreSQL refuses overlapping ones)."""
    return any((p.start is None or p.start < end) and (p.end is None or p.end > start) for p in partitions)


def ensure_partitions(*, now: dt.datetime | None = None, days_ahead: int = DAYS_AHEAD) -> list[str]:
    """Create the partitions of today and the next `days_ahead` days (UTC) that do not exist yet;
    returns their names. Rows of those days in the default partition move into them."""
    today = (now or timezone.now()).astimezone(dt.UTC).date()
    created = []
    for offset in range(days_ahead + 1):
        day = today + dt.timedelta(days=offset)
        start = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
        end = start + dt.timedelta(days=1)
        if _covered(range_partitions(), start, end):
            continue
        _create_day_partition(day_partition_name(day), start, end)
        created.append(day_partition_name(day))
    return created


def _create_day_partition(name: str, start: dt.datetime, end: dt.datetime) -> None:
    """Made like the parent, then attached: ATTACH takes a lock that lets lookups go on writing,
    where CREATE TABLE ... PARTITION OF would hold every reader and writer of the history."""
    quote = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        cursor.execute(
            f"CREATE TABLE {quote(name)} (LIKE {quote(TABLE)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        )
        # PostgreSQL refuses a partition whose rows are in the default one: they move first (only
        # move: the dashboard's counts stay). The lock keeps new ones of that day out meanwhile.
        cursor.execute(f"LOCK TABLE {quote(DEFAULT_PARTITION)} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {quote(DEFAULT_PARTITION)} "  # noqa: S608 (names are ours)
            f"WHERE created_at >= %s AND created_at < %s RETURNING *) "
            f"INSERT INTO {quote(name)} SELECT * FROM moved",
            [start, end],
        )
        cursor.execute(
            f"ALTER TABLE {quote(TABLE)} ATTACH PARTITION {quote(name)} FOR VALUES FROM (%s) TO (%s)",
            [start, end],
        )


@dataclass(frozen=True)
class Dropped:
    partitions: tuple[str, ...]
    rows: int


def drop_partitions_before(cutoff: dt.datetime) -> Dropped:
    """Drop every partition whose rows are all older than `cutoff`, with the dashboard's counts of
    their days; each in a short transaction of its own."""
    quote = connection.ops.quote_name
    names, rows = [], 0
    for partition in range_partitions():
        if partition.end is None or partition.end > cutoff:
            continue
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            # A DROP refuses a table with deferred foreign-key checks pending (rows written earlier
            # in a caller's transaction): run them now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"SELECT count(*) FROM {quote(partition.name)}")  # noqa: S608 (from the catalogue)
            rows += cursor.fetchone()[0]
            # The counts are per UTC day, and a partition holds whole UTC days: its days' counts go
            # with it (the default partition never holds rows of a day a partition covers).
            for table in COUNT_TABLES:
                if partition.start is None:
                    cursor.execute(f"DELETE FROM {table} WHERE day < %s", [partition.end.date()])  # noqa: S608
                else:
                    cursor.execute(
                        f"DELETE FROM {table} WHERE day >= %s AND day < %s",  # noqa: S608
                        [partition.start.date(), partition.end.date()],
                    )
            cursor.execute(f"DROP TABLE {quote(partition.name)}")
        names.append(partition.name)
    return Dropped(partitions=tuple(names), rows=rows)
