"""Recording a lookup's history: spool the rows, and let this process's flusher move them.

Write-behind (HISTORY_FLUSH_INTERVAL > 0, the production default): record() appends the rows to
this process's spool file and returns; a background thread flushes the spool into PostgreSQL
every HISTORY_FLUSH_INTERVAL seconds, one COPY for many lookups. With 0, record() flushes in the
caller's thread before it returns (the rows are in PostgreSQL when the answer leaves, unless
PostgreSQL is away). Either way a row takes the same path: spool, replay, COPY.
"""

import atexit
import logging
import os
import threading
from collections.abc import Sequence

from django.conf import settings
from django.db import connection

from lookups.errors import HISTORY_UNAVAILABLE_MESSAGE, HistoryUnavailable
from lookups.history import breaker, spool
from lookups.history.replay import replay
from lookups.history.rows import HistoryRow, give_uids
from lookups.metrics.instruments import history_flushed

logger = logging.getLogger("lookups.history")


def record(rows: Sequence[HistoryRow]) -> None:
    """Store history rows (spooled now, in PostgreSQL within the flush interval).

    Raises HistoryUnavailable when the spool cannot be written (the caller must then not
    pretend the lookup was recorded).
    """
    if not rows:
        return
    give_uids(rows)
    try:
        spool.append(list(rows))
    except OSError as exc:
        logger.error("History spool %s cannot be written: %s", spool.spool_dir(), exc)
        raise HistoryUnavailable(HISTORY_UNAVAILABLE_MESSAGE) from exc
    if settings.HISTORY_FLUSH_INTERVAL > 0:
        _start_flusher()
    elif not breaker.database_recently_unreachable():
        flush()


def flush() -> None:
    """Move what the spool holds now (this process's rows and any other's) into PostgreSQL."""
    try:
        replay()
        breaker.mark_reachable()
        history_flushed()  # /metrics: the history's write lag
    except breaker.UNREACHABLE_ERRORS as exc:
        breaker.mark_unreachable()
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        logger.warning(
            "PostgreSQL does not answer (%s); spooling history to %s", first_line, spool.spool_dir()
        )


def start_flusher_if_enabled() -> None:
    """Start this process's flusher now (gunicorn calls it as each worker starts), so that rows
    spooled by a worker that died are replayed even before this one records anything."""
    if settings.HISTORY_FLUSH_INTERVAL > 0:
        _start_flusher()


_flusher: dict = {}  # {"thread"}: this process's (a forked child starts its own)
_flusher_lock = threading.Lock()
_wakeup = threading.Event()
# The flusher's flush and the one at exit never overlap: at exit, a flush in progress (whose
# claimed spool file would be left half-sent when the process ends) is waited for, then finished.
_flush_lock = threading.Lock()
os.register_at_fork(after_in_child=_flusher.clear)


def _start_flusher() -> None:
    if _flusher:
        return
    with _flusher_lock:
        if _flusher:
            return
        _flusher["thread"] = threading.Thread(target=_flush_forever, name="history-flusher", daemon=True)
        _flusher["thread"].start()
        atexit.register(_flush_exclusively)


def _flush_exclusively() -> None:
    with _flush_lock:
        flush()


def _flush_forever() -> None:
    while True:
        _wakeup.wait(settings.HISTORY_FLUSH_INTERVAL or 1.0)
        _wakeup.clear()
        if breaker.database_recently_unreachable():
            continue
        try:
            _flush_exclusively()
        except Exception:  # the flusher must outlive any one bad flush
            logger.exception("History flush failed; the rows stay in the spool")
        finally:
            connection.close_if_unusable_or_obsolete()  # this thread's own connection
