"""The updater's HTTP client: requests, with urllib3's Retry deciding what is retried and when.

What we ask of it: GET (or HEAD) with bounded retries, exponential backoff, for 5xx, 408, 429
(honouring Retry-After) and connection errors; 401/403 and 404/410 end at once; the body streamed
into a file with its SHA-256; the Authorization header never sent across a redirect to another
origin (requests strips it); proxies and REQUESTS_CA_BUNDLE from the environment, as requests
reads them.

When to retry and how long to wait is lookups.updater.retry. A body cut short after the headers
is not seen by Retry at all (requests reads it after urlopen returns), so `fetch` charges it to
the same Retry and starts over.

We use requests rather than httpx: httpx retries only failed connections, with no backoff, and
would leave the status and Retry-After rules to us.
"""

import datetime as dt
import hashlib
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import BinaryIO

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, ProtocolError

from lookups.updater.errors import AccessRefused, NotFound, UpdateFailed
from lookups.updater.retry import (
    ATTEMPTS,
    BACKOFF,
    MAX_RETRY_AFTER,
    RETRY_STATUSES,
    DownloadRetry,
    Report,
    Truncated,
    failure_reason,
    quiet,
    utc_now,
)

DEFAULT_TIMEOUT = 60.0  # seconds without a byte before a request is abandoned
MAX_REDIRECTS = 10
MAX_DATABASE_BYTES = 4 * 1024**3  # GeoIP2-Enterprise is well under 1 GiB; a bigger file is not ours
CHUNK = 1024 * 1024
USER_AGENT = "easygeoip-update_maxmind/1.0"

UNSUPPORTED_URL_MESSAGE = "{url} is not an http:// or https:// address with a host name."
ACCESS_REFUSED_MESSAGE = "{url} refused access (HTTP {status}). Check the address."
NOT_FOUND_MESSAGE = "{url} does not exist (HTTP 404). Check the address."
HTTP_FAILED_MESSAGE = "{url} answered HTTP {status} {reason}."
REQUEST_FAILED_MESSAGE = "{url} could not be fetched ({reason})."
REDIRECT_REFUSED_REASON = "redirect to {url} refused"
RETRIES_EXHAUSTED_MESSAGE = (
    "{url} failed {attempts} times ({reason}). The installed database is unchanged; try again later."
)
TRUNCATED_MESSAGE = "the download stopped after {got} of {expected} bytes"
TOO_LARGE_MESSAGE = "{name} is larger than {limit} bytes: not a GeoIP database."

Progress = Callable[[int, int | None], None]  # progress(bytes so far, total bytes or None)


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
        retries = DownloadRetry(
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
                                    url=shown, attempts=self.attempts, reason=failure_reason(exhausted)
                                )
                            ) from None
            retries.sleep()

    def _session(self, retries: DownloadRetry, shown: str) -> requests.Session:
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
                RETRIES_EXHAUSTED_MESSAGE.format(
                    url=shown, attempts=self.attempts, reason=failure_reason(error)
                )
            )
        return UpdateFailed(REQUEST_FAILED_MESSAGE.format(url=shown, reason=failure_reason(error)))

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
                    raise Truncated(TRUNCATED_MESSAGE.format(got=done, expected=total)) from error
                raise ProtocolError(failure_reason(error)) from error
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
            raise Truncated(TRUNCATED_MESSAGE.format(got=done, expected=total))
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
