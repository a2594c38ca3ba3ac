"""Wait until PostgreSQL accepts connections: the container's first step, since a database
that reports healthy may still be restarting after its first initialisation."""

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection


class Command(BaseCommand):
    help = "Wait until the database accepts connections (at most --timeout seconds)."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=60.0, help="Seconds to wait, 60 by default.")

    def handle(self, *args, timeout: float, **options):
        deadline = time.monotonic() + timeout
        waited = False
        while True:
            try:
                connection.ensure_connection()
            except DatabaseError as exc:
                if time.monotonic() >= deadline:
                    raise CommandError(
                        f"PostgreSQL did not accept connections within {timeout:g} seconds: {exc}".strip()
                    ) from exc
                if not waited and options["verbosity"] >= 1:
                    self.stdout.write("Waiting for PostgreSQL...")
                waited = True
                connection.close()
                time.sleep(1)
            else:
                if options["verbosity"] >= 1:
                    self.stdout.write("PostgreSQL accepts connections.")
                return
