"""Limits on name resolution, so that names whose servers never answer cannot tie the service up.

A name costs a DNS round trip, an address does not; a name whose servers never answer holds what
resolves it for DNS_TIMEOUT seconds. So, for the names of single lookups and batches alike:

- **Per machine**: at most DNS_MAX_CONCURRENT names are resolved at once, across every worker
  process whose DNS_SLOT_DIR is the same folder (by default one under the system's temporary
  folder: one per container). A slot is a lock file there, held with flock for one resolution;
  the lock dies with its process, so a killed worker never keeps a slot.
- **Per client address**: at most DNS_MAX_CONCURRENT_PER_CLIENT of them, counted the same way
  (a client's slots are files named by a hash of its address, in 4,096 buckets: two clients
  rarely share them, and the folder stays bounded).
- **Per process**: at most GUNICORN_THREADS - 1 request threads wait on DNS at once, so every
  worker keeps a thread for addresses (gunicorn queues a worker's connections behind its threads).
- **Negative caching**: a name whose resolution timed out is answered the same DNSUnavailable,
  without a query, for DNS_NEGATIVE_TTL seconds (per process).

Over a limit, a single lookup's name is refused at once (DNSBusy, 503); a batch's names wait for
a slot until the batch's DNS deadline; a reverse name (lookups.core.reverse_dns) takes the same
slots (`slots`) and request threads without waiting, and is answered `busy` instead. When the
slot folder cannot be used, the per-machine and per-client limits fall back to per-process counts
(logged once).
"""

import contextlib
import fcntl
import hashlib
import itertools
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

from lookups.errors import (
    DNS_BUSY_MESSAGE,
    DNS_CLIENT_BUSY_MESSAGE,
    DNS_FAILURE_MESSAGE,
    DNSBusy,
    DNSUnavailable,
)

logger = logging.getLogger(__name__)

CLIENT_BUCKETS = 4096
NEGATIVE_CACHE_SIZE = 10_000
_POLL_SECONDS = 0.02  # how often a batch's name waiting for a slot tries again


# --- Slots: lock files held with flock ----------------------------------------------------------


class _Slots:
    """`count` slots named `prefix-0` ... in the slot folder; per-process ones when it is unusable."""

    def __init__(self, prefix: str, count: int):
        self.prefix, self.count = prefix, count

    def try_take(self) -> int | None:
        """An fd holding one slot's lock, or None when every slot is taken."""
        folder = _slot_dir()
        if folder is None:
            return _local_take(self.prefix, self.count)
        for number in range(self.count):
            try:
                fd = os.open(folder / f"{self.prefix}-{number}", os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                _give_up_on_folder(folder, exc)
                return _local_take(self.prefix, self.count)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return fd
        return None


def _release(fd: int) -> None:
    if fd < 0:
        _local_release(fd)
    else:
        os.close(fd)  # and with it the lock


_folder_state: dict = {}  # {"unusable": folder} once the slot folder failed


def _slot_dir() -> Path | None:
    folder = Path(settings.DNS_SLOT_DIR)
    if _folder_state.get("unusable") == folder:
        return None
    if _folder_state.get("ready") != folder:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            _give_up_on_folder(folder, exc)
            return None
        _folder_state["ready"] = folder
    return folder


def _give_up_on_folder(folder: Path, exc: OSError) -> None:
    if _folder_state.get("unusable") != folder:
        logger.warning("DNS slot folder %s cannot be used (%s): DNS limits count per process", folder, exc)
    _folder_state["unusable"] = folder


# Per-process stand-ins: negative "fds" naming (prefix, count) entries.
_local_counts: dict[str, int] = {}
_local_tokens: dict[int, str] = {}
_local_lock = threading.Lock()
_local_ids = itertools.count(1)


def _local_take(prefix: str, count: int) -> int | None:
    with _local_lock:
        if _local_counts.get(prefix, 0) >= count:
            return None
        _local_counts[prefix] = _local_counts.get(prefix, 0) + 1
        token = -next(_local_ids)
        _local_tokens[token] = prefix
        return token


def _local_release(token: int) -> None:
    with _local_lock:
        prefix = _local_tokens.pop(token)
        _local_counts[prefix] -= 1
        if not _local_counts[prefix]:
            del _local_counts[prefix]


def _take(slots: _Slots, wait: float) -> int | None:
    deadline = time.monotonic() + wait
    while True:
        fd = slots.try_take()
        if fd is not None or time.monotonic() >= deadline:
            return fd
        time.sleep(_POLL_SECONDS)


def _client_slots(client: str) -> _Slots:
    bucket = int.from_bytes(hashlib.blake2b(client.encode(), digest_size=4).digest(), "big") % CLIENT_BUCKETS
    return _Slots(f"client-{bucket:04d}", settings.DNS_MAX_CONCURRENT_PER_CLIENT)


# --- Request threads waiting on DNS, per process --------------------------------------------------

_threads = {"limit": None, "busy": 0}
_threads_lock = threading.Lock()


def set_request_threads(threads: int) -> None:
    """How many threads serve requests in this process (gunicorn's post_worker_init says)."""
    _threads["limit"] = max(1, threads - 1) if threads > 1 else None


@contextlib.contextmanager
def request_thread_in_dns() -> Iterator[None]:
    """The calling request thread waits on DNS meanwhile. Raises DNSBusy when too many do."""
    with _threads_lock:
        limit = _threads["limit"]
        if limit is not None and _threads["busy"] >= limit:
            raise DNSBusy(DNS_BUSY_MESSAGE)
        _threads["busy"] += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads["busy"] -= 1


# --- Negative cache ---------------------------------------------------------------------------------

_timed_out: OrderedDict[str, float] = OrderedDict()  # name -> until (monotonic)
_timed_out_lock = threading.Lock()


def recently_timed_out(name: str) -> bool:
    with _timed_out_lock:
        until = _timed_out.get(name)
        if until is None:
            return False
        if until <= time.monotonic():
            del _timed_out[name]
            return False
        return True


def remember_timeout(name: str) -> None:
    if settings.DNS_NEGATIVE_TTL <= 0:
        return
    with _timed_out_lock:
        _timed_out[name] = time.monotonic() + settings.DNS_NEGATIVE_TTL
        _timed_out.move_to_end(name)
        while len(_timed_out) > NEGATIVE_CACHE_SIZE:
            _timed_out.popitem(last=False)


def forget_timeouts() -> None:
    with _timed_out_lock:
        _timed_out.clear()


# --- The resolver -------------------------------------------------------------------------------


class LimitedResolver:
    """A resolver (lookups.core.resolver.Resolver) within the limits above, for one client.

    A single lookup's name is refused at once over a limit, and counts its request thread as
    waiting on DNS (`request_thread`); a batch's names (resolved in a pool, with `timeout` the
    time left to the batch's deadline) wait for a slot within that time.
    """

    def __init__(self, resolver, *, client: str | None, request_thread: bool = False):
        self.resolver, self.client, self.request_thread = resolver, client, request_thread

    def resolve(self, name: str, *, timeout: float | None = None) -> list[str]:
        if recently_timed_out(name):
            raise DNSUnavailable(DNS_FAILURE_MESSAGE.format(name=name))
        if self.request_thread:
            with request_thread_in_dns():
                return self._resolve(name, timeout)
        return self._resolve(name, timeout)

    def _resolve(self, name: str, timeout: float | None) -> list[str]:
        started = time.monotonic()
        wait = 0.0 if timeout is None else max(0.0, timeout)
        try:
            with slots(self.client, wait=wait):
                if timeout is None:
                    return self.resolver.resolve(name)
                remaining = timeout - (time.monotonic() - started)  # the wait for a slot counts
                if remaining <= 0:
                    raise DNSUnavailable(DNS_FAILURE_MESSAGE.format(name=name))
                return self.resolver.resolve(name, timeout=remaining)
        except DNSUnavailable:
            remember_timeout(name)
            raise


@contextlib.contextmanager
def slots(client: str | None, *, wait: float = 0.0) -> Iterator[None]:
    """Hold one of `client`'s DNS slots and one of this machine's meanwhile, waiting at most `wait`
    seconds for them (0: refused at once). Raises DNSBusy."""
    held = []
    try:
        if client is not None and settings.DNS_MAX_CONCURRENT_PER_CLIENT > 0:
            fd = _take(_client_slots(client), wait)
            if fd is None:
                limit = settings.DNS_MAX_CONCURRENT_PER_CLIENT
                raise DNSBusy(DNS_CLIENT_BUSY_MESSAGE.format(limit=limit))
            held.append(fd)
        if settings.DNS_MAX_CONCURRENT > 0:
            fd = _take(_Slots("instance", settings.DNS_MAX_CONCURRENT), wait)
            if fd is None:
                raise DNSBusy(DNS_BUSY_MESSAGE)
            held.append(fd)
        yield
    finally:
        for fd in held:
            _release(fd)
