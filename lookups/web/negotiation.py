"""Output format negotiation: DRF's, but `?format=` must name exactly one known format.

DRF ignores an empty `?format=`, takes the last of several and answers an unknown one with a
bare 404: here each is a 400 `unknown_format` whose message names the endpoint's formats.
"""

from rest_framework.negotiation import DefaultContentNegotiation

from lookups.errors import UNKNOWN_FORMAT_MESSAGE, UnknownFormat

# What most callers send: no preference, or JSON. They get the first renderer (JSON) without
# DRF's parsing of the Accept header, which cost more than the lookup.
_PLAIN_ACCEPT = {"", "*/*", "application/json"}


def wants_plain_json(meta: dict) -> bool:
    """No query string and no Accept preference but JSON: the first renderer, without asking DRF."""
    return not meta.get("QUERY_STRING") and meta.get("HTTP_ACCEPT", "") in _PLAIN_ACCEPT


def _first_answers(accept: str, renderers) -> bool:
    """Whether the first renderer is what DRF would choose for this Accept header, cheaply: any
    renderer for no preference, JSON only when it is JSON (the schema's first is YAML)."""
    return accept in ("", "*/*") or (accept in _PLAIN_ACCEPT and renderers[0].media_type == accept)


class StrictFormatNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        accept = request.META.get("HTTP_ACCEPT", "")
        if not format_suffix and wants_plain_json(request.META) and _first_answers(accept, renderers):
            return renderers[0], renderers[0].media_type
        values = request.query_params.getlist(self.settings.URL_FORMAT_OVERRIDE)
        formats = list(dict.fromkeys(renderer.format for renderer in renderers))
        if values and (len(values) > 1 or values[0] not in formats):
            given = ", ".join(repr(value) for value in values)
            raise UnknownFormat(UNKNOWN_FORMAT_MESSAGE.format(formats=", ".join(formats), given=given))
        if not values and not format_suffix and _first_answers(accept, renderers):
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)
