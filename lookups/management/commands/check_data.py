"""Say whether the data the service needs is there, install what can be, and say how to fix the rest."""

import contextlib
import logging
from collections.abc import Iterator

from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection

from lookups.core.geoip import city_reader
from lookups.errors import DATABASE_MISSING_MESSAGE, DatabaseUnavailable
from lookups.operator_messages import database_age_warning, install_geoip_command, manage_command

GEOIP_SOURCES = (
    "       (MaxMind when MAXMIND_ACCOUNT_ID and MAXMIND_LICENSE_KEY are set, DB-IP Lite without them)"
)


class _Quiet(logging.Filter):
    """Drops the reader's "unavailable" log line: this command says it itself, with the fix."""

    def filter(self, record: logging.LogRecord) -> bool:
        return False


@contextlib.contextmanager
def reader_quiet() -> Iterator[None]:
    quiet, logger = _Quiet(), logging.getLogger("lookups.core.geoip")
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def tz_world_polygons() -> int | None:
    """How many polygons tz_world holds, or None when there is no such table."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass('tz_world') IS NOT NULL")
            if not cursor.fetchone()[0]:
                return None
            cursor.execute("SELECT count(*) FROM tz_world")
            return cursor.fetchone()[0]
    except DatabaseError as exc:
        raise CommandError(f"PostgreSQL does not answer: {exc}") from exc


def describe(exc: Exception) -> str:
    """A failure in words: our own errors by their message, anything else with its type too."""
    if isinstance(exc, CommandError | DatabaseUnavailable):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class Command(BaseCommand):
    help = "Check that tz_world and a GeoIP City database are installed; --install adds what is missing."

    def add_arguments(self, parser):
        parser.add_argument("--install", action="store_true", help="Install what is missing, where possible.")
        parser.add_argument("--strict", action="store_true", help="Exit non-zero when something is missing.")
        parser.add_argument(
            "--zones",
            default="",
            help="With --install: zones to load into an empty tz_world (passed to load_tz_world --zones).",
        )

    def handle(self, *args, install: bool, strict: bool, zones: str, **options):
        missing = []
        commands = get_commands()

        polygons = tz_world_polygons()
        if not polygons and install and "load_tz_world" in commands:
            self.stdout.write(
                "tz_world is empty: loading the time-zone polygons (a few minutes for the whole world)..."
            )
            arguments = ["--zones", zones] if zones else []
            try:
                call_command("load_tz_world", *arguments, verbosity=options["verbosity"])
            except Exception as exc:
                # Whatever went wrong, say so and go on: the GeoIP step must still run.
                self.stderr.write(self.style.ERROR(f"Loading tz_world failed: {describe(exc)}"))
            polygons = tz_world_polygons()
        if polygons:
            self.stdout.write(self.style.SUCCESS(f"tz_world: {polygons} polygons."))
        else:
            missing.append("tz_world")
            self.stdout.write(
                self.style.WARNING(
                    "tz_world is missing or empty: records without a time zone are answered without one.\n"
                    f"  Fix: {manage_command('load_tz_world')}"
                )
            )

        reader = city_reader()
        try:
            with reader_quiet():
                info = reader.info()
        except DatabaseUnavailable as error:
            info = None
            if install and "update_maxmind" in commands:
                self.stdout.write("No GeoIP database: trying to download one...")
                failure = None
                try:
                    call_command("update_maxmind", verbosity=options["verbosity"])
                except Exception as exc:
                    # Whatever went wrong (a refused download, a network error), the service must
                    # still start: /health answers 503 with the reason until a database arrives.
                    failure = exc
                # Installed even when the run failed for another database (the optional ASN one).
                with contextlib.suppress(DatabaseUnavailable), reader_quiet():
                    info = reader.info()
                if failure is not None and info is None:
                    self.stderr.write(
                        self.style.ERROR(f"Could not install a GeoIP database: {describe(failure)}")
                    )
                elif failure is not None:
                    self.stderr.write(self.style.WARNING(f"update_maxmind: {describe(failure)}"))
            if info is None:
                missing.append("geoip")
                # The visitors' sentence says "try again later": here, say what is wrong.
                problem = "none is installed." if error.message == DATABASE_MISSING_MESSAGE else error.message
                self.stdout.write(
                    self.style.WARNING(
                        f"GeoIP database: {problem}\n  Expected at: {reader.path}\n"
                        f"  Fix: {install_geoip_command()}\n{GEOIP_SOURCES}"
                    )
                )
        if info is not None:
            self.stdout.write(
                self.style.SUCCESS(
                    f"GeoIP database: {info.edition}, built {info.build_date:%Y-%m-%d}, at {reader.path}."
                )
            )
            old = database_age_warning(info)
            if old:
                self.stdout.write(self.style.WARNING(old))
        if missing and strict:
            raise CommandError(f"missing: {', '.join(missing)}")
