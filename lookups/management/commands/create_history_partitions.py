"""Create the history's day partitions ahead (lookups.history.partitions): run daily, e.g. from cron."""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from lookups.history.partitions import DAYS_AHEAD, ensure_partitions


def days_ahead(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise CommandError(f"--days-ahead must be a whole number, not {text!r}.") from None
    if not 0 <= value <= 366:
        raise CommandError(f"--days-ahead must be from 0 to 366, not {value}.")
    return value


class Command(BaseCommand):
    help = (
        "Create the history's partitions for today and the days ahead that lack one (moving in any "
        "of their rows the default partition took). purge_lookups does it too. Run it daily."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--days-ahead", type=days_ahead, default=DAYS_AHEAD, help=f"Days after today ({DAYS_AHEAD})."
        )

    def handle(self, *args, days_ahead: int, **options):
        try:
            created = ensure_partitions(days_ahead=days_ahead)
        except DatabaseError as exc:
            raise CommandError(
                f"PostgreSQL refused to create a history partition: {str(exc).strip()}"
            ) from exc
        if options["verbosity"] >= 1:
            if created:
                self.stdout.write(
                    self.style.SUCCESS(f"Created {len(created)} partition(s): {', '.join(created)}.")
                )
            else:
                self.stdout.write(f"Every day up to {days_ahead} day(s) ahead has its partition already.")
