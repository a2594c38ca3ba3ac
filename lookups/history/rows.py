"""A history row: a plain dict of Lookup's columns (the location as (longitude, latitude) or None,
the subdivisions as a list of {"iso_code", "name"} dicts).

Building a model instance and a GEOS point per lookup cost more CPU than the lookup itself.
"""

import os
import random
from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from lookups.models import Lookup

HistoryRow = dict[str, Any]

# Encoded last, each in its own way (lookups.history.encoding): JSON, then a point.
TAIL = ("subdivisions", "location")
# Every Lookup column but the key, TAIL last: the order rows are encoded in.
COLUMNS = (
    *(f.column for f in Lookup._meta.concrete_fields if not f.primary_key and f.column not in TAIL),
    *TAIL,
)

DEFAULTS: HistoryRow = {
    field.attname: (field.get_default() if field.has_default() else None)
    for field in Lookup._meta.concrete_fields
    if not field.primary_key
}
DEFAULTS["location"] = None


def new_row(**values: Any) -> HistoryRow:
    """A history row with every column, the model's defaults where `values` has none (and
    created_at now, unless given)."""
    row: HistoryRow = dict(DEFAULTS)
    if "created_at" not in values:
        row["created_at"] = timezone.now()
    row.update(values)
    return row


# The bits uuid.UUID(version=4) clears and sets: the variant (RFC 4122) and the version.
_UUID4_CLEAR = ~(0xC000 << 48 | 0xF000 << 64)
_UUID4_SET = 0x8000 << 48 | 0x4000 << 64


_uid_bits = random.Random()  # noqa: S311 (seeded from os.urandom; unique, not secret)
os.register_at_fork(after_in_child=_uid_bits.seed)


def new_uid() -> str:
    """Like str(uuid.uuid4()), in half the time (a batch gives 1,000 rows their uids), and with
    no system call (each one costs a busy worker a hand-over of the GIL). A uid only has to be
    unique, not unguessable: a generator of our own (no random.seed() elsewhere touches it),
    seeded from os.urandom, again in a forked child."""
    value = _uid_bits.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def give_uids(rows: Iterable[HistoryRow]) -> None:
    """A uid for each row that has none: what makes a replayed row stored once."""
    for row in rows:
        if row.get("uid") is None:
            row["uid"] = new_uid()
