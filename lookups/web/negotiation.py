"""Output format negotiation: DRF's, but `?format=` must name exactly one known format.

DRF ignores an empty `?format=` and takes the last of several: both are answered as if the
parameter were valid, which the schema (an enum of one value) does not allow. Now they are the
same 404 as an unknown format.
"""

from django.http import Http404
from rest_framework.negotiation import DefaultContentNegotiation

# What most callers send: no preference, or JSON. They get the first renderer (JSON) without
# DRF's parsing of the Accept header, which cost more than the lookup.
_PLAIN_ACCEPT = {"", "*/*", "application/json"}


def wants_plain_json(meta: dict) -> bool:
    """No query string and no Accept preference but JSON: the first renderer, without asking DRF."""
    return not meta.get("QUERY_STRING") and meta.get("HTTP_ACCEPT", "") in _PLAIN_ACCEPT


class StrictFormatNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        if not format_suffix and wants_plain_json(request.META):
            renderer = renderers[0]
            return renderer, renderer.media_type
        values = request.query_params.getlist(self.settings.URL_FORMAT_OVERRIDE)
        if len(values) > 1 or values == [""]:
            raise Http404
        if not values and not format_suffix and request.META.get("HTTP_ACCEPT", "") in _PLAIN_ACCEPT:
            renderer = renderers[0]
            return renderer, renderer.media_type
        return super().select_renderer(request, renderers, format_suffix)
