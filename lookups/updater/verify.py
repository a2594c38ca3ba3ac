"""Checking a database before it is installed: a MaxMind DB of the expected kind, sane metadata,
readable records (the reader's own check, lookups.core.geoip.check_records), and no older or much
smaller than the installed one unless the operator says so."""

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import maxminddb

from lookups.core.geoip import (
    ASN,
    CITY,
    KIND_NAMES,
    check_records,
    is_asn_database_type,
    is_city_database_type,
)
from lookups.updater.errors import UpdateFailed

NOT_A_DATABASE_MESSAGE = "{name} is not a MaxMind DB file ({reason})."
WRONG_KIND_MESSAGE = "{name} is a {edition} database, not {kind_name}."
UNKNOWN_KIND_MESSAGE = "{name} is a {edition} database: neither a City nor an ASN database."
BAD_METADATA_MESSAGE = "{name} has implausible metadata: {reason}."
OLDER_MESSAGE = (
    "{name} was built on {new:%Y-%m-%d %H:%M}, before the installed database ({old:%Y-%m-%d %H:%M}). "
    "Not installed; use --force to install it anyway."
)
SHRINK_MESSAGE = (
    "{name} has {new:,} search-tree nodes, under half the installed database's {old:,}: it may be a "
    "partial or a different, smaller edition. Not installed; use --allow-shrink to install it anyway."
)


@dataclass(frozen=True)
class Verified:
    kind: str
    edition: str
    build_date: dt.datetime
    sha256: str
    node_count: int = 0


@dataclass(frozen=True)
class Installed:
    """What the installed database's metadata says (for the older and the shrink checks)."""

    build_date: dt.datetime
    node_count: int


def verify_database(path: Path, *, kind: str | None, name: str, sha256: str, now: dt.datetime) -> Verified:
    """Open `path` as a MaxMind DB and check its kind, metadata and records. Raises UpdateFailed."""
    try:
        reader = maxminddb.open_database(str(path), maxminddb.MODE_AUTO)
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as error:
        reason = str(error).replace(f" ({path})", "")  # our temporary file's name means nothing to anyone
        raise UpdateFailed(NOT_A_DATABASE_MESSAGE.format(name=name, reason=reason)) from None
    try:
        meta = reader.metadata()
        edition = str(meta.database_type)
        problems = []
        if meta.binary_format_major_version != 2:
            problems.append(f"format version {meta.binary_format_major_version}")
        if meta.ip_version not in (4, 6):
            problems.append(f"IP version {meta.ip_version}")
        if meta.record_size not in (24, 28, 32):
            problems.append(f"record size {meta.record_size}")
        if meta.node_count <= 0:
            problems.append("an empty search tree")
        build_date = dt.datetime.fromtimestamp(meta.build_epoch, tz=dt.UTC)
        if build_date < dt.datetime(2010, 1, 1, tzinfo=dt.UTC) or build_date > now + dt.timedelta(days=1):
            problems.append(f"build date {build_date:%Y-%m-%d %H:%M}")
        if problems:
            raise UpdateFailed(BAD_METADATA_MESSAGE.format(name=name, reason=", ".join(problems)))
        found_kind = (
            CITY if is_city_database_type(edition) else ASN if is_asn_database_type(edition) else None
        )
        if kind is not None and found_kind != kind:
            raise UpdateFailed(
                WRONG_KIND_MESSAGE.format(name=name, edition=edition, kind_name=KIND_NAMES[kind])
            )
        if found_kind is None:
            raise UpdateFailed(UNKNOWN_KIND_MESSAGE.format(name=name, edition=edition))
        try:
            check_records(reader)
        except maxminddb.InvalidDatabaseError as error:
            raise UpdateFailed(NOT_A_DATABASE_MESSAGE.format(name=name, reason=error)) from None
    finally:
        reader.close()
    return Verified(
        kind=found_kind, edition=edition, build_date=build_date, sha256=sha256, node_count=meta.node_count
    )


def installed_database(path: Path) -> Installed | None:
    """The metadata of the database at `path`, None when there is none that opens."""
    try:
        reader = maxminddb.open_database(str(path), maxminddb.MODE_AUTO)
    except (OSError, ValueError, maxminddb.InvalidDatabaseError):
        return None
    try:
        meta = reader.metadata()
        return Installed(dt.datetime.fromtimestamp(meta.build_epoch, tz=dt.UTC), meta.node_count)
    finally:
        reader.close()


def installed_build_date(path: Path) -> dt.datetime | None:
    installed = installed_database(path)
    return installed.build_date if installed else None


def check_replacement(
    verified: Verified, installed: Installed | None, *, name: str, force: bool, allow_shrink: bool
) -> None:
    """Refuse an older build (unless --force) and one with under half the nodes (unless --allow-shrink)."""
    if installed is None:
        return
    if verified.build_date < installed.build_date and not force:
        raise UpdateFailed(OLDER_MESSAGE.format(name=name, new=verified.build_date, old=installed.build_date))
    if verified.node_count * 2 < installed.node_count and not allow_shrink:
        raise UpdateFailed(
            SHRINK_MESSAGE.format(name=name, new=verified.node_count, old=installed.node_count)
        )
