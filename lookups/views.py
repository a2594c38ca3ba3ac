"""HTML pages: the lookup form and its server-rendered result, and the health check."""

import os
from http import HTTPStatus

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from lookups import history, services
from lookups.clients import accepted_languages, choose_language, client_address
from lookups.errors import DatabaseUnavailable, LookupFailed
from lookups.geoip import attribution_for, city_reader
from lookups.models import Channel
from lookups.serializers import result_as_dict


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
    """200 when lookups can be answered and recorded, 503 with the reason when they cannot.

    PostgreSQL away is "degraded", still 200: lookups are answered and their history waits in
    the disk spool (lookups.history), so a load balancer must not take every instance out at
    once. Only when the spool cannot be written either is it 503.
    """
    try:
        info = city_reader().info()
    except DatabaseUnavailable as error:
        return JsonResponse(
            {"status": "unavailable", "reason": error.message}, status=HTTPStatus.SERVICE_UNAVAILABLE
        )
    warnings = []
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
    age = timezone.now() - info.build_date
    return JsonResponse(
        {
            "status": "degraded" if warnings else "ok",
            "warnings": warnings,
            "database": {
                "edition": info.edition,
                "build_date": info.build_date.isoformat(),
                "age_days": age.days,
                "attribution": attribution_for(info.edition),
            },
        }
    )


POSTGRESQL_DOWN_WARNING = (
    "PostgreSQL does not answer: lookups are answered and their history is kept on disk until it is back."
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
