"""Errors as HTTP answers: the one place that maps them, for the API and for the pages.

Views hold no try/except for business errors: the API's plain views and DRF (its
EXCEPTION_HANDLER) call `api_error`; the pages call `page_error`. MaxMind's web service has its
own codes, mapped in lookups.web.webservice.
"""

import logging
import math
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response

from lookups.errors import (
    HISTORY_UNAVAILABLE_MESSAGE,
    REQUEST_TOO_LARGE_MESSAGE,
    DNSBusy,
    HistoryUnavailable,
    LookupFailed,
    RequestTooLarge,
    Throttled,
)
from lookups.web.api_body import error_as_dict

logger = logging.getLogger(__name__)

# (body, status, headers)
ApiError = tuple[dict[str, Any], int, dict[str, str]]


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def error_headers(error: LookupFailed) -> dict[str, str]:
    """The headers an error's answer carries, page or API: Retry-After when throttled (the
    RateLimit-* headers: lookups.web.throttling.RateLimitHeadersMiddleware), and when every DNS
    slot is taken (one frees within DNS_TIMEOUT)."""
    if isinstance(error, Throttled):
        return {"Retry-After": str(error.seconds)}
    if isinstance(error, DNSBusy):
        return {"Retry-After": str(max(1, math.ceil(settings.DNS_TIMEOUT)))}
    return {}


def api_error(exc: Exception, *, path: str = "", authenticate_header: str | None = None) -> ApiError | None:
    """Every error the API returns has one shape: {"error": {"code": ..., "message": ...}}.
    None: not an error of ours (Django answers it: lookups.web.errorpages)."""
    if isinstance(exc, LookupFailed):
        return error_as_dict(exc), exc.status, error_headers(exc)
    if isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge(REQUEST_TOO_LARGE_MESSAGE)
        return error_as_dict(exc), exc.status, {}
    if isinstance(exc, DatabaseError):
        logger.error("Database error while answering %s: %s", path, exc)
        exc = HistoryUnavailable(HISTORY_UNAVAILABLE_MESSAGE)
        return error_as_dict(exc), exc.status, {}
    if isinstance(exc, drf_exceptions.APIException):
        detail = exc.detail
        message = "Invalid request." if isinstance(detail, dict | list) else str(detail)
        headers = {}
        refused = isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed)
        if refused and authenticate_header:
            headers["WWW-Authenticate"] = authenticate_header
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else "invalid_request"
        return error_body(code, message), exc.status_code, headers
    return None


def exception_handler(exc: Exception, context) -> Response | None:
    """DRF's EXCEPTION_HANDLER (the batch and history endpoints)."""
    request, view = context["request"], context["view"]
    answer = api_error(exc, path=request.path, authenticate_header=view.get_authenticate_header(request))
    if answer is None:
        return None
    body, status, headers = answer
    return Response(body, status=status, headers=headers)


def page_error(exc: Exception) -> LookupFailed | None:
    """The error a page shows (its `status` is the page's), or None: not an error of ours."""
    if isinstance(exc, LookupFailed):
        return exc
    if isinstance(exc, DatabaseError):
        return HistoryUnavailable(HISTORY_UNAVAILABLE_MESSAGE)
    if isinstance(exc, RequestDataTooBig):
        return RequestTooLarge(REQUEST_TOO_LARGE_MESSAGE)
    return None
