"""HTML pages: the lookup form and its server-rendered result, and the health check."""

from http import HTTPStatus

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from lookups import services
from lookups.clients import accepted_languages, choose_language, client_address
from lookups.errors import DatabaseUnavailable, LookupFailed
from lookups.geoip import DatabaseInfo, asn_reader, attribution_for, city_reader
from lookups.models import Channel
from lookups.serializers import result_as_dict

DATABASE_OLD_MESSAGE = (
    "The {edition} database is {age} days old (more than GEOIP_MAX_AGE_DAYS = {limit}). "
    "Update it with `manage.py update_maxmind`; GeoLite's licence asks for updates within 30 days."
)


def lookup_context(request: HttpRequest, query: str) -> tuple[dict, int]:
    """The template context for a lookup, and the status code to send with it.

    Errors become a message on the page (with the status the API would use), never an error page.
    """
    try:
        result = services.lookup(query, channel=Channel.WEB, requester=client_address(request))
    except LookupFailed as error:
        return {"query": query, "error": error}, error.status
    language = choose_language(
        [request.GET.get("lang", ""), *accepted_languages(request.headers.get("Accept-Language", ""))],
        result.database.languages,
    )
    return {
        "query": query,
        "result": result,
        "body": result_as_dict(result, language=language),
    }, HTTPStatus.OK


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    if not query:
        return render(request, "lookups/home.html", {"own_address": client_address(request)})
    context, status = lookup_context(request, query)
    return render(request, "lookups/home.html", context, status=status)


@require_GET
def lookup_page(request: HttpRequest, query: str) -> HttpResponse:
    context, status = lookup_context(request, query)
    return render(request, "lookups/home.html", context, status=status)


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """200 when lookups can be answered and recorded, 503 with the reason when they cannot."""
    try:
        info = city_reader().info()
    except DatabaseUnavailable as error:
        return JsonResponse(
            {"status": "unavailable", "reason": error.message}, status=HTTPStatus.SERVICE_UNAVAILABLE
        )
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return JsonResponse(
            {"status": "unavailable", "reason": "PostgreSQL does not answer."},
            status=HTTPStatus.SERVICE_UNAVAILABLE,
        )
    body = {"status": "ok", "database": _database_health(info)}
    try:
        body["asn_database"] = _database_health(asn_reader().info())
    except DatabaseUnavailable:
        body["asn_database"] = None  # optional
    old = [
        db
        for db in (body["database"], body["asn_database"])
        if db and db["age_days"] > settings.GEOIP_MAX_AGE_DAYS
    ]
    if old:
        # Still 200: the service answers, but an operator should update the data.
        body["status"] = "warning"
        body["message"] = " ".join(
            DATABASE_OLD_MESSAGE.format(
                edition=db["edition"], age=db["age_days"], limit=settings.GEOIP_MAX_AGE_DAYS
            )
            for db in old
        )
    return JsonResponse(body)


def _database_health(info: DatabaseInfo) -> dict:
    return {
        "edition": info.edition,
        "build_date": info.build_date.isoformat(),
        "age_days": (timezone.now() - info.build_date).days,
        "attribution": attribution_for(info.edition),
    }
