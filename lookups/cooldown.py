"""Leaving a failed dependency alone for a while: PostgreSQL for the history, the rate limiter's
storage, the reverse-DNS cache. Each try at one that does not answer could wait a timeout, on
every request; after a failure the service does without it for a few seconds. One per process,
like the connections it guards."""

import time
from collections.abc import Callable


class Cooldown:
    """After failed(), resting() is True for `seconds` (a number, or a function: a setting read
    at each failure)."""

    def __init__(self, seconds: float | Callable[[], float]):
        self._seconds = seconds if callable(seconds) else lambda: seconds
        self._until = 0.0

    @property
    def seconds(self) -> float:
        return self._seconds()

    def failed(self) -> None:
        self._until = time.monotonic() + self._seconds()

    def recovered(self) -> None:
        self._until = 0.0

    def resting(self) -> bool:
        return time.monotonic() < self._until
