"""The spool: the folder of files where history rows wait for PostgreSQL, and its file protocol.

Each process appends to a file of its own, `history-<token><SUFFIX>`, the token random per
process start: containers on host networking share the host name, their pids start again from
1, and several may share one spool volume, so neither names a writer. A line is appended in one
write; a write survives the process's death, not the machine's.

A writer holds its file's flock for as long as it has the file open, so that an append is one
system call (each one more costs a busy worker's threads a hand-over of the GIL: docs/history.md).
So no other process takes a file that is being written: its own process seals it (renames it
`history-<token>-<ns><SUFFIX>` and closes it) when it replays, or when it is full; a dead
writer's lock dies with it.

A replayer claims a file by taking its flock and renaming it to `<writer>.<ns>.replaying`, and
keeps the lock until it has deleted it (or put it back under a fresh `.spool` name). The lock
dies with its process, on any host sharing the volume's kernel: a claim whose lock can be taken
belongs to a replayer that died, and is claimed again at once.
"""

import contextlib
import fcntl
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from lookups.history import breaker
from lookups.history.encoding import HEADER, encode_row
from lookups.history.rows import HistoryRow

SUFFIX = ".spool"
LEGACY_SUFFIX = ".jsonl"  # JSON lines, written before the COPY encoding (lookups.history.legacy)
CLAIMED_SUFFIX = ".replaying"
REJECTED_SUFFIX = ".rejected"
# The "-<nanoseconds>" parts a spool file's name gains when it is sealed or put back.
_TIMESTAMPS = re.compile(r"(-\d{16,})+$")


def spool_dir() -> Path:
    return Path(settings.HISTORY_SPOOL_DIR)


# This process's writer: its token, folder, path, and the file it has open (fd, size).
_writer: dict = {}
_lock = threading.Lock()


def _forget_in_child() -> None:
    """A forked child writes a file of its own; the parent's stays the parent's."""
    global _lock
    fd = _writer.get("fd")
    _writer.clear()
    _lock = threading.Lock()  # another thread may have held it at the fork
    if fd is not None:
        os.close(fd)  # the lock stays with the parent's descriptor


os.register_at_fork(after_in_child=_forget_in_child)


def own_path() -> Path:
    """This process's spool file."""
    folder = settings.HISTORY_SPOOL_DIR
    if _writer.get("folder") != folder:
        _close()
        token = _writer.setdefault("token", secrets.token_hex(8))
        _writer.update(folder=folder, own=Path(folder) / f"history-{token}{SUFFIX}")
    return _writer["own"]


def append(rows: list[HistoryRow]) -> Path:
    """Append the rows to this process's spool file. Raises OSError."""
    payload = b"".join([encode_row(row) for row in rows])
    with _lock:
        path = own_path()
        fd = _writer.get("fd")
        if fd is None:
            fd = _open(path)
        data = payload if _writer["size"] else HEADER + payload
        try:
            _write(fd, data)
        except OSError:
            _seal(path)  # a torn line stays the file's last, where replay expects one
            raise
        _writer["size"] += len(data)
        if _writer["size"] >= settings.HISTORY_SPOOL_FILE_MAX_BYTES:
            _seal(path)  # replay then works through files of bounded size
        return path


def seal_own() -> None:
    """Give this process's rows so far to replay: its file is sealed, the next append starts one."""
    with _lock:
        if _writer.get("size"):
            _seal(_writer["own"])


def _open(path: Path) -> int:
    """Open this process's file and take its lock, for as long as the file stays open."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a replayer claims a file left here earlier: renamed away in a moment
            os.close(fd)
            time.sleep(0.0002)
            continue
        except OSError:
            os.close(fd)
            raise
        size = _size_if_named(fd, path)
        if size is None:  # claimed between our open and our lock: write a new one
            os.close(fd)
            continue
        _writer.update(fd=fd, size=size)
        return fd


def _seal(path: Path) -> None:
    # If it cannot be renamed, it stays under its own name: replayed all the same once closed.
    with contextlib.suppress(OSError):
        os.rename(path, path.with_name(f"{path.stem}-{time.time_ns()}{SUFFIX}"))
    _close()


def _close() -> None:
    fd = _writer.pop("fd", None)
    _writer.pop("size", None)
    if fd is not None:
        os.close(fd)


def _size_if_named(fd: int, path: Path) -> int | None:
    """The size of the file open as `fd`, if `path` still names it; else None."""
    try:
        named = os.stat(path).st_ino
    except FileNotFoundError:
        return None
    stat = os.fstat(fd)
    return stat.st_size if stat.st_ino == named else None


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


# --- Claims ------------------------------------------------------------------------------------


@dataclass
class Claim:
    """A spool file this process replays: renamed to `path`, its lock held through `fd`."""

    path: Path
    fd: int

    def read(self) -> bytes:
        with open(self.fd, "rb", closefd=False) as spool_file:
            return spool_file.read()

    def done(self) -> None:
        """Rows stored: delete the file, then let go of the lock."""
        self.path.unlink(missing_ok=True)
        os.close(self.fd)

    def put_back(self) -> None:
        """Rows not stored (PostgreSQL went away): the file waits again under a fresh name."""
        if os.fstat(self.fd).st_size:
            os.rename(self.path, put_back_name(self.path))
        else:  # claimed between its writer's open and first append: nothing to wait for
            self.path.unlink(missing_ok=True)
        os.close(self.fd)


def waiting_files() -> list[Path]:
    """Spool files that may be claimed, in name order: written ones and claimed ones (whose
    claimer may have died: claim() finds out)."""
    try:
        names = os.listdir(spool_dir())
    except FileNotFoundError:
        return []
    suffixes = (SUFFIX, LEGACY_SUFFIX, CLAIMED_SUFFIX)
    return sorted(spool_dir() / name for name in names if name.endswith(suffixes))


def claim(path: Path) -> Claim | None:
    """Claim a spool file; None when it is gone or another live process holds it."""
    try:
        fd = os.open(path, os.O_RDWR)  # for writing too: NFS's flock emulation wants that
    except FileNotFoundError:
        return None
    # A held lock is a live writer's (for as long as it writes the file) or a live replayer's.
    # Under the lock nobody else renames the file: if `path` still names it, it is ours.
    if not _take_lock(fd) or _size_if_named(fd, path) is None:
        os.close(fd)
        return None
    claimed = path.with_name(f"{_writer_part(path.name)}.{time.time_ns()}{CLAIMED_SUFFIX}")
    os.rename(path, claimed)
    os.utime(claimed)  # a fresh claim, for spool_status
    return Claim(path=claimed, fd=fd)


def _take_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _writer_part(name: str) -> str:
    return _TIMESTAMPS.sub("", name.split(".")[0])


def put_back_name(claimed: Path) -> Path:
    """A claimed file's name when it goes back to the queue: the writer's part and one new
    timestamp, never a chain that grows with every failed replay (it would outgrow NAME_MAX)."""
    return claimed.with_name(f"{_writer_part(claimed.name)}-{time.time_ns()}{SUFFIX}")


def rejected_path(claimed: Path) -> Path:
    return claimed.with_name(f"{_writer_part(claimed.name)}-{time.time_ns()}{REJECTED_SUFFIX}")


# --- Status ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpoolStatus:
    files: int
    bytes: int


def spool_status() -> SpoolStatus:
    """How much history waits on disk for PostgreSQL.

    With write-behind, rows pass through the spool all the time: while PostgreSQL answers,
    only files the flushers have left alone for a while count.
    """
    files = size = 0
    write_behind = settings.HISTORY_FLUSH_INTERVAL > 0 and not breaker.database_recently_unreachable()
    settled_before = time.time() - 10 * settings.HISTORY_FLUSH_INTERVAL - 5
    for path in waiting_files():
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        if write_behind and stat.st_mtime > settled_before:
            continue
        size += stat.st_size
        files += 1
    return SpoolStatus(files, size)
