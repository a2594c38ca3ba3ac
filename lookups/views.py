"""HTML pages: the lookup page, the batch page, and the health check.

Every lookup error becomes a readable message in the page, sent with the status the API would
use (lookup_outcome is the one place that maps errors for the pages). With `?partial=1` a
lookup answers only the result's HTML, which the page's script swaps in without a reload.
"""

import ipaddress
import math
import os
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from lookups import display, history, services
from lookups.api import HISTORY_UNAVAILABLE_MESSAGE, REQUEST_TOO_LARGE_MESSAGE, THROTTLED_MESSAGE
from lookups.clients import accepted_languages, choose_language, client_address
from lookups.errors import (
    INVALID_QUERY_MESSAGE,
    DatabaseUnavailable,
    HistoryUnavailable,
    InvalidQuery,
    LookupFailed,
)
from lookups.forms import BatchForm
from lookups.geoip import DatabaseInfo, asn_reader, attribution_for, city_reader
from lookups.models import Channel
from lookups.operator_messages import database_age_days, database_age_warning, install_geoip_command
from lookups.serializers import result_as_dict
from lookups.throttling import PageThrottle

OWN_ADDRESS_NOT_PUBLIC_MESSAGE = (
    "Your address, {address}, is not a public address, so there is nothing to look up for it. "
    "Type an IP address or a domain name above."
)

# When no place but the network's registration is known (1.1.1.1): the heading and the map say so.
REGISTERED_ONLY_SUMMARY = "Only the country where this network is registered is known: {country}."
NO_PLACE_SUMMARY = "No place is known for this address."


class PageThrottled(LookupFailed):
    code = "throttled"
    status = HTTPStatus.TOO_MANY_REQUESTS

    def __init__(self, seconds: int):
        super().__init__(THROTTLED_MESSAGE.format(seconds=seconds))
        self.seconds = seconds


def check_throttle(request: HttpRequest) -> None:
    """Raise PageThrottled when this client made too many lookups from the pages."""
    throttle = PageThrottle()
    if not throttle.allow_request(request, None):
        raise PageThrottled(max(1, math.ceil(throttle.wait() or 1)))


def page_language(request: HttpRequest, available: tuple[str, ...]) -> str:
    return choose_language(
        [request.GET.get("lang", ""), *accepted_languages(request.headers.get("Accept-Language", ""))],
        available,
    )


def result_context(request: HttpRequest, result: services.LookupResult) -> dict:
    """What the result template shows, beyond the API body."""
    language = page_language(request, result.database.languages)
    body = result_as_dict(result, language=language)
    api_url = request.build_absolute_uri(reverse("api-lookup", args=[result.query]))
    if language != "en":
        api_url += f"?lang={language}"
    places = [body["city"] and body["city"]["name"], *(s["name"] for s in body["subdivisions"][:1])]
    places.append(body["country"] and body["country"]["name"])
    place_summary = ", ".join(place for place in places if place)
    if place_summary:
        summary = place_summary
    elif body["registered_country"]:
        summary = REGISTERED_ONLY_SUMMARY.format(country=body["registered_country"]["name"])
    else:
        summary = NO_PLACE_SUMMARY
    return {
        "result": result,
        "body": body,
        "flag": display.flag_emoji(result.country and result.country.code),
        "place_summary": place_summary,
        "summary": summary,
        "local_time": display.local_time(result.time_zone),
        "time_zone_source": display.TIME_ZONE_SOURCES.get(result.time_zone_source or ""),
        "map": display.map_view(result),
        "map_tile_url": settings.MAP_TILE_URL,
        "map_tile_attribution": settings.MAP_TILE_ATTRIBUTION,
        "raw_json": display.raw_record_json(result),
        "curl": display.curl_command(api_url),
    }


def lookup_outcome(request: HttpRequest, query: str) -> tuple[dict, int, dict[str, str]]:
    """(template context, status, extra headers) for a lookup made from a page."""
    try:
        check_throttle(request)
        result = services.lookup(query, channel=Channel.WEB, requester=client_address(request))
    except LookupFailed as error:
        headers = {"Retry-After": str(error.seconds)} if isinstance(error, PageThrottled) else {}
        return {"query": query, "error": error}, error.status, headers
    except DatabaseError:
        error = HistoryUnavailable(HISTORY_UNAVAILABLE_MESSAGE)
        return {"query": query, "error": error}, error.status, {}
    return {"query": query, **result_context(request, result)}, HTTPStatus.OK, {}


def render_lookup(request: HttpRequest, context: dict, status: int, headers: dict[str, str]) -> HttpResponse:
    partial = request.GET.get("partial") == "1"
    template = "partials/_result.html" if partial else "lookups/home.html"
    response = render(request, template, context, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def is_public_address(address: str | None) -> bool:
    try:
        return address is not None and services.is_public(ipaddress.ip_address(address))
    except ValueError:
        return False


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The form; with ?q= a lookup, without it the visitor's own address looked up."""
    query = request.GET.get("q", "").strip()
    if query:
        return render_lookup(request, *lookup_outcome(request, query))
    if "q" in request.GET:  # the form sent blank: ask for a query, do not look the visitor up
        error = InvalidQuery(INVALID_QUERY_MESSAGE)
        return render_lookup(request, {"query": "", "error": error}, error.status, {})
    own = client_address(request)
    if not is_public_address(own):
        note = OWN_ADDRESS_NOT_PUBLIC_MESSAGE.format(address=own or "unknown")
        return render_lookup(request, {"own_address": own, "own_address_note": note}, HTTPStatus.OK, {})
    context, status, headers = lookup_outcome(request, own)
    return render_lookup(request, {**context, "own_address": own, "is_own_address": True}, status, headers)


@require_GET
def lookup_page(request: HttpRequest, query: str) -> HttpResponse:
    """The shareable address of a lookup: /lookup/<query>."""
    # /lookup/8.8.8.8/ is 8.8.8.8: no query ends in a slash.
    return render_lookup(request, *lookup_outcome(request, query.strip().removesuffix("/")))


# --- Batch ------------------------------------------------------------------------------------


class UploadLimitHandler(FileUploadHandler):
    """Stops storing an uploaded file once it passes the limit, and remembers that it did."""

    def __init__(self, request, *, limit: int):
        super().__init__(request)
        self.limit = limit
        self.exceeded = False

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > self.limit:
            self.exceeded = True
            raise SkipFile
        return raw_data

    def file_complete(self, file_size):
        return None


def render_batch(request: HttpRequest, context: dict, status: int = HTTPStatus.OK) -> HttpResponse:
    return render(
        request, "lookups/batch.html", {"batch_max": settings.LOOKUP_BATCH_MAX, **context}, status=status
    )


@csrf_exempt  # checked by csrf_protect below, once the upload handler is in place
@require_http_methods(["GET", "POST"])
def batch(request: HttpRequest) -> HttpResponse:
    """Many queries at once: a results table, or (format=csv) the same results as a CSV file."""
    if request.method == "GET":
        return render_batch(request, {"form": BatchForm()})
    limit = UploadLimitHandler(request, limit=settings.LOOKUP_BATCH_UPLOAD_MAX_BYTES)
    request.upload_handlers.insert(0, limit)
    try:
        return _batch_post(request, limit)
    except RequestDataTooBig:
        error = LookupFailed(REQUEST_TOO_LARGE_MESSAGE)
        return render_batch(
            request, {"form": BatchForm(), "error": error}, HTTPStatus.REQUEST_ENTITY_TOO_LARGE
        )


@csrf_protect
def _batch_post(request: HttpRequest, limit: UploadLimitHandler) -> HttpResponse:
    form = BatchForm(request.POST, request.FILES, upload_too_large=limit.exceeded)
    if not form.is_valid():
        status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE if form.too_large else HTTPStatus.BAD_REQUEST
        return render_batch(request, {"form": form}, status)
    queries = form.cleaned_data["query_list"]
    try:
        check_throttle(request)
        city_reader().info()  # one message when no database is installed, not one per row
        answers = services.lookup_batch(queries, channel=Channel.BATCH, requester=client_address(request))
    except LookupFailed as error:
        response = render_batch(request, {"form": form, "error": error}, error.status)
        if isinstance(error, PageThrottled):
            response["Retry-After"] = str(error.seconds)
        return response
    except DatabaseError:
        error = HistoryUnavailable(HISTORY_UNAVAILABLE_MESSAGE)
        return render_batch(request, {"form": form, "error": error}, error.status)
    languages = next((a.database.languages for a in answers if not isinstance(a, LookupFailed)), ())
    rows = display.batch_rows(queries, answers, language=page_language(request, languages))
    if request.POST.get("format") == "csv":
        response = HttpResponse(display.batch_csv(rows), content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="easygeoip-batch-{stamp}.csv"'
        return response
    failed = sum(1 for row in rows if row.error is not None)
    return render_batch(
        request,
        {
            "form": form,
            "rows": rows,
            "found": len(rows) - failed,
            "failed": failed,
            "queries_text": "\n".join(queries),
        },
    )


# --- Health -----------------------------------------------------------------------------------


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
