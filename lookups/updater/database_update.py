"""Updating one database: ask whether it changed (MaxMind's published SHA-256, or a conditional
GET), download into a temporary file in GEOIP_PATH, unpack, verify, check that it may replace
the installed one, and install it. Raises UpdateFailed with what went wrong."""

import datetime as dt
import io
import re
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import BinaryIO

from lookups.core.geoip import ASN, CITY
from lookups.models import UpdateRun
from lookups.updater.archive import unpack
from lookups.updater.download import Fetched, HTTPClient, Progress, describe_url
from lookups.updater.errors import AccessRefused, NotFound, UpdateFailed
from lookups.updater.files import (
    geoip_directory,
    previous_path,
    read_state,
    sha256_of,
    target_path,
    temporary_file,
    write_state,
)
from lookups.updater.install import install
from lookups.updater.record import Outcome
from lookups.updater.retry import Report
from lookups.updater.sources import DBIP, FILE, MAXMIND, Job
from lookups.updater.verify import (
    check_replacement,
    installed_build_date,
    installed_database,
    verify_database,
)

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
DBIP_NOT_FOUND_MESSAGE = (
    "{label} is not published for {months} at {base} (HTTP 404). Check DBIP_DOWNLOAD_URL."
)
CHECKSUM_FORMAT_MESSAGE = "The published checksum at {url} is not a SHA-256 digest."
CHECKSUM_MISMATCH_MESSAGE = (
    "The download of {name} does not match its published SHA-256 (expected {expected}, got {actual}). "
    "The installed database is unchanged."
)
FILE_NOT_FOUND_MESSAGE = "No such file: {path}."
FILE_IS_DIRECTORY_MESSAGE = "{path} is a directory: give the path of a .mmdb, .mmdb.gz or .tar.gz file."

UPDATED_MESSAGE = "{edition}: installed the database built on {build:%Y-%m-%d} at {path}."
REINSTALLED_MESSAGE = (
    "{edition}: reinstalled the database built on {build:%Y-%m-%d} at {path} "
    "(--force: it was already current)."
)
CURRENT_MESSAGE = "{edition}: already current (built on {build:%Y-%m-%d})."
NOT_MODIFIED_MESSAGE = "{edition}: already current ({url} has not changed since {since})."
WOULD_DOWNLOAD_MESSAGE = "{edition}: would download {url} (dry run: nothing downloaded or changed)."
WOULD_INSTALL_MESSAGE = (
    "{edition}: would install the database built on {build:%Y-%m-%d} at {path} (dry run: nothing changed)."
)


@dataclass
class DatabaseUpdate:
    """One database (a Job) brought up to date: ask, download, unpack, verify, install."""

    client: HTTPClient
    now: dt.datetime
    force: bool
    allow_shrink: bool
    dry_run: bool
    progress: Progress | None
    report: Report

    def update(self, job: Job) -> Outcome:
        if job.file is not None:
            return self._from_file(job)
        return self._from_network(job)

    def _from_file(self, job: Job) -> Outcome:
        if job.file.is_dir():
            raise UpdateFailed(FILE_IS_DIRECTORY_MESSAGE.format(path=job.file))
        if not job.file.is_file():
            raise UpdateFailed(FILE_NOT_FOUND_MESSAGE.format(path=job.file))
        with temporary_file(geoip_directory(), ".mmdb") as (database, handle):
            sha256 = unpack(job.file, handle, name=job.label)
            handle.close()
            return self._install(job, database, sha256, state={"source": FILE, "url": ""})

    def _from_network(self, job: Job) -> Outcome:
        directory = geoip_directory()
        known_target = target_path(job.kind) if job.kind else None
        state = self._state_for(job, known_target)
        published = None
        if job.checksum_url:
            published = self._published_checksum(job)
            unchanged = state.get("archive_sha256") == published
            if known_target and known_target.exists() and unchanged and not self.force:
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
            return read_state(target)
        for kind in (CITY, ASN):
            state = read_state(target_path(kind))
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
            if state.get("url") == url and state.get("last_modified") and not self.force:
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
        raise UpdateFailed(DBIP_NOT_FOUND_MESSAGE.format(label=job.label, months=months, base=base))

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
        identical = sha256 == sha256_of(target)
        if identical and not self.force:
            if not self.dry_run:
                write_state(target, state)  # so that the next run can skip the download
            message = CURRENT_MESSAGE.format(edition=verified.edition, build=verified.build_date)
            return Outcome(
                **outcome,
                outcome=UpdateRun.Outcome.CURRENT,
                message=message,
                checksum=sha256,
                dry_run=self.dry_run,
            )
        if not identical:
            check_replacement(
                verified,
                installed_database(target),
                name=job.label,
                force=self.force,
                allow_shrink=self.allow_shrink,
            )
        if self.dry_run:
            message = WOULD_INSTALL_MESSAGE.format(
                edition=verified.edition, build=verified.build_date, path=target
            )
            return Outcome(
                **outcome, outcome=UpdateRun.Outcome.UPDATED, message=message, checksum=sha256, dry_run=True
            )
        replaces = target.exists() and not identical
        # A reinstall of the same file keeps .previous as it was: it is the one to roll back to.
        install(database, target, state=state, keep_previous=identical)
        template = REINSTALLED_MESSAGE if identical else UPDATED_MESSAGE
        message = template.format(edition=verified.edition, build=verified.build_date, path=target)
        return Outcome(
            **outcome,
            outcome=UpdateRun.Outcome.UPDATED,
            message=message,
            checksum=sha256,
            installed=target,
            replaced=previous_path(target) if replaces else None,
        )
