"""A run of `manage.py update_maxmind`: every configured database (or --url, --file), or a rollback.

Each database is a DatabaseUpdate; one failing does not stop the others, and each ends as an
Outcome recorded as an UpdateRun row. A build that replaced another is then compared with it
(lookups.updater.build_diff) on a low-priority thread once every database of the run is in
place: no swap waits for a comparison, and the run's row gains `changes` when it is done.
"""

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import maxminddb

from lookups.core.geoip import CITY
from lookups.models import UpdateRun
from lookups.updater.build_diff import DiffProgress, diff_in_background
from lookups.updater.database_update import DatabaseUpdate
from lookups.updater.download import HTTPClient, Progress
from lookups.updater.errors import UpdateFailed
from lookups.updater.files import (
    geoip_directory,
    previous_path,
    remove_leftovers,
    sha256_of,
    target_path,
    update_lock,
)
from lookups.updater.install import swap_with_previous
from lookups.updater.record import Outcome, Scrubber, record, record_changes, scrubber
from lookups.updater.retry import Report, quiet, utc_now
from lookups.updater.sources import ROLLBACK, Job, plan, source_of
from lookups.updater.verify import verify_database

NO_PREVIOUS_MESSAGE = "There is no previous database to roll back to ({path} does not exist)."
WRITE_FAILED_MESSAGE = "Could not write in {directory}: {reason}. The installed database is unchanged."
ROLLED_BACK_MESSAGE = (
    "{edition}: put back the previous database (built on {build:%Y-%m-%d}); the one it replaced "
    "is now {previous}."
)
COMPARED_MESSAGE = (
    "{edition}: compared with the build of {old_build:.10}: networks added {networks_added:,}, "
    "removed {networks_removed:,}, changed {networks_changed:,} ({seconds:.1f} s)."
)
COMPARE_FAILED_MESSAGE = "{edition}: could not compare with the build it replaced: {reason}"


def run_updates(
    *,
    url: str | None = None,
    file: Path | str | None = None,
    force: bool = False,
    allow_shrink: bool = False,
    insecure: bool = False,
    dry_run: bool = False,
    client: HTTPClient | None = None,
    now: Callable[[], dt.datetime] = utc_now,
    progress: Progress | None = None,
    diff_progress: DiffProgress | None = None,
    report: Report = quiet,
) -> list[Outcome]:
    """Update every configured database (or install --url / --file). One Outcome per database.

    A database that fails does not stop the others; its Outcome says why, and the installed
    file stays. Raises UpdateFailed only when nothing can be tried (bad settings, locked).
    Every Outcome but a dry run's is recorded as an UpdateRun.
    """
    scrub = scrubber()
    unscrubbed_report = report

    def report(message: str, level: int = 2) -> None:
        unscrubbed_report(scrub(message), level=level)

    started = now()
    outcomes: list[Outcome] = []
    to_compare: dict[int, tuple] = {}  # index in outcomes -> both builds, open
    try:
        jobs = plan(url=url, file=file, insecure=insecure, now=started)
        directory = geoip_directory()
        with update_lock(directory):
            remove_leftovers(directory)
            run = DatabaseUpdate(
                client or HTTPClient(now=now), started, force, allow_shrink, dry_run, progress, report
            )
            for job in jobs:
                outcomes.append(_one(run, job, directory, scrub))
                if outcomes[-1].replaced is not None:
                    builds = _open_builds(outcomes[-1], report)
                    if builds is not None:
                        to_compare[len(outcomes) - 1] = builds
    except UpdateFailed as error:
        failure = Outcome(source_of(url=url, file=file), "", UpdateRun.Outcome.FAILED, scrub(error.message))
        if not dry_run:
            record(failure, scrub=scrub, report=report)
        raise UpdateFailed(failure.message) from None
    if not dry_run:
        runs = [record(outcome, scrub=scrub, report=report) for outcome in outcomes]
        # One at a time, after every database is in place: one progress line, one core.
        for index, builds in to_compare.items():
            changes = _compare(outcomes[index], builds, diff_progress, report)
            if changes is not None and runs[index] is not None:
                record_changes(runs[index], changes, scrub=scrub, report=report)
    return outcomes


def _open_builds(outcome: Outcome, report: Report) -> tuple[maxminddb.Reader, maxminddb.Reader] | None:
    """Both builds, opened while the lock holds them in place (an open reader keeps its file)."""
    try:
        old = maxminddb.open_database(str(outcome.replaced))
    except (OSError, maxminddb.InvalidDatabaseError) as error:
        report(COMPARE_FAILED_MESSAGE.format(edition=outcome.edition, reason=error), level=1)
        return None
    try:
        return old, maxminddb.open_database(str(outcome.installed))
    except (OSError, maxminddb.InvalidDatabaseError) as error:
        old.close()
        report(COMPARE_FAILED_MESSAGE.format(edition=outcome.edition, reason=error), level=1)
        return None


def _compare(
    outcome: Outcome,
    builds: tuple[maxminddb.Reader, maxminddb.Reader],
    progress: DiffProgress | None,
    report: Report,
) -> dict | None:
    """What the new build changed, computed on a low-priority thread; None when it could not be."""
    old, new = builds
    try:
        changes = diff_in_background(old, new, progress=progress)()
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as error:
        report(COMPARE_FAILED_MESSAGE.format(edition=outcome.edition, reason=error), level=1)
        return None
    finally:
        old.close()
        new.close()
    report(COMPARED_MESSAGE.format(edition=outcome.edition, **changes), level=1)
    return changes


def _one(run: DatabaseUpdate, job: Job, directory: Path, scrub: Scrubber) -> Outcome:
    try:
        return run.update(job)
    except UpdateFailed as error:
        return Outcome(job.source, job.label, UpdateRun.Outcome.FAILED, scrub(error.message))
    except OSError as error:
        message = WRITE_FAILED_MESSAGE.format(directory=directory, reason=error)
        return Outcome(job.source, job.label, UpdateRun.Outcome.FAILED, scrub(message))


def rollback(*, kind: str = CITY, now: Callable[[], dt.datetime] = utc_now) -> Outcome:
    """Put `<file>.previous` back; the file it replaces becomes the new .previous (a swap)."""
    scrub = scrubber()
    target = target_path(kind)
    previous = previous_path(target)
    try:
        with update_lock(target.parent):
            remove_leftovers(target.parent)
            if not previous.exists():
                raise UpdateFailed(NO_PREVIOUS_MESSAGE.format(path=previous))
            verified = verify_database(
                previous, kind=kind, name=previous.name, sha256=sha256_of(previous) or "", now=now()
            )
            swap_with_previous(target)
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
