"""Django's error handlers: JSON in the API's error shape under /api/, HTML pages elsewhere."""

from http import HTTPStatus

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

_MESSAGES = {
    HTTPStatus.BAD_REQUEST: ("bad_request", "The request could not be understood."),
    HTTPStatus.FORBIDDEN: ("forbidden", "You do not have permission to do this."),
    HTTPStatus.NOT_FOUND: ("not_found", "There is nothing at this address."),
    HTTPStatus.INTERNAL_SERVER_ERROR: ("server_error", "Something went wrong on our side."),
    HTTPStatus.SERVICE_UNAVAILABLE: (
        "database_unavailable",
        "The service cannot reach its database right now. Try again shortly.",
    ),
}


def _respond(request: HttpRequest, status: HTTPStatus) -> HttpResponse:
    code, message = _MESSAGES[status]
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"code": code, "message": message}}, status=status)
    return render(request, "error.html", {"status": int(status), "message": message}, status=status)


def bad_request(request, exception=None):
    return _respond(request, HTTPStatus.BAD_REQUEST)


def permission_denied(request, exception=None):
    return _respond(request, HTTPStatus.FORBIDDEN)


def page_not_found(request, exception=None):
    return _respond(request, HTTPStatus.NOT_FOUND)


def server_error(request):
    return _respond(request, HTTPStatus.INTERNAL_SERVER_ERROR)


def database_unavailable(request):
    """PostgreSQL did not answer (lookups.web.middleware.DatabaseUnreachableMiddleware)."""
    return _respond(request, HTTPStatus.SERVICE_UNAVAILABLE)
