"""Spool files of the JSON-lines format (before 2026-12: one JSON object a line, no header), read
once more after an upgrade so that no history waiting on disk is lost. Nothing writes it any more."""

import datetime as dt
import json

import orjson

from lookups.history.encoding import encode_row
from lookups.history.rows import DEFAULTS, HistoryRow, new_row


def is_legacy(first_line: bytes) -> bool:
    return first_line.startswith(b"{")


def row_from_json(line: bytes) -> HistoryRow:
    """A JSON spool line as a history row: unknown keys refused, missing ones defaulted.
    Raises ValueError, TypeError or KeyError for a line that is not one."""
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError:
        data = json.loads(line)  # NaN, which json.dumps wrote and orjson does not read
    unknown = set(data) - set(DEFAULTS)
    if unknown:
        raise KeyError(f"unknown columns {sorted(unknown)}")
    row = new_row(**data)
    if isinstance(row["created_at"], str):
        row["created_at"] = dt.datetime.fromisoformat(row["created_at"])
    if row["location"] is not None:
        longitude, latitude = row["location"]
        row["location"] = (float(longitude), float(latitude))
    return row


def as_copy_line(line: bytes) -> bytes:
    """A JSON spool line as the COPY line the current version would have spooled."""
    return encode_row(row_from_json(line))
