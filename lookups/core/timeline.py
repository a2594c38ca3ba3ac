"""How an address moved: its answer in each installed build of the City database
(lookups.core.builds), oldest first, each marked with what changed from the build before it
(lookups.core.record_changes). Served at /api/v1/lookup/<address>/timeline and as the page's
"changed on <date>: was <place>" line.
"""

import datetime as dt
import threading
from dataclasses import dataclass
from pathlib import Path

from lookups.core import pipeline
from lookups.core.builds import installed_builds
from lookups.core.geoip import CITY, GeoIPReader, city_reader
from lookups.core.record_changes import changed_fields
from lookups.core.resolver import IPAddress, parse_address
from lookups.errors import (
    ADDRESS_NOT_PUBLIC_MESSAGE,
    DATABASE_MISSING_MESSAGE,
    AddressNotPublic,
    DatabaseUnavailable,
    InvalidQuery,
    LookupFailed,
)

TIMELINE_ADDRESS_MESSAGE = "The timeline answers an IP address, not a name: {query} is not one."

ADDED, REMOVED, CHANGED = "added", "removed", "changed"


@dataclass(frozen=True)
class BuildAnswer:
    edition: str
    build_date: dt.datetime
    file: str  # its name in GEOIP_PATH
    current: bool  # the build lookups answer from
    network: str | None
    record: dict | None  # None: the address is not in this build
    change: str | None  # from the build before: None (the first, or no change), ADDED, REMOVED, CHANGED
    changed_fields: tuple[str, ...]  # with CHANGED: which of lookups.core.record_changes.FIELDS


# Readers of the builds kept beside the current file, one per path, dropped when the file goes.
_readers: dict[Path, GeoIPReader] = {}
_lock = threading.Lock()


def _reader(path: Path, current: GeoIPReader) -> GeoIPReader:
    if path == current.path:
        return current
    with _lock:
        reader = _readers.get(path)
        if reader is None:
            # Checked on every call: a stat is cheap, and a rotated .previous must not answer stale.
            reader = _readers[path] = GeoIPReader(path, check_interval=0, kind=CITY)
        return reader


def _forget_gone(paths: list[Path]) -> None:
    with _lock:
        for path in set(_readers) - set(paths):
            del _readers[path]


def timeline_address(text: str) -> IPAddress:
    """The public address `text` spells, or the error the API answers."""
    address = parse_address(text.strip())
    if address is None:
        raise InvalidQuery(TIMELINE_ADDRESS_MESSAGE.format(query=text.strip()[:100]))
    if not pipeline.is_public(address):
        raise AddressNotPublic(ADDRESS_NOT_PUBLIC_MESSAGE.format(subject=address))
    return address


def address_timeline(address: IPAddress, *, reader: GeoIPReader | None = None) -> list[BuildAnswer]:
    """The address in each installed build, oldest first. DatabaseUnavailable when none can answer."""
    current = reader or city_reader()
    paths = installed_builds(current.path)
    _forget_gone(paths)
    found = {}
    for path in paths:
        build = _reader(path, current)
        try:
            record, network, info = build.get(address)
        except LookupFailed:
            continue  # a build that is gone or broken: the others still answer
        if build is current or (info.edition, info.build_date) not in found:
            found[(info.edition, info.build_date)] = (path, info, record, network, build is current)
    if not found:
        raise DatabaseUnavailable(DATABASE_MISSING_MESSAGE)
    answers: list[BuildAnswer] = []
    before: dict | None = None
    for index, (path, info, record, network, is_current) in enumerate(
        sorted(found.values(), key=lambda entry: entry[1].build_date)
    ):
        change, fields = None, ()
        if index:
            if before is None and record is not None:
                change = ADDED
            elif before is not None and record is None:
                change = REMOVED
            elif before is not None and record is not None:
                fields = changed_fields(before, record)
                change = CHANGED if fields else None
        answers.append(
            BuildAnswer(info.edition, info.build_date, path.name, is_current, network, record, change, fields)
        )
        before = record
    return answers


def last_change(answers: list[BuildAnswer]) -> tuple[BuildAnswer, BuildAnswer] | None:
    """(the build before, the build that changed) for the newest change up to the current build."""
    upto = next((i for i, answer in enumerate(answers) if answer.current), len(answers) - 1)
    for index in range(upto, 0, -1):
        if answers[index].change is not None:
            return answers[index - 1], answers[index]
    return None
