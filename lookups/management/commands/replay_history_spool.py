"""Replay the history rows spooled to disk while PostgreSQL was away (see docs/history.md)."""

from django.core.management.base import BaseCommand, CommandError

from lookups import history


class Command(BaseCommand):
    help = (
        "Insert the history rows that were spooled to HISTORY_SPOOL_DIR while PostgreSQL did not "
        "answer, then delete their files. Safe to run at any time, also while the service runs: "
        "a row is stored once however often it is replayed."
    )

    def handle(self, *args, **options):
        try:
            report = history.replay()
        except history.UNREACHABLE_ERRORS as exc:
            raise CommandError(f"PostgreSQL does not answer; the spool is kept for later: {exc}") from exc
        if not report.files:
            if options["verbosity"] >= 1:
                self.stdout.write(f"No history waits in {history.spool_dir()}.")
            return
        if options["verbosity"] >= 1:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Replayed {report.rows} history row(s) from {report.files} spool file(s)."
                )
            )
        if report.rejected:
            raise CommandError(
                f"PostgreSQL refused {report.rejected} row(s); they are kept in *.rejected files "
                f"in {history.spool_dir()}."
            )
