"""The networks of one autonomous system (`GET /api/v1/asn/<number>/networks`), from an index of
the ASN database that the updater builds when it installs the database (lookups.updater.asn_index).

An mmdb file is searched by address only; listing an AS's networks from it would mean walking
all of it (some 500,000 networks) per request. The index is an SQLite file beside the database,
named after the database's build and node count, so that a worker always reads the index of the
database it serves, and a rollback to `.previous` finds that one's index still there. SQLite is
read here as a file: no server, and listings keep working while PostgreSQL is away.
"""

import ipaddress
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from lookups.core.geoip import PREVIOUS_SUFFIX, DatabaseInfo, GeoIPReader
from lookups.core.geoip import asn_reader as default_asn_reader
from lookups.errors import (
    ASN_DATABASE_MISSING_MESSAGE,
    ASN_INDEX_MISSING_MESSAGE,
    INVALID_ASN_MESSAGE,
    PREFIX_START_MESSAGE,
    AsnDatabaseMissing,
    AsnIndexUnavailable,
    DatabaseUnavailable,
    InvalidAsn,
    InvalidPrefix,
)

INDEX_SCHEMA = """
CREATE TABLE networks (
    asn INTEGER NOT NULL,
    version INTEGER NOT NULL,
    first BLOB NOT NULL,      -- the network's first address, 4 or 16 bytes, big-endian: sorts as numbers
    prefix_length INTEGER NOT NULL,
    organization TEXT
);
"""
INDEX_ORDER = "CREATE INDEX networks_by_asn ON networks (asn, version, first)"
MAX_ASN = 2**32 - 1


@dataclass(frozen=True)
class AsnNetworkPage:
    asn: int
    organization: str | None
    networks: tuple[str, ...]
    truncated: bool
    next_start: str | None
    database: DatabaseInfo


def index_path(database: Path, *, build_epoch: int, node_count: int) -> Path:
    """Where the index of the database at `database` (of this build) lives. Named after the
    installed name, `.previous`'s too: after a rollback, or a fallback to it, that one is served."""
    installed = database.name.removesuffix(PREVIOUS_SUFFIX)
    return database.with_name(f"{installed}.networks-{build_epoch}-{node_count}.sqlite3")


def parse_asn(text: str) -> int:
    """20712 or AS20712. Raises InvalidAsn."""
    digits = text.strip().removeprefix("AS").removeprefix("as")
    if not digits.isascii() or not digits.isdigit() or int(digits) > MAX_ASN:
        raise InvalidAsn(INVALID_ASN_MESSAGE)
    return int(digits)


def parse_start(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if text is None:
        return None
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        raise InvalidPrefix(PREFIX_START_MESSAGE.format(prefix="the AS's networks")) from None


def networks_of(
    asn: int,
    *,
    start: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None,
    limit: int,
    reader: GeoIPReader | None = None,
) -> AsnNetworkPage:
    """At most `limit` networks of `asn`, IPv4 first, in address order, from `start` on.
    Raises AsnDatabaseMissing or AsnIndexUnavailable."""
    reader = reader or default_asn_reader()
    try:
        info = reader.info()
    except DatabaseUnavailable:
        raise AsnDatabaseMissing(ASN_DATABASE_MISSING_MESSAGE) from None
    path = index_path(
        Path(info.path), build_epoch=int(info.build_date.timestamp()), node_count=info.node_count
    )
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        raise AsnIndexUnavailable(ASN_INDEX_MISSING_MESSAGE) from None
    version, first = (4, b"") if start is None else (start.version, start.packed)
    try:
        rows = connection.execute(
            "SELECT version, first, prefix_length, organization FROM networks"
            " WHERE asn = ? AND (version > ? OR (version = ? AND first >= ?))"
            " ORDER BY version, first LIMIT ?",
            (asn, version, version, first, limit + 1),
        ).fetchall()
    except sqlite3.Error:
        raise AsnIndexUnavailable(ASN_INDEX_MISSING_MESSAGE) from None
    finally:
        connection.close()
    networks = [
        str(ipaddress.ip_network((ipaddress.ip_address(address), length))) for _, address, length, _ in rows
    ]
    next_start = str(ipaddress.ip_address(rows[limit][1])) if len(rows) > limit else None
    return AsnNetworkPage(
        asn=asn,
        organization=rows[0][3] if rows else None,
        networks=tuple(networks[:limit]),
        truncated=next_start is not None,
        next_start=next_start,
        database=info,
    )
