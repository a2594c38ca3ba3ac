"""Putting a verified database in place, and putting the previous one back.

The target path holds a complete database at every instant: files are hard-linked (or copied)
aside before a rename, and renames are atomic on one file system. Readers (lookups.core.geoip) see
the old file or the new one, never part of one, and switch on their own.
"""

import os
from pathlib import Path

from lookups.durable import fsync_directory
from lookups.updater.asn_index import index_asn_database, remove_stale_indexes
from lookups.updater.files import (
    TEMP_PREFIX,
    link_or_copy,
    move_state,
    previous_path,
    read_raw_state,
    state_path,
    write_state,
)


def install(new_file: Path, target: Path, *, state: dict, keep_previous: bool = False) -> None:
    """Rename the verified `new_file` over `target`, keeping the old one as `<target>.previous`
    (unless `keep_previous`: a reinstall of the same file leaves .previous as it was)."""
    with open(new_file, "rb+") as handle:
        os.fchmod(handle.fileno(), 0o644)
        os.fsync(handle.fileno())
    # An ASN database's networks by AS, before the rename: the index is there when the database is.
    index_asn_database(new_file, target)
    if target.exists() and not keep_previous:
        link_or_copy(target, previous_path(target))
        move_state(target, previous_path(target))
    os.replace(new_file, target)
    fsync_directory(target.parent)
    write_state(target, state)
    remove_stale_indexes(target)


def swap_with_previous(target: Path) -> None:
    """`<target>.previous` becomes the target, and the target `.previous` (a rollback is a swap)."""
    previous = previous_path(target)
    directory, pid = target.parent, os.getpid()
    going_back = directory / f"{TEMP_PREFIX}rollback-old.{pid}"
    stepping_aside = directory / f"{TEMP_PREFIX}rollback-new.{pid}"
    link_or_copy(previous, going_back)
    if target.exists():
        link_or_copy(target, stepping_aside)
    os.replace(going_back, target)
    if stepping_aside.exists():
        os.replace(stepping_aside, previous)
    else:
        previous.unlink()
    fsync_directory(directory)
    # The state files follow their databases.
    states = {path: read_raw_state(path) for path in (target, previous)}
    for path, other in ((target, previous), (previous, target)):
        if states[other] is None:
            state_path(path).unlink(missing_ok=True)
        else:
            write_state(path, states[other])
