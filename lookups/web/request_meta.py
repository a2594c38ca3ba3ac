"""Who is asking, and in which language: read from the request, honouring trusted proxies only."""

import functools
import ipaddress

from django.conf import settings
from django.http import HttpRequest


@functools.cache
def _trusted_networks(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _is_trusted(address: str) -> bool:
    networks = _trusted_networks(tuple(settings.TRUSTED_PROXIES))
    if not networks:
        return False
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in networks if network.version == parsed.version)


def client_address(request: HttpRequest) -> str | None:
    """The caller's address: REMOTE_ADDR, or X-Forwarded-For when REMOTE_ADDR is a trusted proxy.

    X-Forwarded-For is read from the right, skipping trusted proxies, so a client cannot choose
    its own address by sending the header itself.
    """
    address = request.META.get("REMOTE_ADDR") or None
    if address is None or not _is_trusted(address):
        return address
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for hop in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break
        if not _is_trusted(hop):
            return hop
        address = hop
    return address


def choose_language(requested: list[str], available: tuple[str, ...]) -> str:
    """The first requested language the database has ("pt" matches "pt-BR"); else English."""
    by_lower = {language.lower(): language for language in available}
    for wanted in requested:
        wanted = wanted.strip().lower()
        if not wanted:
            continue
        if wanted in by_lower:
            return by_lower[wanted]
        primary = wanted.split("-")[0]
        for lower, language in by_lower.items():
            if lower.split("-")[0] == primary:
                return language
    return "en"


@functools.lru_cache(maxsize=1024)  # browsers send a handful of distinct headers
def _accepted_languages(header: str) -> tuple[str, ...]:
    return tuple(_parse_accept_language(header))


def accepted_languages(header: str) -> list[str]:
    """Languages from an Accept-Language header, best first."""
    return list(_accepted_languages(header[:1000]))


def _parse_accept_language(header: str) -> list[str]:
    """Languages from an Accept-Language header, best first."""
    weighted = []
    for position, part in enumerate(header.split(",")[:20]):
        language, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if language and language != "*" and quality > 0:
            weighted.append((-quality, position, language))
    return [language for _, _, language in sorted(weighted)]


def request_language(request: HttpRequest, available: tuple[str, ...]) -> str:
    """The one rule for pages and API alike: ?lang=, then Accept-Language, then English; each
    the first one the database has."""
    # META, not request.headers and request.GET: building those cost more than the rest of this.
    explicit = request.GET.get("lang", "") if request.META.get("QUERY_STRING") else ""
    return choose_language(
        [explicit, *accepted_languages(request.META.get("HTTP_ACCEPT_LANGUAGE", ""))], available
    )
