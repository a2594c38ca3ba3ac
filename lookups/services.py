"""Lookup orchestration: query -> addresses -> GeoIP record -> time zone -> result -> history.

Plain functions with keyword-only collaborators: the resolver (DNS) and the reader (the
database file) have production defaults and can be replaced by tests with real local ones.
"""

import functools
import ipaddress
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from lookups import history
from lookups.core.geoip import DatabaseInfo, GeoIPReader, city_reader
from lookups.core.geoip import asn_reader as default_asn_reader
from lookups.core.resolver import (
    IPAddress,
    PrefetchedResolver,
    Resolver,
    default_resolver,
    parse_query,
    resolve_many,
)
from lookups.errors import (
    ADDRESS_NOT_FOUND_MESSAGE,
    ADDRESS_NOT_PUBLIC_MESSAGE,
    BATCH_TOO_LARGE_MESSAGE,
    NAME_NOT_PUBLIC_MESSAGE,
    TOO_MANY_NAMES_MESSAGE,
    AddressNotFound,
    AddressNotPublic,
    BatchTooLarge,
    DatabaseUnavailable,
    LookupFailed,
    TooManyNames,
)
from lookups.models import TimeZoneSource
from timezones.selectors import timezone_at

logger = logging.getLogger(__name__)

# Beyond what `is_global` already excludes: multicast ("global" for ff0e::/16, but never a
# host) and the local-use NAT64 prefix of RFC 8215, which Python 3.11 still calls global.
_EXTRA_NOT_PUBLIC = (
    ipaddress.ip_network("ff00::/8"),
    ipaddress.ip_network("224.0.0.0/4"),
    ipaddress.ip_network("64:ff9b:1::/48"),
)


@dataclass(frozen=True)
class Place:
    """A continent, country, subdivision or city: a code (when it has one) and names by language."""

    code: str | None
    names: Mapping[str, str]
    geoname_id: int | None = None

    def name(self, language: str) -> str | None:
        return self.names.get(language) or self.names.get("en")


@dataclass(frozen=True)
class LookupResult:
    query: str  # as the person typed it, without surrounding spaces
    name: str | None  # the domain name in ASCII (punycode) form, None for an address
    ip_address: str
    addresses: tuple[str, ...]
    network: str | None
    continent: Place | None
    country: Place | None
    registered_country: Place | None
    subdivisions: tuple[Place, ...]
    city: Place | None
    postal_code: str | None
    latitude: float | None
    longitude: float | None
    accuracy_radius: int | None
    time_zone: str | None
    time_zone_source: str | None
    database: DatabaseInfo
    # The database's own record, with the time zone filled in when it came from tz_world.
    record: Mapping[str, Any] = field(repr=False)
    # From the optional ASN database (GEOIP_ASN); None when it is not installed or has no record.
    autonomous_system_number: int | None = None
    autonomous_system_organization: str | None = None


@functools.lru_cache(maxsize=65536)  # ipaddress walks a dozen networks for is_global
def is_public(address: IPAddress) -> bool:
    if not address.is_global:
        return False
    return not any(address in network for network in _EXTRA_NOT_PUBLIC if network.version == address.version)


def _place(data: Mapping[str, Any] | None, code_key: str | None) -> Place | None:
    if not data:
        return None
    return Place(
        code=data.get(code_key) if code_key else None,
        names=data.get("names") or {},
        geoname_id=data.get("geoname_id"),
    )


def resolve_addresses(
    query: str, *, resolver: Resolver | None = None
) -> tuple[str | None, IPAddress, tuple[str, ...]]:
    """(ASCII domain name or None, address to geolocate, every public address) for a query.

    Raises InvalidQuery, NameNotResolved, DNSUnavailable or AddressNotPublic. For a name, only
    public addresses are reported: what internal names resolve to is never revealed.
    """
    parsed = parse_query(query)
    if parsed.address is not None:
        if not is_public(parsed.address):
            raise AddressNotPublic(ADDRESS_NOT_PUBLIC_MESSAGE.format(subject=str(parsed.address)))
        return None, parsed.address, (str(parsed.address),)
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


def geolocate(
    query: str,
    *,
    resolver: Resolver | None = None,
    reader: GeoIPReader | None = None,
    asn_reader: GeoIPReader | None = None,
) -> LookupResult:
    """Look a query up, without recording it. Raises a LookupFailed subclass."""
    reader = reader or city_reader()
    # Fail on a missing database before spending a DNS round trip.
    reader.info()
    name, address, addresses = resolve_addresses(query, resolver=resolver)
    record, network, info = reader.get(address)
    if record is None:
        raise AddressNotFound(ADDRESS_NOT_FOUND_MESSAGE.format(address=address))
    return build_result(
        query.strip(),
        name,
        address,
        addresses,
        record,
        network,
        info,
        autonomous_system=autonomous_system(address, reader=asn_reader),
    )


def build_result(
    query: str,
    name: str | None,
    address: IPAddress,
    addresses: tuple[str, ...],
    record: Mapping[str, Any],
    network: str | None,
    info: DatabaseInfo,
    *,
    autonomous_system: tuple[int | None, str | None] = (None, None),
) -> LookupResult:
    location = record.get("location") or {}
    latitude, longitude = location.get("latitude"), location.get("longitude")
    time_zone, source = location.get("time_zone"), None
    if time_zone:
        source = TimeZoneSource.MAXMIND.value
    elif latitude is not None and longitude is not None:
        time_zone = timezone_at(longitude=longitude, latitude=latitude)
        if time_zone:
            source = TimeZoneSource.TZ_WORLD.value
            record = {**record, "location": {**location, "time_zone": time_zone}}
    return LookupResult(
        query=query,
        name=name,
        ip_address=str(address),
        addresses=addresses,
        network=network,
        continent=_place(record.get("continent"), "code"),
        country=_place(record.get("country"), "iso_code"),
        registered_country=_place(record.get("registered_country"), "iso_code"),
        subdivisions=tuple(
            _place(subdivision, "iso_code") for subdivision in record.get("subdivisions") or ()
        ),
        city=_place(record.get("city"), None),
        postal_code=(record.get("postal") or {}).get("code"),
        latitude=latitude,
        longitude=longitude,
        accuracy_radius=location.get("accuracy_radius"),
        time_zone=time_zone or None,
        time_zone_source=source,
        database=info,
        record=record,
        autonomous_system_number=autonomous_system[0],
        autonomous_system_organization=autonomous_system[1],
    )


# --- History ----------------------------------------------------------------------------------


def anonymise_address(address: str | None, *, mode: str | None = None) -> str | None:
    """The requester's address as the history keeps it: /24 or /48 network, whole, or nothing."""
    mode = mode or settings.LOOKUP_REQUESTER_ADDRESS
    if not address or mode == "none":
        return None
    return _anonymised(address, mode == "full")


@functools.lru_cache(maxsize=4096)  # the same clients ask again and again
def _anonymised(address: str, keep_whole: bool) -> str | None:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return None
    if keep_whole:
        return str(parsed)
    if parsed.version == 4:
        return str(ipaddress.IPv4Address(int(parsed) & ~0xFF))
    return str(ipaddress.IPv6Address(int(parsed) & ~((1 << 80) - 1)))


def history_row(
    query: str,
    outcome: LookupResult | LookupFailed,
    *,
    channel: str,
    requester: str | None,
    api_key_id: int | None = None,
) -> history.HistoryRow:
    """The history row (a plain dict, see lookups.history) for a result or a failure."""
    # PostgreSQL text cannot hold NUL: keep a visible stand-in rather than lose the row.
    stored_query = query.strip()[:255].replace("\x00", "\ufffd")
    row = history.new_row(
        query=stored_query, channel=channel, requester=anonymise_address(requester), api_key_id=api_key_id
    )
    if isinstance(outcome, LookupFailed):
        row["outcome"] = outcome.code
        return row
    result = outcome
    row["addresses"] = list(result.addresses)
    row["ip_address"] = result.ip_address
    row["network"] = result.network or ""
    row["continent_code"] = (result.continent and result.continent.code) or ""
    if result.country:
        row["country_code"] = result.country.code or ""
        row["country_name"] = (result.country.name("en") or "")[:100]
    if result.subdivisions:
        row["subdivision_code"] = (result.subdivisions[0].code or "")[:8]
        row["subdivision_name"] = (result.subdivisions[0].name("en") or "")[:100]
    if result.city:
        row["city"] = (result.city.name("en") or "")[:100]
    row["postal_code"] = (result.postal_code or "")[:20]
    if result.latitude is not None and result.longitude is not None:
        row["location"] = (result.longitude, result.latitude)
    row["accuracy_radius"] = result.accuracy_radius
    row["time_zone"] = result.time_zone or ""
    row["time_zone_source"] = result.time_zone_source or ""
    row["database_edition"] = result.database.edition
    row["database_build_date"] = result.database.build_date
    return row


def lookup(
    query: str,
    *,
    channel: str,
    requester: str | None = None,
    api_key_id: int | None = None,
    resolver: Resolver | None = None,
    reader: GeoIPReader | None = None,
) -> LookupResult:
    """Geolocate a query and record it in the history, whether it succeeds or fails.

    `api_key_id`: the web-service key that asked, kept in the history row.
    """
    try:
        result = geolocate(query, resolver=resolver, reader=reader)
    except LookupFailed as error:
        history.record(
            [history_row(query, error, channel=channel, requester=requester, api_key_id=api_key_id)]
        )
        raise
    history.record([history_row(query, result, channel=channel, requester=requester, api_key_id=api_key_id)])
    return result


def lookup_batch(
    queries: Iterable[str],
    *,
    channel: str,
    requester: str | None = None,
    resolver: Resolver | None = None,
    reader: GeoIPReader | None = None,
    limit: int | None = None,
) -> list[LookupResult | LookupFailed]:
    """Geolocate many queries; answers in the same order, each a result or its error.

    A query repeated in the batch is looked up (and recorded) once. History rows are written
    with one INSERT for the whole batch.
    """
    queries = list(queries)
    limit = settings.LOOKUP_BATCH_MAX if limit is None else limit
    if len(queries) > limit:
        raise BatchTooLarge(BATCH_TOO_LARGE_MESSAGE.format(limit=limit, count=len(queries)))
    reader = reader or city_reader()
    try:
        reader.info()
    except LookupFailed:
        pass  # every entry fails on the database before asking DNS anything
    else:
        resolver = resolve_batch_names(queries, resolver=resolver)
    answers: dict[str, LookupResult | LookupFailed] = {}
    rows = []
    for query in queries:
        key = query.strip().lower() if isinstance(query, str) else repr(query)
        if key in answers:
            continue
        try:
            answer: LookupResult | LookupFailed = geolocate(query, resolver=resolver, reader=reader)
        except LookupFailed as error:
            answer = error
        answers[key] = answer
        text = query if isinstance(query, str) else repr(query)
        rows.append(history_row(text, answer, channel=channel, requester=requester))
    history.record(rows)
    return [answers[q.strip().lower() if isinstance(q, str) else repr(q)] for q in queries]


def resolve_batch_names(queries: list[str], *, resolver: Resolver | None) -> PrefetchedResolver:
    """Resolve a batch's names up front: concurrently, within LOOKUP_BATCH_DNS_DEADLINE, and at
    most LOOKUP_BATCH_MAX_NAMES of them (the others answer TooManyNames without a DNS query)."""
    names = []
    for query in queries:
        try:
            parsed = parse_query(query)
        except LookupFailed:
            continue
        if parsed.name is not None:
            names.append(parsed.name)
    names = list(dict.fromkeys(names))
    limit = settings.LOOKUP_BATCH_MAX_NAMES
    answers = resolve_many(
        names[:limit],
        resolver=resolver or default_resolver(),
        workers=settings.LOOKUP_BATCH_DNS_WORKERS,
        deadline=settings.LOOKUP_BATCH_DNS_DEADLINE,
    )
    too_many = TooManyNames(TOO_MANY_NAMES_MESSAGE.format(limit=limit))
    answers.update(dict.fromkeys(names[limit:], too_many))
    return PrefetchedResolver(answers)
