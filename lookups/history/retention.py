"""Deleting old history: the retention period. Whole partitions first, then rows in batches.

The history is partitioned by day (lookups.history.partitions): a partition whose rows are all
older than the cutoff is dropped whole, in seconds, with nothing left to vacuum. What remains
older than the cutoff is in the day partition the cutoff falls in (and in the default partition,
if rows landed there): each batch is one short transaction deleting at most `batch_size` of the
oldest of those rows, found through the (created_at, id) index, so that lookups keep recording
their rows in between. The run then creates the partitions of the days ahead.
"""

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from lookups.history import partitions
from lookups.models import Lookup

DURATION_MESSAGE = (
    "{value!r} is not a duration: write a whole number and a unit, "
    "such as 90d (days), 12h (hours) or 2w (weeks)."
)
ZERO_DURATION_MESSAGE = "The duration must be more than zero: {value!r} would delete the whole history."

_DURATION = re.compile(r"(\d+)\s*([hdw])")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


class InvalidDuration(ValueError):
    pass


def parse_duration(text: str) -> dt.timedelta:
    """A duration such as 90d, 12h or 2w. Raises InvalidDuration."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not match:
        raise InvalidDuration(DURATION_MESSAGE.format(value=text))
    amount, unit = int(match.group(1)), match.group(2)
    if amount == 0:
        raise InvalidDuration(ZERO_DURATION_MESSAGE.format(value=text))
    try:
        return dt.timedelta(**{_UNITS[unit]: amount})
    except OverflowError:
        raise InvalidDuration(DURATION_MESSAGE.format(value=text)) from None


def retention_period() -> dt.timedelta | None:
    """LOOKUP_RETENTION_DAYS as a duration; None when history is kept forever (0)."""
    days = settings.LOOKUP_RETENTION_DAYS
    return dt.timedelta(days=days) if days > 0 else None


@dataclass(frozen=True)
class PurgeResult:
    cutoff: dt.datetime
    deleted: int  # or, for a dry run, how many would be; those of dropped partitions included
    batches: int
    dry_run: bool
    dropped_partitions: tuple[str, ...] = ()


def purge_history(
    older_than: dt.timedelta,
    *,
    batch_size: int = 10_000,
    dry_run: bool = False,
    now: dt.datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PurgeResult:
    """Delete lookups recorded before now - older_than, oldest first, `batch_size` at a time.

    `progress(batch_number, rows_deleted_so_far)` is called after each batch.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    cutoff = (now or timezone.now()) - older_than
    if dry_run:
        count = Lookup.objects.filter(created_at__lt=cutoff).count()
        return PurgeResult(cutoff=cutoff, deleted=count, batches=0, dry_run=True)
    dropped = partitions.drop_partitions_before(cutoff)
    table = connection.ops.quote_name(Lookup._meta.db_table)
    # created_at twice: the outer condition prunes the DELETE to the partitions before the cutoff.
    sql = (
        f"DELETE FROM {table} WHERE created_at < %s AND (id, created_at) IN "  # noqa: S608 (the model's name)
        f"(SELECT id, created_at FROM {table} WHERE created_at < %s ORDER BY created_at, id LIMIT %s)"
    )
    deleted = batches = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [cutoff, cutoff, batch_size])
            count = cursor.rowcount
        if count == 0:
            break
        deleted += count
        batches += 1
        if progress:
            progress(batches, deleted)
        if count < batch_size:
            break
    partitions.ensure_partitions(now=now)
    return PurgeResult(
        cutoff=cutoff,
        deleted=dropped.rows + deleted,
        batches=batches,
        dry_run=False,
        dropped_partitions=dropped.partitions,
    )
