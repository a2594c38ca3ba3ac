"""The JSON API: thin DRF views over lookups.services, and the one exception handler."""

import logging
from http import HTTPStatus

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError
from django.utils.cache import patch_vary_headers
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import exceptions as drf_exceptions
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from lookups import batch, selectors, services
from lookups.clients import accepted_languages, choose_language, client_address
from lookups.errors import BATCH_INVALID_MESSAGE, HISTORY_UNAVAILABLE_MESSAGE, InvalidBatch, LookupFailed
from lookups.models import Channel
from lookups.serializers import (
    BatchInputSerializer,
    BatchOutputSerializer,
    ErrorSerializer,
    HistoryPageSerializer,
    LookupResultSerializer,
    error_as_dict,
    result_as_dict,
)

logger = logging.getLogger(__name__)

REQUEST_TOO_LARGE_MESSAGE = "The request body is too large."
THROTTLED_MESSAGE = "Too many requests. Try again in {seconds} seconds."

_ERROR_RESPONSES = {status: ErrorSerializer for status in (400, 404, 405, 413, 429, 503)}
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
_LANGUAGE_PARAMETER = OpenApiParameter(
    "lang",
    OpenApiTypes.STR,
    description="Language of place names (en, de, fr, ja, ...). Default: Accept-Language, then English.",
)


def localised_response(data: dict) -> Response:
    """A lookup's answer: its place names follow Accept-Language, so caches must key on it too."""
    response = Response(data)
    patch_vary_headers(response, ["Accept-Language"])
    return response


def request_language(request: Request, available: tuple[str, ...]) -> str:
    explicit = request.query_params.get("lang")
    requested = [explicit] if explicit else accepted_languages(request.headers.get("Accept-Language", ""))
    return choose_language(requested, available)


def error_response(code: str, message: str, status: int, headers: dict | None = None) -> Response:
    return Response({"error": {"code": code, "message": message}}, status=status, headers=headers)


def exception_handler(exc: Exception, context) -> Response | None:
    """Every error the API returns has one shape: {"error": {"code": ..., "message": ...}}."""
    if isinstance(exc, LookupFailed):
        return Response(error_as_dict(exc), status=exc.status)
    if isinstance(exc, RequestDataTooBig):
        return error_response(
            "request_too_large", REQUEST_TOO_LARGE_MESSAGE, HTTPStatus.REQUEST_ENTITY_TOO_LARGE
        )
    if isinstance(exc, DatabaseError):
        logger.error("Database error while answering %s: %s", context["request"].path, exc)
        return error_response(
            "history_unavailable", HISTORY_UNAVAILABLE_MESSAGE, HTTPStatus.SERVICE_UNAVAILABLE
        )
    if isinstance(exc, drf_exceptions.Throttled):
        seconds = max(1, int(exc.wait or 1))
        return error_response(
            "throttled",
            THROTTLED_MESSAGE.format(seconds=seconds),
            HTTPStatus.TOO_MANY_REQUESTS,
            headers={"Retry-After": str(seconds)},
        )
    if isinstance(exc, drf_exceptions.APIException):
        detail = exc.detail
        message = "Invalid request." if isinstance(detail, dict | list) else str(detail)
        headers = {}
        if isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
            authenticate_header = context["view"].get_authenticate_header(context["request"])
            if authenticate_header:
                headers["WWW-Authenticate"] = authenticate_header
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else "invalid_request"
        return error_response(code, message, exc.status_code, headers=headers)
    return None


class LookupView(APIView):
    """Geolocate one IP address or domain name."""

    # Public: nobody signs in to look up an address (and the rate limit is per address).
    authentication_classes = ()

    @extend_schema(
        operation_id="lookup",
        parameters=[_QUERY_PARAMETER, _LANGUAGE_PARAMETER],
        responses={200: LookupResultSerializer, **_ERROR_RESPONSES},
    )
    def get(self, request: Request, query: str) -> Response:
        query = query.removesuffix("/")  # /api/v1/lookup/8.8.8.8/ is 8.8.8.8: no query ends in one
        result = services.lookup(query, channel=Channel.API, requester=client_address(request))
        language = request_language(request, result.database.languages)
        return localised_response(result_as_dict(result, language=language))


class OwnAddressLookupView(APIView):
    """Geolocate the caller's own address."""

    # Public: nobody signs in to look up an address (and the rate limit is per address).
    authentication_classes = ()

    @extend_schema(
        operation_id="lookup_own_address",
        parameters=[_LANGUAGE_PARAMETER],
        responses={200: LookupResultSerializer, **_ERROR_RESPONSES},
    )
    def get(self, request: Request) -> Response:
        address = client_address(request) or ""
        result = services.lookup(address, channel=Channel.API, requester=address)
        language = request_language(request, result.database.languages)
        return localised_response(result_as_dict(result, language=language))


class BatchLookupView(APIView):
    """Geolocate many queries at once: answers in the same order, each a result or an error."""

    # Public: nobody signs in to look up an address (and the rate limit is per address).
    authentication_classes = ()

    @extend_schema(
        operation_id="lookup_batch",
        parameters=[_LANGUAGE_PARAMETER],
        request=BatchInputSerializer,
        responses={200: BatchOutputSerializer, 415: ErrorSerializer, **_ERROR_RESPONSES},
    )
    def post(self, request: Request) -> Response:
        data = request.data
        queries = data.get("queries") if isinstance(data, dict) else None
        if not isinstance(queries, list) or not queries or not all(isinstance(q, str) for q in queries):
            raise InvalidBatch(BATCH_INVALID_MESSAGE)
        results = batch.lookup_batch_bodies(
            queries,
            channel=Channel.BATCH,
            requester=client_address(request),
            choose_language=lambda available: request_language(request, available),
        )
        return Response({"results": results})


# --- History ----------------------------------------------------------------------------------


class CanReadHistory(BasePermission):
    """Active staff allowed to view lookups (superusers, or staff given "Can view lookup")."""

    def has_permission(self, request: Request, view) -> bool:
        user = request.user
        return bool(user and user.is_active and user.is_staff and user.has_perm("lookups.view_lookup"))


class HistoryPagination(CursorPagination):
    """Newest first. A cursor marks a place in time: no COUNT, no OFFSET deep into the table."""

    ordering = ("-created_at", "-id")
    page_size = selectors.DEFAULT_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = selectors.MAX_PAGE_SIZE

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except drf_exceptions.NotFound:
            raise selectors.InvalidCursor(selectors.CURSOR_MESSAGE) from None

    def paginate_queryset(self, queryset, request, view=None):
        try:
            return super().paginate_queryset(queryset, request, view=view)
        except DjangoValidationError:  # a well-formed cursor whose position is not a time
            raise selectors.InvalidCursor(selectors.CURSOR_MESSAGE) from None


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
        description=f"1 to {selectors.MAX_PAGE_SIZE}; {selectors.DEFAULT_PAGE_SIZE}.",
    ),
    OpenApiParameter("cursor", OpenApiTypes.STR, description="From the next or previous link."),
]


class HistoryView(APIView):
    """Past lookups, newest first, for staff: filter by time, country, channel, outcome, query."""

    # Token first: an anonymous caller gets 401 with `WWW-Authenticate: Token`.
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [CanReadHistory]

    @extend_schema(
        operation_id="history",
        parameters=_HISTORY_PARAMETERS,
        responses={
            200: HistoryPageSerializer,
            # 404: an unknown ?format= (as on every endpoint).
            **{status: ErrorSerializer for status in (400, 401, 403, 404)},
        },
    )
    def get(self, request: Request) -> Response:
        filters = selectors.parse_filters(request.query_params)
        selectors.parse_page_size(request.query_params.get("page_size"))
        paginator = HistoryPagination()
        page = paginator.paginate_queryset(selectors.filter_history(filters), request, view=self)
        return paginator.get_paginated_response([selectors.history_row_as_dict(row) for row in page])
