"""Putting a verified database in place, and putting the previous one back.

The target path holds a complete database at every instant: files are hard-linked (or copied)
aside before a rename, and renames are atomic on one file system. Readers (lookups.core.geoip) see
the old file or the new one, never part of one, and switch on their own.
"""

import os
from pathlib import Path

from django.conf import settings

from lookups.core.builds import build_epoch_of, older_builds, older_name
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


def install(
    new_file: Path, target: Path, *, state: dict, keep_previous: bool = False, keep_builds: int | None = None
) -> None:
    """Rename the verified `new_file` over `target`, keeping the old one as `<target>.previous`
    (unless `keep_previous`: a reinstall of the same file leaves .previous as it was), and the
    one that was .previous as an older build while fewer than `keep_builds` are kept."""
    keep = settings.GEOIP_KEEP_BUILDS if keep_builds is None else keep_builds
    with open(new_file, "rb+") as handle:
        os.fchmod(handle.fileno(), 0o644)
        os.fsync(handle.fileno())
    # An ASN database's networks by AS, before the rename: the index is there when the database is.
    index_asn_database(new_file, target)
    if target.exists() and not keep_previous:
        retire_previous(target, keep=keep)
        link_or_copy(target, previous_path(target))
        move_state(target, previous_path(target))
    os.replace(new_file, target)
    fsync_directory(target.parent)
    write_state(target, state)
    remove_stale_indexes(target)


def retire_previous(target: Path, *, keep: int) -> None:
    """Before .previous is replaced: keep it as an older build, and remove the oldest builds
    beyond `keep` (the current file and .previous count among them)."""
    previous = previous_path(target)
    epoch = build_epoch_of(previous) if keep > 2 and previous.exists() else None
    if epoch is not None:
        link_or_copy(previous, older_name(target, epoch))
    older = older_builds(target)
    for stale in older[: max(0, len(older) - (keep - 2))]:
        stale.unlink(missing_ok=True)


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
