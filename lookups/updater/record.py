"""What a run leaves behind: one UpdateRun row per database, its message scrubbed of secrets."""

import base64
import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError

from lookups.models import UpdateRun
from lookups.updater.retry import Report, quiet

logger = logging.getLogger("lookups.updater")

RECORD_FAILED_MESSAGE = "Could not record the run in PostgreSQL: {reason}"


@dataclass(frozen=True)
class Outcome:
    source: str
    edition: str
    outcome: str  # an UpdateRun.Outcome value
    message: str
    build_date: dt.datetime | None = None
    checksum: str = ""
    dry_run: bool = False
    # Set when a build replaced another: the installed file and where the replaced one now is.
    installed: Path | None = None
    replaced: Path | None = None

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


def basic_authorization(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def scrubber() -> Scrubber:
    """The Scrubber for the configured licence key."""
    account, key = settings.MAXMIND_ACCOUNT_ID, settings.MAXMIND_LICENSE_KEY
    if not key:
        return Scrubber()
    return Scrubber(key, basic_authorization(account, key).removeprefix("Basic "))


def record(outcome: Outcome, *, scrub: Scrubber, report: Report = quiet) -> UpdateRun | None:
    """One UpdateRun row (None when it could not be written: PostgreSQL being down does not undo
    an installed database)."""
    try:
        return UpdateRun.objects.create(
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
        return None


def record_changes(run: UpdateRun, changes: dict, *, scrub: Scrubber, report: Report = quiet) -> None:
    """Keep what the build changed on its run (lookups.updater.build_diff)."""
    try:
        UpdateRun.objects.filter(pk=run.pk).update(changes=changes)
    except DatabaseError as error:
        message = RECORD_FAILED_MESSAGE.format(reason=scrub(str(error)).strip())
        logger.warning(message)
        report(message, level=1)
