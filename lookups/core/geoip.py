"""The GeoIP database reader: opened once per process, reopened when the file changes.

The database is memory-mapped by maxminddb's C extension, so every gunicorn worker shares the
same pages. `update_maxmind` replaces the file by renaming a new one over it; each worker notices
the new inode (checked at most every GEOIP_RELOAD_CHECK_INTERVAL seconds, with one `stat`, never
an `open`) and switches to it, while lookups already running finish on the old mapping.

A new file is opened and checked (metadata, lookups spread across its search tree) before the
switch. One that fails the check is not served: the reader keeps the database it had, or, in a
process that had none yet, falls back to `<file>.previous`; it logs why once, and `problem` says
so for /health. A lookup that still meets a corrupt record raises DatabaseUnavailable (a 503).
"""

import datetime as dt
import ipaddress
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import maxminddb
from django.conf import settings

from lookups.errors import (
    DATABASE_INVALID_MESSAGE,
    DATABASE_MISSING_MESSAGE,
    DatabaseUnavailable,
)

logger = logging.getLogger(__name__)

# Database types (metadata.database_type) that hold City-level records.
CITY_DATABASE_TYPES = ("GeoIP2-City", "GeoLite2-City", "GeoIP2-Enterprise", "DBIP-City", "DBIP-Location")

# The kinds of database the service reads: the City one (required), an ASN one (optional) and a
# second City one to compare the first with (optional, and only when configured).
CITY = "city"
ASN = "asn"
CITY_ALTERNATIVE = "city_alternative"
KIND_NAMES = {CITY: "a City database", ASN: "an ASN database", CITY_ALTERNATIVE: "a City database"}


@dataclass(frozen=True)
class DatabaseInfo:
    edition: str
    build_date: dt.datetime
    languages: tuple[str, ...]
    ip_version: int
    node_count: int
    path: str


def is_city_database_type(database_type: str) -> bool:
    return any(database_type.startswith(prefix) for prefix in CITY_DATABASE_TYPES) or (
        "City" in database_type
    )


def is_asn_database_type(database_type: str) -> bool:
    """GeoLite2-ASN, DB-IP's ASN Lite, and GeoIP2-ISP (a superset of the ASN fields)."""
    return "ASN" in database_type or "ISP" in database_type


def is_database_type(database_type: str, kind: str) -> bool:
    return is_asn_database_type(database_type) if kind == ASN else is_city_database_type(database_type)


def database_info(reader: maxminddb.Reader, path: Path) -> DatabaseInfo:
    meta = reader.metadata()
    return DatabaseInfo(
        edition=meta.database_type,
        build_date=dt.datetime.fromtimestamp(meta.build_epoch, tz=dt.UTC),
        languages=tuple(meta.languages),
        ip_version=meta.ip_version,
        node_count=meta.node_count,
        path=str(path),
    )


PREVIOUS_SUFFIX = ".previous"  # where update_maxmind keeps the file it replaced
# What a corrupt file makes maxminddb raise on a lookup (UnicodeDecodeError: a bad string).
RECORD_ERRORS = (maxminddb.InvalidDatabaseError, UnicodeDecodeError)
FILE_REJECTED_MESSAGE = (
    "The new file at {name} failed its check ({reason}); still serving the database built on "
    "{build:%Y-%m-%d} that was there before."
)
FELL_BACK_MESSAGE = (
    "The file at {name} failed its check ({reason}); serving {previous} (built on {build:%Y-%m-%d}) instead."
)
CORRUPT_RECORD_PREFIX = "Lookups fail: "
# Looked up to prove the search tree and data section can be read, not just the metadata: known
# addresses, and one address in each sixteenth of the IPv4 and of the IPv6 space.
PROBES = (
    "1.1.1.1",
    "8.8.8.8",
    "81.2.69.142",
    "2001:4860:4860::8888",
    "2a02:ec80::1",
    *(str(ipaddress.IPv4Address((i << 28) | 0x10203)) for i in range(16)),
    *(str(ipaddress.IPv6Address((i << 124) | 0x10203)) for i in range(16)),
)


class DatabaseRejected(Exception):
    """A file that is not a usable database of the kind wanted; `reason` says why, for people."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def check_records(reader: maxminddb.Reader) -> None:
    """Look the PROBES up. Raises maxminddb.InvalidDatabaseError when a lookup meets corruption."""
    ipv4_only = reader.metadata().ip_version == 4
    for probe in PROBES:
        if ipv4_only and ":" in probe:
            continue
        try:
            record = reader.get(probe)
        except (*RECORD_ERRORS, ValueError, KeyError) as error:
            raise maxminddb.InvalidDatabaseError(f"looking up {probe}: {error}") from None
        if record is not None and not isinstance(record, dict):
            raise maxminddb.InvalidDatabaseError(f"looking up {probe}: the record is not a map")


def open_checked(path: Path, kind: str) -> tuple[maxminddb.Reader, DatabaseInfo]:
    """Open `path` and check it: a MaxMind DB of `kind`, sane metadata, readable records."""
    try:
        reader = maxminddb.open_database(str(path), maxminddb.MODE_AUTO)
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise DatabaseRejected(f"the file at {path.name} is not a MaxMind DB file ({exc})") from None
    try:
        info = database_info(reader, path)
        meta = reader.metadata()
        if meta.node_count <= 0 or meta.ip_version not in (4, 6) or meta.record_size not in (24, 28, 32):
            raise DatabaseRejected(f"the file at {path.name} has implausible metadata")
        if not is_database_type(info.edition, kind):
            raise DatabaseRejected(
                f"it is a {info.edition} database, and easygeoip needs {KIND_NAMES[kind]} here"
            )
        try:
            check_records(reader)
        except maxminddb.InvalidDatabaseError as exc:
            raise DatabaseRejected(f"the file at {path.name} is corrupt ({exc})") from None
    except BaseException:
        reader.close()
        raise
    return reader, info


class CheckedDatabase:
    """The open maxminddb reader for a batch of lookups: a corrupt record is a DatabaseUnavailable."""

    __slots__ = ("_owner", "_reader")

    def __init__(self, reader: maxminddb.Reader, owner: "GeoIPReader"):
        self._reader, self._owner = reader, owner

    def get_with_prefix_len(self, address):
        try:
            return self._reader.get_with_prefix_len(address)
        except RECORD_ERRORS as error:
            raise self._owner._corrupt_record(error) from None

    def metadata(self):
        return self._reader.metadata()


class GeoIPReader:
    """A database at `path` (City, or ASN), reopened when the file at that path is replaced."""

    def __init__(self, path: Path, *, check_interval: float = 1.0, kind: str = CITY):
        self.path = Path(path)
        self.check_interval = check_interval
        self.kind = kind
        self.configured_as: tuple | None = None  # the settings city_reader() built it from
        self._lock = threading.Lock()
        self._reader: maxminddb.Reader | None = None
        self._info: DatabaseInfo | None = None
        self._identity: tuple[int, int, int] | None = None
        self._error: DatabaseUnavailable | None = None
        self._problem: str | None = None
        self._next_check = 0.0

    def _file_identity(self) -> tuple[int, int, int] | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return (stat.st_ino, stat.st_size, stat.st_mtime_ns)

    def _refresh(self) -> None:
        now = time.monotonic()
        if now < self._next_check:
            return
        with self._lock:
            if now < self._next_check:
                return
            self._next_check = now + self.check_interval
            identity = self._file_identity()
            if identity == self._identity and (self._reader is not None or self._error):
                return
            self._open(identity)

    def _open(self, identity: tuple[int, int, int] | None) -> None:
        if identity is None:
            self._set_unavailable(DatabaseUnavailable(DATABASE_MISSING_MESSAGE), identity)
            return
        try:
            reader, info = open_checked(self.path, self.kind)
        except DatabaseRejected as rejected:
            self._reject(identity, rejected.reason)
            return
        # The old reader is not closed: lookups in other threads may still use its mapping,
        # and the garbage collector unmaps it once they are done.
        self._reader, self._info, self._identity, self._error = reader, info, identity, None
        self._problem = None
        logger.info("Opened GeoIP database %s (%s, built %s)", self.path, info.edition, info.build_date)

    def _reject(self, identity: tuple[int, int, int], reason: str) -> None:
        """The file at `path` failed its check: keep what we serve, or fall back to .previous."""
        self._identity = identity  # not checked again until the file changes
        if self._reader is not None:
            self._problem = FILE_REJECTED_MESSAGE.format(
                name=self.path.name, reason=reason, build=self._info.build_date
            )
            logger.error("GeoIP database not switched: %s", self._problem)
            return
        previous = self.path.with_name(self.path.name + PREVIOUS_SUFFIX)
        try:
            reader, info = open_checked(previous, self.kind)
        except DatabaseRejected:
            self._set_unavailable(
                DatabaseUnavailable(DATABASE_INVALID_MESSAGE.format(reason=f"{reason}.")), identity
            )
            return
        self._reader, self._info, self._error = reader, info, None
        self._problem = FELL_BACK_MESSAGE.format(
            name=self.path.name, reason=reason, previous=previous.name, build=info.build_date
        )
        logger.error("GeoIP database fallback: %s", self._problem)

    def _set_unavailable(self, error: DatabaseUnavailable, identity) -> None:
        # The ASN database is optional: its absence is normal, not worth a log line.
        quiet = self.kind == ASN and identity is None
        if (self._error is None or self._identity != identity) and not quiet:
            # Operators read the log: the visitor's sentence, and the command that fixes it.
            from lookups.operator_messages import install_geoip_command

            logger.error("GeoIP database unavailable: %s Fix: %s", error.message, install_geoip_command())
        self._reader, self._info, self._identity, self._error = None, None, identity, error
        self._problem = None

    def _corrupt_record(self, error: Exception) -> DatabaseUnavailable:
        """A lookup met a corrupt part of the open database (the check did not reach it)."""
        reason = f"the file at {self.path.name} is corrupt ({error})."
        with self._lock:
            if self._problem is None or not self._problem.startswith(CORRUPT_RECORD_PREFIX):
                self._problem = CORRUPT_RECORD_PREFIX + reason
                logger.error("GeoIP lookup failed: %s", reason)
        return DatabaseUnavailable(DATABASE_INVALID_MESSAGE.format(reason=reason))

    def _fresh_error(self) -> DatabaseUnavailable | None:
        # A new exception each time: re-raising one instance would grow its traceback forever.
        error = self._error
        return DatabaseUnavailable(error.message) if error else None

    @property
    def problem(self) -> str | None:
        """Why the file at `path` is not what is served (for /health), None when it is."""
        self._refresh()
        return self._problem

    def is_available(self) -> bool:
        """Whether a usable database is open (for optional ones: no exception when it is not)."""
        self._refresh()
        return self._reader is not None

    def info(self) -> DatabaseInfo:
        """The open database's metadata. Raises DatabaseUnavailable."""
        self._refresh()
        if self._info is None:
            raise self._fresh_error() or DatabaseUnavailable(DATABASE_MISSING_MESSAGE)
        return self._info

    def open_database(self) -> tuple["CheckedDatabase", DatabaseInfo]:
        """The open maxminddb reader and its metadata, for a caller that looks up many addresses
        at once (a batch): one freshness check for all of them. Raises DatabaseUnavailable."""
        self._refresh()
        reader, info = self._reader, self._info
        if reader is None or info is None:
            raise self._fresh_error() or DatabaseUnavailable(DATABASE_MISSING_MESSAGE)
        return CheckedDatabase(reader, self), info

    def get(
        self, address: ipaddress.IPv4Address | ipaddress.IPv6Address
    ) -> tuple[dict[str, Any] | None, str | None, DatabaseInfo]:
        """(record, network CIDR, database info) for `address`; record None when unknown."""
        self._refresh()
        reader, info = self._reader, self._info
        if reader is None or info is None:
            raise self._fresh_error() or DatabaseUnavailable(DATABASE_MISSING_MESSAGE)
        if address.version == 6 and info.ip_version == 4:
            return None, None, info
        try:
            record, prefix_length = reader.get_with_prefix_len(address)
        except RECORD_ERRORS as error:
            raise self._corrupt_record(error) from None
        if record is None:
            return None, None, info
        return record, network_text(address, prefix_length), info


def network_text(address: ipaddress.IPv4Address | ipaddress.IPv6Address, prefix_length: int) -> str:
    """The CIDR text of the network `address` is in, without building an ip_network (which cost
    more than the lookup). maxminddb reports an IPv4 prefix for IPv4 addresses, even in IPv6
    databases."""
    bits = address.max_prefixlen - prefix_length
    first = int(address) >> bits << bits
    if address.version == 4:  # inet_ntoa: the same text as ipaddress, in a fraction of the time
        return f"{socket.inet_ntoa(first.to_bytes(4, 'big'))}/{prefix_length}"
    return f"{ipaddress.IPv6Address(first)}/{prefix_length}"


# The process-wide readers, one per kind, each for the file its settings name.
_readers: dict[str, GeoIPReader] = {}
_readers_lock = threading.Lock()


def _reader_for(kind: str, file_name: str) -> GeoIPReader:
    reader = _readers.get(kind)
    # Compared as the settings' own values: a Path per lookup cost more than the lookup.
    if reader is not None and reader.configured_as == (settings.GEOIP_PATH, file_name):
        return reader
    path = Path(settings.GEOIP_PATH) / file_name
    with _readers_lock:
        reader = _readers.get(kind)
        if reader is None or reader.path != path:
            reader = _readers[kind] = GeoIPReader(
                path, check_interval=settings.GEOIP_RELOAD_CHECK_INTERVAL, kind=kind
            )
        reader.configured_as = (settings.GEOIP_PATH, file_name)
    return reader


def city_reader() -> GeoIPReader:
    """The process-wide City reader for settings.GEOIP_PATH / settings.GEOIP_CITY."""
    return _reader_for(CITY, settings.GEOIP_CITY)


def asn_reader() -> GeoIPReader:
    """The process-wide ASN reader for settings.GEOIP_PATH / settings.GEOIP_ASN (optional file)."""
    return _reader_for(ASN, settings.GEOIP_ASN)


def alternative_reader() -> GeoIPReader | None:
    """The process-wide reader for settings.GEOIP_PATH / settings.GEOIP_CITY_ALTERNATIVE, the City
    database compared with GEOIP_CITY; None when no alternative is configured."""
    if not settings.GEOIP_CITY_ALTERNATIVE:
        return None
    return _reader_for(CITY_ALTERNATIVE, settings.GEOIP_CITY_ALTERNATIVE)


# What each source's licence asks us to show wherever its data appears.
GEOLITE_ATTRIBUTION = (
    "This product includes GeoLite2 data created by MaxMind, available from https://www.maxmind.com"
)
DBIP_ATTRIBUTION = "IP Geolocation by DB-IP"


def attribution_for(edition: str | None) -> str | None:
    if not edition:
        return None
    if edition.startswith("GeoLite2"):
        return GEOLITE_ATTRIBUTION
    if edition.startswith("DBIP") or edition.lower().startswith("dbip"):
        return DBIP_ATTRIBUTION
    return None
