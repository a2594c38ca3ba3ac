"""Download, verify and install GeoIP databases: from MaxMind, DB-IP Lite, a URL or a local file.

`manage.py update_maxmind` is a thin shell over `run_updates` and `rollback`. What they promise:

- Cheap: MaxMind publishes a SHA-256 of each archive; when it matches the one recorded beside the
  installed file (`<file>.update.json`), nothing is downloaded (free accounts get 30 downloads a
  day). Other sources get a conditional GET (If-Modified-Since the recorded Last-Modified).
- Safe: the archive is downloaded and unpacked into temporary files in GEOIP_PATH, checked (the
  published checksum, opens as a MaxMind DB of the expected kind, sane metadata, not older than
  the installed file unless forced), synced, and renamed over the installed file: a reader sees
  the old file or the new one, never part of one. The old file is kept as `<file>.previous` for
  `rollback`. An flock on GEOIP_PATH/.update_maxmind.lock keeps two runs apart. Workers switch
  to the new file on their own (lookups.core.geoip reopens on a new inode).
- Polite: retries with exponential backoff only for 5xx, 408, 429 (honouring Retry-After) and
  connection errors, a bounded number of times; 401 and 403 end at once with what to fix.
- Secret: the licence key travels only in the Authorization header of requests to
  MAXMIND_DOWNLOAD_URL (never in a URL, never across a redirect to the storage host), and every
  message this module returns or records is scrubbed of it.

We do not use MaxMind's `pygeoipupdate` (0.1.0): it speaks the updates protocol through aiohttp
(four more dependencies), retries only 5xx without Retry-After or an injectable sleep, writes
`<edition>.mmdb` without checking the kind, metadata or build date, and keeps no previous file.
"""

import base64
import contextlib
import datetime as dt
import email.utils
import fcntl
import gzip
import hashlib
import http.client
import io
import ipaddress
import json
import logging
import os
import re
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import BinaryIO

import maxminddb
from django.conf import settings
from django.db import DatabaseError

from lookups.core.geoip import ASN, CITY, KIND_NAMES, is_asn_database_type, is_city_database_type
from lookups.durable import fsync_directory
from lookups.models import UpdateRun

logger = logging.getLogger(__name__)

# Sources, as UpdateRun.source records them.
MAXMIND = "maxmind"
DBIP = "dbip"
URL = "url"
FILE = "file"
ROLLBACK = "rollback"

LOCK_NAME = ".update_maxmind.lock"
TEMP_PREFIX = ".update-"  # every temporary file a run writes in GEOIP_PATH starts with this
PREVIOUS_SUFFIX = ".previous"
STATE_SUFFIX = ".update.json"

DEFAULT_TIMEOUT = 60.0  # seconds without a byte before a request is abandoned
ATTEMPTS = 4  # per request, the first included
BACKOFF = 2.0  # seconds before the first retry, doubled for each further one
MAX_RETRY_AFTER = 300.0  # a server asking us to wait longer than this: give up, cron comes back
MAX_DATABASE_BYTES = 4 * 1024**3  # GeoIP2-Enterprise is well under 1 GiB; a bigger file is not ours
CHUNK = 1024 * 1024
USER_AGENT = "easygeoip-update_maxmind/1.0"

# --- Messages (tests assert against these) ------------------------------------------------------

CREDENTIALS_INCOMPLETE_MESSAGE = (
    "Set both MAXMIND_ACCOUNT_ID and MAXMIND_LICENSE_KEY to download from MaxMind "
    "(or neither, to install DB-IP Lite)."
)
UNSUPPORTED_EDITION_MESSAGE = (
    "MAXMIND_EDITIONS: {edition} is neither a City nor an ASN edition. "
    "Use GeoLite2-City or GeoIP2-City, and optionally GeoLite2-ASN or GeoIP2-ISP."
)
DUPLICATE_KIND_MESSAGE = (
    "MAXMIND_EDITIONS names two {kind} editions ({editions}), and both would be installed at {path}. "
    "Keep one."
)
INSECURE_URL_MESSAGE = (
    "MAXMIND_DOWNLOAD_URL must be an https:// address: the licence key goes with every request."
)
UNSUPPORTED_URL_MESSAGE = "{url} is not an http:// or https:// address with a host name."
AUTH_FAILED_MESSAGE = (
    "MaxMind refused the account ID and licence key (HTTP {status}). Check MAXMIND_ACCOUNT_ID and "
    "MAXMIND_LICENSE_KEY: the key must be active and belong to that account "
    "(https://www.maxmind.com/en/accounts/current/license-key)."
)
EDITION_FORBIDDEN_MESSAGE = (
    "MaxMind refused to let this account download {edition} (HTTP 403). Check MAXMIND_EDITIONS: "
    "GeoIP2 editions need a subscription, GeoLite2 ones the GeoLite licence accepted."
)
EDITION_NOT_FOUND_MESSAGE = "MaxMind has no edition {edition} (HTTP 404). Check MAXMIND_EDITIONS."
ACCESS_REFUSED_MESSAGE = "{url} refused access (HTTP {status}). Check the address."
NOT_FOUND_MESSAGE = "{url} does not exist (HTTP 404). Check the address."
DBIP_NOT_FOUND_MESSAGE = (
    "DB-IP has no City Lite database for {months} at {base} (HTTP 404). Check DBIP_DOWNLOAD_URL."
)
HTTP_FAILED_MESSAGE = "{url} answered HTTP {status} {reason}."
RETRIES_EXHAUSTED_MESSAGE = (
    "{url} failed {attempts} times ({reason}). The installed database is unchanged; try again later."
)
RETRY_AFTER_TOO_LONG_MESSAGE = (
    "{url} asks us to come back in {seconds:.0f} seconds ({reason}). Not waiting that long: the "
    "installed database is unchanged; try again later."
)
TRUNCATED_MESSAGE = "the download stopped after {got} of {expected} bytes"
TOO_LARGE_MESSAGE = "{name} is larger than {limit} bytes: not a GeoIP database."
CHECKSUM_FORMAT_MESSAGE = "The published checksum at {url} is not a SHA-256 digest."
CHECKSUM_MISMATCH_MESSAGE = (
    "The download of {name} does not match its published SHA-256 (expected {expected}, got {actual}). "
    "The installed database is unchanged."
)
CORRUPT_ARCHIVE_MESSAGE = "{name} is not a readable .mmdb, .mmdb.gz or .tar.gz file ({reason})."
NO_MMDB_IN_ARCHIVE_MESSAGE = "{name} holds no .mmdb file."
NOT_A_DATABASE_MESSAGE = "{name} is not a MaxMind DB file ({reason})."
WRONG_KIND_MESSAGE = "{name} is a {edition} database, not {kind_name}."
UNKNOWN_KIND_MESSAGE = "{name} is a {edition} database: neither a City nor an ASN database."
BAD_METADATA_MESSAGE = "{name} has implausible metadata: {reason}."
OLDER_MESSAGE = (
    "{name} was built on {new:%Y-%m-%d %H:%M}, before the installed database ({old:%Y-%m-%d %H:%M}). "
    "Not installed; use --force to install it anyway."
)
LOCKED_MESSAGE = "Another update is running (it holds the lock on {path}). Try again when it has finished."
NO_PREVIOUS_MESSAGE = "There is no previous database to roll back to ({path} does not exist)."
FILE_NOT_FOUND_MESSAGE = "No such file: {path}."
WRITE_FAILED_MESSAGE = "Could not write in {directory}: {reason}. The installed database is unchanged."
RECORD_FAILED_MESSAGE = "Could not record the run in PostgreSQL: {reason}"

UPDATED_MESSAGE = "{edition}: installed the database built on {build:%Y-%m-%d} at {path}."
CURRENT_MESSAGE = "{edition}: already current (built on {build:%Y-%m-%d})."
NOT_MODIFIED_MESSAGE = "{edition}: already current ({url} has not changed since {since})."
WOULD_DOWNLOAD_MESSAGE = "{edition}: would download {url} (dry run: nothing downloaded or changed)."
WOULD_INSTALL_MESSAGE = (
    "{edition}: would install the database built on {build:%Y-%m-%d} at {path} (dry run: nothing changed)."
)
ROLLED_BACK_MESSAGE = (
    "{edition}: put back the previous database (built on {build:%Y-%m-%d}); the one it replaced "
    "is now {previous}."
)

Report = Callable[..., None]  # report(message, level=2): progress news for the person watching
Progress = Callable[[int, int | None], None]  # progress(bytes so far, total bytes or None)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _quiet(message: str, level: int = 2) -> None:
    pass


class UpdateFailed(Exception):
    """An update that did not happen; the installed database is unchanged. `message` is for people."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UpdateLocked(UpdateFailed):
    pass


class AccessRefused(UpdateFailed):
    def __init__(self, message: str, *, status: int):
        super().__init__(message)
        self.status = status


class NotFound(UpdateFailed):
    pass


class _Transient(UpdateFailed):
    """Worth another try: 5xx, 408, 429, a dropped connection, a truncated body."""

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


# --- HTTP ---------------------------------------------------------------------------------------


class _RedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follows redirects (MaxMind's permalinks point at a storage host), keeping a HEAD a HEAD.

    Credentials are set with `add_unredirected_header`, which urllib never copies to the
    redirected request: the storage host never sees the licence key.
    """

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urllib.parse.urlsplit(newurl).scheme not in {"http", "https"}:  # urllib would follow ftp://
            raise urllib.error.HTTPError(
                newurl, code, f"redirect to {describe_url(newurl)} refused", headers, fp
            )
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and req.get_method() == "HEAD":
            new.method = "HEAD"
        return new


def default_opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_RedirectHandler())


def describe_url(url: str) -> str:
    """The URL for messages: scheme, host and path; never user:password@ or a query (tokens)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def _check_url(url: str) -> None:
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


@dataclass(frozen=True)
class Fetched:
    status: int
    url: str  # after redirects
    last_modified: str | None = None
    sha256: str | None = None  # of the body written, when one was
    size: int = 0


@dataclass
class HTTPClient:
    """Plain HTTP GET/HEAD with bounded retries. Every collaborator can be replaced by a test."""

    opener: urllib.request.OpenerDirector = field(default_factory=default_opener)
    timeout: float = DEFAULT_TIMEOUT
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], dt.datetime] = utc_now
    attempts: int = ATTEMPTS
    backoff: float = BACKOFF
    max_retry_after: float = MAX_RETRY_AFTER

    def fetch(
        self,
        url: str,
        *,
        auth: tuple[str, str] | None = None,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        into: BinaryIO | None = None,
        progress: Progress | None = None,
        report: Report = _quiet,
    ) -> Fetched:
        """GET (or HEAD) `url`, writing the body into `into`. 304 is returned, not raised.

        Raises AccessRefused (401, 403), NotFound (404, 410) or UpdateFailed, after retrying 5xx,
        408, 429 and connection errors with exponential backoff.
        """
        _check_url(url)
        for attempt in range(1, self.attempts + 1):
            try:
                return self._fetch_once(
                    url, auth=auth, method=method, headers=headers, into=into, progress=progress
                )
            except _Transient as error:
                if attempt == self.attempts:
                    raise UpdateFailed(
                        RETRIES_EXHAUSTED_MESSAGE.format(
                            url=describe_url(url), attempts=attempt, reason=error.message
                        )
                    ) from None
                delay = self.backoff * 2 ** (attempt - 1)
                if error.retry_after is not None:
                    if error.retry_after > self.max_retry_after:
                        raise UpdateFailed(
                            RETRY_AFTER_TOO_LONG_MESSAGE.format(
                                url=describe_url(url), seconds=error.retry_after, reason=error.message
                            )
                        ) from None
                    delay = max(delay, error.retry_after)
                report(
                    f"{describe_url(url)}: {error.message}; trying again in {delay:.0f} s "
                    f"(attempt {attempt + 1} of {self.attempts}).",
                    level=1,
                )
                self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _fetch_once(self, url, *, auth, method, headers, into, progress) -> Fetched:
        # S310: fetch() checked the scheme (http or https only) with _check_url.
        request = urllib.request.Request(  # noqa: S310
            url, method=method, headers={"User-Agent": USER_AGENT, **(headers or {})}
        )
        if auth is not None:
            request.add_unredirected_header("Authorization", basic_authorization(*auth))
        try:
            response = self.opener.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as error:
            with contextlib.closing(error):
                if error.code == HTTPStatus.NOT_MODIFIED:
                    return Fetched(status=error.code, url=error.url or url)
                raise self._status_error(url, error.code, error.reason, error.headers) from None
        except (OSError, http.client.HTTPException) as error:  # URLError, timeouts, resets
            raise _Transient(_reason(error)) from None
        with response:
            fetched = Fetched(
                status=response.status, url=response.url, last_modified=response.headers.get("Last-Modified")
            )
            if into is None or method == "HEAD":
                return fetched
            return self._read_body(response, fetched, into, progress)

    def _read_body(self, response, fetched: Fetched, into: BinaryIO, progress: Progress | None) -> Fetched:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        into.seek(0)
        into.truncate()
        digest, done = hashlib.sha256(), 0
        while True:
            try:
                chunk = response.read(CHUNK)
            except (OSError, http.client.HTTPException) as error:
                raise _Transient(_reason(error)) from None
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
        # urllib reads a short body without complaint when asked for chunks: count ourselves.
        if total is not None and done != total:
            raise _Transient(TRUNCATED_MESSAGE.format(got=done, expected=total))
        into.flush()
        return Fetched(
            status=fetched.status,
            url=fetched.url,
            last_modified=fetched.last_modified,
            sha256=digest.hexdigest(),
            size=done,
        )

    def _status_error(self, url: str, status: int, reason: str, headers) -> UpdateFailed:
        shown = describe_url(url)
        if status in {HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN}:
            return AccessRefused(ACCESS_REFUSED_MESSAGE.format(url=shown, status=status), status=status)
        if status in {HTTPStatus.NOT_FOUND, HTTPStatus.GONE}:
            return NotFound(NOT_FOUND_MESSAGE.format(url=shown))
        if status >= 500 or status in {HTTPStatus.REQUEST_TIMEOUT, HTTPStatus.TOO_MANY_REQUESTS}:
            retry_after = parse_retry_after(headers.get("Retry-After") if headers else None, now=self.now())
            return _Transient(f"HTTP {status} {reason}", retry_after=retry_after)
        return UpdateFailed(HTTP_FAILED_MESSAGE.format(url=shown, status=status, reason=reason))


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.URLError) and not isinstance(error.reason, str):
        error = error.reason
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def basic_authorization(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


# --- What to download ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One database to fetch. kind None: decided by the database itself (--url, --file)."""

    source: str
    label: str  # the edition, or the URL or file name, for messages
    kind: str | None
    urls: tuple[str, ...] = ()  # candidates in order: the first that exists wins (DB-IP months)
    checksum_url: str | None = None
    auth: tuple[str, str] | None = None
    file: Path | None = None


def edition_kind(edition: str) -> str:
    if is_city_database_type(edition):
        return CITY
    if is_asn_database_type(edition):
        return ASN
    raise UpdateFailed(UNSUPPORTED_EDITION_MESSAGE.format(edition=edition))


def target_path(kind: str) -> Path:
    name = settings.GEOIP_ASN if kind == ASN else settings.GEOIP_CITY
    return Path(settings.GEOIP_PATH) / name


def previous_path(target: Path) -> Path:
    return target.with_name(target.name + PREVIOUS_SUFFIX)


def state_path(target: Path) -> Path:
    return target.with_name(target.name + STATE_SUFFIX)


def maxmind_jobs(*, account_id: str, license_key: str, base_url: str, editions: list[str]) -> list[Job]:
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme != "https" and not (parts.scheme == "http" and _is_loopback(parts.hostname)):
        raise UpdateFailed(INSECURE_URL_MESSAGE)
    by_kind: dict[str, list[str]] = {}
    for edition in editions:
        by_kind.setdefault(edition_kind(edition), []).append(edition)
    for kind, names in by_kind.items():
        if len(names) > 1:
            raise UpdateFailed(
                DUPLICATE_KIND_MESSAGE.format(kind=kind, editions=", ".join(names), path=target_path(kind))
            )
    base = base_url.rstrip("/")
    jobs = []
    for edition in editions:
        download = f"{base}/geoip/databases/{urllib.parse.quote(edition, safe='')}/download"
        jobs.append(
            Job(
                source=MAXMIND,
                label=edition,
                kind=edition_kind(edition),
                urls=(f"{download}?suffix=tar.gz",),
                checksum_url=f"{download}?suffix=tar.gz.sha256",
                auth=(account_id, license_key),
            )
        )
    return jobs


def dbip_job(*, base_url: str, now: dt.datetime) -> Job:
    """DB-IP's monthly City Lite file: this month's, or last month's while this one is not out."""
    this_month = now.astimezone(dt.UTC).date().replace(day=1)
    last_month = (this_month - dt.timedelta(days=1)).replace(day=1)
    base = base_url.rstrip("/")
    urls = tuple(f"{base}/dbip-city-lite-{month:%Y-%m}.mmdb.gz" for month in (this_month, last_month))
    return Job(source=DBIP, label="DB-IP City Lite", kind=CITY, urls=urls)


def plan(*, url: str | None = None, file: Path | str | None = None, now: dt.datetime) -> list[Job]:
    """The databases a run fetches, from the options and the settings."""
    if file is not None:
        return [Job(source=FILE, label=Path(file).name, kind=None, file=Path(file))]
    if url is not None:
        _check_url(url)
        return [Job(source=URL, label=describe_url(url), kind=None, urls=(url,))]
    account_id, license_key = settings.MAXMIND_ACCOUNT_ID, settings.MAXMIND_LICENSE_KEY
    if account_id or license_key:
        if not (account_id and license_key):
            raise UpdateFailed(CREDENTIALS_INCOMPLETE_MESSAGE)
        return maxmind_jobs(
            account_id=account_id,
            license_key=license_key,
            base_url=settings.MAXMIND_DOWNLOAD_URL,
            editions=settings.MAXMIND_EDITIONS,
        )
    return [dbip_job(base_url=settings.DBIP_DOWNLOAD_URL, now=now)]


# --- Files: verify, unpack, install -------------------------------------------------------------


@dataclass(frozen=True)
class Verified:
    kind: str
    edition: str
    build_date: dt.datetime
    sha256: str


# Looked up once each to prove the search tree and data section can be read, not just the metadata.
_PROBES = ("1.1.1.1", "8.8.8.8", "81.2.69.142", "2001:4860:4860::8888", "2a02:ec80::1")


def verify_database(path: Path, *, kind: str | None, name: str, sha256: str, now: dt.datetime) -> Verified:
    """Open `path` as a MaxMind DB and check its kind and metadata. Raises UpdateFailed."""
    try:
        reader = maxminddb.open_database(str(path), maxminddb.MODE_AUTO)
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as error:
        reason = str(error).replace(f" ({path})", "")  # our temporary file's name means nothing to anyone
        raise UpdateFailed(NOT_A_DATABASE_MESSAGE.format(name=name, reason=reason)) from None
    try:
        meta = reader.metadata()
        edition = str(meta.database_type)
        problems = []
        if meta.binary_format_major_version != 2:
            problems.append(f"format version {meta.binary_format_major_version}")
        if meta.ip_version not in (4, 6):
            problems.append(f"IP version {meta.ip_version}")
        if meta.record_size not in (24, 28, 32):
            problems.append(f"record size {meta.record_size}")
        if meta.node_count <= 0:
            problems.append("an empty search tree")
        build_date = dt.datetime.fromtimestamp(meta.build_epoch, tz=dt.UTC)
        if build_date < dt.datetime(2010, 1, 1, tzinfo=dt.UTC) or build_date > now + dt.timedelta(days=1):
            problems.append(f"build date {build_date:%Y-%m-%d %H:%M}")
        if problems:
            raise UpdateFailed(BAD_METADATA_MESSAGE.format(name=name, reason=", ".join(problems)))
        found_kind = (
            CITY if is_city_database_type(edition) else ASN if is_asn_database_type(edition) else None
        )
        if kind is not None and found_kind != kind:
            raise UpdateFailed(
                WRONG_KIND_MESSAGE.format(name=name, edition=edition, kind_name=KIND_NAMES[kind])
            )
        if found_kind is None:
            raise UpdateFailed(UNKNOWN_KIND_MESSAGE.format(name=name, edition=edition))
        for probe in _PROBES:
            if meta.ip_version == 4 and ":" in probe:
                continue
            try:
                record = reader.get(probe)
            except (maxminddb.InvalidDatabaseError, ValueError, KeyError) as error:
                raise UpdateFailed(NOT_A_DATABASE_MESSAGE.format(name=name, reason=error)) from None
            if record is not None and not isinstance(record, dict):
                raise UpdateFailed(BAD_METADATA_MESSAGE.format(name=name, reason="records are not maps"))
    finally:
        reader.close()
    return Verified(kind=found_kind, edition=edition, build_date=build_date, sha256=sha256)


def installed_build_date(path: Path) -> dt.datetime | None:
    """The build date of the database at `path`, None when there is none that opens."""
    try:
        reader = maxminddb.open_database(str(path), maxminddb.MODE_AUTO)
    except (OSError, ValueError, maxminddb.InvalidDatabaseError):
        return None
    try:
        return dt.datetime.fromtimestamp(reader.metadata().build_epoch, tz=dt.UTC)
    finally:
        reader.close()


def sha256_of(path: Path) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except FileNotFoundError:
        return None


def _copy_limited(source: BinaryIO, into: BinaryIO, *, name: str) -> str:
    digest, done = hashlib.sha256(), 0
    while chunk := source.read(CHUNK):
        done += len(chunk)
        if done > MAX_DATABASE_BYTES:
            raise UpdateFailed(TOO_LARGE_MESSAGE.format(name=name, limit=MAX_DATABASE_BYTES))
        digest.update(chunk)
        into.write(chunk)
    return digest.hexdigest()


def unpack(archive: Path, into: BinaryIO, *, name: str) -> str:
    """Write the .mmdb held by `archive` (.tar.gz, .mmdb.gz or .mmdb) into `into`; its SHA-256.

    Decided by content, not by name: MaxMind sends tar.gz, DB-IP gzip, people plain files.
    """
    with open(archive, "rb") as handle:
        compressed = handle.read(2) == b"\x1f\x8b"
    into.seek(0)
    into.truncate()
    try:
        if not compressed:
            with open(archive, "rb") as source:
                return _copy_limited(source, into, name=name)
        try:
            with tarfile.open(archive, "r:gz") as tar:
                for member in tar:
                    if member.isfile() and member.name.endswith(".mmdb"):
                        sha256 = _copy_limited(tar.extractfile(member), into, name=name)
                        # gzip checks its CRC only at the end of the stream, which tarfile never
                        # reaches on its own: without this, flipped bits pass unnoticed.
                        while tar.fileobj.read(CHUNK):
                            pass
                        return sha256
                raise UpdateFailed(NO_MMDB_IN_ARCHIVE_MESSAGE.format(name=name))
        except tarfile.ReadError:
            pass  # gzip, but not a tar inside: a plain .mmdb.gz
        into.seek(0)
        into.truncate()
        with gzip.open(archive, "rb") as source:
            return _copy_limited(source, into, name=name)
    except (OSError, EOFError, zlib.error, tarfile.TarError) as error:
        if isinstance(error, OSError) and not isinstance(error, gzip.BadGzipFile) and error.errno:
            raise  # a disk error, not a bad archive
        reason = str(error) or type(error).__name__
        raise UpdateFailed(CORRUPT_ARCHIVE_MESSAGE.format(name=name, reason=reason)) from None


@contextlib.contextmanager
def temporary_file(directory: Path, suffix: str) -> Iterator[tuple[Path, BinaryIO]]:
    """A file in `directory` (same file system as the target, so rename is atomic), removed unless kept."""
    handle = tempfile.NamedTemporaryFile(dir=directory, prefix=TEMP_PREFIX, suffix=suffix, delete=False)  # noqa: SIM115 (closed below)
    path = Path(handle.name)
    try:
        yield path, handle
    finally:
        handle.close()
        path.unlink(missing_ok=True)


def _link_or_copy(source: Path, destination: Path) -> None:
    """Make `destination` the same content as `source`, atomically, leaving `source` in place."""
    staging = destination.with_name(f"{TEMP_PREFIX}{destination.name}.{os.getpid()}")
    staging.unlink(missing_ok=True)
    try:
        os.link(source, staging)
    except OSError:  # a file system without hard links: copy
        shutil.copyfile(source, staging)
        with open(staging, "rb") as handle:
            os.fsync(handle.fileno())
    os.replace(staging, destination)


def _read_state(target: Path) -> dict:
    """What the last run recorded about the installed file, {} when it no longer describes it."""
    try:
        state = json.loads(state_path(target).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(state, dict) or state.get("database_sha256") != sha256_of(target):
        return {}
    return state


def _read_raw_state(target: Path) -> dict | None:
    try:
        return json.loads(state_path(target).read_text())
    except (OSError, ValueError):
        return None


def _write_state(target: Path, state: dict) -> None:
    path = state_path(target)
    staging = path.with_name(f"{TEMP_PREFIX}{path.name}.{os.getpid()}")
    staging.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    os.replace(staging, path)


def _move_state(source: Path, destination: Path) -> None:
    """The state file of database `source` becomes that of `destination`."""
    try:
        os.replace(state_path(source), state_path(destination))
    except FileNotFoundError:
        state_path(destination).unlink(missing_ok=True)


def install(new_file: Path, target: Path, *, state: dict) -> None:
    """Rename the verified `new_file` over `target`, keeping the old one as `<target>.previous`.

    The target path holds a complete database at every instant: the old file is hard-linked to
    .previous (not moved) before the new one is renamed over it.
    """
    with open(new_file, "rb+") as handle:
        os.fchmod(handle.fileno(), 0o644)
        os.fsync(handle.fileno())
    if target.exists():
        _link_or_copy(target, previous_path(target))
        _move_state(target, previous_path(target))
    os.replace(new_file, target)
    fsync_directory(target.parent)
    _write_state(target, state)


@contextlib.contextmanager
def update_lock(directory: Path) -> Iterator[None]:
    """An exclusive flock on GEOIP_PATH/.update_maxmind.lock; UpdateLocked when another run holds it."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_NAME
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UpdateLocked(LOCKED_MESSAGE.format(path=path)) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _remove_leftovers(directory: Path) -> None:
    """Temporary files of a run that was killed: safe to remove while we hold the lock."""
    for leftover in directory.glob(f"{TEMP_PREFIX}*"):
        leftover.unlink(missing_ok=True)


# --- Runs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    source: str
    edition: str
    outcome: str  # an UpdateRun.Outcome value
    message: str
    build_date: dt.datetime | None = None
    checksum: str = ""
    dry_run: bool = False

    @property
    def failed(self) -> bool:
        return self.outcome == UpdateRun.Outcome.FAILED


class Scrubber:
    """Removes secrets (the licence key, its Authorization form) from text before anyone sees it."""

    def __init__(self, *secrets: str):
        self.secrets = [secret for secret in secrets if secret]

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        return text


def _scrubber() -> Scrubber:
    account, key = settings.MAXMIND_ACCOUNT_ID, settings.MAXMIND_LICENSE_KEY
    if not key:
        return Scrubber()
    authorization = basic_authorization(account, key).removeprefix("Basic ")
    return Scrubber(key, authorization)


@dataclass
class _Run:
    client: HTTPClient
    now: dt.datetime
    force: bool
    dry_run: bool
    progress: Progress | None
    report: Report

    def update(self, job: Job) -> Outcome:
        if job.file is not None:
            return self._from_file(job)
        return self._from_network(job)

    def _from_file(self, job: Job) -> Outcome:
        if not job.file.is_file():
            raise UpdateFailed(FILE_NOT_FOUND_MESSAGE.format(path=job.file))
        directory = Path(settings.GEOIP_PATH)
        with temporary_file(directory, ".mmdb") as (database, handle):
            sha256 = unpack(job.file, handle, name=job.label)
            handle.close()
            return self._install(job, database, sha256, state={"source": FILE, "url": ""})

    def _from_network(self, job: Job) -> Outcome:
        directory = Path(settings.GEOIP_PATH)
        known_target = target_path(job.kind) if job.kind else None
        state = self._state_for(job, known_target)
        published = None
        if job.checksum_url:
            published = self._published_checksum(job)
            if known_target and known_target.exists() and state.get("archive_sha256") == published:
                return self._current(job, known_target, state)
        with temporary_file(directory, ".download") as (archive, handle):
            fetched, url = self._download(job, state, handle)
            if fetched.status == HTTPStatus.NOT_MODIFIED:
                self.report(f"{describe_url(url)}: not modified since {state['last_modified']}.")
                message = NOT_MODIFIED_MESSAGE.format(
                    edition=state.get("edition") or job.label,
                    url=describe_url(url),
                    since=state["last_modified"],
                )
                return self._current(job, known_target or Path(state["target"]), state, message=message)
            if self.dry_run:
                return Outcome(
                    job.source,
                    job.label,
                    UpdateRun.Outcome.UPDATED,
                    WOULD_DOWNLOAD_MESSAGE.format(edition=job.label, url=describe_url(url)),
                    dry_run=True,
                )
            handle.close()
            self.report(f"{job.label}: downloaded {fetched.size} bytes from {describe_url(fetched.url)}.")
            if published and fetched.sha256 != published:
                raise UpdateFailed(
                    CHECKSUM_MISMATCH_MESSAGE.format(
                        name=job.label, expected=published, actual=fetched.sha256
                    )
                )
            with temporary_file(directory, ".mmdb") as (database, db_handle):
                sha256 = unpack(archive, db_handle, name=job.label)
                db_handle.close()
                new_state = {
                    "source": job.source,
                    "url": url,
                    "archive_sha256": fetched.sha256,
                    "published_sha256": published or "",
                    "last_modified": fetched.last_modified or "",
                }
                return self._install(job, database, sha256, state=new_state)

    def _state_for(self, job: Job, target: Path | None) -> dict:
        """The installed file's record; for --url, whichever installed file came from that URL."""
        if target is not None:
            return _read_state(target)
        for kind in (CITY, ASN):
            state = _read_state(target_path(kind))
            if state.get("url") in job.urls:
                return state
        return {}

    def _published_checksum(self, job: Job) -> str:
        buffer = io.BytesIO()
        try:
            self.client.fetch(job.checksum_url, auth=job.auth, into=buffer, report=self.report)
        except AccessRefused as error:
            raise self._maxmind_refusal(job, error) from None
        except NotFound:
            raise UpdateFailed(EDITION_NOT_FOUND_MESSAGE.format(edition=job.label)) from None
        match = re.match(rb"\s*([0-9a-fA-F]{64})(\s|$)", buffer.getvalue()[:4096])
        if not match:
            raise UpdateFailed(CHECKSUM_FORMAT_MESSAGE.format(url=describe_url(job.checksum_url)))
        published = match.group(1).decode("ascii").lower()
        self.report(f"{job.label}: published SHA-256 {published}.")
        return published

    def _maxmind_refusal(self, job: Job, error: AccessRefused) -> UpdateFailed:
        if job.source != MAXMIND:
            return error
        if error.status == HTTPStatus.FORBIDDEN:
            return UpdateFailed(EDITION_FORBIDDEN_MESSAGE.format(edition=job.label))
        return UpdateFailed(AUTH_FAILED_MESSAGE.format(status=error.status))

    def _download(self, job: Job, state: dict, handle: BinaryIO) -> tuple[Fetched, str]:
        """(response, URL) of the first candidate that exists."""
        for url in job.urls:
            headers = {}
            if state.get("url") == url and state.get("last_modified"):
                headers["If-Modified-Since"] = state["last_modified"]
            # A MaxMind dry run stops at the checksum: a HEAD on the permalink may count as a download.
            if self.dry_run and job.source == MAXMIND:
                return Fetched(status=HTTPStatus.OK, url=url), url
            try:
                fetched = self.client.fetch(
                    url,
                    auth=job.auth,
                    method="HEAD" if self.dry_run else "GET",
                    headers=headers,
                    into=handle,
                    progress=self.progress,
                    report=self.report,
                )
            except AccessRefused as error:
                raise self._maxmind_refusal(job, error) from None
            except NotFound as error:
                if job.source == MAXMIND:
                    raise UpdateFailed(EDITION_NOT_FOUND_MESSAGE.format(edition=job.label)) from None
                if job.source == DBIP:
                    self.report(f"{describe_url(url)} is not out yet (HTTP 404).", level=1)
                    continue
                raise error from None
            return fetched, url
        months = " or ".join(re.search(r"\d{4}-\d{2}", url).group(0) for url in job.urls)
        base = describe_url(job.urls[0]).rsplit("/", 1)[0]
        raise UpdateFailed(DBIP_NOT_FOUND_MESSAGE.format(months=months, base=base))

    def _current(self, job: Job, target: Path, state: dict, *, message: str | None = None) -> Outcome:
        build_date = installed_build_date(target)
        edition = state.get("edition") or job.label
        return Outcome(
            job.source,
            edition,
            UpdateRun.Outcome.CURRENT,
            message or CURRENT_MESSAGE.format(edition=edition, build=build_date),
            build_date=build_date,
            checksum=state.get("database_sha256", ""),
            dry_run=self.dry_run,
        )

    def _install(self, job: Job, database: Path, sha256: str, *, state: dict) -> Outcome:
        verified = verify_database(database, kind=job.kind, name=job.label, sha256=sha256, now=self.now)
        target = target_path(verified.kind)
        self.report(
            f"{job.label}: a {verified.edition} database built on {verified.build_date:%Y-%m-%d %H:%M}."
        )
        state = {
            **state,
            "edition": verified.edition,
            "database_sha256": sha256,
            "build_date": verified.build_date.isoformat(),
            "installed_at": self.now.isoformat(),
            "target": str(target),
        }
        outcome = {"source": job.source, "edition": verified.edition, "build_date": verified.build_date}
        if sha256 == sha256_of(target):
            if not self.dry_run:
                _write_state(target, state)  # so that the next run can skip the download
            message = CURRENT_MESSAGE.format(edition=verified.edition, build=verified.build_date)
            return Outcome(
                **outcome,
                outcome=UpdateRun.Outcome.CURRENT,
                message=message,
                checksum=sha256,
                dry_run=self.dry_run,
            )
        installed = installed_build_date(target)
        if installed and verified.build_date < installed and not self.force:
            raise UpdateFailed(OLDER_MESSAGE.format(name=job.label, new=verified.build_date, old=installed))
        if self.dry_run:
            message = WOULD_INSTALL_MESSAGE.format(
                edition=verified.edition, build=verified.build_date, path=target
            )
            return Outcome(
                **outcome, outcome=UpdateRun.Outcome.UPDATED, message=message, checksum=sha256, dry_run=True
            )
        install(database, target, state=state)
        message = UPDATED_MESSAGE.format(edition=verified.edition, build=verified.build_date, path=target)
        return Outcome(**outcome, outcome=UpdateRun.Outcome.UPDATED, message=message, checksum=sha256)


def record(outcome: Outcome, *, scrub: Scrubber, report: Report = _quiet) -> None:
    """One UpdateRun row. PostgreSQL being down does not undo an installed database."""
    try:
        UpdateRun.objects.create(
            source=outcome.source,
            edition=outcome.edition[:64],
            build_date=outcome.build_date,
            checksum=outcome.checksum,
            outcome=outcome.outcome,
            message=scrub(outcome.message),
        )
    except DatabaseError as error:
        message = RECORD_FAILED_MESSAGE.format(reason=scrub(str(error)).strip())
        logger.warning(message)
        report(message, level=1)


def run_updates(
    *,
    url: str | None = None,
    file: Path | str | None = None,
    force: bool = False,
    dry_run: bool = False,
    client: HTTPClient | None = None,
    now: Callable[[], dt.datetime] = utc_now,
    progress: Progress | None = None,
    report: Report = _quiet,
) -> list[Outcome]:
    """Update every configured database (or install --url / --file). One Outcome per database.

    A database that fails does not stop the others; its Outcome says why, and the installed
    file stays. Raises UpdateFailed only when nothing can be tried (bad settings, locked).
    Every Outcome but a dry run's is recorded as an UpdateRun.
    """
    scrub = _scrubber()
    unscrubbed_report = report

    def report(message: str, level: int = 2) -> None:
        unscrubbed_report(scrub(message), level=level)

    started = now()
    outcomes: list[Outcome] = []
    try:
        jobs = plan(url=url, file=file, now=started)
        directory = Path(settings.GEOIP_PATH)
        with update_lock(directory):
            _remove_leftovers(directory)
            run = _Run(client or HTTPClient(now=now), started, force, dry_run, progress, report)
            for job in jobs:
                try:
                    outcome = run.update(job)
                except UpdateFailed as error:
                    outcome = Outcome(job.source, job.label, UpdateRun.Outcome.FAILED, scrub(error.message))
                except OSError as error:
                    message = WRITE_FAILED_MESSAGE.format(directory=directory, reason=error)
                    outcome = Outcome(job.source, job.label, UpdateRun.Outcome.FAILED, scrub(message))
                outcomes.append(outcome)
    except UpdateFailed as error:
        configured = settings.MAXMIND_ACCOUNT_ID or settings.MAXMIND_LICENSE_KEY
        source = FILE if file is not None else URL if url is not None else MAXMIND if configured else DBIP
        failure = Outcome(source, "", UpdateRun.Outcome.FAILED, scrub(error.message))
        if not dry_run:
            record(failure, scrub=scrub, report=report)
        raise UpdateFailed(failure.message) from None
    if not dry_run:
        for outcome in outcomes:
            record(outcome, scrub=scrub, report=report)
    return outcomes


def rollback(*, kind: str = CITY, now: Callable[[], dt.datetime] = utc_now) -> Outcome:
    """Put `<file>.previous` back; the file it replaces becomes the new .previous (a swap)."""
    scrub = _scrubber()
    target = target_path(kind)
    previous = previous_path(target)
    try:
        with update_lock(target.parent):
            _remove_leftovers(target.parent)
            if not previous.exists():
                raise UpdateFailed(NO_PREVIOUS_MESSAGE.format(path=previous))
            verified = verify_database(
                previous, kind=kind, name=previous.name, sha256=sha256_of(previous) or "", now=now()
            )
            # Links first, then renames: the target path never lacks a complete database.
            directory, pid = target.parent, os.getpid()
            going_back = directory / f"{TEMP_PREFIX}rollback-old.{pid}"
            stepping_aside = directory / f"{TEMP_PREFIX}rollback-new.{pid}"
            _link_or_copy(previous, going_back)
            if target.exists():
                _link_or_copy(target, stepping_aside)
            os.replace(going_back, target)
            if stepping_aside.exists():
                os.replace(stepping_aside, previous)
            else:
                previous.unlink()
            fsync_directory(directory)
            # The state files follow their databases.
            states = {path: _read_raw_state(path) for path in (target, previous)}
            for path, other in ((target, previous), (previous, target)):
                if states[other] is None:
                    state_path(path).unlink(missing_ok=True)
                else:
                    _write_state(path, states[other])
    except UpdateFailed as error:
        failure = Outcome(ROLLBACK, target.name, UpdateRun.Outcome.FAILED, scrub(error.message))
        record(failure, scrub=scrub)
        raise UpdateFailed(failure.message) from None
    message = ROLLED_BACK_MESSAGE.format(
        edition=verified.edition, build=verified.build_date, previous=previous.name
    )
    outcome = Outcome(
        ROLLBACK,
        verified.edition,
        UpdateRun.Outcome.ROLLED_BACK,
        message,
        build_date=verified.build_date,
        checksum=verified.sha256,
    )
    record(outcome, scrub=scrub)
    return outcome
