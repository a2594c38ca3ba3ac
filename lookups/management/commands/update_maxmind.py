"""Download, verify and install the GeoIP databases; safe to run from cron (see lookups.updater)."""

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, OutputWrapper

from lookups import updater
from lookups.core.geoip import ASN, CITY


class ProgressBar:
    """A one-line bar, redrawn at most every tenth of a second, for a person at a terminal."""

    width = 30

    def __init__(self, out: OutputWrapper):
        self.out = out
        self.drawn_at = 0.0
        self.finished = True

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        complete = total is not None and done >= total
        if not complete and now - self.drawn_at < 0.1:
            return
        self.drawn_at, self.finished = now, False
        megabytes = f"{done / 1e6:.1f}"
        if total:
            filled = int(self.width * done / total)
            bar = "#" * filled + "-" * (self.width - filled)
            line = f"\r[{bar}] {100 * done // total:3d}% {megabytes}/{total / 1e6:.1f} MB"
        else:
            line = f"\r{megabytes} MB"
        self.out.write(line, ending="")
        self.out.flush()
        if complete:
            self.end()

    def end(self) -> None:
        if not self.finished:
            self.out.write("")
            self.finished = True


class DiffProgressLine:
    """ "Comparing builds: 1,234,567 networks (42%)", redrawn at most every tenth of a second."""

    def __init__(self, out: OutputWrapper):
        self.out = out
        self.drawn_at = 0.0

    def __call__(self, done: int, expected: int) -> None:
        now = time.monotonic()
        complete = done >= expected
        if not complete and now - self.drawn_at < 0.1:
            return
        self.drawn_at = now
        percent = 100 if complete else min(99, 100 * done // max(expected, 1))
        self.out.write(f"\rComparing builds: {done:,} networks ({percent}%)", ending="\n" if complete else "")
        self.out.flush()


class Command(BaseCommand):
    help = (
        "Download, verify and install the GeoIP databases: from MaxMind when MAXMIND_ACCOUNT_ID and "
        "MAXMIND_LICENSE_KEY are set, else DB-IP Lite; or from --url / --file. Exit status 0 when "
        "installed or already current, 1 when something failed (the installed database keeps serving)."
    )

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--url", help="Install the .mmdb, .mmdb.gz or .tar.gz at this http(s) URL.")
        source.add_argument("--file", type=Path, help="Install this local .mmdb, .mmdb.gz or .tar.gz file.")
        source.add_argument(
            "--rollback",
            nargs="?",
            const=CITY,
            choices=[CITY, ASN],
            help="Put the previous database back (the City one, or: --rollback asn).",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Install a database older than the installed one; reinstall the same one.",
        )
        parser.add_argument(
            "--allow-shrink",
            action="store_true",
            help="Install even when the new database has under half the installed one's search-tree nodes.",
        )
        parser.add_argument(
            "--insecure",
            action="store_true",
            help="Let --url be a plain http:// address (https:// is required otherwise).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Say what would happen; download nothing, change nothing."
        )

    def handle(
        self, *args, url, file, rollback, force, allow_shrink, insecure, dry_run, verbosity, **options
    ):
        def report(message: str, level: int = 2) -> None:
            if verbosity >= level:
                bar.end()
                self.stdout.write(message)

        bar = ProgressBar(self.stdout)
        on_terminal = verbosity >= 1 and self.stdout.isatty()
        progress = bar if on_terminal else None
        try:
            if rollback:
                outcomes = [updater.rollback(kind=rollback)]
            else:
                outcomes = updater.run_updates(
                    url=url,
                    file=file,
                    force=force,
                    allow_shrink=allow_shrink,
                    insecure=insecure,
                    dry_run=dry_run,
                    progress=progress,
                    diff_progress=DiffProgressLine(self.stdout) if on_terminal else None,
                    report=report,
                )
        except updater.UpdateFailed as error:
            raise CommandError(error.message) from error
        finally:
            bar.end()
        for outcome in outcomes:
            if not outcome.failed and verbosity >= 1:
                self.stdout.write(self.style.SUCCESS(outcome.message))
        failures = [outcome.message for outcome in outcomes if outcome.failed]
        if failures:
            raise CommandError("\n".join(failures))
