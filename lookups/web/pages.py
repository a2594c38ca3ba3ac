"""HTML pages: the lookup page and the batch page.

Every lookup error becomes a readable message in the page, sent with the status the API would
use (lookups.web.http_errors.page_error maps them). With `?partial=1` a
lookup answers only the result's HTML, which the page's script swaps in without a reload.
"""

import ipaddress
import json
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_safe
from django.views.decorators.vary import vary_on_headers

from lookups.core import pipeline
from lookups.core.answer import LookupResult
from lookups.core.geoip import alternative_reader, city_reader
from lookups.errors import INVALID_QUERY_MESSAGE, InvalidQuery, LookupFailed
from lookups.models import Channel
from lookups.web import batch_table, plain_text, throttling
from lookups.web.forms import BatchForm
from lookups.web.http_errors import error_headers, page_error
from lookups.web.page_context import comparison_context, result_context
from lookups.web.request_meta import client_address, request_language

OWN_ADDRESS_NOT_PUBLIC_MESSAGE = (
    "Your address, {address}, is not a public address, so there is nothing to look up for it. "
    "Type an IP address or a domain name above."
)


def lookup_outcome(request: HttpRequest, query: str) -> tuple[dict, int, dict[str, str]]:
    """(template context, status, extra headers) for a lookup made from a page."""
    alternative = alternative_reader()
    # The comparison panel, when a second City database is there to compare with.
    comparing = alternative is not None and alternative.is_available()
    rdns = request.GET.get("rdns") == "1"  # the result's "Look up the reverse name" link
    try:
        throttling.spend_on_lookups(request, [query], bucket=throttling.PAGES, reverse_dns=rdns)
        if comparing:
            comparison = pipeline.compare(query, channel=Channel.WEB, requester=client_address(request))
            if isinstance(comparison.primary, LookupFailed):
                raise comparison.primary  # the page shows what a lookup would
            result = comparison.primary
            if rdns:
                result = pipeline.add_reverse_dns(result, client=client_address(request))
        else:
            result = pipeline.lookup(
                query, channel=Channel.WEB, requester=client_address(request), with_reverse_dns=rdns
            )
    except (LookupFailed, DatabaseError) as exc:
        error = page_error(exc)
        return {"query": query, "error": error}, error.status, error_headers(error)
    context = {"query": query, **result_context(request, result)}
    if comparing:
        context["comparison"] = comparison_context(request, comparison)
    return context, HTTPStatus.OK, {}


def render_lookup(request: HttpRequest, context: dict, status: int, headers: dict[str, str]) -> HttpResponse:
    partial = request.GET.get("partial") == "1"
    template = "partials/_result.html" if partial else "lookups/home.html"
    response = render(request, template, context, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def is_public_address(address: str | None) -> bool:
    try:
        return address is not None and pipeline.is_public(ipaddress.ip_address(address))
    except ValueError:
        return False


@require_safe  # GET, and HEAD for `curl -I host`
@vary_on_headers("User-Agent")  # `curl host` gets text, a browser the page: caches must key on it
def home(request: HttpRequest) -> HttpResponse:
    """The form; with ?q= a lookup, without it the visitor's own address looked up (for curl and
    the like, as one line of text: lookups.web.plain_text)."""
    if "q" not in request.GET and plain_text.is_command_line(request):
        return plain_text.own_address(request)
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
    except RequestDataTooBig as exc:
        error = page_error(exc)
        return render_batch(request, {"form": BatchForm(), "error": error}, error.status)


@csrf_protect
def _batch_post(request: HttpRequest, limit: UploadLimitHandler) -> HttpResponse:
    form = BatchForm(request.POST, request.FILES, upload_too_large=limit.exceeded)
    if not form.is_valid():
        status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE if form.too_large else HTTPStatus.BAD_REQUEST
        return render_batch(request, {"form": form}, status)
    queries = form.cleaned_data["query_list"]
    try:
        throttling.spend_on_lookups(request, queries, bucket=throttling.PAGES)
        city_reader().info()  # one message when no database is installed, not one per row
        answers = pipeline.lookup_batch(queries, channel=Channel.BATCH, requester=client_address(request))
    except (LookupFailed, DatabaseError) as exc:
        error = page_error(exc)
        response = render_batch(request, {"form": form, "error": error}, error.status)
        for name, value in error_headers(error).items():
            response[name] = value
        return response
    languages = next((a.database.languages for a in answers if isinstance(a, LookupResult)), ())
    rows = batch_table.batch_rows(queries, answers, language=request_language(request, languages))
    if request.POST.get("format") == "csv":
        response = HttpResponse(batch_table.batch_csv(rows), content_type="text/csv; charset=utf-8")
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
            "looked_up": json.dumps(queries),
        },
    )
