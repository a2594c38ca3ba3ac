"""The one encoding of a history row: a line of PostgreSQL's COPY text format.

Spool files hold these lines under a header naming their columns, and the replay streams them
into COPY as they are: a row is encoded once, when it is recorded, and never parsed in Python
again. Seeding writes the same lines.
"""

import datetime as dt
import operator
import re
import struct
from typing import Any

import orjson

from lookups.history.rows import COLUMNS, TAIL, HistoryRow

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


_values = operator.itemgetter(*COLUMNS[: -len(TAIL)])
_ADDRESSES = re.compile(r"[0-9A-Fa-f:.,]*")


def encode_row(row: HistoryRow) -> bytes:
    """The row as one COPY text line (COLUMNS' order, newline included)."""
    values = _values(row)
    fields = [value if type(value) is str else _field(value) for value in values]
    line = "\t".join(fields)
    # Escape only the rare line whose values hold a backslash (other than our NULLs), a newline
    # or a tab of their own: a few scans of the line cost less than one translate per value.
    nulls = values.count(None)
    if "\n" in line or "\r" in line or line.count("\t") != len(fields) - 1 or line.count("\\") != nulls:
        line = "\t".join([_escaped(value) for value in values])
    location = row["location"]
    point = "\\N" if location is None else _POINT_PREFIX + _pack_point(*location).hex()
    return f"{line}\t{_json(row['subdivisions'])}\t{point}\n".encode()


def _json(value: Any) -> str:
    """A jsonb value as COPY text: orjson escapes control characters, leaving backslashes to double."""
    if not value:
        return "[]"
    return orjson.dumps(value).decode().replace("\\", "\\\\")


def _escaped(value: Any) -> str:
    return value.translate(_ESCAPES) if type(value) is str else _field(value)


def _field(value: Any) -> str:
    """A value that is not a string, as COPY text (escaped where it could need it)."""
    if value is None:
        return "\\N"
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is list:  # addresses: an array literal, each element quoted unless it is an address
        text = ",".join(value)
        if _ADDRESSES.fullmatch(text):
            return "{" + text + "}"
        elements = ('"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"' for item in map(str, value))
        return ("{" + ",".join(elements) + "}").translate(_ESCAPES)
    if kind is dt.datetime:
        return orjson.dumps(value)[1:-1].decode()  # ISO 8601, a quarter of isoformat()'s time
    return str(value).translate(_ESCAPES)  # a UUID, a date, an address object


def header_columns(line: bytes) -> tuple[str, ...] | None:
    """The columns a spool file's first line names; None when it is not a header."""
    if not line.startswith(HEADER_PREFIX):
        return None
    return tuple(line[len(HEADER_PREFIX) :].decode().split("\t"))
