"""MaxMind's GeoIP2 web-service protocol, so that MaxMind's official client libraries can use us.

`GET /geoip/v2.1/{city,country}/{ip_address|me}` with HTTP basic auth (account ID, licence key),
answered in MaxMind's documented body and error formats. Plain Django views rather than DRF: this
is a hot path, and the protocol fixes the one format there is to negotiate.
"""

import functools
import json
import logging
from collections.abc import Callable
from http import HTTPStatus

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from lookups.core import pipeline
from lookups.errors import (
    ADDRESSES_ONLY_MESSAGE,
    PERMISSION_REQUIRED_MESSAGE,
    CredentialsRejected,
    InvalidQuery,
    LookupFailed,
    PermissionRequired,
)
from lookups.models import Channel
from lookups.web import credentials, throttling
from lookups.web.api import WebServiceDocumentation
from lookups.web.api_lookup import documented_as
from lookups.web.http_errors import error_headers
from lookups.web.maxmind_body import CONTENT_TYPES, body_for
from lookups.web.request_meta import client_address

logger = logging.getLogger(__name__)

ERROR_CONTENT_TYPE = "application/vnd.maxmind.com-error+json; charset=UTF-8; version=2.0"

IP_ADDRESS_REQUIRED_MESSAGE = 'Add an IP address (or "me") to the path: /geoip/v2.1/city/81.2.69.142.'
METHOD_NOT_ALLOWED_MESSAGE = "The web service answers GET requests only."
DATABASE_ERROR_MESSAGE = "The service cannot reach its database right now. Try again shortly."

# Our domain errors (lookups.errors) as MaxMind's codes and statuses: the one place they are mapped.
# What each code becomes in MaxMind's Python client (geoip2.webservice) is in the comment.
MAXMIND_ERRORS: dict[str, tuple[str, HTTPStatus]] = {
    "invalid_query": ("IP_ADDRESS_INVALID", HTTPStatus.BAD_REQUEST),  # InvalidRequestError
    "address_not_public": ("IP_ADDRESS_RESERVED", HTTPStatus.BAD_REQUEST),  # AddressNotFoundError
    "address_not_found": ("IP_ADDRESS_NOT_FOUND", HTTPStatus.NOT_FOUND),  # AddressNotFoundError
    "account_id_required": ("ACCOUNT_ID_REQUIRED", HTTPStatus.UNAUTHORIZED),  # AuthenticationError
    "license_key_required": ("LICENSE_KEY_REQUIRED", HTTPStatus.UNAUTHORIZED),  # AuthenticationError
    "account_id_unknown": ("ACCOUNT_ID_UNKNOWN", HTTPStatus.UNAUTHORIZED),  # AuthenticationError
    "authorization_invalid": ("AUTHORIZATION_INVALID", HTTPStatus.UNAUTHORIZED),  # AuthenticationError
    "out_of_queries": ("OUT_OF_QUERIES", HTTPStatus.PAYMENT_REQUIRED),  # OutOfQueriesError
    "permission_required": ("PERMISSION_REQUIRED", HTTPStatus.FORBIDDEN),  # PermissionRequiredError
    # Not MaxMind's (its service has no rate limit): InvalidRequestError, with http_status 429.
    "throttled": ("THROTTLED", HTTPStatus.TOO_MANY_REQUESTS),
    # Any 5xx is an HTTPError in the clients, whatever its body.
    "database_unavailable": ("DATABASE_UNAVAILABLE", HTTPStatus.SERVICE_UNAVAILABLE),
}


class AddressesOnly:
    """The resolver for the web service: like MaxMind's, it looks up addresses, never names."""

    def resolve(self, name: str) -> list[str]:
        raise InvalidQuery(ADDRESSES_ONLY_MESSAGE.format(name=name))


def error_response(code: str, message: str, status: int) -> HttpResponse:
    response = HttpResponse(
        json.dumps({"code": code, "error": message}), status=status, content_type=ERROR_CONTENT_TYPE
    )
    if status == HTTPStatus.UNAUTHORIZED:
        response["WWW-Authenticate"] = 'Basic realm="easygeoip web service", charset="UTF-8"'
    return response


def maxmind_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Turn the domain errors a view raises into MaxMind's error responses."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except (LookupFailed, CredentialsRejected) as error:
            code, status = MAXMIND_ERRORS.get(error.code, (error.code.upper(), error.status))
            response = error_response(code, error.message, status)
            if isinstance(error, LookupFailed):
                for name, value in error_headers(error).items():
                    response[name] = value
            return response
        except DatabaseError as error:
            logger.error("Database error while answering %s: %s", request.path, error)
            return error_response(
                "DATABASE_UNAVAILABLE", DATABASE_ERROR_MESSAGE, HTTPStatus.SERVICE_UNAVAILABLE
            )

    return wrapper


@csrf_exempt  # basic auth, no cookies: nothing to forge, and a refused POST must answer in JSON
@documented_as(WebServiceDocumentation)
@maxmind_errors
def lookup(request: HttpRequest, service: str, ip_address: str) -> HttpResponse:
    if request.method != "GET":
        response = error_response(
            "METHOD_NOT_ALLOWED", METHOD_NOT_ALLOWED_MESSAGE, HTTPStatus.METHOD_NOT_ALLOWED
        )
        response["Allow"] = "GET"
        return response
    credential = credentials.authenticate(request.headers.get("Authorization"))
    if service not in CONTENT_TYPES:  # insights: MaxMind's too, but not a database's
        raise PermissionRequired(PERMISSION_REQUIRED_MESSAGE.format(service=service))
    if not ip_address:
        return error_response("IP_ADDRESS_REQUIRED", IP_ADDRESS_REQUIRED_MESSAGE, HTTPStatus.BAD_REQUEST)
    # The key's rate first: a refused request does not use up its daily quota.
    throttling.spend_on_key(request, credential.id)
    queries_remaining = credentials.admit(credential)
    requester = client_address(request)
    result = pipeline.lookup(
        (requester or "") if ip_address == "me" else ip_address,
        channel=Channel.WEBSERVICE,
        requester=requester,
        api_key_id=credential.id,
        resolver=AddressesOnly(),
    )
    body = body_for(result, service=service, queries_remaining=queries_remaining)
    return HttpResponse(json.dumps(body, ensure_ascii=False), content_type=CONTENT_TYPES[service])
