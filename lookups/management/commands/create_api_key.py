"""Create a web-service API key for a script: prints the account ID and the licence key, one per line.

Nothing else goes to stdout, so that `read -r ACCOUNT_ID; read -r LICENSE_KEY` can take them.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from lookups.models import ApiKey
from lookups.web import credentials

NAME_MAX_LENGTH = ApiKey._meta.get_field("name").max_length
QUOTA_MAX = 2_147_483_647  # a PostgreSQL integer


class Command(BaseCommand):
    help = "Create an API key for the MaxMind-compatible web service; prints the account ID, then the key."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who or what will use the key.")
        parser.add_argument(
            "--daily-quota", type=int, default=None, help="Lookups allowed per UTC day (default: no limit)."
        )

    def handle(self, *args, name: str, daily_quota: int | None, **options):
        name = name.strip()
        if not name or len(name) > NAME_MAX_LENGTH:
            raise CommandError(f"NAME must be 1 to {NAME_MAX_LENGTH} characters.")
        if daily_quota is not None and not 0 <= daily_quota <= QUOTA_MAX:
            raise CommandError(f"--daily-quota must be from 0 to {QUOTA_MAX}.")
        try:
            issued = credentials.create_api_key(name=name, daily_quota=daily_quota)
        except DatabaseError as exc:
            raise CommandError(f"Could not store the key: {exc}") from exc
        self.stdout.write(str(issued.api_key.account_id))
        self.stdout.write(issued.license_key)
        if options["verbosity"] >= 2:
            quota = "no daily limit" if daily_quota is None else f"{daily_quota} lookups a day"
            self.stderr.write(f"Created API key {name!r} ({quota}). The licence key is not shown again.")
