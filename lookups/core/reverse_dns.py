"""Reverse DNS, asked for per lookup (`?rdns=1`): an address's PTR name, checked forward.

A name is `verified` only when it resolves back (A for IPv4, AAAA for IPv6) to the address: anyone
may write any PTR for their own addresses. What the name resolves to is never told, only whether it
includes the address, so an internal name shows no internal address.

The lookup never fails or waits for it beyond RDNS_TIMEOUT (the PTR query and the forward checks
together), and it never ties a worker up: it takes a DNS slot of this machine and of the client
(lookups.core.dns_limits) without waiting, and counts as a request thread waiting on DNS; when any
of them is taken the answer is `busy` at once. Answers are kept in Django's cache (Redis with
REDIS_URL, shared by every worker and instance, else each worker's own): a miss costs one budgeted
query, so sharing is a saving, not a correctness matter, and the cache is what the service already
shares that way. Complete answers (ok, none, invalid) are kept RDNS_CACHE_TTL seconds, failed ones
(timeout, error) DNS_NEGATIVE_TTL, busy never.
"""

import ipaddress
import logging
import time
from dataclasses import dataclass

import dns.exception
import dns.resolver
import dns.reversename
from django.conf import settings
from django.core.cache import cache

from lookups.cooldown import Cooldown
from lookups.core import dns_limits
from lookups.core.resolver import Resolver, default_resolver, normalise_name
from lookups.errors import DNSBusy, InvalidQuery
from lookups.metrics.instruments import count_reverse_dns

logger = logging.getLogger(__name__)

OK = "ok"  # a name: `verified` says whether it resolves back to the address
NONE = "none"  # no PTR record (NXDOMAIN, or a name without PTR)
INVALID = "invalid"  # PTR records, none of them a host name (not shown)
# With TIMEOUT and ERROR, the name when the PTR came but its forward check did not.
TIMEOUT = "timeout"  # no complete answer within RDNS_TIMEOUT
ERROR = "error"  # the name servers failed (SERVFAIL, REFUSED)
BUSY = "busy"  # no DNS slot free for it: not asked
STATUSES = (OK, NONE, INVALID, TIMEOUT, ERROR, BUSY)

# At most this many of an address's PTR names are checked forward, the first verified one shown.
MAX_NAMES_CHECKED = 3
_CACHE_PREFIX = "easygeoip:rdns:"


@dataclass(frozen=True, slots=True)
class ReverseName:
    status: str
    name: str | None = None  # ASCII, without the final dot
    verified: bool = False


def reverse_name(
    address: str, *, client: str | None, resolver: Resolver | None = None, timeout: float | None = None
) -> ReverseName:
    """`address`'s reverse name, within `timeout` seconds (RDNS_TIMEOUT), never raising."""
    cached = _cached(address)
    if cached is not None:
        count_reverse_dns(cached.status, cached=True)
        return cached
    budget = settings.RDNS_TIMEOUT if timeout is None else timeout
    try:
        with dns_limits.request_thread_in_dns(), dns_limits.slots(client):
            answer = _ask(ipaddress.ip_address(address), resolver or default_resolver(), budget)
    except DNSBusy:
        count_reverse_dns(BUSY, cached=False)
        return ReverseName(BUSY)
    count_reverse_dns(answer.status, cached=False)
    _remember(address, answer)
    return answer


def _ask(address, resolver: Resolver, budget: float) -> ReverseName:
    deadline = time.monotonic() + budget
    try:
        pointers = resolver.records(dns.reversename.from_address(str(address)), "PTR", timeout=budget)
    except (dns.exception.DNSException, OSError) as exc:  # an answer here, never the lookup's error
        return ReverseName(_failure(exc))
    names = list(dict.fromkeys(name for name in map(_host_name, pointers) if name))
    if not names:
        return ReverseName(INVALID)
    rdtype = "A" if address.version == 4 else "AAAA"
    for name in names[:MAX_NAMES_CHECKED]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return ReverseName(TIMEOUT, names[0])
        try:
            forward = resolver.records(name, rdtype, timeout=remaining)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            continue
        except (dns.exception.DNSException, OSError) as exc:  # the name stands, unconfirmed
            return ReverseName(_failure(exc), names[0])
        if any(ipaddress.ip_address(record.address) == address for record in forward):
            return ReverseName(OK, name, verified=True)
    return ReverseName(OK, names[0])


def _failure(exc: Exception) -> str:
    if isinstance(exc, dns.resolver.NXDOMAIN | dns.resolver.NoAnswer):
        return NONE
    if isinstance(exc, dns.exception.Timeout):  # LifetimeTimeout included
        return TIMEOUT
    return ERROR


def _host_name(record) -> str | None:
    """A PTR record's target as a host name, or None when it is none (escapes, one label, ...)."""
    try:
        return normalise_name(record.target.to_text(omit_final_dot=True))
    except InvalidQuery:
        return None


# --- The cache ----------------------------------------------------------------------------------

# After the cache failed (Redis away or stalling), leave it alone for this long: each try could
# wait its socket timeouts (settings.CACHE_REDIS_OPTIONS), on every reverse name.
cache_cooldown = Cooldown(5.0)


def _cache_usable() -> bool:
    return not cache_cooldown.resting()


def _cache_failed(what: str, exc: Exception) -> None:
    cache_cooldown.failed()
    logger.warning("Reverse DNS cache %s (left alone for %ss): %s", what, cache_cooldown.seconds, exc)


def _cached(address: str) -> ReverseName | None:
    if not _cache_usable():
        return None
    try:
        value = cache.get(_CACHE_PREFIX + address)
    except Exception as exc:  # a cache that fails is a cache that misses
        _cache_failed("unreadable", exc)
        return None
    if not isinstance(value, tuple) or len(value) != 3 or value[0] not in STATUSES:
        return None
    return ReverseName(*value)


def _remember(address: str, answer: ReverseName) -> None:
    ttl = settings.RDNS_CACHE_TTL if answer.status in (OK, NONE, INVALID) else settings.DNS_NEGATIVE_TTL
    if ttl <= 0 or not _cache_usable():
        return
    try:
        cache.set(_CACHE_PREFIX + address, (answer.status, answer.name, answer.verified), timeout=ttl)
    except Exception as exc:  # the answer stands without its copy
        _cache_failed("unwritable", exc)


def forget_cache_failure() -> None:
    """Use the cache again at once (tests: each has a cache of its own)."""
    cache_cooldown.recovered()
