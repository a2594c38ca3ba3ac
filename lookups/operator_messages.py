"""What operators are told to do, as commands they can paste: check_data, /health, the admin.

Visitors never see these (their messages are in lookups.errors, plain sentences). Every command
starts with settings.MANAGE_COMMAND: `bin/manage` in a checkout, the `docker compose exec` form
in the image.
"""

from django.conf import settings
from django.utils import timezone

from lookups.geoip import DatabaseInfo

DATABASE_OLD_MESSAGE = (
    "The {edition} database is {age} days old (more than GEOIP_MAX_AGE_DAYS = {limit}). "
    "Update it with {command}; GeoLite's licence asks for updates within 30 days."
)
INSTALL_GEOIP_MESSAGE = "{command} (or, for a file you have: {file_command})"


def manage_command(arguments: str) -> str:
    """`arguments` as a manage.py command that works typed as is where the operator is."""
    return f"{settings.MANAGE_COMMAND} {arguments}"


def install_geoip_command() -> str:
    return INSTALL_GEOIP_MESSAGE.format(
        command=manage_command("update_maxmind"), file_command=manage_command("update_maxmind --file PATH")
    )


def database_age_days(info: DatabaseInfo) -> int:
    return (timezone.now() - info.build_date).days


def database_age_warning(info: DatabaseInfo) -> str | None:
    """What to say about a database older than GEOIP_MAX_AGE_DAYS, or None when it is not."""
    age = database_age_days(info)
    if age <= settings.GEOIP_MAX_AGE_DAYS:
        return None
    return DATABASE_OLD_MESSAGE.format(
        edition=info.edition,
        age=age,
        limit=settings.GEOIP_MAX_AGE_DAYS,
        command=manage_command("update_maxmind"),
    )
