"""The updater's files in GEOIP_PATH: the installed database, `<file>.previous`, the record of where
it came from (`<file>.update.json`), temporary files, and the lock that keeps two runs apart."""

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

from lookups.core.geoip import ASN, PREVIOUS_SUFFIX
from lookups.updater.errors import UpdateLocked

LOCK_NAME = ".update_maxmind.lock"
TEMP_PREFIX = ".update-"  # every temporary file a run writes in GEOIP_PATH starts with this
STATE_SUFFIX = ".update.json"

LOCKED_MESSAGE = "Another update is running (it holds the lock on {path}). Try again when it has finished."


def geoip_directory() -> Path:
    return Path(settings.GEOIP_PATH)


def target_path(kind: str) -> Path:
    name = settings.GEOIP_ASN if kind == ASN else settings.GEOIP_CITY
    return geoip_directory() / name


def previous_path(target: Path) -> Path:
    return target.with_name(target.name + PREVIOUS_SUFFIX)


def state_path(target: Path) -> Path:
    return target.with_name(target.name + STATE_SUFFIX)


def sha256_of(path: Path) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except FileNotFoundError:
        return None


@contextlib.contextmanager
def temporary_file(directory: Path, suffix: str) -> Iterator[tuple[Path, BinaryIO]]:
    """A file in `directory` (same file system as the target, so rename is atomic), removed unless kept."""
    handle = tempfile.NamedTemporaryFile(dir=directory, prefix=TEMP_PREFIX, suffix=suffix, delete=False)  # noqa: SIM115 (closed below)
    path = Path(handle.name)
    try:
        yield path, handle
    finally:
        handle.close()
        path.unlink(missing_ok=True)


def link_or_copy(source: Path, destination: Path) -> None:
    """Make `destination` the same content as `source`, atomically, leaving `source` in place."""
    staging = destination.with_name(f"{TEMP_PREFIX}{destination.name}.{os.getpid()}")
    staging.unlink(missing_ok=True)
    try:
        os.link(source, staging)
    except OSError:  # a file system without hard links: copy
        shutil.copyfile(source, staging)
        with open(staging, "rb") as handle:
            os.fsync(handle.fileno())
    os.replace(staging, destination)


def read_state(target: Path) -> dict:
    """What the last run recorded about the installed file, {} when it no longer describes it."""
    try:
        state = json.loads(state_path(target).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(state, dict) or state.get("database_sha256") != sha256_of(target):
        return {}
    return state


def read_raw_state(target: Path) -> dict | None:
    try:
        return json.loads(state_path(target).read_text())
    except (OSError, ValueError):
        return None


def write_state(target: Path, state: dict) -> None:
    path = state_path(target)
    staging = path.with_name(f"{TEMP_PREFIX}{path.name}.{os.getpid()}")
    staging.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    os.replace(staging, path)


def move_state(source: Path, destination: Path) -> None:
    """The state file of database `source` becomes that of `destination`."""
    try:
        os.replace(state_path(source), state_path(destination))
    except FileNotFoundError:
        state_path(destination).unlink(missing_ok=True)


@contextlib.contextmanager
def update_lock(directory: Path) -> Iterator[None]:
    """An exclusive flock on GEOIP_PATH/.update_maxmind.lock; UpdateLocked when another run holds it."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_NAME
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UpdateLocked(LOCKED_MESSAGE.format(path=path)) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def remove_leftovers(directory: Path) -> None:
    """Temporary files of a run that was killed: safe to remove while we hold the lock."""
    for leftover in directory.glob(f"{TEMP_PREFIX}*"):
        leftover.unlink(missing_ok=True)
