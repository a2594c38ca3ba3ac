"""GET /health: how the service is, for load balancers and operators."""

import os
from http import HTTPStatus

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from lookups import history
from lookups.core.geoip import DatabaseInfo, alternative_reader, asn_reader, attribution_for, city_reader
from lookups.errors import DatabaseUnavailable
from lookups.operator_messages import database_age_days, database_age_warning, install_geoip_command
from lookups.web.api import HealthDocumentation
from lookups.web.api_lookup import documented_as


@csrf_exempt  # no cookies are read: nothing to forge, and another method is 405, not CSRF's 403
@documented_as(HealthDocumentation)
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """How the service is: 200 "ok", 200 "warning" (old data) or "degraded" (PostgreSQL away,
    history spooled to disk, or a new GeoIP file refused by the reader), 503 "unavailable" with
    the reason when lookups cannot be answered.

    A PostgreSQL outage is not a 503: every instance shares that database, and pulling them all
    from the load balancer would stop lookups that are still answered (and recorded on disk).
    """
    try:
        info = city_reader().info()
    except DatabaseUnavailable as error:
        # /health is for operators: the reason, and the command that fixes it.
        return JsonResponse(
            {"status": "unavailable", "reason": error.message, "fix": install_geoip_command()},
            status=HTTPStatus.SERVICE_UNAVAILABLE,
        )
    # A file that failed the reader's check: lookups are answered from the database before it.
    warnings = [problem for problem in (city_reader().problem, asn_reader().problem) if problem]
    alternative, alternative_info = alternative_reader(), None
    if alternative is not None:  # configured: comparisons answer 503 while it cannot be read
        try:
            alternative_info = alternative.info()
        except DatabaseUnavailable as error:
            warnings.append(
                ALTERNATIVE_UNUSABLE_WARNING.format(name=alternative.path.name, reason=error.message)
            )
        if alternative.problem:
            warnings.append(alternative.problem)
    if not _postgresql_answers():
        if not _spool_writable():
            return JsonResponse(
                {"status": "unavailable", "reason": POSTGRESQL_DOWN_SPOOL_UNWRITABLE},
                status=HTTPStatus.SERVICE_UNAVAILABLE,
            )
        warnings.append(POSTGRESQL_DOWN_WARNING)
    spooled = history.spool_status()
    if spooled.files:
        warnings.append(HISTORY_SPOOLED_WARNING.format(bytes=spooled.bytes, files=spooled.files))
    body = {
        "status": "degraded" if warnings else "ok",
        "warnings": warnings,
        "database": _database_health(info),
    }
    databases = [info]
    try:
        asn_info = asn_reader().info()
    except DatabaseUnavailable:
        body["asn_database"] = None  # optional
    else:
        body["asn_database"] = _database_health(asn_info)
        databases.append(asn_info)
    body["alternative_database"] = None
    if alternative_info is not None:
        body["alternative_database"] = _database_health(alternative_info)
        databases.append(alternative_info)
    old = [database_age_warning(db) for db in databases]
    old = [warning for warning in old if warning]
    if old:
        # Still 200: the service answers, but an operator should update the data.
        warnings.extend(old)
        if body["status"] == "ok":
            body["status"] = "warning"
    return JsonResponse(body)


POSTGRESQL_DOWN_WARNING = (
    "PostgreSQL does not answer: lookups are answered and their history is kept on disk until it is back."
)
ALTERNATIVE_UNUSABLE_WARNING = (
    "GEOIP_CITY_ALTERNATIVE names {name}, which cannot be used, so comparisons answer 503: {reason}"
)
POSTGRESQL_DOWN_SPOOL_UNWRITABLE = "PostgreSQL does not answer, and the history spool cannot be written."
HISTORY_SPOOLED_WARNING = (
    "{bytes} bytes of history in {files} spool file(s) wait to be replayed into PostgreSQL."
)


def _postgresql_answers() -> bool:
    if history.database_recently_unreachable():
        return False  # known down: answer the probe at once, not after a connect timeout
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return False
    return True


def _spool_writable() -> bool:
    directory = history.spool_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(directory, os.W_OK)


def _database_health(info: DatabaseInfo) -> dict:
    return {
        "edition": info.edition,
        "build_date": info.build_date.isoformat(),
        "age_days": database_age_days(info),
        "attribution": attribution_for(info.edition),
    }
