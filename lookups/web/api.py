"""The JSON API's DRF views: the batch lookup and the history, plus the OpenAPI declaration of the
single lookups, which are plain Django views (lookups.web.api_lookup) for speed, and of the
plain-text answers (lookups.web.plain_text). The network listings are in lookups.web.api_networks."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import exceptions as drf_exceptions
from rest_framework.authentication import BasicAuthentication, SessionAuthentication, TokenAuthentication
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_yaml.renderers import YAMLRenderer

from lookups.core import pipeline
from lookups.core.answer import LookupResult
from lookups.core.comparison import batch_agreement
from lookups.errors import (
    BATCH_INVALID_MESSAGE,
    COMPARE_FLAG_MESSAGE,
    RDNS_BATCH_MESSAGE,
    RDNS_FLAG_MESSAGE,
    InvalidBatch,
    InvalidCompareFlag,
    InvalidCursor,
    InvalidRdnsFlag,
    RdnsNotSupported,
)
from lookups.models import Channel
from lookups.web import history_filters, text_body, throttling
from lookups.web.api_body import LOOKUP_CSV, batch_item
from lookups.web.api_schema import (
    BatchComparedOutputSerializer,
    BatchInputSerializer,
    BatchOutputSerializer,
    ComparisonSerializer,
    ErrorSerializer,
    HealthSerializer,
    HealthUnavailableSerializer,
    HistoryPageSerializer,
    LookupResultSerializer,
    MaxMindErrorSerializer,
)
from lookups.web.comparison_body import batch_agreement_as_dict, comparison_as_dict
from lookups.web.field_selection import FIELD_PATHS, REVERSE_DNS_FIELD_PATHS, parse_fields, select
from lookups.web.renderers import JSONRenderer as OrjsonRenderer
from lookups.web.renderers import XMLRenderer
from lookups.web.request_meta import client_address, request_language

ERROR_RESPONSES = {status: ErrorSerializer for status in (400, 404, 405, 413, 429, 503)}
_COMPARE_PARAMETER = OpenApiParameter(
    "compare",
    OpenApiTypes.STR,
    enum=["0", "1"],
    description=(
        "1: also look every query up in the alternative City database (GEOIP_CITY_ALTERNATIVE) and "
        "add the batch's agreement figures (JSON, XML and YAML; CSV keeps its columns). 409 "
        "comparison_not_configured without one."
    ),
)
_QUERY_PARAMETER = OpenApiParameter(
    "query",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description=(
        "An IPv4 address, an IPv6 address (any textual form, brackets and zone IDs allowed) or a "
        "domain name (internationalised ones too), at most 255 characters."
    ),
    examples=[
        OpenApiExample("IPv4", value="81.2.69.142"),
        OpenApiExample("IPv6", value="2001:4860:4860::8888"),
        OpenApiExample("Name", value="example.com"),
    ],
)
LANGUAGE_PARAMETER = OpenApiParameter(
    "lang",
    OpenApiTypes.STR,
    description="Language of place names (en, de, fr, ja, ...). Default: Accept-Language, then English.",
)

_FIELDS_PARAMETER = OpenApiParameter(
    "fields",
    OpenApiTypes.STR,
    description=(
        "Comma-separated paths of the answer to keep, the structure kept (a list's items keep "
        "theirs; CSV: exactly the columns they fill, in the fixed order). An unknown path is a 400 "
        "unknown_fields listing them. error: a failed entry's CSV columns (JSON keeps failed "
        "entries whole). Paths: " + ", ".join(FIELD_PATHS) + "."
    ),
    examples=[OpenApiExample("Country code, city and location", value="country.iso_code,city.name,location")],
)

_RDNS_PARAMETER = OpenApiParameter(
    "rdns",
    OpenApiTypes.STR,
    enum=["0", "1"],
    description=(
        "1: add reverse_dns, the address's PTR name checked forward (verified: the name resolves "
        "back to the address), within RDNS_TIMEOUT; the lookup is answered whatever the DNS does, "
        "status saying what it did. Cached. With it, fields= also takes "
        + ", ".join(REVERSE_DNS_FIELD_PATHS)
        + ", and CSV adds the columns reverse_dns_status, reverse_dns_name, reverse_dns_verified."
    ),
)
_BATCH_RDNS_PARAMETER = OpenApiParameter(
    "rdns",
    OpenApiTypes.STR,
    enum=["0"],
    description="A batch takes no reverse DNS: rdns=1 is a 400 rdns_not_supported (ask single lookups).",
)


def rdns_flag(params) -> bool:
    """Whether ?rdns=1 asks for the reverse name. Raises InvalidRdnsFlag for anything but 0 and 1."""
    value = params.get("rdns", "0")
    if value not in ("0", "1"):
        raise InvalidRdnsFlag(RDNS_FLAG_MESSAGE.format(given=value[:20]))
    return value == "1"


# For the schema only: lookups.web.api_lookup's plain Django views answer these operations; their
# docstrings are the operations' descriptions.


class LookupDocumentation(APIView):
    """Geolocate one IP address or domain name."""

    # Public: nobody signs in to look up an address (and the rate limit is per address).
    authentication_classes = ()

    @extend_schema(
        operation_id="lookup",
        parameters=[_QUERY_PARAMETER, LANGUAGE_PARAMETER, _FIELDS_PARAMETER, _RDNS_PARAMETER],
        responses={200: LookupResultSerializer, **ERROR_RESPONSES},
    )
    def get(self, request: Request, query: str) -> Response:
        raise NotImplementedError  # never routed


class OwnAddressLookupDocumentation(APIView):
    """Geolocate the caller's own address."""

    authentication_classes = ()

    @extend_schema(
        operation_id="lookup_own_address",
        parameters=[LANGUAGE_PARAMETER, _FIELDS_PARAMETER, _RDNS_PARAMETER],
        responses={200: LookupResultSerializer, **ERROR_RESPONSES},
    )
    def get(self, request: Request) -> Response:
        raise NotImplementedError  # never routed


class PlainTextRenderer(BaseRenderer):
    """For the schema only: the plain-text views write their own bodies (lookups.web.text_body)."""

    media_type = "text/plain"
    format = "txt"


_TEXT = "text/plain"
_TEXT_ERRORS = {(status, _TEXT): OpenApiTypes.STR for status in (400, 404, 405, 429, 503)}


class PlainTextDocumentation(APIView):
    """One line of plain text, for curl and scripts (as echoip answers): one field of the lookup of
    `ip`, or of the caller's own address without it. A missing value (a country-level record has
    no city) is a 404 `field_not_found`; every error is one line of text with the API's status."""

    authentication_classes = ()
    renderer_classes = [PlainTextRenderer]  # text only: these paths take no ?format=

    @extend_schema(
        operation_id="lookup_field_text",
        parameters=[
            OpenApiParameter(
                "field",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                enum=list(text_body.FIELDS),
                description=(
                    "country (name), country-iso (ISO 3166 code), city, region (the largest "
                    "subdivision), coordinates (latitude,longitude), timezone, asn (AS20712), asn-org."
                ),
            ),
            OpenApiParameter(
                "ip",
                OpenApiTypes.STR,
                description="The address (or domain name) to look up; the caller's own address without it.",
                examples=[OpenApiExample("IPv4", value="81.2.69.142")],
            ),
            LANGUAGE_PARAMETER,
        ],
        responses={
            (200, _TEXT): OpenApiTypes.STR,
            **_TEXT_ERRORS,
            # A path that is no field at all: Django's page.
            (404, "text/html"): OpenApiTypes.STR,
        },
    )
    def get(self, request: Request, field: str) -> Response:
        raise NotImplementedError  # never routed


class OwnAddressTextDocumentation(APIView):
    """The caller's address as one line of plain text, whatever it is (loopback and private ones
    too): nothing is looked up or counted. `curl host` (a user agent starting curl/, Wget/, HTTPie/
    or fetch) gets the same line at `/` instead of the page."""

    authentication_classes = ()
    renderer_classes = [PlainTextRenderer]

    @extend_schema(
        operation_id="own_address_text",
        responses={(200, _TEXT): OpenApiTypes.STR, (405, _TEXT): OpenApiTypes.STR},
    )
    def get(self, request: Request) -> Response:
        raise NotImplementedError  # never routed


class HealthDocumentation(APIView):
    """How the service is, for load balancers and operators: 200 while lookups are answered (status
    ok, warning or degraded), 503 with the reason when they cannot be."""

    authentication_classes = ()
    renderer_classes = [JSONRenderer]  # JSON only: /health takes no ?format=

    @extend_schema(
        operation_id="health",
        responses={200: HealthSerializer, 503: HealthUnavailableSerializer},
    )
    def get(self, request: Request) -> Response:
        raise NotImplementedError  # never routed


_MAXMIND_ERROR = "application/vnd.maxmind.com-error+json"


class WebServiceDocumentation(APIView):
    """MaxMind's GeoIP2 web-service protocol (City and Country), for MaxMind's client libraries:
    HTTP basic auth with an API key's account ID and licence key (manage.py create_api_key), bodies
    and error codes as MaxMind documents them. `me` looks up the caller's own address."""

    authentication_classes = [BasicAuthentication]
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]  # MaxMind's bodies only: the protocol takes no ?format=

    @extend_schema(
        operation_id="webservice_lookup",
        parameters=[
            OpenApiParameter(
                "service",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                enum=["city", "country", "insights"],
                description="insights is MaxMind's, and answered 403 PERMISSION_REQUIRED here.",
            ),
            OpenApiParameter(
                "ip_address", OpenApiTypes.STR, OpenApiParameter.PATH, description="An IP address, or me."
            ),
        ],
        responses={
            (200, "application/vnd.maxmind.com-city+json"): OpenApiTypes.OBJECT,
            (200, "application/vnd.maxmind.com-country+json"): OpenApiTypes.OBJECT,
            **{
                (status, _MAXMIND_ERROR): MaxMindErrorSerializer
                for status in (400, 401, 402, 403, 405, 429, 503)
            },
            (404, _MAXMIND_ERROR): MaxMindErrorSerializer,
            # A path that is not the web service's at all (an address holding "/"): Django's page.
            (404, "text/html"): OpenApiTypes.STR,
        },
    )
    def get(self, request: Request, service: str, ip_address: str) -> Response:
        raise NotImplementedError  # never routed


class BatchLookupView(APIView):
    """Geolocate many queries at once: answers in the same order, each a result or an error."""

    # Public: nobody signs in to look up an address (and the rate limit is per address).
    authentication_classes = ()
    throttle_classes = ()  # it pays per query, below
    csv_table = LOOKUP_CSV

    @extend_schema(
        operation_id="lookup_batch",
        parameters=[LANGUAGE_PARAMETER, _FIELDS_PARAMETER, _COMPARE_PARAMETER, _BATCH_RDNS_PARAMETER],
        request=BatchInputSerializer,
        responses={
            200: PolymorphicProxySerializer(
                component_name="BatchAnswer",
                serializers=[BatchOutputSerializer, BatchComparedOutputSerializer],
                resource_type_field_name=None,
            ),
            409: ErrorSerializer,
            415: ErrorSerializer,
            **ERROR_RESPONSES,
        },
    )
    def post(self, request: Request) -> Response:
        # Before the body is read: an unknown ?fields= is refused, nothing looked up; so is rdns=1
        # (a batch's addresses would each be a reverse query: up to 1,000 of them).
        if rdns_flag(request.query_params):
            raise RdnsNotSupported(RDNS_BATCH_MESSAGE)
        self.selection = parse_fields(request.query_params.getlist("fields"))
        data = request.data
        queries = data.get("queries") if isinstance(data, dict) else None
        if not isinstance(queries, list) or not queries or not all(isinstance(q, str) for q in queries):
            raise InvalidBatch(BATCH_INVALID_MESSAGE)
        compare = request.query_params.get("compare", "0")
        if compare not in ("0", "1"):
            raise InvalidCompareFlag(COMPARE_FLAG_MESSAGE.format(given=compare[:20]))
        throttling.spend_on_lookups(request, queries, bucket=throttling.API)
        requester = client_address(request)
        # The bodies too are some 100,000 acyclic objects: no collection while they are built.
        with pipeline.garbage_collection_paused():
            comparisons = None
            if compare == "1":
                comparisons = pipeline.compare_batch(queries, channel=Channel.BATCH, requester=requester)
                answers = [comparison.primary for comparison in comparisons]
            else:
                answers = pipeline.lookup_batch(queries, channel=Channel.BATCH, requester=requester)
            languages = next((a.database.languages for a in answers if isinstance(a, LookupResult)), ())
            language = request_language(request, languages)
            results = [
                select(batch_item(query, answer, language=language), self.selection)
                for query, answer in zip(queries, answers, strict=True)
            ]
        if comparisons is None:
            return Response({"results": results})
        alternative = next(
            (c.alternative.database for c in comparisons if isinstance(c.alternative, LookupResult)), None
        )
        figures = batch_agreement_as_dict(batch_agreement(comparisons), alternative)
        return Response({"results": results, "agreement": figures})

    def get_renderer_context(self) -> dict:
        # CSV in the selected columns (renderers.CSVRenderer reads `csv_table` here first).
        selection = getattr(self, "selection", None)
        return {**super().get_renderer_context(), "csv_table": selection.csv_table if selection else None}


class CompareView(APIView):
    """Look one query up in both City databases (GEOIP_CITY and GEOIP_CITY_ALTERNATIVE) and say how
    far they agree. 409 comparison_not_configured when no alternative is configured; 503
    database_unavailable when either database cannot be read. Counted as one lookup."""

    authentication_classes = ()
    # Counted against the lookups' own bucket below, once, as a lookup is.
    throttle_classes = ()
    # Nested answers: no CSV.
    renderer_classes = [OrjsonRenderer, XMLRenderer, YAMLRenderer]

    @extend_schema(
        operation_id="compare",
        parameters=[_QUERY_PARAMETER, LANGUAGE_PARAMETER],
        responses={200: ComparisonSerializer, 409: ErrorSerializer, **ERROR_RESPONSES},
    )
    def get(self, request: Request, query: str) -> Response:
        query = query.removesuffix("/")
        throttling.spend_on_lookups(request, [query], bucket=throttling.API)
        comparison = pipeline.compare(query, channel=Channel.API, requester=client_address(request))
        primary, alternative = comparison.primary, comparison.alternative
        if not isinstance(primary, LookupResult) and not isinstance(alternative, LookupResult):
            raise primary  # neither database knows the address: the lookup's 404
        languages = (primary if isinstance(primary, LookupResult) else alternative).database.languages
        return Response(comparison_as_dict(query, comparison, language=request_language(request, languages)))


# --- History ----------------------------------------------------------------------------------


class CanReadHistory(BasePermission):
    """Active staff allowed to view lookups (superusers, or staff given "Can view lookup")."""

    def has_permission(self, request: Request, view) -> bool:
        user = request.user
        return bool(user and user.is_active and user.is_staff and user.has_perm("lookups.view_lookup"))


class HistoryPagination(CursorPagination):
    """Newest first. A cursor marks a place in time: no COUNT, no OFFSET deep into the table."""

    ordering = ("-created_at", "-id")
    page_size = history_filters.DEFAULT_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = history_filters.MAX_PAGE_SIZE

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except drf_exceptions.NotFound:
            raise InvalidCursor(history_filters.CURSOR_MESSAGE) from None

    def paginate_queryset(self, queryset, request, view=None):
        try:
            return super().paginate_queryset(queryset, request, view=view)
        except DjangoValidationError:  # a well-formed cursor whose position is not a time
            raise InvalidCursor(history_filters.CURSOR_MESSAGE) from None


_HISTORY_PARAMETERS = [
    OpenApiParameter("since", OpenApiTypes.STR, description="From this ISO date or date-time (inclusive)."),
    OpenApiParameter(
        "until", OpenApiTypes.STR, description="Before this date-time; a bare date includes that whole day."
    ),
    OpenApiParameter("country", OpenApiTypes.STR, description="Two-letter ISO country code."),
    OpenApiParameter("channel", OpenApiTypes.STR, enum=Channel.values),
    OpenApiParameter("outcome", OpenApiTypes.STR, description="ok, or an error code."),
    OpenApiParameter("query", OpenApiTypes.STR, description="Queries containing this text (any case)."),
    OpenApiParameter(
        "page_size",
        OpenApiTypes.INT,
        description=f"1 to {history_filters.MAX_PAGE_SIZE}; {history_filters.DEFAULT_PAGE_SIZE}.",
    ),
    OpenApiParameter("cursor", OpenApiTypes.STR, description="From the next or previous link."),
]


class HistoryView(APIView):
    """Past lookups, newest first, for staff: filter by time, country, channel, outcome, query."""

    # Token first: an anonymous caller gets 401 with `WWW-Authenticate: Token`.
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [CanReadHistory]
    csv_table = history_filters.HISTORY_CSV

    @extend_schema(
        operation_id="history",
        parameters=_HISTORY_PARAMETERS,
        responses={
            200: HistoryPageSerializer,
            **{status: ErrorSerializer for status in (400, 401, 403)},
        },
    )
    def get(self, request: Request) -> Response:
        filters = history_filters.parse_filters(request.query_params)
        history_filters.parse_page_size(request.query_params.get("page_size"))
        paginator = HistoryPagination()
        page = paginator.paginate_queryset(history_filters.filter_history(filters), request, view=self)
        return paginator.get_paginated_response([history_filters.history_row_as_dict(row) for row in page])
