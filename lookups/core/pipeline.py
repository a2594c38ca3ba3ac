"""The one lookup pipeline: query -> addresses -> GeoIP record -> time zone -> AS -> LookupResult.

Every channel (the pages, the JSON API single and batch, MaxMind's web service, the batch page)
calls `lookup` or `lookup_batch` and renders the LookupResult it gets. This is also the one place
made fast: a batch opens the databases once, resolves its names up front and concurrently, and
builds each answer around the maxminddb record without copying it into objects (lookups.core.answer).

Collaborators are keyword-only with production defaults: the resolver (DNS) and the readers
(the database files), which tests replace with real local ones.
"""

import collections
import contextlib
import dataclasses
import functools
import gc
import ipaddress
import logging
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.utils import timezone

from lookups import history
from lookups.core import dns_limits, reverse_dns
from lookups.core.answer import LookupResult
from lookups.core.comparison import Comparison
from lookups.core.geoip import GeoIPReader, city_reader
from lookups.core.geoip import alternative_reader as default_alternative_reader
from lookups.core.geoip import asn_reader as default_asn_reader
from lookups.core.history_row import history_row
from lookups.core.resolver import (
    IPAddress,
    PrefetchedResolver,
    Query,
    Resolver,
    default_resolver,
    parse_query,
    resolve_many,
)
from lookups.errors import (
    ADDRESS_NOT_FOUND_MESSAGE,
    ADDRESS_NOT_PUBLIC_MESSAGE,
    ALTERNATIVE_UNAVAILABLE_MESSAGE,
    BATCH_TOO_LARGE_MESSAGE,
    COMPARISON_NOT_CONFIGURED_MESSAGE,
    NAME_NOT_PUBLIC_MESSAGE,
    TOO_MANY_NAMES_MESSAGE,
    AddressNotFound,
    AddressNotPublic,
    BatchTooLarge,
    ComparisonNotConfigured,
    DatabaseUnavailable,
    DNSBusy,
    LookupFailed,
    TooManyNames,
)
from lookups.metrics.instruments import count_lookup, count_lookups
from lookups.models import OUTCOME_OK, TimeZoneSource
from timezones.selectors import timezone_at

logger = logging.getLogger(__name__)

_MAXMIND = TimeZoneSource.MAXMIND.value
_TZ_WORLD = TimeZoneSource.TZ_WORLD.value

# Beyond what `is_global` already excludes: multicast ("global" for ff0e::/16, but never a
# host) and the local-use NAT64 prefix of RFC 8215, which Python 3.11 still calls global.
_EXTRA_NOT_PUBLIC = (
    ipaddress.ip_network("ff00::/8"),
    ipaddress.ip_network("224.0.0.0/4"),
    ipaddress.ip_network("64:ff9b:1::/48"),
)


@functools.lru_cache(maxsize=65536)  # ipaddress walks a dozen networks for is_global
def is_public(address: IPAddress) -> bool:
    if not address.is_global:
        return False
    return not any(address in network for network in _EXTRA_NOT_PUBLIC if network.version == address.version)


def resolve_addresses(
    query: str | Query, *, resolver: Resolver | None = None
) -> tuple[str | None, IPAddress, tuple[str, ...]]:
    """(ASCII domain name or None, address to geolocate, every public address) for a query.

    Raises InvalidQuery, NameNotResolved, DNSUnavailable or AddressNotPublic. For a name, only
    public addresses are reported: what internal names resolve to is never revealed.
    """
    parsed = query if isinstance(query, Query) else parse_query(query)
    if parsed.address is not None:
        if not is_public(parsed.address):
            raise AddressNotPublic(ADDRESS_NOT_PUBLIC_MESSAGE.format(subject=str(parsed.address)))
        return None, parsed.address, ()
    resolved = (resolver or default_resolver()).resolve(parsed.name)
    public = []
    for text in resolved:
        address = ipaddress.ip_address(text)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if is_public(address):
            public.append(address)
    if not public:
        raise AddressNotPublic(NAME_NOT_PUBLIC_MESSAGE.format(name=parsed.name))
    return parsed.name, public[0], tuple(str(address) for address in public)


def autonomous_system(
    address: IPAddress, *, reader: GeoIPReader | None = None
) -> tuple[int | None, str | None]:
    """(AS number, AS organisation) from the ASN database; (None, None) when it has no answer."""
    reader = reader or default_asn_reader()
    if not reader.is_available():
        return None, None  # the ASN database is optional
    try:
        record, _, _ = reader.get(address)
    except DatabaseUnavailable:
        return None, None  # replaced by a broken file a moment ago
    if not record:
        return None, None
    return record.get("autonomous_system_number"), record.get("autonomous_system_organization")


def with_time_zone(record: dict[str, Any]) -> tuple[dict[str, Any], str | None, str | None]:
    """(record, time zone, its source): the record's own zone, else the tz_world polygon's that
    holds its coordinates (then filled into a copy of the record), else None."""
    location = record.get("location") or {}
    time_zone = location.get("time_zone")
    if time_zone:
        return record, time_zone, _MAXMIND
    latitude, longitude = location.get("latitude"), location.get("longitude")
    if latitude is not None and longitude is not None:
        time_zone = timezone_at(longitude=longitude, latitude=latitude)
        if time_zone:
            return {**record, "location": {**location, "time_zone": time_zone}}, time_zone, _TZ_WORLD
    return record, None, None


def answer(
    query: str,
    parsed: Query,
    *,
    resolver: Resolver | None = None,
    reader: GeoIPReader | None = None,
    asn_reader: GeoIPReader | None = None,
) -> LookupResult:
    """Geolocate one parsed query (`query` as typed): the pipeline's one path, for single lookups
    and batches alike. Raises a LookupFailed subclass."""
    name, address, addresses = resolve_addresses(parsed, resolver=resolver)
    record, network, info = (reader or city_reader()).get(address)
    if record is None:
        raise AddressNotFound(ADDRESS_NOT_FOUND_MESSAGE.format(address=address))
    record, time_zone, source = with_time_zone(record)
    asn_number, asn_organization = autonomous_system(address, reader=asn_reader)
    ip_address = str(address)
    return LookupResult(
        query=query.strip(),
        name=name,
        ip_address=ip_address,
        addresses=addresses or (ip_address,),
        network=network,
        time_zone=time_zone or None,
        time_zone_source=source,
        database=info,
        record=record,
        autonomous_system_number=asn_number,
        autonomous_system_organization=asn_organization,
    )


def geolocate(
    query: str,
    *,
    resolver: Resolver | None = None,
    reader: GeoIPReader | None = None,
    asn_reader: GeoIPReader | None = None,
) -> LookupResult:
    """Look a query up, without recording it. Raises a LookupFailed subclass."""
    reader = reader or city_reader()
    reader.info()  # fail on a missing database before spending a DNS round trip
    return answer(query, parse_query(query), resolver=resolver, reader=reader, asn_reader=asn_reader)


def lookup(
    query: str,
    *,
    channel: str,
    requester: str | None = None,
    api_key_id: int | None = None,
    resolver: Resolver | None = None,
    reader: GeoIPReader | None = None,
    with_reverse_dns: bool = False,
) -> LookupResult:
    """Geolocate a query and record it in the history, whether it succeeds or fails.

    `api_key_id`: the web-service key that asked, kept in the history row. Names are resolved
    within the limits of lookups.core.dns_limits, counted for `requester`. `with_reverse_dns`:
    the answer carries its address's reverse name (add_reverse_dns).
    """
    if resolver is None:
        resolver = dns_limits.LimitedResolver(default_resolver(), client=requester, request_thread=True)
    try:
        result = geolocate(query, resolver=resolver, reader=reader)
    except LookupFailed as error:
        history.record(
            [history_row(query, error, channel=channel, requester=requester, api_key_id=api_key_id)]
        )
        count_lookup(channel, error.code)
        raise
    history.record([history_row(query, result, channel=channel, requester=requester, api_key_id=api_key_id)])
    count_lookup(channel, OUTCOME_OK)
    return add_reverse_dns(result, client=requester) if with_reverse_dns else result


def add_reverse_dns(result: LookupResult, *, client: str | None) -> LookupResult:
    """`result` with its address's reverse name: never an error, within RDNS_TIMEOUT, counted
    against `client`'s DNS slots (lookups.core.reverse_dns)."""
    return dataclasses.replace(result, reverse_dns=reverse_dns.reverse_name(result.ip_address, client=client))


def compare(
    query: str,
    *,
    channel: str,
    requester: str | None = None,
    resolver: Resolver | None = None,
    reader: GeoIPReader | None = None,
    alternative_reader: GeoIPReader | None = None,
) -> Comparison:
    """Geolocate a query in both City databases (a name resolved once for both) and record it in
    the history as one lookup, with the first database's outcome.

    Raises ComparisonNotConfigured without GEOIP_CITY_ALTERNATIVE, DatabaseUnavailable when
    either database cannot be read, and the query's own errors (invalid, not public, DNS); an
    address one database does not know is that database's AddressNotFound in the Comparison.
    """
    alternative_reader = _alternative(alternative_reader)
    reader = reader or city_reader()
    try:
        reader.info()
        _alternative_info(alternative_reader)
        parsed = parse_query(query)
        if parsed.name is not None:
            resolver = _resolved_once(parsed.name, resolver or default_resolver())
        primary = _answer_or_not_found(query, parsed, resolver=resolver, reader=reader)
        alternative = _answer_or_not_found(query, parsed, resolver=resolver, reader=alternative_reader)
    except LookupFailed as error:
        history.record([history_row(query, error, channel=channel, requester=requester)])
        count_lookup(channel, error.code)
        raise
    history.record([history_row(query, primary, channel=channel, requester=requester)])
    count_lookup(channel, primary.code if isinstance(primary, LookupFailed) else OUTCOME_OK)
    return Comparison(primary=primary, alternative=alternative)


def _alternative(reader: GeoIPReader | None) -> GeoIPReader:
    reader = reader or default_alternative_reader()
    if reader is None:
        raise ComparisonNotConfigured(COMPARISON_NOT_CONFIGURED_MESSAGE)
    return reader


def _alternative_info(reader: GeoIPReader) -> None:
    """Raise DatabaseUnavailable, saying it is the alternative, when it cannot be read."""
    try:
        reader.info()
    except DatabaseUnavailable as error:
        raise DatabaseUnavailable(ALTERNATIVE_UNAVAILABLE_MESSAGE.format(reason=error.message)) from None


def _resolved_once(name: str, resolver: Resolver) -> PrefetchedResolver:
    """Both databases are asked about the same addresses, the DNS once."""
    try:
        addresses: list[str] | LookupFailed = resolver.resolve(name)
    except LookupFailed as error:
        addresses = error
    return PrefetchedResolver({name: addresses})


def _answer_or_not_found(query: str, parsed: Query, **collaborators) -> LookupResult | AddressNotFound:
    try:
        return answer(query, parsed, **collaborators)
    except AddressNotFound as error:
        return error


def _batch_key(query: Any) -> str:
    """Which queries of a batch are one lookup: the same text, spaces and case aside."""
    return query.strip().lower() if isinstance(query, str) else repr(query)


def lookup_batch(
    queries: Iterable[str],
    *,
    channel: str,
    requester: str | None = None,
    resolver: Resolver | None = None,
    reader: GeoIPReader | None = None,
    limit: int | None = None,
) -> list[LookupResult | LookupFailed]:
    """Geolocate many queries and record them; answers in the same order, each a result or its
    error. A query repeated in the batch is looked up (and recorded) once. Raises BatchTooLarge
    or HistoryUnavailable."""
    queries = _within_limit(queries, limit)
    with garbage_collection_paused():
        answers = _lookup_batch(
            queries, channel=channel, requester=requester, resolver=resolver, reader=reader
        )
    return [primary for primary, _ in answers]


def _within_limit(queries: Iterable[str], limit: int | None) -> list[str]:
    queries = list(queries)
    limit = settings.LOOKUP_BATCH_MAX if limit is None else limit
    if len(queries) > limit:
        raise BatchTooLarge(BATCH_TOO_LARGE_MESSAGE.format(limit=limit, count=len(queries)))
    return queries


def compare_batch(
    queries: Iterable[str],
    *,
    channel: str,
    requester: str | None = None,
    resolver: Resolver | None = None,
    reader: GeoIPReader | None = None,
    alternative_reader: GeoIPReader | None = None,
    limit: int | None = None,
) -> list[Comparison]:
    """lookup_batch, each query also looked up in the alternative City database (recorded once,
    with the first database's outcome). Raises ComparisonNotConfigured, or DatabaseUnavailable
    when the alternative cannot be read, before anything is looked up."""
    queries = _within_limit(queries, limit)
    alternative_reader = _alternative(alternative_reader)
    _alternative_info(alternative_reader)
    with garbage_collection_paused():
        answers = _lookup_batch(
            queries,
            channel=channel,
            requester=requester,
            resolver=resolver,
            reader=reader,
            alternative_reader=alternative_reader,
        )
    return [Comparison(primary=primary, alternative=alternative) for primary, alternative in answers]


def _lookup_batch(
    queries: list[str],
    *,
    channel: str,
    requester: str | None,
    resolver: Resolver | None,
    reader: GeoIPReader | None,
    alternative_reader: GeoIPReader | None = None,
) -> list[tuple[LookupResult | LookupFailed, LookupResult | LookupFailed | None]]:
    """Each query's (answer, alternative database's answer, None without alternative_reader)."""
    # Each distinct query parsed once (an InvalidQuery kept as its answer).
    firsts: dict[str, tuple[str, Query | LookupFailed]] = {}
    keys = []
    for query in queries:
        key = _batch_key(query)
        keys.append(key)
        if key not in firsts:
            try:
                firsts[key] = (query, parse_query(query))
            except LookupFailed as error:
                firsts[key] = (query, error)
    reader = reader or city_reader()
    asn_reader = default_asn_reader()
    try:
        reader.info()
    except LookupFailed as error:
        unavailable: LookupFailed | None = error  # every entry fails on it, before asking DNS anything
    else:
        unavailable = None
        names = [parsed.name for _, parsed in firsts.values() if isinstance(parsed, Query) and parsed.name]
        resolver = resolve_batch_names(names, resolver=resolver, client=requester)
    # One time for the batch's rows: timezone.now() a row was a tenth of a row's cost.
    created_at = timezone.now()
    answers: dict[str, tuple[LookupResult | LookupFailed, LookupResult | LookupFailed | None]] = {}
    rows = []
    outcomes: collections.Counter = collections.Counter()
    for key, (query, parsed) in firsts.items():
        if unavailable is not None:
            outcome: LookupResult | LookupFailed = DatabaseUnavailable(unavailable.message)
        elif isinstance(parsed, LookupFailed):
            outcome = parsed
        else:
            try:
                outcome = answer(query, parsed, resolver=resolver, reader=reader, asn_reader=asn_reader)
            except LookupFailed as error:
                outcome = error
        alternative = None
        if alternative_reader is not None:
            alternative = outcome
            # Only where the query itself was answerable: its own errors are the same for both.
            if isinstance(outcome, LookupResult | AddressNotFound):
                try:
                    alternative = answer(
                        query, parsed, resolver=resolver, reader=alternative_reader, asn_reader=asn_reader
                    )
                except LookupFailed as error:
                    alternative = error
        answers[key] = (outcome, alternative)
        outcomes[outcome.code if isinstance(outcome, LookupFailed) else OUTCOME_OK] += 1
        text = query if isinstance(query, str) else repr(query)
        rows.append(history_row(text, outcome, channel=channel, requester=requester, created_at=created_at))
    history.record(rows)
    count_lookups(channel, outcomes)
    return [answers[key] for key in keys]


_gc_pauses = {"count": 0, "was_enabled": False}
_gc_pauses_lock = threading.Lock()


@contextlib.contextmanager
def garbage_collection_paused() -> Iterator[None]:
    """No cyclic garbage collection meanwhile (reference counting frees as usual).

    A batch allocates some 100,000 objects, none in a cycle, most alive until its end: the
    collector, triggered every 700 allocations, walked them again and again for nothing (a
    tenth of the batch's CPU). Cycles made meanwhile wait for the next collection after it.
    Counted: with gunicorn's threads, batches overlap, and the last one out switches it back on.
    """
    with _gc_pauses_lock:
        if _gc_pauses["count"] == 0:
            _gc_pauses["was_enabled"] = gc.isenabled()
            gc.disable()
        _gc_pauses["count"] += 1
    try:
        yield
    finally:
        with _gc_pauses_lock:
            _gc_pauses["count"] -= 1
            if _gc_pauses["count"] == 0 and _gc_pauses["was_enabled"]:
                gc.enable()


def resolve_batch_names(
    names: list[str], *, resolver: Resolver | None, client: str | None = None
) -> PrefetchedResolver:
    """Resolve a batch's names up front: concurrently, within LOOKUP_BATCH_DNS_DEADLINE, and at
    most LOOKUP_BATCH_MAX_NAMES of them (the others answer TooManyNames without a DNS query).
    Without a resolver, within the limits of lookups.core.dns_limits, counted for `client`."""
    names = list(dict.fromkeys(names))
    limit = settings.LOOKUP_BATCH_MAX_NAMES
    if resolver is None:
        resolver = dns_limits.LimitedResolver(default_resolver(), client=client)
    try:
        with dns_limits.request_thread_in_dns() if names else contextlib.nullcontext():
            answers = resolve_many(
                names[:limit],
                resolver=resolver,
                workers=settings.LOOKUP_BATCH_DNS_WORKERS,
                deadline=settings.LOOKUP_BATCH_DNS_DEADLINE,
            )
    except DNSBusy as busy:  # too many request threads wait on DNS: none of these names is asked
        answers = dict.fromkeys(names[:limit], busy)
    too_many = TooManyNames(TOO_MANY_NAMES_MESSAGE.format(limit=limit))
    answers.update(dict.fromkeys(names[limit:], too_many))
    return PrefetchedResolver(answers)
