"""A deadline for every statement a serving process runs, kept by the client.

PostgreSQL keeps statement_timeout itself, so a server that does not run at all (its processes
stopped, storage hung under it) cannot keep it, and TCP keepalives do not notice either: the
kernel answers them for a stopped process. Measured: a query to a cluster stopped with SIGSTOP
waited until the cluster was resumed, keepalives and tcp_user_timeout notwithstanding.

So in a gunicorn worker (install(), from config/gunicorn.conf.py) every statement run through
Django is registered with a watchdog thread, which shuts the connection's socket down once the
statement has waited DATABASE_STATEMENT_TIMEOUT and a second more (PostgreSQL had its chance to
cancel it). libpq then raises OperationalError at once, Django discards the connection, and the
request answers 503. Then, for HISTORY_DB_RETRY_INTERVAL seconds, the process's statements fail at
once instead of each waiting, and the history's breaker is open too (its flusher waits, /health
says so). Only an unanswered statement starts that pause, not any failure the history's breaker
sees (a connection broken by a restart would turn requests away after the server is back).
COPY (the history flusher's) bypasses Django's execute wrappers: a flusher waits in the
background, which no request notices.
"""

import itertools
import logging
import os
import socket
import threading
import time

from django.conf import settings
from django.db import OperationalError
from django.db.backends.signals import connection_created

from lookups.history import breaker

logger = logging.getLogger(__name__)

# How long past statement_timeout the client waits before it gives up on the server.
GRACE_SECONDS = 1.0
DATABASE_NOT_ANSWERING_MESSAGE = "PostgreSQL did not answer a moment ago; not asked again for a while"

_waiting: dict[int, tuple[float, int]] = {}  # token -> (deadline, the connection's socket fd)
_lock = threading.Lock()
_tokens = itertools.count()
_watchdog: dict = {}  # {"thread"}: this process's (a forked child starts its own)
os.register_at_fork(after_in_child=_watchdog.clear)


def install() -> None:
    """Give every connection this process opens from now on the deadline (a serving process)."""
    if settings.DATABASE_STATEMENT_TIMEOUT > 0:
        connection_created.connect(_on_connection_created, dispatch_uid="lookups.query_deadline")


def _on_connection_created(sender, connection, **kwargs) -> None:
    if statement_deadline not in connection.execute_wrappers:
        connection.execute_wrappers.append(statement_deadline)


_unanswered = {"until": 0.0}  # monotonic time until which statements fail at once


def statement_deadline(execute, sql, params, many, context):
    """Django execute wrapper: run the statement under the watchdog's eye."""
    if time.monotonic() < _unanswered["until"]:
        raise OperationalError(DATABASE_NOT_ANSWERING_MESSAGE)
    _start_watchdog()
    fd = context["connection"].connection.fileno()
    token = next(_tokens)
    limit = settings.DATABASE_STATEMENT_TIMEOUT + GRACE_SECONDS
    with _lock:
        _waiting[token] = (time.monotonic() + limit, fd)
    try:
        return execute(sql, params, many, context)
    finally:
        # Under the lock: once popped, the watchdog never touches this fd (which the connection
        # may close and the kernel hand to someone else).
        with _lock:
            _waiting.pop(token, None)


def _start_watchdog() -> None:
    if _watchdog:
        return
    with _lock:
        if not _watchdog:
            _watchdog["thread"] = threading.Thread(target=_watch, name="query-deadline", daemon=True)
            _watchdog["thread"].start()


def _watch() -> None:
    while True:
        time.sleep(0.2)
        now = time.monotonic()
        with _lock:
            expired = [token for token, (deadline, _) in _waiting.items() if deadline <= now]
            for token in expired:
                _, fd = _waiting.pop(token)
                _shut_down(fd)
        if expired:
            _unanswered["until"] = time.monotonic() + settings.HISTORY_DB_RETRY_INTERVAL
            breaker.mark_unreachable()
            logger.warning(
                "PostgreSQL did not answer %d statement(s) within %.0f s; their connections were closed",
                len(expired),
                settings.DATABASE_STATEMENT_TIMEOUT + GRACE_SECONDS,
            )


def _shut_down(fd: int) -> None:
    """Shut the socket down (not close it: the fd stays the connection's until libpq closes it)."""
    try:
        with socket.socket(fileno=os.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # closed meanwhile
        pass
