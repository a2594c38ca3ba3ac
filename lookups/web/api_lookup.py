"""`GET /api/v1/lookup/<query>` and `GET /api/v1/lookup/` (the caller's own address): the hot path.

Plain Django views, not DRF ones: DRF's dispatch (its Request, authentication, permissions,
Response and finalisation) cost several times the lookup. What DRF decides for the other
endpoints is decided here with DRF's own parts: its content negotiation (lookups.web.negotiation)
and its renderers; the rate limit is lookups.web.throttling's, and errors go through
lookups.web.http_errors like everywhere else.
The OpenAPI schema describes these views through lookups.web.api.LookupDocumentation.
"""

from http import HTTPStatus

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.request import Request
from rest_framework.settings import api_settings

from lookups.core import pipeline
from lookups.errors import METHOD_NOT_ALLOWED_MESSAGE
from lookups.models import Channel
from lookups.web import api, throttling
from lookups.web.api_body import LOOKUP_CSV, LOOKUP_REVERSE_DNS_CSV, result_as_dict
from lookups.web.csv_format import CsvTable
from lookups.web.field_selection import (
    LOOKUP_FIELDS,
    REVERSE_DNS_FIELDS,
    FieldSelection,
    parse_fields,
    select,
)
from lookups.web.http_errors import ApiError, api_error, error_body
from lookups.web.negotiation import wants_plain_json
from lookups.web.request_meta import client_address, request_language

_ALLOWED_METHODS = ("GET", "HEAD")
_ALLOWED = ", ".join(_ALLOWED_METHODS)


def documented_as(view_class: type):
    """Give a plain view the DRF class that describes it, so drf-spectacular lists it (it reads
    `cls` and `initkwargs`, as on views made by APIView.as_view); nothing dispatches to it."""

    def decorator(view):
        view.cls, view.initkwargs = view_class, {}
        return view

    return decorator


@csrf_exempt  # no cookies are read: nothing to forge, and a refused POST must answer 405 in JSON
@documented_as(api.LookupDocumentation)
def lookup(request: HttpRequest, query: str) -> HttpResponse:
    query = query.removesuffix("/")  # /api/v1/lookup/8.8.8.8/ is 8.8.8.8: no query ends in one
    return _answer(request, query, requester=client_address(request))


@csrf_exempt
@documented_as(api.OwnAddressLookupDocumentation)
def own_address(request: HttpRequest) -> HttpResponse:
    address = client_address(request)
    return _answer(request, address or "", requester=address)


def _answer(request: HttpRequest, query: str, *, requester: str | None) -> HttpResponse:
    # DRF's negotiation, as a DRF view would: an unknown ?format= is a 400 (unknown_format), before
    # anything is counted or looked up; so are an unknown ?fields= and a bad ?rdns=.
    renderer_classes = api_settings.DEFAULT_RENDERER_CLASSES
    headers: dict[str, str] = {}
    selection = None
    rdns = False
    try:
        if wants_plain_json(request.META):  # most requests: DRF's first renderer, as it would choose
            renderer = renderer_classes[0]()
            media_type = renderer.media_type
        else:
            renderers = [renderer() for renderer in renderer_classes]
            negotiation = api_settings.DEFAULT_CONTENT_NEGOTIATION_CLASS()
            renderer, media_type = negotiation.select_renderer(Request(request), renderers)
    except Exception as exc:
        renderer = renderer_classes[0]()  # the error, in JSON
        media_type = renderer.media_type
        body, status, headers = _error(exc, request)
    else:
        if request.method not in _ALLOWED_METHODS:
            body = error_body("method_not_allowed", METHOD_NOT_ALLOWED_MESSAGE.format(method=request.method))
            status = HTTPStatus.METHOD_NOT_ALLOWED
        else:
            try:
                rdns, selection = _options(request)
            except Exception as exc:
                body, status, headers = _error(exc, request)
            else:
                body, status, headers = _lookup(
                    request, query, requester=requester, selection=selection, rdns=rdns
                )
    table = selection.csv_table if selection else (LOOKUP_REVERSE_DNS_CSV if rdns else LOOKUP_CSV)
    response = _response(renderer, media_type, body, status, headers, query=query, table=table)
    response["Allow"] = _ALLOWED
    # Place names follow Accept-Language and the format follows Accept: caches must key on both.
    response["Vary"] = "Accept, Accept-Language"
    return response


def _options(request: HttpRequest) -> tuple[bool, FieldSelection | None]:
    """(?rdns=1, the ?fields= selection: reverse_dns's paths too with rdns=1)."""
    if not request.META.get("QUERY_STRING"):  # most requests: no QueryDict to build
        return False, None
    rdns = api.rdns_flag(request.GET)
    return rdns, parse_fields(request.GET.getlist("fields"), REVERSE_DNS_FIELDS if rdns else LOOKUP_FIELDS)


def _lookup(
    request: HttpRequest, query: str, *, requester: str | None, selection: FieldSelection | None, rdns: bool
) -> ApiError:
    try:
        # Every caller by address: these endpoints take no credentials, so no session exempts anyone.
        throttling.spend_on_lookups(request, [query], bucket=throttling.API, reverse_dns=rdns)
        result = pipeline.lookup(query, channel=Channel.API, requester=requester, with_reverse_dns=rdns)
    except Exception as exc:
        return _error(exc, request)
    body = result_as_dict(result, language=request_language(request, result.database.languages))
    return select(body, selection), HTTPStatus.OK, {}


def _error(exc: Exception, request: HttpRequest) -> ApiError:
    answer = api_error(exc, path=request.path)
    if answer is None:
        raise exc  # not ours: Django answers it (lookups.web.errorpages)
    return answer


def _response(
    renderer,
    media_type: str,
    body: dict,
    status: int,
    headers: dict[str, str],
    *,
    query: str,
    table: CsvTable,
) -> HttpResponse:
    # CSV: the lookup columns (those selected), a failed lookup's row with its query as a batch's has.
    content = renderer.render(body, media_type, {"csv_table": table, "query": query})
    content_type = renderer.media_type
    if renderer.charset:
        content_type = f"{content_type}; charset={renderer.charset}"
    response = HttpResponse(content, status=status, content_type=content_type)
    for name, value in headers.items():
        response[name] = value
    return response
