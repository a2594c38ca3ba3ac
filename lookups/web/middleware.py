"""The Content-Security-Policy header on every response, the admin login lockout, a 503 for a
PostgreSQL that does not answer, and the request latency histogram (/metrics).

Django 5.2 has no CSP support of its own (it arrives in 6.0). Our pages keep all JavaScript
and CSS in static files, so a strict policy holds; a view that needs another policy sets the
header itself and this middleware leaves it alone.
"""

import functools
import logging
import time

from axes.middleware import AxesMiddleware
from django.conf import settings
from django.db import InterfaceError, OperationalError

from lookups.metrics.instruments import count_rate_limited, observe_request
from lookups.web import errorpages

logger = logging.getLogger(__name__)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = settings.CONTENT_SECURITY_POLICY
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response


# Redoc renders its styles with styled-components, which inserts <style> elements at run time and
# cannot work without 'unsafe-inline' styles (and runs its search in a blob: worker). Scripts stay strict.
REDOC_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; script-src 'self'; worker-src 'self' blob:; "
    "style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; "
    "form-action 'self'"
)


def content_security_policy(policy: str):
    """A view decorator: this view's responses carry `policy` instead of the site's."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            response = view(request, *args, **kwargs)
            if settings.CONTENT_SECURITY_POLICY:
                response["Content-Security-Policy"] = policy
            return response

        return wrapped

    return decorator


class AdminLoginLockoutMiddleware(AxesMiddleware):
    """django-axes's lockout response, where there is a login to lock: the admin.

    Axes only acts on login attempts; run on every lookup it cost as much as the lookup itself.
    """

    def __call__(self, request):
        if not request.path_info.startswith("/admin/"):
            return self.get_response(request)
        return super().__call__(request)


class DatabaseUnreachableMiddleware:
    """A view that meets a PostgreSQL that does not answer (the admin's, the pages') answers 503
    with a plain sentence rather than a 500: views hold no try/except for it. The API's errors
    are mapped in lookups.web.http_errors, the web service's in lookups.web.webservice."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        first_line = (str(exception).strip().splitlines() or [type(exception).__name__])[0]
        logger.error("PostgreSQL did not answer while answering %s: %s", request.path, first_line)
        return errorpages.database_unavailable(request)


def _view_label(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "other"  # no URL pattern: static files (whitenoise), 404s, refused hosts
    if match.namespace == "admin":
        return "admin"  # one label for the admin's many pages
    return match.url_name or match.view_name or "other"


class RequestMetricsMiddleware:
    """The request latency histogram (easygeoip_request_duration_seconds), labelled with the URL
    pattern's name (a bounded set): the outermost middleware, so it measures the whole of Django's
    work. And the rate limits' refusals: every 429 passes here, whichever limit refused it (the
    API's, the pages', the admin's login lockout), however the limits are implemented."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        # A streamed answer (the admin's CSV export) counts until its first byte is ready.
        view = _view_label(request)
        observe_request(view, time.perf_counter() - started)
        if response.status_code == 429:
            count_rate_limited(view)
        return response
