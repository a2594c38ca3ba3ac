"""Plain text for curl and scripts, as echoip answers: `GET /ip`, `/country`, `/city`, ... and
`curl host` at `/` (lookups.web.pages hands command-line clients to `own_address`).

Plain views: the address goes through the one pipeline (lookups.core.pipeline) and the API's rate
limit; lookups.web.text_body renders the answer's line, lookups.web.http_errors maps errors to the
API's status codes, and the line says what went wrong. The OpenAPI schema describes these views
through lookups.web.api.PlainTextDocumentation and OwnAddressTextDocumentation.
"""

from http import HTTPStatus

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from lookups.core import pipeline
from lookups.errors import METHOD_NOT_ALLOWED_MESSAGE
from lookups.models import Channel
from lookups.web import api, throttling
from lookups.web.api_lookup import documented_as
from lookups.web.http_errors import api_error
from lookups.web.request_meta import client_address, request_language
from lookups.web.text_body import field_line, line

# The user agents that get text instead of the page at `/`, as echoip matches them.
COMMAND_LINE_AGENTS = ("curl/", "Wget/", "HTTPie/", "fetch")
_ALLOWED = "GET, HEAD"


def is_command_line(request: HttpRequest) -> bool:
    return request.META.get("HTTP_USER_AGENT", "").startswith(COMMAND_LINE_AGENTS)


def text_response(text: str, *, status: int = HTTPStatus.OK, headers: dict[str, str] | None = None):
    response = HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _method_not_allowed(request: HttpRequest) -> HttpResponse | None:
    if request.method in ("GET", "HEAD"):
        return None
    message = line(METHOD_NOT_ALLOWED_MESSAGE.format(method=request.method))
    return text_response(message, status=HTTPStatus.METHOD_NOT_ALLOWED, headers={"Allow": _ALLOWED})


@csrf_exempt  # no cookies are read; a POST answers 405 in text, not a CSRF page
@documented_as(api.OwnAddressTextDocumentation)
def own_address(request: HttpRequest) -> HttpResponse:
    """The caller's address, whatever it is (loopback and private ones too): nothing is looked up."""
    refused = _method_not_allowed(request)
    if refused is not None:
        return refused
    return text_response(line(client_address(request) or "unknown"))


@csrf_exempt
@documented_as(api.PlainTextDocumentation)
def field(request: HttpRequest, field: str) -> HttpResponse:
    """One field of the lookup of `?ip=` (an address or a name), or of the caller's address."""
    refused = _method_not_allowed(request)
    if refused is not None:
        return refused
    requester = client_address(request)
    query = request.GET.get("ip", requester or "")
    try:
        throttling.spend_on_lookups(request, [query], bucket=throttling.API)
        result = pipeline.lookup(query, channel=Channel.API, requester=requester)
        response = text_response(
            field_line(result, field, language=request_language(request, result.database.languages))
        )
    except Exception as exc:
        answer = api_error(exc, path=request.path)
        if answer is None:
            raise  # not ours: Django answers it (lookups.web.errorpages)
        body, status, headers = answer
        response = text_response(line(body["error"]["message"]), status=status, headers=headers)
    response["Vary"] = "Accept-Language"  # place names follow it
    return response
