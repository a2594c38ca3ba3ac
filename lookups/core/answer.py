"""The answer to one lookup, which every channel renders (lookups/web/*_body.py, the page context,
the CSV row, the history row).

A LookupResult keeps the database's own record and the few facts the core adds to it (the
addresses, the network, the time zone and where it came from, the AS): building Place objects for
every lookup cost more than the lookup, so they are made from the record only when asked for.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lookups.core.geoip import DatabaseInfo
from lookups.core.reverse_dns import ReverseName


@dataclass(frozen=True, slots=True)
class Place:
    """A continent, country, subdivision or city: a code (when it has one) and names by language."""

    code: str | None
    names: Mapping[str, str]
    geoname_id: int | None = None

    def name(self, language: str) -> str | None:
        return self.names.get(language) or self.names.get("en")


def _place(data: Mapping[str, Any] | None, code_key: str | None) -> Place | None:
    if not data:
        return None
    return Place(
        code=data.get(code_key) if code_key else None,
        names=data.get("names") or {},
        geoname_id=data.get("geoname_id"),
    )


@dataclass(frozen=True, slots=True)
class LookupResult:
    query: str  # as the person typed it, without surrounding spaces
    name: str | None  # the domain name in ASCII (punycode) form, None for an address
    ip_address: str
    addresses: tuple[str, ...]
    network: str | None
    time_zone: str | None
    time_zone_source: str | None
    database: DatabaseInfo
    # The database's own record, with the time zone filled in when it came from tz_world.
    record: Mapping[str, Any] = field(repr=False)
    # From the optional ASN database (GEOIP_ASN); None when it is not installed or has no record.
    autonomous_system_number: int | None = None
    autonomous_system_organization: str | None = None
    # The address's reverse name, only when asked for (?rdns=1; lookups.core.reverse_dns).
    reverse_dns: ReverseName | None = None

    @property
    def continent(self) -> Place | None:
        return _place(self.record.get("continent"), "code")

    @property
    def country(self) -> Place | None:
        return _place(self.record.get("country"), "iso_code")

    @property
    def registered_country(self) -> Place | None:
        return _place(self.record.get("registered_country"), "iso_code")

    @property
    def subdivisions(self) -> tuple[Place, ...]:
        return tuple(_place(place, "iso_code") for place in self.record.get("subdivisions") or ())

    @property
    def city(self) -> Place | None:
        return _place(self.record.get("city"), None)

    @property
    def postal_code(self) -> str | None:
        return (self.record.get("postal") or {}).get("code")

    @property
    def latitude(self) -> float | None:
        return (self.record.get("location") or {}).get("latitude")

    @property
    def longitude(self) -> float | None:
        return (self.record.get("location") or {}).get("longitude")

    @property
    def accuracy_radius(self) -> int | None:
        return (self.record.get("location") or {}).get("accuracy_radius")
