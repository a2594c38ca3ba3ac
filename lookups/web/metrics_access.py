"""Who may read /metrics: clients from loopback and METRICS_ALLOWED networks, or any client that
sends the bearer token METRICS_TOKEN. Plain data in (the client address as lookups.web.request_meta
resolves it through TRUSTED_PROXIES, the Authorization header), a refusal or None out."""

import functools
import hmac
import ipaddress
from dataclasses import dataclass
from http import HTTPStatus

from django.conf import settings

# Always allowed: a scraper on the same machine (or in the same container).
LOOPBACK = ("127.0.0.0/8", "::1/128")

METRICS_FORBIDDEN_MESSAGE = (
    "Metrics are open to loopback and the METRICS_ALLOWED networks only, and {address} is in neither."
)
METRICS_BEARER_REQUIRED_MESSAGE = (
    "Metrics are open to loopback and the METRICS_ALLOWED networks only, and {address} is in neither: "
    "send the metrics token as 'Authorization: Bearer <METRICS_TOKEN>'."
)
METRICS_BEARER_INVALID_MESSAGE = "The bearer token is not the metrics token (METRICS_TOKEN)."


@dataclass(frozen=True)
class Refusal:
    status: HTTPStatus
    message: str
    challenge: bool  # answer with WWW-Authenticate: Bearer


@functools.cache
def _networks(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def address_allowed(address: str | None) -> bool:
    if not address:
        return False
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    networks = _networks((*LOOPBACK, *settings.METRICS_ALLOWED))
    return any(parsed in network for network in networks if network.version == parsed.version)


def _bearer_token(authorization: str) -> str | None:
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def metrics_refusal(*, address: str | None, authorization: str) -> Refusal | None:
    """None when the client may read the metrics, else why not."""
    if address_allowed(address):
        return None
    expected = settings.METRICS_TOKEN
    if not expected:
        return Refusal(
            HTTPStatus.FORBIDDEN, METRICS_FORBIDDEN_MESSAGE.format(address=address), challenge=False
        )
    given = _bearer_token(authorization)
    if given is None:
        return Refusal(
            HTTPStatus.UNAUTHORIZED, METRICS_BEARER_REQUIRED_MESSAGE.format(address=address), challenge=True
        )
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return Refusal(HTTPStatus.UNAUTHORIZED, METRICS_BEARER_INVALID_MESSAGE, challenge=True)
    return None
