"""Output format negotiation: DRF's, but `?format=` must name exactly one known format.

DRF ignores an empty `?format=` and takes the last of several: both are answered as if the
parameter were valid, which the schema (an enum of one value) does not allow. Now they are the
same 404 as an unknown format.
"""

from django.http import Http404
from rest_framework.negotiation import DefaultContentNegotiation


class StrictFormatNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        values = request.query_params.getlist(self.settings.URL_FORMAT_OVERRIDE)
        if len(values) > 1 or values == [""]:
            raise Http404
        return super().select_renderer(request, renderers, format_suffix)
