"""The lookup history's writer: every lookup's row goes spool -> replay -> PostgreSQL.

record() appends rows to this process's spool file (lookups.history.spool, encoded once as COPY
lines by lookups.history.encoding); the flusher (lookups.history.flusher) replays the spool
(lookups.history.replay) into PostgreSQL by COPY (lookups.history.postgres), skipping rows it
stored already; while PostgreSQL is away the breaker (lookups.history.breaker) leaves it alone
and the rows wait on disk. docs/history.md tells the whole story.
"""

from lookups.history.breaker import UNREACHABLE_ERRORS, database_recently_unreachable
from lookups.history.flusher import flush, record, start_flusher_if_enabled
from lookups.history.replay import ReplayReport, replay
from lookups.history.rows import HistoryRow, new_row, new_uid
from lookups.history.spool import SpoolStatus, spool_dir, spool_status

__all__ = [
    "UNREACHABLE_ERRORS",
    "HistoryRow",
    "ReplayReport",
    "SpoolStatus",
    "database_recently_unreachable",
    "flush",
    "new_row",
    "new_uid",
    "record",
    "replay",
    "spool_dir",
    "spool_status",
    "start_flusher_if_enabled",
]
