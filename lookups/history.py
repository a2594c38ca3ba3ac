"""Writing the lookup history durably: INSERT it, or spool it to disk while PostgreSQL is away.

Rows are plain dicts (column -> value, the location as (longitude, latitude)): building a model
instance and a GEOS point per lookup cost more CPU than the lookup itself. They are written
with one raw multi-row INSERT ... ON CONFLICT (uid) DO NOTHING.

Write-behind (HISTORY_FLUSH_INTERVAL > 0, the production default): a lookup appends its row to
this process's spool file (one write, no fsync: it survives the worker's death, not the
machine's) and is answered; a background thread replays the spool into PostgreSQL every
HISTORY_FLUSH_INTERVAL seconds as one INSERT per batch. One round trip per few dozen lookups
instead of one per lookup is what lets the API keep up with a bare WSGI app (bench/). With
HISTORY_FLUSH_INTERVAL = 0 each lookup INSERTs its row before it is answered (tests use this).

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

import atexit
import datetime as dt
import fcntl
import io
import itertools
import json
import logging
import math
import operator
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from django.conf import settings
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from lookups.durable import fsync_directory
from lookups.errors import HISTORY_UNAVAILABLE_MESSAGE, HistoryUnavailable
from lookups.models import Lookup

logger = logging.getLogger(__name__)

SPOOL_SUFFIX = ".jsonl"
CLAIMED_SUFFIX = ".replaying"
REJECTED_SUFFIX = ".rejected"
# A claimed file older than this was left by a replayer that died: claim it again.
STALE_CLAIM_SECONDS = 60
REPLAY_BATCH = 500
# The "-<nanoseconds>" parts a spool file's name gains when it is sealed or put back.
_TIMESTAMPS = re.compile(r"(-\d{16,})+$")

# The errors that mean "PostgreSQL is not there" rather than "this row is wrong".
UNREACHABLE_ERRORS = (OperationalError, InterfaceError)

# A history row: Lookup's columns by name, the location as (longitude, latitude) or None.
HistoryRow = dict[str, Any]


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


def record(rows: Sequence[HistoryRow]) -> None:
    """Store history rows: INSERT them, or spool them to disk when PostgreSQL cannot be reached.

    Raises HistoryUnavailable when neither works (the caller must then not pretend the lookup
    was recorded).
    """
    if not rows:
        return
    _give_uids(rows)
    if settings.HISTORY_FLUSH_INTERVAL > 0:
        _write_behind(rows)
        return
    if not database_recently_unreachable():
        _maybe_replay()
    if not database_recently_unreachable():
        try:
            insert_rows(rows)
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


def _give_uids(rows: Iterable[HistoryRow]) -> None:
    for row in rows:
        if row.get("uid") is None:
            row["uid"] = new_uid()


# The bits uuid.UUID(version=4) clears and sets: the variant (RFC 4122) and the version.
_UUID4_CLEAR = ~(0xC000 << 48 | 0xF000 << 64)
_UUID4_SET = 0x8000 << 48 | 0x4000 << 64


def new_uid() -> str:
    """str(uuid.uuid4()) in half the time (a batch gives 1,000 rows their uids)."""
    value = int.from_bytes(os.urandom(16), "big") & _UUID4_CLEAR | _UUID4_SET
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


# --- Rows and the INSERT -----------------------------------------------------------------------

# Every Lookup column but the key, in the INSERT's order; the location goes last.
COLUMNS = tuple(
    field.column
    for field in Lookup._meta.concrete_fields
    if not field.primary_key and field.column != "location"
)
_INSERT = f"INSERT INTO {Lookup._meta.db_table} ({', '.join(COLUMNS)}, location) VALUES "  # noqa: S608 (names from the model)
# psycopg2 sends a list as ARRAY['...'] (text[]): the address array needs its type spelt out.
_ROW_SQL = (
    "("
    + ", ".join("%s::inet[]" if column == "addresses" else "%s" for column in COLUMNS)
    + ", ST_SetSRID(ST_MakePoint(%s, %s), 4326))"
)
_ON_CONFLICT = " ON CONFLICT (uid) DO NOTHING"


def new_row(**values: Any) -> HistoryRow:
    """A history row with every column, the model's defaults where `values` has none (and
    created_at now, unless given)."""
    row: HistoryRow = dict(_DEFAULTS)
    if "created_at" not in values:
        row["created_at"] = timezone.now()
    row.update(values)
    return row


_DEFAULTS: HistoryRow = {
    field.attname: (field.get_default() if field.has_default() else None)
    for field in Lookup._meta.concrete_fields
    if not field.primary_key
}
_DEFAULTS["location"] = None


# The same INSERT with every row in one JSON parameter: psycopg2 adapting two dozen parameters a
# row cost more CPU than anything else in a batch of 1,000 (and PostgreSQL parses less, too).
_JSON_TYPES = {
    field.column: "text" if field.db_type(connection).startswith("varchar") else field.db_type(connection)
    for field in Lookup._meta.concrete_fields
    if field.column in COLUMNS
}
_JSON_INSERT = (
    f"INSERT INTO {Lookup._meta.db_table} ({', '.join(COLUMNS)}, location) "  # noqa: S608 (names from the model)
    f"SELECT {', '.join('r.' + column for column in COLUMNS)}, "
    "ST_SetSRID(ST_MakePoint(r.location[1], r.location[2]), 4326) "
    f"FROM jsonb_to_recordset(%s::jsonb) AS r({', '.join(f'{c} {t}' for c, t in _JSON_TYPES.items())}, "
    "location float8[])" + _ON_CONFLICT
)


def insert_rows(rows: Sequence[HistoryRow]) -> None:
    """One INSERT for all `rows` (a row already stored, by its uid, is skipped)."""
    payload = _rows_as_json(rows)
    with connection.cursor() as cursor:
        if payload is not None:
            cursor.execute(_JSON_INSERT, [payload])
            return
        params: list[Any] = []
        for row in rows:
            params.extend(row.get(column) for column in COLUMNS)
            params.extend(row["location"] or (None, None))
        cursor.execute(_INSERT + ", ".join([_ROW_SQL] * len(rows)) + _ON_CONFLICT, params)


def _rows_as_json(rows: Sequence[HistoryRow]) -> str | None:
    """The rows as a JSON array for _JSON_INSERT; None for rows only the parameters carry as
    they are (a NaN coordinate, which JSON cannot hold; a NUL, which jsonb refuses; a value
    orjson does not know)."""
    try:
        payload = orjson.dumps(rows)
        for row in rows:
            if row.get("location") and not all(math.isfinite(value) for value in row["location"]):
                return None
    except (TypeError, ValueError):
        return None
    if b"\\u0000" in payload:
        return None
    return payload.decode()


def spool_dir() -> Path:
    return Path(settings.HISTORY_SPOOL_DIR)


def _own_spool_path() -> Path:
    key = (os.getpid(), str(settings.HISTORY_SPOOL_DIR))
    path = _spool_paths.get(key)
    if path is None:
        # No dots in the host part: everything before the first dot names the file's writer.
        host = socket.gethostname().replace(".", "_")
        path = _spool_paths[key] = spool_dir() / f"history-{host}-{os.getpid()}{SPOOL_SUFFIX}"
    return path


_spool_paths: dict[tuple[int, str], Path] = {}


_spool_lock = threading.Lock()


def row_to_data(row: HistoryRow) -> dict[str, Any]:
    """A history row as plain JSON data."""
    data = dict(row)
    for key, value in data.items():
        if isinstance(value, dt.datetime):
            data[key] = value.isoformat()
        elif isinstance(value, uuid.UUID):
            data[key] = str(value)
    if data.get("location") is not None:
        data["location"] = list(data["location"])
    return data


def _spool_line(row: HistoryRow) -> bytes:
    """A row as one line of JSON (orjson's when it reads back as the same row: not for NaN)."""
    location = row.get("location")
    try:
        if not location or (len(location) == 2 and math.isfinite(location[0]) and math.isfinite(location[1])):
            return orjson.dumps(row) + b"\n"
    except TypeError:  # orjson.JSONEncodeError too
        pass
    return json.dumps(row_to_data(row)).encode("ascii") + b"\n"


def row_from_data(data: dict[str, Any]) -> HistoryRow:
    """A spooled row back as a history row: unknown keys refused, missing ones defaulted."""
    unknown = set(data) - set(_DEFAULTS)
    if unknown:
        raise KeyError(f"unknown columns {sorted(unknown)}")
    row = new_row(**data)
    if isinstance(row["created_at"], str):
        row["created_at"] = dt.datetime.fromisoformat(row["created_at"])
    if row["location"] is not None:
        longitude, latitude = row["location"]
        row["location"] = (float(longitude), float(latitude))
    return row


def spool(rows: Iterable[HistoryRow], *, durable: bool = True) -> Path:
    """Append rows to this process's spool file, and fsync it when `durable`. Raises OSError.

    The file stays open between calls (write-behind appends on every lookup); it is reopened
    when a replayer has renamed it away.
    """
    rows = list(rows)
    _give_uids(rows)
    payload = b"".join([_spool_line(row) for row in rows])
    with _spool_lock:
        path = _own_spool_path()
        while True:
            fd, created = _spool_fd(path)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                # A replayer may have renamed the file since we opened it: writing into it now
                # would put rows where nobody reads them any more.
                try:
                    current = os.stat(path).st_ino
                except FileNotFoundError:
                    current = None
                stat = os.fstat(fd)
                if stat.st_ino != current:
                    _forget_spool_fd()
                    continue
                view = memoryview(payload)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                if durable:
                    os.fsync(fd)
                    if created:
                        fsync_directory(path.parent)
                if stat.st_size + len(payload) >= settings.HISTORY_SPOOL_FILE_MAX_BYTES:
                    # Seal it: replay then works through files of bounded size.
                    try:
                        os.rename(path, path.with_name(f"{path.stem}-{time.time_ns()}{SPOOL_SUFFIX}"))
                    except FileNotFoundError:
                        # A replayer (this process's flusher, say) claimed it since the check
                        # above: it reads these rows too, once we let go of the lock.
                        pass
                    else:
                        fsync_directory(path.parent)
                    _forget_spool_fd()
                return path
            finally:
                if _open_spool.get("fd") == fd:
                    fcntl.flock(fd, fcntl.LOCK_UN)


# This process's open spool file: {"pid", "path", "fd"} (a forked worker opens its own).
_open_spool: dict[str, Any] = {}


def _spool_fd(path: Path) -> tuple[int, bool]:
    """(file descriptor, whether the file was just created) of this process's spool file."""
    if _open_spool.get("pid") == os.getpid() and _open_spool.get("path") == path:
        return _open_spool["fd"], False
    _forget_spool_fd()
    path.parent.mkdir(parents=True, exist_ok=True)
    existed = path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    _open_spool.update(pid=os.getpid(), path=path, fd=fd)
    return fd, not existed


def _forget_spool_fd() -> None:
    fd = _open_spool.pop("fd", None)
    if fd is not None and _open_spool.get("pid") == os.getpid():
        os.close(fd)
    _open_spool.clear()


# --- Replaying ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpoolStatus:
    files: int
    bytes: int


def spool_status() -> SpoolStatus:
    """How much history waits on disk for PostgreSQL (in this host's spool folder).

    With write-behind, rows pass through the spool all the time: only files the flushers have
    left alone for a while (PostgreSQL away) count.
    """
    files = size = 0
    write_behind = settings.HISTORY_FLUSH_INTERVAL > 0
    settled_before = time.time() - 10 * settings.HISTORY_FLUSH_INTERVAL - 5
    try:
        entries = list(os.scandir(spool_dir()))
    except FileNotFoundError:
        return SpoolStatus(0, 0)
    for entry in entries:
        if entry.name.endswith((SPOOL_SUFFIX, CLAIMED_SUFFIX)):
            try:
                stat = entry.stat()
            except FileNotFoundError:
                continue
            if write_behind and stat.st_mtime > settled_before:
                continue
            size += stat.st_size
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
            # Claimed by a replayer that died (its pid is gone), or stuck for too long.
            if not _claimer_alive(entry.name):
                paths.append(Path(entry.path))
                continue
            try:
                if now - entry.stat().st_mtime > STALE_CLAIM_SECONDS:
                    paths.append(Path(entry.path))
            except FileNotFoundError:
                continue
    return sorted(paths)


def put_back_name(claimed: Path) -> Path:
    """A claimed file's name when it goes back to the queue: the writer's part and one new
    timestamp, never a chain that grows with every failed replay (it would outgrow NAME_MAX)."""
    writer = _TIMESTAMPS.sub("", claimed.name.split(".")[0])
    return claimed.with_name(f"{writer}-{time.time_ns()}{SPOOL_SUFFIX}")


def _claimer_alive(name: str) -> bool:
    """Whether the process whose pid a claimed file's name carries still runs (on this host)."""
    try:
        pid = int(name.split(".")[1].split("-")[0])
        os.kill(pid, 0)
    except (IndexError, ValueError):
        return True  # not a name we made: leave it to the staleness rule
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
            back = put_back_name(claimed)
            os.rename(claimed, back)
            raise
        claimed.unlink(missing_ok=True)
        files, rows, rejected = files + 1, rows + stored, rejected + bad
    if files:
        logger.info("Replayed %d history row(s) from %d spool file(s) into PostgreSQL", rows, files)
    return ReplayReport(files=files, rows=rows, rejected=rejected)


def _sendable_as_spooled(data: Any, line: bytes) -> bool:
    """Whether a spooled line (that orjson read) can go to PostgreSQL as it is, meaning what
    insert_rows would send for its row: every column there, the time as text, the location two
    finite numbers or none, no NUL (jsonb refuses it). Lines this version spools are; parsing
    them into rows and writing them out again cost more than the INSERT itself."""
    if type(data) is not dict or data.keys() != _DEFAULTS.keys() or type(data["created_at"]) is not str:
        return False
    location = data["location"]
    if location is not None:
        if type(location) is not list or len(location) != 2:
            return False
        longitude, latitude = location
        if type(longitude) is not float or type(latitude) is not float:
            return False
        if not (math.isfinite(longitude) and math.isfinite(latitude)):
            return False
    return b"\\u0000" not in line


def _insert_spooled_lines(lines: list[bytes], rows: list[dict[str, Any]]) -> None:
    """Lines that _sendable_as_spooled accepted (and `rows`, what they read as) into the table:
    by COPY, else by _JSON_INSERT."""
    if _copy_spooled(rows):
        return
    with connection.cursor() as cursor:
        cursor.execute(_JSON_INSERT, [(b"[" + b",".join(lines) + b"]").decode()])


# COPY costs PostgreSQL about half the CPU of the INSERT from JSON (measured: 35 against 65 µs a
# row with the table's indexes), and the flusher writes every lookup's row. COPY cannot skip a row
# already stored, though: a file replayed again (its INSERT committed, the process killed before
# it deleted the file) fails it on the uid, and then the INSERT ... ON CONFLICT goes instead.
_COPY_SQL = f"COPY {Lookup._meta.db_table} ({', '.join(COLUMNS)}, location) FROM STDIN"
# COPY's text format: a backslash starts an escape; tab, newline and carriage return separate.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
# Array elements written unquoted: addresses are only ever these characters.
_ADDRESS_TEXT = re.compile(r"[0-9A-Fa-f:.]+")
_column_values = operator.itemgetter(*COLUMNS)


def _copy_spooled(rows: list[dict[str, Any]]) -> bool:
    """COPY rows as spooled (their values as JSON gives them back). False, having stored nothing,
    when a value is not one this writes (the INSERT takes those) or a row is already stored."""
    text = _copy_text(rows)
    if text is None:
        return False
    try:
        # A savepoint: a refused COPY must leave the caller's transaction usable.
        with transaction.atomic(), connection.cursor() as cursor, connection.wrap_database_errors:
            cursor.copy_expert(_COPY_SQL, io.StringIO(text))
    except IntegrityError:
        return False
    return True


def _copy_text(rows: list[dict[str, Any]]) -> str | None:
    """The rows in COPY's text format; None when a value is not a string, an integer, None, a
    list of addresses or a finite location (spooled lines hold nothing else)."""
    escapes = _COPY_ESCAPES
    lines = []
    for row in rows:
        fields = []
        append = fields.append
        for value in _column_values(row):
            kind = type(value)
            if kind is str:  # most of them, and most need no escape: two tests cost less than translate
                append(value if "\\" not in value and value.isprintable() else value.translate(escapes))
            elif value is None:
                append("\\N")
            elif kind is int:
                append(str(value))
            elif kind is list and all(type(item) is str and _ADDRESS_TEXT.fullmatch(item) for item in value):
                append("{" + ",".join(value) + "}")
            else:
                return None
        location = row["location"]
        if location is None:
            append("\\N")
        else:
            longitude, latitude = location
            if not (type(longitude) is float and type(latitude) is float):
                return None
            append(f"SRID=4326;POINT({longitude!r} {latitude!r})")
        lines.append("\t".join(fields))
    return "\n".join(lines) + "\n"


def _replay_file(path: Path) -> tuple[int, int]:
    with open(path, "rb") as spool_file:
        # Wait for a writer that opened the file before we renamed it to finish its append.
        fcntl.flock(spool_file.fileno(), fcntl.LOCK_EX)
        lines = spool_file.read().split(b"\n")
    # (the line, when it goes to PostgreSQL as it is, else None; what it reads as: the line's
    # data, or the row made of it). COPY needs the data too: each line is parsed once.
    pending: list[tuple[bytes | None, dict[str, Any]]] = []
    bad_lines = []
    for line in lines:
        if not line.strip():
            continue
        try:
            try:
                data = orjson.loads(line)
                sendable = _sendable_as_spooled(data, line)
            except orjson.JSONDecodeError:
                data = json.loads(line)  # NaN, which json.dumps writes and orjson does not read
                sendable = False
            pending.append((line, data) if sendable else (None, row_from_data(data)))
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
                # Runs of lines sent as they are, runs of rows: one INSERT each, in order.
                for as_spooled, run in itertools.groupby(batch, key=lambda entry: entry[0] is not None):
                    if as_spooled:
                        lines_and_rows = list(run)
                        _insert_spooled_lines(
                            [line for line, _ in lines_and_rows], [data for _, data in lines_and_rows]
                        )
                    else:
                        insert_rows([row for _, row in run])
            stored += len(batch)
        except UNREACHABLE_ERRORS:
            raise
        except DatabaseError:
            # One row PostgreSQL refuses must not hold the others back forever: one by one.
            for _, row in batch:
                try:
                    with transaction.atomic():
                        insert_rows([row])
                    stored += 1
                except UNREACHABLE_ERRORS:
                    raise
                except DatabaseError as exc:
                    logger.error("PostgreSQL refuses a spooled history row (%s): %s", row["uid"], exc)
                    bad_lines.append(json.dumps(row_to_data(row)).encode("ascii"))
    if bad_lines:
        rejected = path.with_name(f"{path.name.split('.')[0]}-{time.time_ns()}{REJECTED_SUFFIX}")
        rejected.write_bytes(b"\n".join(bad_lines) + b"\n")
        logger.error("Kept %d history row(s) PostgreSQL refused in %s", len(bad_lines), rejected)
    return stored, len(bad_lines)


# --- Write-behind ------------------------------------------------------------------------------

_flusher_pid: int | None = None
_flusher_wakeup = threading.Event()


def _write_behind(rows: Sequence[HistoryRow]) -> None:
    """Spool the rows (no fsync) for this process's flusher to INSERT within the interval."""
    try:
        spool(rows, durable=False)
    except OSError as exc:
        logger.error("History spool %s cannot be written: %s", spool_dir(), exc)
        raise HistoryUnavailable(HISTORY_UNAVAILABLE_MESSAGE) from exc
    _start_flusher()


def start_flusher_if_enabled() -> None:
    """Start this process's flusher now (gunicorn calls it as each worker starts), so that rows
    spooled by a worker that died are replayed even before this one records anything."""
    if settings.HISTORY_FLUSH_INTERVAL > 0:
        _start_flusher()


def _start_flusher() -> None:
    global _flusher_pid
    if _flusher_pid == os.getpid():
        return
    with _state_lock:
        if _flusher_pid == os.getpid():
            return
        # First write in this process (gunicorn forks its workers): a flusher of its own.
        _flusher_pid = os.getpid()
        threading.Thread(target=_flush_forever, name="history-flusher", daemon=True).start()
        atexit.register(flush)


def _flush_forever() -> None:
    while True:
        _flusher_wakeup.wait(settings.HISTORY_FLUSH_INTERVAL or 1.0)
        _flusher_wakeup.clear()
        if database_recently_unreachable():
            continue
        try:
            flush()
        except Exception:  # the flusher must outlive any one bad flush
            logger.exception("History flush failed; the rows stay in the spool")


def flush() -> None:
    """INSERT what the spool holds now (this process's rows and any other's)."""
    try:
        replay()
        _mark_reachable()
    except UNREACHABLE_ERRORS as exc:
        _mark_unreachable()
        logger.warning("PostgreSQL does not answer (%s); history stays in %s", exc, spool_dir())
    finally:
        connection.close_if_unusable_or_obsolete()
