"""GET /metrics: the Prometheus metrics (lookups.metrics), for whom lookups.web.metrics_access lets in."""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from lookups.metrics import exposition
from lookups.web.metrics_access import metrics_refusal
from lookups.web.request_meta import client_address


@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    refusal = metrics_refusal(
        address=client_address(request), authorization=request.META.get("HTTP_AUTHORIZATION", "")
    )
    if refusal is not None:
        response = HttpResponse(
            refusal.message + "\n", status=refusal.status, content_type="text/plain; charset=utf-8"
        )
        if refusal.challenge:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    response = HttpResponse(exposition.render(), content_type=exposition.CONTENT_TYPE)
    response["Cache-Control"] = "no-store"
    return response
