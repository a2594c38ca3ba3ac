"""Rate limits that mean what they say: one count per client across every worker and instance.

The `limits` library's moving window (at most N units in any window's span) over an atomic
storage (lookups.web.throttle_storage): Redis or Valkey with REDIS_URL, else a SQLite file on this
machine. What a request costs: 1 unit per address looked up, RATE_LIMIT_NAME_COST per name (names
cost DNS work) and as much again for a reverse name (?rdns=1), a batch the sum of its queries.
Who pays: the client address (IPv6 per RATE_LIMIT_IPV6_PREFIX network, since one host usually
holds a whole /64), or for MaxMind's web service the API key. Three buckets, each with its rate:
the API's, the pages', the web service's.

When the storage cannot answer (Redis down, the file locked past STORAGE_TIMEOUT), requests are
let through unlimited and a warning logged: a rate limit must not take the service down with it.
"""

import functools
import ipaddress
import logging
import math
import os
import threading
import time
from collections.abc import Sequence

from django.conf import settings
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.strategies import MovingWindowRateLimiter
from rest_framework.throttling import BaseThrottle

from lookups.cooldown import Cooldown
from lookups.core.resolver import parse_query
from lookups.errors import OVER_RATE_LIMIT_MESSAGE, BatchTooLarge, LookupFailed, Throttled
from lookups.web.request_meta import client_address
from lookups.web.throttle_storage import DiskCacheStorage, storage_for

logger = logging.getLogger(__name__)

API, PAGES, WEBSERVICE = "api", "page", "webservice"
_RATES = {API: "API_THROTTLE_RATE", PAGES: "PAGE_THROTTLE_RATE", WEBSERVICE: "WEBSERVICE_THROTTLE_RATE"}

# Where spend() leaves the headers for RateLimitHeadersMiddleware (a WSGI environ key of our own).
RATE_LIMIT_HEADERS = "easygeoip.rate_limit_headers"

# After the storage failed, leave it alone for 5 s (each try could wait STORAGE_TIMEOUT).
storage_cooldown = Cooldown(5.0)


# --- What a request costs, and who pays ---------------------------------------------------------


def query_cost(query: object) -> int:
    """An address costs 1, a name RATE_LIMIT_NAME_COST; a query that is neither (refused before
    any work) costs 1."""
    try:
        parsed = parse_query(query)
    except LookupFailed:
        return 1
    return settings.RATE_LIMIT_NAME_COST if parsed.name else 1


def lookups_cost(queries: Sequence[object]) -> int:
    return sum(query_cost(query) for query in queries)


def client_key(address: str | None) -> str:
    """Who pays for a request from `address`: the address itself, or for IPv6 its network of
    RATE_LIMIT_IPV6_PREFIX bits ("2001:db8:1:2::/64")."""
    try:
        parsed = ipaddress.ip_address(address or "")
    except ValueError:
        return "unknown"
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, settings.RATE_LIMIT_IPV6_PREFIX), strict=False))
    return str(parsed)


# --- Spending ------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _item(rate: str) -> RateLimitItem:
    return parse(rate)  # rates are checked when settings load (config.settings.env_rate)


@functools.lru_cache(maxsize=4)
def _limiter(redis_url: str, directory: str, pid: int) -> MovingWindowRateLimiter:
    # One per process (pid): neither a Redis connection nor a SQLite one survives a fork.
    return MovingWindowRateLimiter(storage_for(redis_url=redis_url, directory=directory))


# A worker's threads must not build its limiter at once: limits' storages load their client
# library lazily, and two threads doing it together saw "redis version 0.0.0" (a 500).
_limiter_lock = threading.Lock()


def limiter() -> MovingWindowRateLimiter:
    with _limiter_lock:
        return _limiter(settings.REDIS_URL, str(settings.RATE_LIMIT_DIR), os.getpid())


def spend(request, bucket: str, payer: str, *, cost: int = 1) -> None:
    """Spend `cost` units of `payer`'s allowance in `bucket`, and note the RateLimit-* headers in
    `request` for the answer, whatever it turns out to be (RateLimitHeadersMiddleware sends them).
    Raises Throttled when fewer units are left, and BatchTooLarge when `cost` is more than the
    whole window allows."""
    rate = getattr(settings, _RATES[bucket])
    if not rate:
        return
    item = _item(rate)
    window = item.get_expiry()
    if cost > item.amount:
        raise BatchTooLarge(
            OVER_RATE_LIMIT_MESSAGE.format(
                cost=cost, limit=item.amount, window=window, name_cost=settings.RATE_LIMIT_NAME_COST
            )
        )
    if storage_cooldown.resting():
        return
    try:
        moving_window = limiter()
        allowed = moving_window.hit(item, bucket, payer, cost=cost)
        reset_at, remaining = moving_window.get_window_stats(item, bucket, payer)
    except (StorageError, *DiskCacheStorage.ERRORS) as exc:  # the latter: opening its folder
        storage_cooldown.failed()
        logger.warning("Rate limits are off for %ss: their storage failed: %s", storage_cooldown.seconds, exc)
        return
    seconds = max(1, math.ceil(reset_at - time.time()))
    # request.META, which a DRF Request shares with the HttpRequest it wraps.
    request.META[RATE_LIMIT_HEADERS] = {
        "RateLimit-Limit": str(item.amount),
        "RateLimit-Remaining": str(max(0, remaining)),
        "RateLimit-Reset": str(seconds),
        "RateLimit-Policy": f"{item.amount};w={window}",
    }
    if not allowed:
        # When the window's oldest units free; a request costing more may have to wait longer.
        raise Throttled(seconds)


def spend_on_lookups(request, queries: Sequence[object], *, bucket: str, reverse_dns: bool = False) -> None:
    """Charge the caller for looking up `queries` (one, or a batch's); a reverse name asked for
    (?rdns=1) costs RATE_LIMIT_NAME_COST more: DNS work, as a name is."""
    if not getattr(settings, _RATES[bucket]):
        return  # no limit: not even the cost to work out
    if len(queries) > settings.LOOKUP_BATCH_MAX:
        return  # refused as batch_too_large before any lookup: it costs nothing
    cost = lookups_cost(queries) + (settings.RATE_LIMIT_NAME_COST if reverse_dns else 0)
    spend(request, bucket, client_key(client_address(request)), cost=cost)


def spend_on_key(request, api_key_id: int) -> None:
    """Charge a web-service key for one lookup, whoever uses it."""
    spend(request, WEBSERVICE, f"key:{api_key_id}")


class RateLimitHeadersMiddleware:
    """Every answer to a request that spent units says where its payer stands, errors included."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        for name, value in request.META.get(RATE_LIMIT_HEADERS, {}).items():
            response[name] = value
        return response


class ClientAddressThrottle(BaseThrottle):
    """The DRF views that do not count for themselves (the schema, its docs, the history API):
    one unit of the API's bucket per request, except for signed-in staff."""

    def allow_request(self, request, view) -> bool:
        if request.user and request.user.is_authenticated:
            return True
        spend(request, API, client_key(client_address(request)))  # raises Throttled, which DRF lets through
        return True
