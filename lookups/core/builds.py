"""The builds of a database kept installed side by side (GEOIP_KEEP_BUILDS): the current file, the
one `update_maxmind` replaced (`<file>.previous`, what --rollback puts back) and older ones kept
as `<file>.older-<build time>`, so that the timeline (lookups.core.timeline) can answer an address
in each of them. Naming lives here, for the updater that writes them and the service that reads."""

import datetime as dt
from pathlib import Path

import maxminddb

from lookups.core.geoip import PREVIOUS_SUFFIX

OLDER_INFIX = ".older-"


def previous_of(target: Path) -> Path:
    return target.with_name(target.name + PREVIOUS_SUFFIX)


def older_name(target: Path, build_epoch: int) -> Path:
    stamp = dt.datetime.fromtimestamp(build_epoch, tz=dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return target.with_name(f"{target.name}{OLDER_INFIX}{stamp}")


def older_builds(target: Path) -> list[Path]:
    """The older builds kept beside `target`, oldest first (their names sort by build time)."""
    return sorted(target.parent.glob(f"{target.name}{OLDER_INFIX}*"))


def installed_builds(target: Path) -> list[Path]:
    """Every build of `target` on disk: the older ones, .previous, the current file."""
    return [*older_builds(target), *(path for path in (previous_of(target), target) if path.exists())]


def build_epoch_of(path: Path) -> int | None:
    try:
        with maxminddb.open_database(str(path)) as reader:
            return reader.metadata().build_epoch
    except (OSError, ValueError, maxminddb.InvalidDatabaseError):
        return None
