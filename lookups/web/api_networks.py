"""The network listings' DRF views: the networks of a prefix (lookups.core.networks walks the
database) and of an AS (lookups.core.asn_networks reads the install's index). Both page alike:
`limit`, `start`, and a `next` link (also a `Link` header, which is how CSV says there is more)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from lookups.core import asn_networks, networks
from lookups.web.api import ERROR_RESPONSES, LANGUAGE_PARAMETER
from lookups.web.api_body import (
    ASN_NETWORK_CSV,
    NETWORK_CSV,
    asn_networks_page_as_dict,
    networks_page_as_dict,
)
from lookups.web.api_schema import AsnNetworkPageSerializer, NetworkPageSerializer
from lookups.web.field_selection import NETWORK_FIELD_PATHS, NETWORK_FIELDS, parse_fields, select
from lookups.web.request_meta import request_language


class NetworksView(APIView):
    """Every network of the City database inside a prefix, in order, each with its record as a
    lookup answers it (without the query's keys). A prefix inside one network of the database
    answers that network. At most `limit` networks a page: `truncated` says there are more, and
    `next` (also a `Link: <...>; rel="next"` header, for CSV) is the next page. A prefix with host
    bits set (81.2.69.142/16) is refused, its message naming the network it is in."""

    # Public and limited per address, as the lookups (the same API_THROTTLE_RATE bucket).
    authentication_classes = ()
    csv_table = NETWORK_CSV

    @extend_schema(
        operation_id="networks",
        parameters=[
            OpenApiParameter(
                "prefix",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                description="A network in CIDR form (a bare address is its /32 or /128).",
                examples=[
                    OpenApiExample("IPv4", value="81.2.0.0/16"),
                    OpenApiExample("IPv6", value="2a02:ec80::/32"),
                ],
            ),
            OpenApiParameter(
                "limit",
                OpenApiTypes.INT,
                description=f"Networks per page, 1 to {networks.MAX_LIMIT}; {networks.DEFAULT_LIMIT}.",
            ),
            OpenApiParameter(
                "start", OpenApiTypes.STR, description="Where the page starts: from the next link."
            ),
            LANGUAGE_PARAMETER,
            OpenApiParameter(
                "fields",
                OpenApiTypes.STR,
                description=(
                    "Comma-separated paths of each network to keep, as for a lookup (CSV: exactly "
                    "their columns, in the fixed order). Paths: " + ", ".join(NETWORK_FIELD_PATHS) + "."
                ),
                examples=[OpenApiExample("The networks alone", value="network")],
            ),
        ],
        responses={200: NetworkPageSerializer, **ERROR_RESPONSES},
    )
    def get(self, request: Request, prefix: str) -> Response:
        network = networks.parse_prefix(prefix.removesuffix("/"))
        start = networks.parse_start(request.query_params.get("start"), network)
        limit = networks.parse_limit(request.query_params.get("limit"))
        self.selection = parse_fields(request.query_params.getlist("fields"), NETWORK_FIELDS)
        page = networks.networks_in(network, start=start, limit=limit)
        next_url = _next_page(request, page.next_start)
        language = request_language(request, page.database.languages)
        body = networks_page_as_dict(page, language=language, next_url=next_url)
        body["networks"] = [select(entry, self.selection) for entry in body["networks"]]
        return Response(body, headers=_link_headers(next_url))

    def get_renderer_context(self) -> dict:
        # CSV: a row per network, in the selected columns (renderers.CSVRenderer).
        selection = getattr(self, "selection", None)
        table = selection.csv_table if selection else None
        return {**super().get_renderer_context(), "csv_rows": "networks", "csv_table": table}


class AsnNetworksView(APIView):
    """Every network of one autonomous system in the ASN database (GEOIP_ASN), IPv4 first, in
    address order, from the index the updater builds when it installs that database. Paginated as
    the networks of a prefix: `truncated`, and `next` (also a `Link` header)."""

    authentication_classes = ()
    csv_table = ASN_NETWORK_CSV

    @extend_schema(
        operation_id="asn_networks",
        parameters=[
            OpenApiParameter(
                "number",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                description="The AS number, with or without AS before it.",
                examples=[OpenApiExample("AS number", value="20712")],
            ),
            OpenApiParameter(
                "limit",
                OpenApiTypes.INT,
                description=f"Networks per page, 1 to {networks.MAX_LIMIT}; {networks.DEFAULT_LIMIT}.",
            ),
            OpenApiParameter(
                "start", OpenApiTypes.STR, description="Where the page starts: from the next link."
            ),
        ],
        responses={200: AsnNetworkPageSerializer, **ERROR_RESPONSES},
    )
    def get(self, request: Request, number: str) -> Response:
        asn = asn_networks.parse_asn(number)
        start = asn_networks.parse_start(request.query_params.get("start"))
        limit = networks.parse_limit(request.query_params.get("limit"))
        page = asn_networks.networks_of(asn, start=start, limit=limit)
        next_url = _next_page(request, page.next_start)
        return Response(asn_networks_page_as_dict(page, next_url=next_url), headers=_link_headers(next_url))

    def get_renderer_context(self) -> dict:
        return {**super().get_renderer_context(), "csv_rows": "networks"}


def _next_page(request: Request, start: str | None) -> str | None:
    """This listing's address with `start` set to where the next page begins, or None."""
    if start is None:
        return None
    query = request.query_params.copy()
    query["start"] = start
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")


def _link_headers(next_url: str | None) -> dict[str, str] | None:
    return {"Link": f'<{next_url}>; rel="next"'} if next_url else None
