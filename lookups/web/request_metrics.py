"""The request latency histogram (easygeoip_request_duration_seconds): the outermost middleware, so
it measures the whole of Django's work, labelled with the URL pattern's name (a bounded set)."""

import time

from lookups.metrics.instruments import observe_request


def _view_label(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "other"  # no URL pattern: static files (whitenoise), 404s, refused hosts
    if match.namespace == "admin":
        return "admin"  # one label for the admin's many pages
    return match.url_name or match.view_name or "other"


class RequestMetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        # A streamed answer (the admin's CSV export) counts until its first byte is ready.
        observe_request(_view_label(request), time.perf_counter() - started)
        return response
