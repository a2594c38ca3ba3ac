"""Writing the lookup history durably: INSERT it, or spool it to disk while PostgreSQL is away.

A lookup that is answered is a lookup recorded. When the INSERT fails because PostgreSQL cannot
be reached (OperationalError, InterfaceError), the rows go to an append-only JSON-lines file of
this process under HISTORY_SPOOL_DIR, fsync'd before the answer leaves, and the lookup is
answered as usual. For HISTORY_DB_RETRY_INTERVAL seconds after such a failure the process does
not try PostgreSQL again for the history (so that a database that does not answer at all costs
no request a connect timeout), then tries once more.

Replay: every process, at most every HISTORY_SPOOL_REPLAY_INTERVAL seconds, looks for spool
files before its next INSERT and replays them within a small time budget; `manage.py
replay_history_spool` replays everything. A replayer claims a file by renaming it (only one
process can win a rename), waits for the file lock that writers hold while they append, and
INSERTs its rows with ON CONFLICT DO NOTHING: every row carries a `uid` with a unique
constraint, so a row replayed twice (a replayer that died half-way, or an INSERT whose
acknowledgement was lost) is stored once.
"""

import datetime as dt
import fcntl
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.gis.geos import GEOSGeometry
from django.db import DatabaseError, InterfaceError, OperationalError, transaction

from lookups.errors import HISTORY_UNAVAILABLE_MESSAGE, HistoryUnavailable
from lookups.models import Lookup

logger = logging.getLogger(__name__)

SPOOL_SUFFIX = ".jsonl"
CLAIMED_SUFFIX = ".replaying"
REJECTED_SUFFIX = ".rejected"
# A claimed file older than this was left by a replayer that died: claim it again.
STALE_CLAIM_SECONDS = 60
REPLAY_BATCH = 500

# The errors that mean "PostgreSQL is not there" rather than "this row is wrong".
UNREACHABLE_ERRORS = (OperationalError, InterfaceError)


# --- The circuit breaker -----------------------------------------------------------------------

_state_lock = threading.Lock()
_database_down_until = 0.0
_next_replay_check = 0.0


def database_recently_unreachable() -> bool:
    """True for HISTORY_DB_RETRY_INTERVAL seconds after PostgreSQL last failed to answer."""
    return time.monotonic() < _database_down_until


def _mark_unreachable() -> None:
    global _database_down_until
    _database_down_until = time.monotonic() + settings.HISTORY_DB_RETRY_INTERVAL


def _mark_reachable() -> None:
    global _database_down_until
    _database_down_until = 0.0


# --- Writing -----------------------------------------------------------------------------------


def record(rows: Sequence[Lookup]) -> None:
    """Store history rows: INSERT them, or spool them to disk when PostgreSQL cannot be reached.

    Raises HistoryUnavailable when neither works (the caller must then not pretend the lookup
    was recorded).
    """
    if not rows:
        return
    _give_uids(rows)
    if not database_recently_unreachable():
        _maybe_replay()
    if not database_recently_unreachable():
        try:
            Lookup.objects.bulk_create(rows)
            _mark_reachable()
            return
        except UNREACHABLE_ERRORS as exc:
            _mark_unreachable()
            logger.warning(
                "PostgreSQL does not answer (%s); spooling %d history row(s) to %s",
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                len(rows),
                spool_dir(),
            )
    try:
        spool(rows)
    except OSError as exc:
        logger.error("History spool %s cannot be written: %s", spool_dir(), exc)
        raise HistoryUnavailable(HISTORY_UNAVAILABLE_MESSAGE) from exc


def _give_uids(rows: Iterable[Lookup]) -> None:
    for row in rows:
        if row.uid is None:
            row.uid = uuid.uuid4()


def spool_dir() -> Path:
    return Path(settings.HISTORY_SPOOL_DIR)


def _own_spool_path() -> Path:
    # No dots in the host part: everything before the first dot names the file's writer.
    host = socket.gethostname().replace(".", "_")
    return spool_dir() / f"history-{host}-{os.getpid()}{SPOOL_SUFFIX}"


_spool_lock = threading.Lock()


def row_to_data(row: Lookup) -> dict[str, Any]:
    """A history row as plain JSON data (every column but the primary key)."""
    data: dict[str, Any] = {}
    for field in Lookup._meta.concrete_fields:
        if field.primary_key:
            continue
        value = getattr(row, field.attname)
        if isinstance(value, dt.datetime):
            value = value.isoformat()
        elif isinstance(value, uuid.UUID):
            value = str(value)
        elif isinstance(value, GEOSGeometry):
            value = value.ewkt
        data[field.attname] = value
    return data


def row_from_data(data: dict[str, Any]) -> Lookup:
    values = {}
    for field in Lookup._meta.concrete_fields:
        if field.primary_key or field.attname not in data:
            continue
        value = data[field.attname]
        if value is not None and field.attname == "location":
            value = GEOSGeometry(value)
        elif value is not None:
            value = field.to_python(value)
        values[field.attname] = value
    return Lookup(**values)


def spool(rows: Iterable[Lookup]) -> Path:
    """Append rows to this process's spool file and fsync it. Raises OSError."""
    rows = list(rows)
    _give_uids(rows)
    payload = "".join(json.dumps(row_to_data(row)) + "\n" for row in rows).encode("ascii")
    directory = spool_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = _own_spool_path()
    with _spool_lock:
        while True:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                # A replayer may have renamed the file between our open and our lock: writing
                # into it now would put rows where nobody reads them any more.
                try:
                    current = os.stat(path).st_ino
                except FileNotFoundError:
                    current = None
                if os.fstat(fd).st_ino != current:
                    continue
                new_file = os.fstat(fd).st_size == 0
                view = memoryview(payload)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
                if new_file:
                    _fsync_directory(directory)
                if os.fstat(fd).st_size >= settings.HISTORY_SPOOL_FILE_MAX_BYTES:
                    # Seal it: replay then works through files of bounded size.
                    os.rename(path, path.with_name(f"{path.stem}-{time.time_ns()}{SPOOL_SUFFIX}"))
                    _fsync_directory(directory)
                return path
            finally:
                os.close(fd)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- Replaying ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpoolStatus:
    files: int
    bytes: int


def spool_status() -> SpoolStatus:
    """How much history waits on disk for PostgreSQL (in this host's spool folder)."""
    files = size = 0
    try:
        entries = list(os.scandir(spool_dir()))
    except FileNotFoundError:
        return SpoolStatus(0, 0)
    for entry in entries:
        if entry.name.endswith((SPOOL_SUFFIX, CLAIMED_SUFFIX)):
            try:
                size += entry.stat().st_size
            except FileNotFoundError:
                continue
            files += 1
    return SpoolStatus(files, size)


def _replayable_files() -> list[Path]:
    try:
        entries = list(os.scandir(spool_dir()))
    except FileNotFoundError:
        return []
    now = time.time()
    paths = []
    for entry in entries:
        if entry.name.endswith(SPOOL_SUFFIX):
            paths.append(Path(entry.path))
        elif entry.name.endswith(CLAIMED_SUFFIX):
            try:
                if now - entry.stat().st_mtime > STALE_CLAIM_SECONDS:
                    paths.append(Path(entry.path))
            except FileNotFoundError:
                continue
    return sorted(paths)


def _maybe_replay() -> None:
    """Replay waiting spool files, at most every HISTORY_SPOOL_REPLAY_INTERVAL seconds."""
    global _next_replay_check
    now = time.monotonic()
    if now < _next_replay_check:
        return
    with _state_lock:
        if now < _next_replay_check:
            return
        _next_replay_check = now + settings.HISTORY_SPOOL_REPLAY_INTERVAL
    try:
        replay(time_budget=settings.HISTORY_SPOOL_REPLAY_BUDGET)
    except UNREACHABLE_ERRORS:
        _mark_unreachable()


@dataclass(frozen=True)
class ReplayReport:
    files: int
    rows: int
    rejected: int


def replay(*, time_budget: float | None = None) -> ReplayReport:
    """INSERT spooled rows into PostgreSQL and delete their files.

    Stops early after `time_budget` seconds (between files). Raises OperationalError or
    InterfaceError when PostgreSQL goes away; the file being replayed is then put back.
    """
    deadline = None if time_budget is None else time.monotonic() + time_budget
    files = rows = rejected = 0
    for path in _replayable_files():
        if deadline is not None and time.monotonic() > deadline:
            break
        claimed = path.with_name(f"{path.name.split('.')[0]}.{os.getpid()}-{time.time_ns()}{CLAIMED_SUFFIX}")
        try:
            os.rename(path, claimed)
        except FileNotFoundError:
            continue  # another process claimed it first
        os.utime(claimed)  # a fresh claim, not a stale one, for the other processes
        try:
            stored, bad = _replay_file(claimed)
        except BaseException:
            # Put it back under a fresh name (the writer may have started a new file already).
            back = claimed.with_name(f"{claimed.name.split('.')[0]}-{time.time_ns()}{SPOOL_SUFFIX}")
            os.rename(claimed, back)
            raise
        claimed.unlink(missing_ok=True)
        files, rows, rejected = files + 1, rows + stored, rejected + bad
    if files:
        logger.info("Replayed %d history row(s) from %d spool file(s) into PostgreSQL", rows, files)
    return ReplayReport(files=files, rows=rows, rejected=rejected)


def _replay_file(path: Path) -> tuple[int, int]:
    with open(path, "rb") as spool_file:
        # Wait for a writer that opened the file before we renamed it to finish its append.
        fcntl.flock(spool_file.fileno(), fcntl.LOCK_EX)
        lines = spool_file.read().split(b"\n")
    pending, bad_lines = [], []
    for line in lines:
        if not line.strip():
            continue
        try:
            pending.append(row_from_data(json.loads(line)))
        except (ValueError, TypeError, KeyError) as exc:
            logger.error("Unreadable line in history spool %s: %s", path.name, exc)
            bad_lines.append(line)
    stored = 0
    for start in range(0, len(pending), REPLAY_BATCH):
        batch = pending[start : start + REPLAY_BATCH]
        try:
            # A savepoint (or a transaction of its own), so that a refused row leaves the
            # connection usable for the one-by-one retry below.
            with transaction.atomic():
                Lookup.objects.bulk_create(batch, ignore_conflicts=True)
            stored += len(batch)
        except UNREACHABLE_ERRORS:
            raise
        except DatabaseError:
            # One row PostgreSQL refuses must not hold the others back forever: one by one.
            for row in batch:
                try:
                    with transaction.atomic():
                        Lookup.objects.bulk_create([row], ignore_conflicts=True)
                    stored += 1
                except UNREACHABLE_ERRORS:
                    raise
                except DatabaseError as exc:
                    logger.error("PostgreSQL refuses a spooled history row (%s): %s", row.uid, exc)
                    bad_lines.append(json.dumps(row_to_data(row)).encode("ascii"))
    if bad_lines:
        rejected = path.with_name(f"{path.name.split('.')[0]}-{time.time_ns()}{REJECTED_SUFFIX}")
        rejected.write_bytes(b"\n".join(bad_lines) + b"\n")
        logger.error("Kept %d history row(s) PostgreSQL refused in %s", len(bad_lines), rejected)
    return stored, len(bad_lines)
