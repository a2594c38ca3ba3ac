"""The circuit breaker: after PostgreSQL failed to answer, leave it alone for a while.

For HISTORY_DB_RETRY_INTERVAL seconds after a failure nobody tries PostgreSQL for the history
(a database that does not answer at all would cost every attempt a connect timeout); /health
reads the same state to answer at once.
"""

import time

from django.conf import settings
from django.db import InterfaceError, OperationalError

# The errors that mean "PostgreSQL is not there" rather than "this row is wrong".
UNREACHABLE_ERRORS = (OperationalError, InterfaceError)

_down_until = 0.0


def database_recently_unreachable() -> bool:
    """True for HISTORY_DB_RETRY_INTERVAL seconds after PostgreSQL last failed to answer."""
    return time.monotonic() < _down_until


def mark_unreachable() -> None:
    global _down_until
    _down_until = time.monotonic() + settings.HISTORY_DB_RETRY_INTERVAL


def mark_reachable() -> None:
    global _down_until
    _down_until = 0.0
