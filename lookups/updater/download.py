"""The updater's HTTP client: requests, with urllib3's Retry deciding what is retried and when.

What we ask of it: GET (or HEAD) with bounded retries, exponential backoff, for 5xx, 408, 429
(honouring Retry-After) and connection errors; 401/403 and 404/410 end at once; the body streamed
into a file with its SHA-256; the Authorization header never sent across a redirect to another
origin (requests strips it); proxies and REQUESTS_CA_BUNDLE from the environment, as requests
reads them.

Three things urllib3's Retry does not do our way, so `_Retry` changes them: it waits before the
first retry too (urllib3 waits 0), never less than a server's Retry-After, and refuses a
Retry-After longer than MAX_RETRY_AFTER (cron comes back); its sleep and clock can be replaced by
a test. A body cut short after the headers is not seen by Retry at all (requests reads it after
urlopen returns), so `fetch` charges it to the same Retry and starts over.
"""

import datetime as dt
import email.utils
import hashlib
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from itertools import takewhile
from typing import BinaryIO

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, ProtocolError
from urllib3.util.retry import Retry

from lookups.updater.errors import AccessRefused, NotFound, UpdateFailed

DEFAULT_TIMEOUT = 60.0  # seconds without a byte before a request is abandoned
ATTEMPTS = 4  # per request, the first included
BACKOFF = 2.0  # seconds before the first retry, doubled for each further one
MAX_RETRY_AFTER = 300.0  # a server asking us to wait longer than this: give up, cron comes back
MAX_REDIRECTS = 10
MAX_DATABASE_BYTES = 4 * 1024**3  # GeoIP2-Enterprise is well under 1 GiB; a bigger file is not ours
CHUNK = 1024 * 1024
USER_AGENT = "easygeoip-update_maxmind/1.0"
RETRY_STATUSES = frozenset({HTTPStatus.REQUEST_TIMEOUT, HTTPStatus.TOO_MANY_REQUESTS, *range(500, 600)})

UNSUPPORTED_URL_MESSAGE = "{url} is not an http:// or https:// address with a host name."
ACCESS_REFUSED_MESSAGE = "{url} refused access (HTTP {status}). Check the address."
NOT_FOUND_MESSAGE = "{url} does not exist (HTTP 404). Check the address."
HTTP_FAILED_MESSAGE = "{url} answered HTTP {status} {reason}."
REQUEST_FAILED_MESSAGE = "{url} could not be fetched ({reason})."
REDIRECT_REFUSED_REASON = "redirect to {url} refused"
RETRIES_EXHAUSTED_MESSAGE = (
    "{url} failed {attempts} times ({reason}). The installed database is unchanged; try again later."
)
RETRY_AFTER_TOO_LONG_MESSAGE = (
    "{url} asks us to come back in {seconds:.0f} seconds ({reason}). Not waiting that long: the "
    "installed database is unchanged; try again later."
)
TRUNCATED_MESSAGE = "the download stopped after {got} of {expected} bytes"
TOO_LARGE_MESSAGE = "{name} is larger than {limit} bytes: not a GeoIP database."

Report = Callable[..., None]  # report(message, level=2): progress news for the person watching
Progress = Callable[[int, int | None], None]  # progress(bytes so far, total bytes or None)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def quiet(message: str, level: int = 2) -> None:
    pass


def describe_url(url: str) -> str:
    """The URL for messages: scheme, host and path; never user:password@ or a query (tokens)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def check_url(url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise UpdateFailed(UNSUPPORTED_URL_MESSAGE.format(url=describe_url(url)))


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


class _Truncated(ProtocolError):
    """A body shorter than its Content-Length: a read error, as Retry counts them."""


def _reason(error: BaseException) -> str:
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
    if isinstance(error, _Truncated):
        return str(error)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


class _Retry(Retry):
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

    def new(self, **kw) -> "_Retry":
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
            reason = _reason(last.error) if last.error else f"HTTP {last.status}"
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


@dataclass(frozen=True)
class Fetched:
    status: int
    url: str  # after redirects
    last_modified: str | None = None
    sha256: str | None = None  # of the body written, when one was
    size: int = 0


@dataclass
class HTTPClient:
    """GET/HEAD with bounded retries. Every collaborator can be replaced by a test."""

    timeout: float = DEFAULT_TIMEOUT
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], dt.datetime] = utc_now
    attempts: int = ATTEMPTS
    backoff: float = BACKOFF
    max_retry_after: float = MAX_RETRY_AFTER
    session_factory: Callable[[], requests.Session] = field(default=requests.Session)

    def fetch(
        self,
        url: str,
        *,
        auth: tuple[str, str] | None = None,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        into: BinaryIO | None = None,
        progress: Progress | None = None,
        report: Report = quiet,
    ) -> Fetched:
        """GET (or HEAD) `url`, writing the body into `into`. 304 is returned, not raised.

        Raises AccessRefused (401, 403), NotFound (404, 410) or UpdateFailed, after retrying 5xx,
        408, 429, connection errors and bodies cut short with exponential backoff.
        """
        check_url(url)
        shown = describe_url(url)
        retries = _Retry(
            total=self.attempts - 1,
            backoff_factor=self.backoff,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"GET", "HEAD"}),
            raise_on_status=False,  # the last answer comes back, and we say what it was
            respect_retry_after_header=True,
            shown_url=shown,
            attempts=self.attempts,
            sleep=self.sleep,
            now=self.now,
            max_retry_after=self.max_retry_after,
            report=report,
        )
        request_headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **(headers or {})}
        while True:
            with self._session(retries, shown) as session:
                try:
                    response = session.request(
                        method, url, headers=request_headers, auth=auth, timeout=self.timeout, stream=True
                    )
                except requests.RequestException as error:
                    raise self._request_failed(shown, error) from None
                with response:
                    self._check_status(shown, response)
                    fetched = Fetched(
                        status=response.status_code,
                        url=response.url,
                        last_modified=response.headers.get("Last-Modified"),
                    )
                    if into is None or method == "HEAD" or response.status_code == HTTPStatus.NOT_MODIFIED:
                        return fetched
                    try:
                        return self._read_body(response, fetched, into, progress)
                    except ProtocolError as error:
                        try:
                            retries = response.raw.retries.increment(method, url, error=error)
                        except MaxRetryError as exhausted:
                            raise UpdateFailed(
                                RETRIES_EXHAUSTED_MESSAGE.format(
                                    url=shown, attempts=self.attempts, reason=_reason(exhausted)
                                )
                            ) from None
            retries.sleep()

    def _session(self, retries: _Retry, shown: str) -> requests.Session:
        session = self.session_factory()
        session.max_redirects = MAX_REDIRECTS
        adapter = HTTPAdapter(max_retries=retries)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.hooks["response"].append(lambda response, **kwargs: _check_redirect(shown, response))
        return session

    def _request_failed(self, shown: str, error: requests.RequestException) -> UpdateFailed:
        if isinstance(error.args[0] if error.args else None, MaxRetryError):
            return UpdateFailed(
                RETRIES_EXHAUSTED_MESSAGE.format(url=shown, attempts=self.attempts, reason=_reason(error))
            )
        return UpdateFailed(REQUEST_FAILED_MESSAGE.format(url=shown, reason=_reason(error)))

    def _check_status(self, shown: str, response: requests.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        if status in {HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN}:
            raise AccessRefused(ACCESS_REFUSED_MESSAGE.format(url=shown, status=status), status=status)
        if status in {HTTPStatus.NOT_FOUND, HTTPStatus.GONE}:
            raise NotFound(NOT_FOUND_MESSAGE.format(url=shown))
        if status in RETRY_STATUSES:  # Retry gave up on it: this was the last attempt
            reason = f"HTTP {status} {response.reason}"
            raise UpdateFailed(
                RETRIES_EXHAUSTED_MESSAGE.format(url=shown, attempts=self.attempts, reason=reason)
            )
        raise UpdateFailed(HTTP_FAILED_MESSAGE.format(url=shown, status=status, reason=response.reason))

    def _read_body(
        self, response: requests.Response, fetched: Fetched, into: BinaryIO, progress: Progress | None
    ) -> Fetched:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        into.seek(0)
        into.truncate()
        digest, done = hashlib.sha256(), 0
        while True:
            try:
                # The bytes as sent: a .gz served with Content-Encoding: gzip stays the .gz we checksum.
                chunk = response.raw.read(CHUNK, decode_content=False)
            except (ProtocolError, OSError) as error:
                if total is not None and done < total:
                    raise _Truncated(TRUNCATED_MESSAGE.format(got=done, expected=total)) from error
                raise ProtocolError(_reason(error)) from error
            if not chunk:
                break
            done += len(chunk)
            if done > MAX_DATABASE_BYTES:
                raise UpdateFailed(
                    TOO_LARGE_MESSAGE.format(name=describe_url(fetched.url), limit=MAX_DATABASE_BYTES)
                )
            digest.update(chunk)
            into.write(chunk)
            if progress:
                progress(done, total)
        if total is not None and done != total:
            raise _Truncated(TRUNCATED_MESSAGE.format(got=done, expected=total))
        into.flush()
        return Fetched(
            status=fetched.status,
            url=fetched.url,
            last_modified=fetched.last_modified,
            sha256=digest.hexdigest(),
            size=done,
        )


def _check_redirect(shown: str, response: requests.Response) -> None:
    """Refuse a redirect to anything but http(s), and from https down to http."""
    if not response.is_redirect:
        return
    target = urllib.parse.urljoin(response.url, response.headers["Location"])
    scheme, was = urllib.parse.urlsplit(target).scheme, urllib.parse.urlsplit(response.url).scheme
    if scheme not in {"http", "https"} or (was == "https" and scheme == "http"):
        response.close()
        reason = REDIRECT_REFUSED_REASON.format(url=describe_url(target))
        raise UpdateFailed(HTTP_FAILED_MESSAGE.format(url=shown, status=response.status_code, reason=reason))
