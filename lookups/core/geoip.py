"""The GeoIP database reader: opened once per process, reopened when the file changes.

The database is memory-mapped by maxminddb's C extension, so every gunicorn worker shares the
same pages. `update_maxmind` replaces the file by renaming a new one over it; each worker notices
the new inode (checked at most every GEOIP_RELOAD_CHECK_INTERVAL seconds, with one `stat`, never
an `open`) and switches to it, while lookups already running finish on the old mapping.
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

# The two kinds of database the service reads: the City one (required) and an ASN one (optional).
CITY = "city"
ASN = "asn"
KIND_NAMES = {CITY: "a City database", ASN: "an ASN database"}


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
            reader = maxminddb.open_database(str(self.path), maxminddb.MODE_AUTO)
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            reason = f"the file at {self.path.name} is not a MaxMind DB file ({exc})."
            self._set_unavailable(
                DatabaseUnavailable(DATABASE_INVALID_MESSAGE.format(reason=reason)), identity
            )
            return
        info = database_info(reader, self.path)
        if not is_database_type(info.edition, self.kind):
            reader.close()
            reason = f"it is a {info.edition} database, and easygeoip needs {KIND_NAMES[self.kind]} here."
            self._set_unavailable(
                DatabaseUnavailable(DATABASE_INVALID_MESSAGE.format(reason=reason)), identity
            )
            return
        # The old reader is not closed: lookups in other threads may still use its mapping,
        # and the garbage collector unmaps it once they are done.
        self._reader, self._info, self._identity, self._error = reader, info, identity, None
        logger.info("Opened GeoIP database %s (%s, built %s)", self.path, info.edition, info.build_date)

    def _set_unavailable(self, error: DatabaseUnavailable, identity) -> None:
        # The ASN database is optional: its absence is normal, not worth a log line.
        quiet = self.kind == ASN and identity is None
        if (self._error is None or self._identity != identity) and not quiet:
            logger.error("GeoIP database unavailable: %s", error.message)
        self._reader, self._info, self._identity, self._error = None, None, identity, error

    def _fresh_error(self) -> DatabaseUnavailable | None:
        # A new exception each time: re-raising one instance would grow its traceback forever.
        error = self._error
        return DatabaseUnavailable(error.message) if error else None

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

    def open_database(self) -> tuple[maxminddb.Reader, DatabaseInfo]:
        """The open maxminddb reader and its metadata, for a caller that looks up many addresses
        at once (a batch): one freshness check for all of them. Raises DatabaseUnavailable."""
        self._refresh()
        reader, info = self._reader, self._info
        if reader is None or info is None:
            raise self._fresh_error() or DatabaseUnavailable(DATABASE_MISSING_MESSAGE)
        return reader, info

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
        record, prefix_length = reader.get_with_prefix_len(address)
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
