"""When the updater tries a download again, and how long it waits: urllib3's Retry, with our rules.

urllib3's Retry decides what is retried (5xx, 408, 429, connection and read errors, GET and HEAD
only) and counts the attempts. Three things it does not do our way, so `DownloadRetry` changes
them: it waits before the first retry too (urllib3 waits 0), never less than a server's
Retry-After, and refuses a Retry-After longer than MAX_RETRY_AFTER (cron comes back); its sleep
and clock can be replaced by a test, and each wait is reported to the person watching.
"""

import datetime as dt
import email.utils
import time
from collections.abc import Callable
from http import HTTPStatus
from itertools import takewhile

import requests
from urllib3.exceptions import MaxRetryError, ProtocolError
from urllib3.util.retry import Retry

from lookups.updater.errors import UpdateFailed

ATTEMPTS = 4  # per request, the first included
BACKOFF = 2.0  # seconds before the first retry, doubled for each further one
MAX_RETRY_AFTER = 300.0  # a server asking us to wait longer than this: give up, cron comes back
RETRY_STATUSES = frozenset({HTTPStatus.REQUEST_TIMEOUT, HTTPStatus.TOO_MANY_REQUESTS, *range(500, 600)})

RETRY_AFTER_TOO_LONG_MESSAGE = (
    "{url} asks us to come back in {seconds:.0f} seconds ({reason}). Not waiting that long: the "
    "installed database is unchanged; try again later."
)

Report = Callable[..., None]  # report(message, level=2): progress news for the person watching


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def quiet(message: str, level: int = 2) -> None:
    pass


def parse_retry_after(value: str | None, *, now: dt.datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())


class Truncated(ProtocolError):
    """A body shorter than its Content-Length: a read error, as Retry counts them."""


def failure_reason(error: BaseException) -> str:
    """What went wrong, for people: the innermost cause requests and urllib3 wrapped."""
    while True:
        if (
            isinstance(error, requests.RequestException)
            and error.args
            and isinstance(error.args[0], BaseException)
        ):
            error = error.args[0]
        elif isinstance(error, MaxRetryError) and error.reason is not None:
            error = error.reason
        else:
            break
    if isinstance(error, Truncated):
        return str(error)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


class DownloadRetry(Retry):
    """urllib3's Retry with our backoff and Retry-After rules, an injectable sleep and clock."""

    def __init__(
        self,
        *args,
        shown_url: str = "",
        attempts: int = ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], dt.datetime] = utc_now,
        max_retry_after: float = MAX_RETRY_AFTER,
        report: Report = quiet,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.shown_url, self.attempts, self.max_retry_after = shown_url, attempts, max_retry_after
        self.sleeper, self.now, self.report = sleep, now, report

    def new(self, **kw) -> "DownloadRetry":
        new = super().new(**kw)
        new.shown_url, new.attempts, new.max_retry_after = self.shown_url, self.attempts, self.max_retry_after
        new.sleeper, new.now, new.report = self.sleeper, self.now, self.report
        return new

    def get_backoff_time(self) -> float:
        failures = len(list(takewhile(lambda seen: seen.redirect_location is None, reversed(self.history))))
        return self.backoff_factor * 2 ** (failures - 1) if failures else 0.0

    def get_retry_after(self, response) -> float | None:
        return parse_retry_after(response.headers.get("Retry-After"), now=self.now())

    def sleep(self, response=None) -> None:
        last = self.history[-1]
        if response is not None:
            reason = f"HTTP {response.status} {response.reason}"
        else:
            reason = failure_reason(last.error) if last.error else f"HTTP {last.status}"
        delay = self.get_backoff_time()
        retry_after = self.get_retry_after(response) if response is not None else None
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                raise UpdateFailed(
                    RETRY_AFTER_TOO_LONG_MESSAGE.format(
                        url=self.shown_url, seconds=retry_after, reason=reason
                    )
                )
            delay = max(delay, retry_after)
        attempt = f"attempt {len(self.history) + 1} of {self.attempts}"
        self.report(
            f"{self.shown_url}: {reason}; trying again in {delay:.0f} s ({attempt}).",
            level=1,
        )
        self.sleeper(delay)
