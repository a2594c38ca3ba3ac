"""The one encoding of a history row: a line of PostgreSQL's COPY text format.

Spool files hold these lines under a header naming their columns, and the replay streams them
into COPY as they are: a row is encoded once, when it is recorded, and never parsed in Python
again. Seeding writes the same lines.
"""

import datetime as dt
import struct
from typing import Any

from lookups.history.rows import COLUMNS, HistoryRow

# The first line of every spool file: the columns of the lines below it, so that a later
# version whose table has more columns still reads the file.
HEADER_PREFIX = b"#history-copy\t"
HEADER = HEADER_PREFIX + "\t".join(COLUMNS).encode() + b"\n"

# COPY's text format: a backslash starts an escape; tab, newline and carriage return separate.
_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
# Hex EWKB of a point with SRID 4326 (little-endian): exact for every double, NaN included,
# which a coordinate written as text is not.
_POINT_PREFIX = "0101000020e6100000"
_pack_point = struct.Struct("<dd").pack


def encode_row(row: HistoryRow) -> bytes:
    """The row as one COPY text line (COLUMNS' order, newline included)."""
    fields = [_field(row[column]) for column in COLUMNS[:-1]]
    location = row["location"]
    fields.append("\\N" if location is None else _POINT_PREFIX + _pack_point(*location).hex())
    return ("\t".join(fields) + "\n").encode()


def _field(value: Any) -> str:
    kind = type(value)
    if kind is str:  # most values, and most need no escape: two tests cost less than translate
        return value if "\\" not in value and value.isprintable() else value.translate(_ESCAPES)
    if value is None:
        return "\\N"
    if kind is int:
        return str(value)
    if kind is list:  # addresses: an array literal, each element quoted
        elements = ('"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"' for item in map(str, value))
        return ("{" + ",".join(elements) + "}").translate(_ESCAPES)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value).translate(_ESCAPES)  # a UUID, a date, an address object


def header_columns(line: bytes) -> tuple[str, ...] | None:
    """The columns a spool file's first line names; None when it is not a header."""
    if not line.startswith(HEADER_PREFIX):
        return None
    return tuple(line[len(HEADER_PREFIX) :].decode().split("\t"))
