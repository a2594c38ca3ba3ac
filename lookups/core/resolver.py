"""Query parsing and name resolution.

`parse_query` turns what a person typed into an IP address or a normalised domain name;
`Resolver` turns a name into its A and AAAA addresses through dnspython, with a timeout and
configurable name servers, and is what tests replace with one pointed at their own DNS server.
"""

import functools
import ipaddress
import re
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import dns.exception
import dns.message
import dns.name
import dns.nameserver
import dns.rcode
import dns.resolver
import idna
from django.conf import settings

from lookups.errors import (
    DNS_FAILURE_MESSAGE,
    INVALID_QUERY_MESSAGE,
    IPV4_LEADING_ZERO_MESSAGE,
    IPV4_STRAY_DOT_MESSAGE,
    NAME_NOT_RESOLVED_MESSAGE,
    QUERY_TOO_LONG_MESSAGE,
    DNSUnavailable,
    InvalidQuery,
    LookupFailed,
    NameNotResolved,
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# The longest textual query we accept: a 253-character name (RFC 1035) plus a trailing dot
# and some room for an IPv6 address with a zone ID, after surrounding spaces are removed.
QUERY_MAX_LENGTH = 255
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_DOTTED_NUMBERS = re.compile(r"^[0-9.]+$")


@dataclass(frozen=True)
class Query:
    """A parsed query: exactly one of `address` and `name` is set."""

    text: str
    address: IPAddress | None = None
    name: str | None = None


def parse_query(text: str) -> Query:
    """Parse an IP address (any textual form) or a domain name (IDN, trailing dot allowed)."""
    if not isinstance(text, str):
        raise InvalidQuery(INVALID_QUERY_MESSAGE)
    return _parse_query(text)


@functools.lru_cache(maxsize=65536)  # a batch parses each query twice; popular queries repeat
def _parse_query(text: str) -> Query:
    stripped = text.strip()
    if not stripped:
        raise InvalidQuery(INVALID_QUERY_MESSAGE)
    if len(stripped) > QUERY_MAX_LENGTH:
        raise InvalidQuery(QUERY_TOO_LONG_MESSAGE.format(limit=QUERY_MAX_LENGTH))

    address = parse_address(stripped)
    if address is not None:
        return Query(text=stripped, address=address)
    return Query(text=stripped, name=normalise_name(stripped))


def parse_address(text: str) -> IPAddress | None:
    """Return the address `text` spells, or None when it is not an address at all."""
    candidate = text
    if candidate.startswith("[") and candidate.endswith("]"):  # URL-style IPv6
        candidate = candidate[1:-1]
    if "%" in candidate:  # zone ID (fe80::1%eth0): meaningless beyond the host that wrote it
        candidate = candidate.split("%", 1)[0]
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        if _DOTTED_NUMBERS.match(candidate) and "" in candidate.split("."):
            raise InvalidQuery(IPV4_STRAY_DOT_MESSAGE) from None  # 8.8.8.8. or 8..8.8.8
        if _DOTTED_NUMBERS.match(candidate):
            # 010.8.8.8, 8.8.8 or 134744072: inet_aton would read them as octal or short forms;
            # we refuse to guess rather than look up an address the person did not mean.
            raise InvalidQuery(IPV4_LEADING_ZERO_MESSAGE) from None
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def normalise_name(text: str) -> str:
    """Return the ASCII (punycode) form of a domain name, lower case, without trailing dot."""
    name = text.rstrip(".") if text.endswith(".") and not text.endswith("..") else text
    if not name or any(character.isspace() for character in name):
        raise InvalidQuery(INVALID_QUERY_MESSAGE)
    labels = []
    for label in name.split("."):
        if label.isascii():
            labels.append(label.lower())  # as is: idna would refuse the underscores of _dmarc
            continue
        try:
            labels.append(idna.alabel(idna.uts46_remap(label, std3_rules=True)).decode("ascii"))
        except (idna.IDNAError, UnicodeError, ValueError):
            raise InvalidQuery(INVALID_QUERY_MESSAGE) from None
    ascii_name = ".".join(labels)
    if (
        len(ascii_name) > 253
        or len(labels) < 2
        or not all(_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise InvalidQuery(INVALID_QUERY_MESSAGE)
    return ascii_name


def parse_nameserver(entry: str) -> tuple[str, int]:
    """Parse "IP", "IP:PORT" or "[IPv6]:PORT" into (ip, port)."""
    if entry.startswith("["):
        host, _, port = entry[1:].partition("]:")
        return host.rstrip("]"), int(port or 53)
    if entry.count(":") == 1:
        host, port = entry.split(":")
        return host, int(port)
    return entry, 53


class Resolver:
    """Resolves names to addresses (A, then AAAA) within a total time budget."""

    def __init__(self, *, nameservers: list[str] | None = None, timeout: float | None = None):
        self.timeout = settings.DNS_TIMEOUT if timeout is None else timeout
        entries = settings.DNS_NAMESERVERS if nameservers is None else nameservers
        if entries:
            self._resolver = dns.resolver.Resolver(configure=False)
            self._resolver.nameservers = [
                dns.nameserver.Do53Nameserver(host, port) for host, port in map(parse_nameserver, entries)
            ]
        else:
            self._resolver = dns.resolver.Resolver(configure=True)
            # dnspython keeps resolv.conf's servers as text; records() asks each server itself.
            port = self._resolver.port
            self._resolver.nameservers = [
                dns.nameserver.Do53Nameserver(server, port) if isinstance(server, str) else server
                for server in self._resolver.nameservers
            ]
        # Never apply search domains: "db" must not become "db.internal.example".
        self._resolver.search = []
        self._resolver.use_search_by_default = False
        self._resolver.timeout = self.timeout
        self._resolver.lifetime = self.timeout

    def resolve(self, name: str, *, timeout: float | None = None) -> list[str]:
        """Every A and AAAA address of `name`, IPv4 first. Raises NameNotResolved/DNSUnavailable.

        `timeout` shortens the time budget (never lengthens it), e.g. to meet a batch's deadline.
        """
        qname = dns.name.from_text(name)
        addresses: list[str] = []
        timed_out = False
        budget = self.timeout if timeout is None else min(self.timeout, timeout)
        deadline = time.monotonic() + budget
        for rdtype in ("A", "AAAA"):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            try:
                answer = self._resolver.resolve(qname, rdtype, search=False, lifetime=remaining)
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers):
                continue
            except (dns.exception.Timeout, dns.resolver.LifetimeTimeout):
                timed_out = True
                continue
            except dns.exception.DNSException:  # garbage answers and the like
                timed_out = True
                continue
            for record in answer:
                if record.address not in addresses:
                    addresses.append(record.address)
        if not addresses:
            if timed_out:
                raise DNSUnavailable(DNS_FAILURE_MESSAGE.format(name=name))
            raise NameNotResolved(NAME_NOT_RESOLVED_MESSAGE.format(name=name))
        return addresses

    def records(self, name: str | dns.name.Name, rdtype: str, *, timeout: float) -> list:
        """`name`'s `rdtype` records, asking each name server once (TCP when the answer is
        truncated) within `timeout` seconds, never more than the resolver's own; for a caller that
        tells the outcomes apart (lookups.core.reverse_dns). Raises dnspython's NXDOMAIN, NoAnswer,
        LifetimeTimeout (the time ran out) or NoNameservers (every server failed).

        Not dnspython's resolve(): it sleeps a back-off between rounds before checking its lifetime,
        0.1 s past a 0.5 s budget when the one server is silent (measured)."""
        qname = dns.name.from_text(name) if isinstance(name, str) else name
        budget = min(self.timeout, timeout)
        deadline = time.monotonic() + budget
        request = dns.message.make_query(qname, rdtype)
        errors: list = []
        for nameserver in self._resolver.nameservers:
            tcp = nameserver.is_always_max_size()
            while (remaining := deadline - time.monotonic()) > 0:
                try:
                    response = nameserver.query(
                        request, timeout=remaining, source=None, source_port=0, max_size=tcp
                    )
                except dns.message.Truncated:
                    if tcp:
                        break
                    tcp = True
                    continue
                except Exception as exc:  # timeouts, refused connections: the next server
                    errors.append((str(nameserver), tcp, 0, exc, None))
                    break
                rcode = response.rcode()
                if rcode == dns.rcode.NXDOMAIN:
                    raise dns.resolver.NXDOMAIN(qnames=[qname], responses={qname: response})
                if rcode != dns.rcode.NOERROR:  # SERVFAIL, REFUSED, ...: the next server
                    errors.append((str(nameserver), tcp, 0, dns.rcode.to_text(rcode), response))
                    break
                answer = response.resolve_chaining().answer  # through CNAMEs
                if answer is None:
                    raise dns.resolver.NoAnswer(response=response)
                return list(answer)
            if deadline - time.monotonic() <= 0:
                break
        if deadline - time.monotonic() <= 0:
            raise dns.resolver.LifetimeTimeout(timeout=budget, errors=errors)
        raise dns.resolver.NoNameservers(request=request, errors=errors)


class PrefetchedResolver:
    """Answers from names resolved beforehand (resolve_many), with the same results and errors."""

    def __init__(self, answers: Mapping[str, list[str] | LookupFailed]):
        self.answers = answers

    def resolve(self, name: str, *, timeout: float | None = None) -> list[str]:
        answer = self.answers[name]
        if isinstance(answer, LookupFailed):
            raise answer
        return answer


def resolve_many(
    names: Iterable[str], *, resolver: Resolver, workers: int, deadline: float
) -> dict[str, list[str] | LookupFailed]:
    """Resolve names concurrently; every answer (addresses or error) within `deadline` seconds.

    A name whose turn comes after the deadline is answered DNSUnavailable without a query, and
    a query never outlives the deadline, so a batch of names that all time out still ends in
    about `deadline` seconds.
    """
    names = list(dict.fromkeys(names))
    if not names:
        return {}
    ends = time.monotonic() + deadline

    def one(name: str) -> list[str] | LookupFailed:
        remaining = ends - time.monotonic()
        if remaining <= 0:
            return DNSUnavailable(DNS_FAILURE_MESSAGE.format(name=name))
        try:
            return resolver.resolve(name, timeout=remaining)
        except LookupFailed as error:
            return error

    if len(names) == 1 or workers <= 1:
        return {name: one(name) for name in names}
    with ThreadPoolExecutor(max_workers=min(workers, len(names)), thread_name_prefix="dns") as pool:
        return dict(zip(names, pool.map(one, names), strict=True))


_default_resolver: Resolver | None = None


def default_resolver() -> Resolver:
    """The process-wide resolver built from settings."""
    global _default_resolver
    if _default_resolver is None:
        _default_resolver = Resolver()
    return _default_resolver
