"""Fill the lookup history with made-up rows, to try the admin and the history API at volume."""

import time

from django.core.management.base import BaseCommand, CommandError

from lookups.devtools.seeding import seed_history


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise CommandError(f"Expected a whole number, not {text!r}.") from None
    if value < 1:
        raise CommandError(f"Expected a number of at least 1, not {value}.")
    return value


class Command(BaseCommand):
    help = (
        "Insert made-up lookups spread over the last days (development and load tests only: "
        "seeded requesters are in the documentation networks 192.0.2.0/24, 198.51.100.0/24, "
        "203.0.113.0/24 and 2001:db8::/32)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--count", type=positive_int, default=100_000, help="Rows to add (100000).")
        parser.add_argument("--days", type=positive_int, default=90, help="Spread over this many days (90).")
        parser.add_argument("--batch-size", type=positive_int, default=5000, help="Rows per INSERT (5000).")
        parser.add_argument("--seed", type=int, default=None, help="Random seed, for repeatable data.")

    def handle(
        self, *args, count: int, days: int, batch_size: int, seed: int | None, verbosity: int, **options
    ):
        started = time.monotonic()

        def progress(written: int) -> None:
            if verbosity >= 2:
                self.stdout.write(f"  {written:,} / {count:,}")

        written = seed_history(count, days=days, batch_size=batch_size, seed=seed, progress=progress)
        if verbosity >= 1:
            elapsed = time.monotonic() - started
            self.stdout.write(
                self.style.SUCCESS(f"Added {written:,} made-up lookups over {days} days in {elapsed:.1f} s.")
            )
