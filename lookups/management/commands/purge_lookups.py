"""Delete lookup history older than the retention period: whole day partitions, then short batches."""

from django.core.management.base import BaseCommand, CommandError

from lookups.history.retention import InvalidDuration, parse_duration, purge_history, retention_period


def batch_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise CommandError(f"--batch-size must be a whole number, not {text!r}.") from None
    if value < 1:
        raise CommandError(f"--batch-size must be at least 1, not {value}.")
    return value


class Command(BaseCommand):
    help = (
        "Delete lookups older than --older-than (default: LOOKUP_RETENTION_DAYS days): day partitions "
        "wholly older are dropped, the rest goes oldest first in batches of short transactions; then "
        "the partitions of the days ahead are created. Run it daily, e.g. from cron."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            metavar="DURATION",
            help="90d, 12h or 2w (days, hours, weeks). Default: LOOKUP_RETENTION_DAYS.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Count what would go; delete nothing.")
        parser.add_argument(
            "--batch-size",
            type=batch_size,
            default=10_000,
            help="Rows per DELETE transaction (10000), outside dropped partitions.",
        )

    def handle(self, *args, older_than: str | None, dry_run: bool, batch_size: int, **options):
        verbosity = options["verbosity"]
        if older_than is None:
            age = retention_period()
            if age is None:
                if verbosity >= 1:
                    self.stdout.write("LOOKUP_RETENTION_DAYS is 0: history is kept forever, nothing purged.")
                return
        else:
            try:
                age = parse_duration(older_than)
            except InvalidDuration as exc:
                raise CommandError(f"--older-than: {exc}") from exc

        def progress(batches: int, deleted: int) -> None:
            if verbosity >= 2:
                self.stdout.write(f"  batch {batches}: {deleted:,} deleted so far")

        result = purge_history(age, batch_size=batch_size, dry_run=dry_run, progress=progress)
        if verbosity < 1:
            return
        cutoff = f"{result.cutoff:%Y-%m-%d %H:%M:%S %Z}"
        if result.dry_run:
            self.stdout.write(f"Dry run: {result.deleted:,} lookups recorded before {cutoff} would go.")
        else:
            dropped = len(result.dropped_partitions)
            whole = (
                f", {dropped} day partition{'s' if dropped != 1 else ''} dropped whole and" if dropped else ""
            )
            self.stdout.write(
                self.style.SUCCESS(
                    f"Deleted {result.deleted:,} lookups recorded before {cutoff}{whole} "
                    f"in {result.batches} batch{'es' if result.batches != 1 else ''}."
                )
            )
