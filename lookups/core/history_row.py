"""A lookup as the history keeps it: the row (lookups.history's plain dict) for a result or a failure,
the requester's address anonymised as LOOKUP_REQUESTER_ADDRESS says, and that address's country."""

import datetime as dt
import functools
import ipaddress

from django.conf import settings

from lookups import history
from lookups.core.answer import LookupResult
from lookups.core.geoip import DatabaseInfo, GeoIPReader, city_reader
from lookups.errors import DatabaseUnavailable, LookupFailed
from lookups.models import OUTCOME_OK


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


def requester_country(address: str | None, *, reader: GeoIPReader | None = None) -> str:
    """The ISO code of the country the City database places `address` in (the requester as
    stored, so nothing when it is not kept); "" when unknown, or when no database is open."""
    if not address:
        return ""
    reader = reader or city_reader()
    try:
        return _country_in(reader, reader.info(), address)
    except DatabaseUnavailable:
        return ""


# The same requesters ask again and again: one database read per requester and build. The reader
# is the process's long-lived one (it swaps the file underneath), the info changes with the build.
@functools.lru_cache(maxsize=4096)
def _country_in(reader: GeoIPReader, info: DatabaseInfo, address: str) -> str:
    try:
        record, _network, _info = reader.get(ipaddress.ip_address(address))
    except ValueError:
        return ""
    country = (record or {}).get("country") or {}
    return (country.get("iso_code") or "")[:2]


def _english(place: dict | None) -> str:
    return ((place.get("names") or {}).get("en") or "") if place else ""


def history_row(
    query: str,
    outcome: LookupResult | LookupFailed,
    *,
    channel: str,
    requester: str | None,
    api_key_id: int | None = None,
    created_at: dt.datetime | None = None,
) -> history.HistoryRow:
    """The history row for a result or a failure; `requester` as the request gave it.
    `created_at`: a batch's one time (now, by default)."""
    values = {} if created_at is None else {"created_at": created_at}
    requester = anonymise_address(requester)
    row = history.new_row(
        # PostgreSQL text cannot hold NUL: keep a visible stand-in rather than lose the row.
        query=query.strip()[:255].replace("\x00", "\ufffd"),
        channel=channel,
        requester=requester,
        requester_country=requester_country(requester),
        api_key_id=api_key_id,
        **values,
    )
    if isinstance(outcome, LookupFailed):
        row["outcome"] = outcome.code
        return row
    # Read from the record, not through LookupResult's Places: this runs for every lookup.
    result = outcome
    record = result.record
    location = record.get("location") or {}
    latitude, longitude = location.get("latitude"), location.get("longitude")
    continent, country = record.get("continent"), record.get("country")
    subdivisions, city = record.get("subdivisions"), record.get("city")
    row.update(
        outcome=OUTCOME_OK,
        addresses=list(result.addresses),
        ip_address=result.ip_address,
        network=result.network or "",
        continent_code=(continent and continent.get("code")) or "",
        postal_code=((record.get("postal") or {}).get("code") or "")[:20],
        location=(longitude, latitude) if latitude is not None and longitude is not None else None,
        accuracy_radius=location.get("accuracy_radius"),
        time_zone=result.time_zone or "",
        time_zone_source=result.time_zone_source or "",
        database_edition=result.database.edition,
        database_build_date=result.database.build_date,
    )
    if country:
        row["country_code"] = country.get("iso_code") or ""
        row["country_name"] = _english(country)[:100]
    if subdivisions:
        row["subdivisions"] = [
            {"iso_code": subdivision.get("iso_code") or "", "name": _english(subdivision)}
            for subdivision in subdivisions
        ]
        row["subdivision_code"] = row["subdivisions"][0]["iso_code"][:8]
        row["subdivision_name"] = row["subdivisions"][0]["name"][:100]
    if city:
        row["city"] = _english(city)[:100]
    return row
