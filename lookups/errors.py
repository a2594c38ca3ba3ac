"""Every error the service answers with, defined once: lookup failures, request refusals, the web
service's credential refusals.

Each carries a stable `code` (documented in the API's docs), the HTTP status it is answered with,
and a message a person understands. Messages are module constants so that tests assert against
the same text the users read. lookups.web.http_errors is the one place that turns them (and
Django's and DRF's own) into responses; lookups.web.webservice maps them to MaxMind's codes.
"""

from http import HTTPStatus

INVALID_QUERY_MESSAGE = (
    "Enter an IPv4 address (8.8.8.8), an IPv6 address (2001:4860:4860::8888) or a domain name (example.com)."
)
QUERY_TOO_LONG_MESSAGE = "The query is too long: at most {limit} characters."
IPV4_LEADING_ZERO_MESSAGE = (
    "That is not a valid IPv4 address: write four decimal numbers from 0 to 255, "
    "without leading zeros, such as 8.8.8.8."
)
IPV4_STRAY_DOT_MESSAGE = (
    "That is not a valid IPv4 address: write four decimal numbers from 0 to 255 with one dot "
    "between each and none at either end, such as 8.8.8.8."
)
ADDRESS_NOT_PUBLIC_MESSAGE = (
    "{subject} is not a public address: private, loopback, link-local, shared, multicast, "
    "reserved and documentation ranges are not looked up."
)
NAME_NOT_PUBLIC_MESSAGE = "{name} does not resolve to any public address."
NAME_NOT_RESOLVED_MESSAGE = "{name} does not resolve to any address."
DNS_FAILURE_MESSAGE = "The name servers did not answer for {name} in time. Try again later."
DNS_BUSY_MESSAGE = (
    "Too many domain names are being resolved right now; try again in a moment. "
    "IP addresses are looked up as usual."
)
DNS_CLIENT_BUSY_MESSAGE = (
    "You have {limit} domain names being resolved already; wait for their answers before sending "
    "more. IP addresses are looked up as usual."
)
ADDRESS_NOT_FOUND_MESSAGE = "{address} is not in the GeoIP database."
# For visitors: a plain sentence. Operators get the command in /health and check_data.
DATABASE_MISSING_MESSAGE = (
    "No GeoIP database is installed yet, so no address can be looked up. Try again later."
)
DATABASE_INVALID_MESSAGE = "The installed GeoIP database cannot be used: {reason}"
BATCH_TOO_LARGE_MESSAGE = "A batch holds at most {limit} queries; this one has {count}."
TOO_MANY_NAMES_MESSAGE = (
    "A batch resolves at most {limit} domain names; send the others in another batch. "
    "Addresses are not limited this way."
)
HISTORY_UNAVAILABLE_MESSAGE = "The lookup history cannot be written right now. Try again shortly."
BATCH_INVALID_MESSAGE = 'Send a JSON object such as {"queries": ["8.8.8.8", "example.com"]}.'
REQUEST_TOO_LARGE_MESSAGE = "The request body is too large."
THROTTLED_MESSAGE = "Too many requests. Try again in {seconds} seconds."
OVER_RATE_LIMIT_MESSAGE = (
    "This request costs {cost} units of the rate limit at once, which allows {limit} in {window} seconds: "
    "send fewer queries per request (an address costs 1, a name {name_cost})."
)
METHOD_NOT_ALLOWED_MESSAGE = 'Method "{method}" not allowed.'
FIELD_NOT_FOUND_MESSAGE = "The GeoIP database has no {field} for {address}."
INVALID_PREFIX_MESSAGE = "Enter a network in CIDR form, such as 81.2.0.0/16 or 2a02:ec80::/32."
PREFIX_HOST_BITS_MESSAGE = "{given} has host bits set: the network it is in is {network}."
PREFIX_START_MESSAGE = "start must be an address inside {prefix} (take it from the answer's next link)."
NETWORKS_LIMIT_MESSAGE = "limit must be a whole number from 1 to {maximum}."
INVALID_ASN_MESSAGE = "Enter an AS number from 0 to 4294967295, such as 20712 or AS20712."
ASN_DATABASE_MISSING_MESSAGE = "No ASN database is installed, so the networks of an AS cannot be listed."
ASN_INDEX_MISSING_MESSAGE = (
    "The networks of the installed ASN database have not been indexed yet, so they cannot be listed. "
    "Try again later."
)
UNKNOWN_FIELDS_MESSAGE = "fields names no such field: {given}. The fields are: {fields}."
UNKNOWN_FORMAT_MESSAGE = "format must be exactly one of {formats}, not {given}."
COMPARISON_NOT_CONFIGURED_MESSAGE = (
    "This service has one GeoIP City database, so there is nothing to compare it with "
    "(its operator sets GEOIP_CITY_ALTERNATIVE to offer a comparison)."
)
ALTERNATIVE_UNAVAILABLE_MESSAGE = "The alternative GeoIP database cannot be compared right now: {reason}"
COMPARE_FLAG_MESSAGE = "compare must be 1 or 0, not {given}."
RDNS_FLAG_MESSAGE = "rdns must be 1 or 0, not {given}."
RDNS_BATCH_MESSAGE = (
    "A batch takes no rdns=1: reverse names are looked up one address at a time, "
    "with /api/v1/lookup/<address>?rdns=1."
)


class LookupFailed(Exception):
    code = "lookup_failed"
    status = HTTPStatus.BAD_REQUEST

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidQuery(LookupFailed):
    code = "invalid_query"
    status = HTTPStatus.BAD_REQUEST


class AddressNotPublic(LookupFailed):
    code = "address_not_public"
    status = HTTPStatus.BAD_REQUEST


class NameNotResolved(LookupFailed):
    code = "name_not_resolved"
    status = HTTPStatus.NOT_FOUND


class DNSUnavailable(LookupFailed):
    code = "dns_unavailable"
    status = HTTPStatus.SERVICE_UNAVAILABLE


class DNSBusy(LookupFailed):
    """Over the limits on concurrent name resolution (lookups.core.dns_limits): not a DNS answer."""

    code = "dns_busy"
    status = HTTPStatus.SERVICE_UNAVAILABLE


class AddressNotFound(LookupFailed):
    code = "address_not_found"
    status = HTTPStatus.NOT_FOUND


class FieldNotFound(LookupFailed):
    """The record has no value for the one field asked for (the plain-text answers)."""

    code = "field_not_found"
    status = HTTPStatus.NOT_FOUND


class DatabaseUnavailable(LookupFailed):
    code = "database_unavailable"
    status = HTTPStatus.SERVICE_UNAVAILABLE


class BatchTooLarge(LookupFailed):
    code = "batch_too_large"
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class InvalidBatch(LookupFailed):
    code = "invalid_batch"
    status = HTTPStatus.BAD_REQUEST


class TooManyNames(LookupFailed):
    """A batch entry beyond LOOKUP_BATCH_MAX_NAMES domain names (never an HTTP status of its own)."""

    code = "too_many_names"
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class HistoryUnavailable(LookupFailed):
    """Neither PostgreSQL nor the local spool can keep the lookup: it is not answered."""

    code = "history_unavailable"
    status = HTTPStatus.SERVICE_UNAVAILABLE


class Throttled(LookupFailed):
    """Too many lookups from one client address or API key (lookups.web.throttling)."""

    code = "throttled"
    status = HTTPStatus.TOO_MANY_REQUESTS

    def __init__(self, seconds: int):
        super().__init__(THROTTLED_MESSAGE.format(seconds=seconds))
        self.seconds = seconds


class RequestTooLarge(LookupFailed):
    code = "request_too_large"
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class UnknownFormat(LookupFailed):
    """`?format=` empty, repeated or naming no format the endpoint has."""

    code = "unknown_format"
    status = HTTPStatus.BAD_REQUEST


class UnknownFields(LookupFailed):
    """`?fields=` empty or naming a path a lookup's body does not have."""

    code = "unknown_fields"
    status = HTTPStatus.BAD_REQUEST


class InvalidPrefix(LookupFailed):
    """A networks query whose prefix (or start) cannot be understood."""

    code = "invalid_prefix"
    status = HTTPStatus.BAD_REQUEST


class InvalidAsn(LookupFailed):
    code = "invalid_asn"
    status = HTTPStatus.BAD_REQUEST


class AsnDatabaseMissing(LookupFailed):
    """No ASN database here (it is optional): there are no AS networks to list."""

    code = "asn_database_missing"
    status = HTTPStatus.NOT_FOUND


class AsnIndexUnavailable(LookupFailed):
    """An ASN database without its index (put in place without update_maxmind)."""

    code = "asn_index_unavailable"
    status = HTTPStatus.SERVICE_UNAVAILABLE


class InvalidLimit(LookupFailed):
    code = "invalid_limit"


class ComparisonNotConfigured(LookupFailed):
    """A comparison asked of a service with no GEOIP_CITY_ALTERNATIVE: a setting, not an outage
    (retrying will not help), hence 409 rather than 503."""

    code = "comparison_not_configured"
    status = HTTPStatus.CONFLICT


class InvalidCompareFlag(LookupFailed):
    code = "invalid_compare"
    status = HTTPStatus.BAD_REQUEST


class InvalidRdnsFlag(LookupFailed):
    code = "invalid_rdns"
    status = HTTPStatus.BAD_REQUEST


class RdnsNotSupported(LookupFailed):
    code = "rdns_not_supported"
    status = HTTPStatus.BAD_REQUEST


class InvalidHistoryFilter(LookupFailed):
    code = "invalid_filter"
    status = HTTPStatus.BAD_REQUEST


class InvalidCursor(LookupFailed):
    code = "invalid_cursor"
    status = HTTPStatus.BAD_REQUEST


# --- The web service's credentials (lookups.web.credentials) ---------------------------------------
# Not lookup failures: a request refused for its credentials is not a lookup, so it is not
# recorded in the history. lookups.web.webservice maps both families to MaxMind's codes.

ACCOUNT_ID_REQUIRED_MESSAGE = (
    "Send your account ID and licence key with HTTP basic authentication (account ID as the user name)."
)
LICENSE_KEY_REQUIRED_MESSAGE = "Send your licence key as the HTTP basic authentication password."
AUTHORIZATION_MALFORMED_MESSAGE = (
    "The Authorization header must be HTTP basic authentication with a numeric account ID."
)
ACCOUNT_ID_UNKNOWN_MESSAGE = "No API key has the account ID {account_id}."
AUTHORIZATION_INVALID_MESSAGE = "The licence key does not match the account ID."
KEY_REVOKED_MESSAGE = "This licence key has been revoked."
OUT_OF_QUERIES_MESSAGE = (
    "This key has used all {quota} of its lookups for today; the count starts again at 00:00 UTC."
)
PERMISSION_REQUIRED_MESSAGE = "This service offers the City and Country web services, not {service}."
ADDRESSES_ONLY_MESSAGE = "The web service looks up IP addresses only, not domain names such as {name}."


class CredentialsRejected(Exception):
    code = "credentials_rejected"
    status = HTTPStatus.UNAUTHORIZED

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class AccountIdRequired(CredentialsRejected):
    code = "account_id_required"


class LicenseKeyRequired(CredentialsRejected):
    code = "license_key_required"


class AccountIdUnknown(CredentialsRejected):
    code = "account_id_unknown"


class AuthorizationInvalid(CredentialsRejected):
    code = "authorization_invalid"


class OutOfQueries(CredentialsRejected):
    code = "out_of_queries"
    status = HTTPStatus.PAYMENT_REQUIRED


class PermissionRequired(CredentialsRejected):
    code = "permission_required"
    status = HTTPStatus.FORBIDDEN
