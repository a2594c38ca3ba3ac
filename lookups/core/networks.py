"""The networks of the City database inside a prefix (`GET /api/v1/networks/<prefix>`), in order,
each answered as a lookup of that network would be.

The search tree is walked network by network, never address by address: from the prefix's first
address, one lookup gives the record and the length of the network (or of the empty block) that
holds it, and the walk jumps to the address after it. A /16 costs one lookup per network or gap
in it, not 65,536 (maxminddb's own iteration has no start but the root, so it cannot skip to a
prefix). Like that iteration, the IPv4 subtree is answered once, as IPv4: its IPv6 aliases
(::ffff:0:0/96 and 2002::/16) are skipped in a wider IPv6 walk.
"""

import ipaddress
from dataclasses import dataclass

from lookups.core.answer import LookupResult
from lookups.core.geoip import DatabaseInfo, GeoIPReader, city_reader, network_text
from lookups.core.geoip import asn_reader as default_asn_reader
from lookups.core.pipeline import with_time_zone
from lookups.core.resolver import IPAddress
from lookups.errors import (
    INVALID_PREFIX_MESSAGE,
    NETWORKS_LIMIT_MESSAGE,
    PREFIX_HOST_BITS_MESSAGE,
    PREFIX_START_MESSAGE,
    DatabaseUnavailable,
    InvalidLimit,
    InvalidPrefix,
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Where MaxMind's IPv6 databases alias the IPv4 subtree (and ::/96, where it lives).
_IPV4_ALIASES = (ipaddress.ip_network("::ffff:0:0/96"), ipaddress.ip_network("2002::/16"))
_IPV4_SUBTREE = ipaddress.ip_network("::/96")


# Networks per page: `?limit=`, at most MAX_LIMIT (a page of them costs about as much as a batch
# of as many lookups).
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10000


@dataclass(frozen=True)
class NetworkPage:
    prefix: str
    database: DatabaseInfo
    networks: tuple[LookupResult, ...]  # query: the network; ip_address: its first address
    truncated: bool
    next_start: str | None  # where the next page starts, when truncated


def parse_prefix(text: str) -> Network:
    """A network in CIDR form (a bare address is its /32 or /128). Raises InvalidPrefix, also when
    host bits are set: 81.2.69.142/16 is refused with the network it names, never guessed."""
    text = text.strip()
    if "%" in text:  # a zone ID names an interface, not part of any database's networks
        raise InvalidPrefix(INVALID_PREFIX_MESSAGE)
    try:
        return ipaddress.ip_network(text)
    except ValueError:
        pass
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidPrefix(INVALID_PREFIX_MESSAGE) from None
    raise InvalidPrefix(PREFIX_HOST_BITS_MESSAGE.format(given=text, network=network))


def parse_start(text: str | None, prefix: Network) -> int:
    """The address a page starts at (`start`, from a previous page's `next`), as a number."""
    if text is None:
        return int(prefix.network_address)
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        address = None
    if address is None or address.version != prefix.version or address not in prefix:
        raise InvalidPrefix(PREFIX_START_MESSAGE.format(prefix=prefix))
    return int(address)


def parse_limit(text: str | None) -> int:
    """`?limit=`: how many networks a page holds. Raises InvalidLimit."""
    if text is None:
        return DEFAULT_LIMIT
    text = text.strip()
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise InvalidLimit(NETWORKS_LIMIT_MESSAGE.format(maximum=MAX_LIMIT))
    return int(text)


def networks_in(
    prefix: Network,
    *,
    start: int | None = None,
    limit: int,
    reader: GeoIPReader | None = None,
    asn_reader: GeoIPReader | None = None,
) -> NetworkPage:
    """At most `limit` networks of the database inside `prefix` (or the one network holding it),
    from `start` on. Raises DatabaseUnavailable."""
    database, info = (reader or city_reader()).open_database()
    asn_reader = asn_reader or default_asn_reader()
    found: list[LookupResult] = []
    next_start = None
    make = ipaddress.IPv4Address if prefix.version == 4 else ipaddress.IPv6Address
    current = int(prefix.network_address) if start is None else start
    last = int(prefix.broadcast_address)
    if prefix.version == 6 and info.ip_version == 4:
        last = current - 1  # an IPv4 database has no IPv6 network
    aliases = [alias for alias in _IPV4_ALIASES if alias.version == prefix.version and alias != prefix]
    aliases = [alias for alias in aliases if alias.subnet_of(prefix)]
    while current <= last:
        address = make(current)
        alias = next((alias for alias in aliases if address in alias), None)
        if alias is not None:
            current = int(alias.broadcast_address) + 1
            continue
        record, prefix_length = database.get_with_prefix_len(address)
        size = 1 << (address.max_prefixlen - prefix_length)
        first = current & ~(size - 1)
        if record is not None:
            if len(found) == limit:
                next_start = str(address)
                break
            found.append(_entry(make(first), prefix_length, record, info, asn_reader))
        current = first + size
    return NetworkPage(
        prefix=str(prefix),
        database=info,
        networks=tuple(found),
        truncated=next_start is not None,
        next_start=next_start,
    )


def _entry(first: IPAddress, prefix_length: int, record, info, asn_reader: GeoIPReader) -> LookupResult:
    if first.version == 6 and prefix_length >= 96 and first in _IPV4_SUBTREE:
        # The IPv4 subtree of an IPv6 database: answered as IPv4, as a lookup would name it.
        first, prefix_length = ipaddress.IPv4Address(int(first)), prefix_length - 96
    network = network_text(first, prefix_length)
    record, time_zone, source = with_time_zone(record)
    asn_number, asn_organization = _autonomous_system(first, prefix_length, asn_reader)
    return LookupResult(
        query=network,
        name=None,
        ip_address=str(first),
        addresses=(),
        network=network,
        time_zone=time_zone,
        time_zone_source=source,
        database=info,
        record=record,
        autonomous_system_number=asn_number,
        autonomous_system_organization=asn_organization,
    )


def _autonomous_system(
    first: IPAddress, prefix_length: int, asn_reader: GeoIPReader
) -> tuple[int | None, str | None]:
    """The AS of the whole network: the ASN database's answer for its first address, when that
    answer's network holds all of it (else the network spans several ASes: None)."""
    if not asn_reader.is_available():
        return None, None
    try:
        record, asn_network, _ = asn_reader.get(first)
    except DatabaseUnavailable:
        return None, None  # replaced by a broken file a moment ago: optional, as in a lookup
    if not record or int(asn_network.rpartition("/")[2]) > prefix_length:
        return None, None
    return record.get("autonomous_system_number"), record.get("autonomous_system_organization")
