"""The circuit breaker: after PostgreSQL failed to answer, leave it alone for a while.

For HISTORY_DB_RETRY_INTERVAL seconds after a failure nobody tries PostgreSQL for the history
(a database that does not answer at all would cost every attempt a connect timeout); /health
reads the same state to answer at once.
"""

from django.conf import settings
from django.db import InterfaceError, OperationalError

from lookups.cooldown import Cooldown

# The errors that mean "PostgreSQL is not there" rather than "this row is wrong".
UNREACHABLE_ERRORS = (OperationalError, InterfaceError)

cooldown = Cooldown(lambda: settings.HISTORY_DB_RETRY_INTERVAL)


def database_recently_unreachable() -> bool:
    """True for HISTORY_DB_RETRY_INTERVAL seconds after PostgreSQL last failed to answer."""
    return cooldown.resting()


def mark_unreachable() -> None:
    cooldown.failed()


def mark_reachable() -> None:
    cooldown.recovered()
