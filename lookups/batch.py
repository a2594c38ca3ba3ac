"""The JSON API's batch lookup, lean: an IP address goes from its database record straight to its
API body and its history row.

services.lookup_batch builds a LookupResult (and its Places) per address, and the API then turns
each into a dict: with 1,000 addresses a request, that cost more than the lookups themselves.
Here the database is opened, the language chosen and the requester anonymised once per batch,
and an address's body and history row are built from the maxminddb record directly. Everything
else in a batch (domain names, invalid queries) takes the general path, services.geolocate.

The answer is exactly the general one (general_bodies over services.lookup_batch): the same
bodies in the same order, repeats looked up and recorded once, the same errors and the same
history rows. lookups/tests/test_batch.py compares the two.
"""

import contextlib
import datetime as dt
import gc
import socket
from collections.abc import Callable, Iterator
from typing import Any

import maxminddb
from django.conf import settings
from django.utils import timezone

from lookups import history, services
from lookups.core.geoip import DatabaseInfo, asn_reader, attribution_for, city_reader
from lookups.core.resolver import IPAddress, Query, parse_query
from lookups.errors import (
    ADDRESS_NOT_FOUND_MESSAGE,
    ADDRESS_NOT_PUBLIC_MESSAGE,
    BATCH_TOO_LARGE_MESSAGE,
    AddressNotFound,
    AddressNotPublic,
    BatchTooLarge,
    LookupFailed,
)
from lookups.models import OUTCOME_OK, TimeZoneSource
from lookups.web.api_schema import error_as_dict, result_as_dict
from timezones.selectors import timezone_at

# Chooses the answer's language from the languages the database has (lookups.web.api.request_language).
LanguageChooser = Callable[[tuple[str, ...]], str]

_MAXMIND = TimeZoneSource.MAXMIND.value
_TZ_WORLD = TimeZoneSource.TZ_WORLD.value


def general_bodies(
    queries: list[str], answers: list[services.LookupResult | LookupFailed], choose_language: LanguageChooser
) -> list[dict[str, Any]]:
    """The API bodies of services.lookup_batch's answers, in the queries' order."""
    language = None
    bodies = []
    for query, answer in zip(queries, answers, strict=True):
        if isinstance(answer, LookupFailed):
            bodies.append({"query": query, **error_as_dict(answer)})
            continue
        if language is None:
            language = choose_language(answer.database.languages)
        bodies.append(result_as_dict(answer, language=language))
    return bodies


def lookup_batch_bodies(
    queries: list[str], *, channel: str, requester: str | None, choose_language: LanguageChooser
) -> list[dict[str, Any]]:
    """Geolocate a batch and record it: the API body of each query, in order. Raises BatchTooLarge
    or HistoryUnavailable."""
    with garbage_collection_paused():
        return _lookup_batch_bodies(
            queries, channel=channel, requester=requester, choose_language=choose_language
        )


@contextlib.contextmanager
def garbage_collection_paused() -> Iterator[None]:
    """No cyclic garbage collection meanwhile (reference counting frees as usual).

    A batch allocates some 100,000 objects, none in a cycle, most alive until its end: the
    collector, triggered every 700 allocations, walked them again and again for nothing (a
    tenth of the batch's CPU). Cycles made meanwhile wait for the next collection after it.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _lookup_batch_bodies(
    queries: list[str], *, channel: str, requester: str | None, choose_language: LanguageChooser
) -> list[dict[str, Any]]:
    limit = settings.LOOKUP_BATCH_MAX
    if len(queries) > limit:
        raise BatchTooLarge(BATCH_TOO_LARGE_MESSAGE.format(limit=limit, count=len(queries)))
    reader = city_reader()
    try:
        database, info = reader.open_database()
    except LookupFailed:
        # Every entry fails on the database: rare, and the general path says so entry by entry.
        answers = services.lookup_batch(queries, channel=channel, requester=requester)
        return general_bodies(queries, answers, choose_language)

    # The first query of each key (as services.lookup_batch dedupes: spaces and case aside), and
    # every query that is a domain name, to resolve them all up front.
    # Each query is parsed once here (None: not a query at all).
    firsts: dict[str, tuple[str, Query | None]] = {}
    name_queries = []
    keys = []
    for query in queries:
        try:
            parsed = parse_query(query)
        except LookupFailed:
            parsed = None
        if parsed is not None and parsed.name is not None:
            name_queries.append(query)
        key = query.strip().lower()
        keys.append(key)
        if key not in firsts:
            firsts[key] = (query, parsed)
    resolver = services.resolve_batch_names(name_queries, resolver=None)

    lean = LeanLookup(database, info, choose_language(info.languages))
    requester_kept = services.anonymise_address(requester)
    # One time for the batch's rows: timezone.now() a row was a tenth of a row's cost.
    created_at = timezone.now()
    answers: dict[str, Found | services.LookupResult | LookupFailed] = {}
    rows = []
    for key, (query, parsed) in firsts.items():
        if parsed is None or parsed.address is None:
            try:
                answer = services.geolocate(query, resolver=resolver, reader=reader)
            except LookupFailed as error:
                answer = error
            rows.append(services.history_row(query, answer, channel=channel, requester=requester))
        else:
            try:
                answer = lean.find(query, parsed.address)
            except LookupFailed as error:
                answer = error
                rows.append(services.history_row(query, answer, channel=channel, requester=requester))
            else:
                rows.append(
                    lean.history_row(
                        answer, query, channel=channel, requester=requester_kept, created_at=created_at
                    )
                )
        answers[key] = answer
    history.record(rows)

    bodies = []
    for query, key in zip(queries, keys, strict=True):
        answer = answers[key]
        if isinstance(answer, Found):
            bodies.append(lean.body(answer))
        elif isinstance(answer, LookupFailed):
            bodies.append({"query": query, **error_as_dict(answer)})
        else:
            bodies.append(result_as_dict(answer, language=lean.language))
    return bodies


class Found:
    """What an address's body and history row are made of (cheaper than a LookupResult)."""

    __slots__ = ("asn", "ip_address", "network", "query", "record", "source", "time_zone")

    def __init__(self, query, ip_address, network, record, time_zone, source, asn):
        self.query = query
        self.ip_address = ip_address
        self.network = network
        self.record = record
        self.time_zone = time_zone
        self.source = source
        self.asn = asn


class LeanLookup:
    """Addresses looked up in one open database (and the optional ASN one), for one batch."""

    def __init__(self, database: maxminddb.Reader, info: DatabaseInfo, language: str):
        self.database = database
        self.info = info
        self.language = language
        self.build_date = info.build_date.isoformat()
        self.attribution = attribution_for(info.edition)
        asn = asn_reader()
        self.asn_database, self.asn_info = asn.open_database() if asn.is_available() else (None, None)

    def find(self, query: str, address: IPAddress) -> Found:
        """As services.geolocate for an address. Raises AddressNotPublic or AddressNotFound."""
        if not services.is_public(address):
            raise AddressNotPublic(ADDRESS_NOT_PUBLIC_MESSAGE.format(subject=str(address)))
        version = address.version
        record = None
        if version == 4 or self.info.ip_version == 6:
            record, prefix_length = self.database.get_with_prefix_len(address)
        if record is None:
            raise AddressNotFound(ADDRESS_NOT_FOUND_MESSAGE.format(address=address))
        value = int(address)
        bits = (32 if version == 4 else 128) - prefix_length
        first = value >> bits << bits
        if version == 4:  # inet_ntoa: the same text as ipaddress, in a fraction of the time
            ip_address = socket.inet_ntoa(value.to_bytes(4, "big"))
            network = f"{socket.inet_ntoa(first.to_bytes(4, 'big'))}/{prefix_length}"
        else:
            ip_address = str(address)
            network = f"{type(address)(first)}/{prefix_length}"
        location = record.get("location") or {}
        time_zone, source = location.get("time_zone"), None
        if time_zone:
            source = _MAXMIND
        else:
            latitude, longitude = location.get("latitude"), location.get("longitude")
            if latitude is not None and longitude is not None:
                time_zone = timezone_at(longitude=longitude, latitude=latitude)
                if time_zone:
                    source = _TZ_WORLD
        asn = self._asn(address, version)
        return Found(query.strip(), ip_address, network, record, time_zone or None, source, asn)

    def _asn(self, address: IPAddress, version: int) -> tuple[int | None, str | None]:
        if self.asn_database is None or (version == 6 and self.asn_info.ip_version == 4):
            return None, None
        record, _ = self.asn_database.get_with_prefix_len(address)
        if not record:
            return None, None
        return record.get("autonomous_system_number"), record.get("autonomous_system_organization")

    def body(self, found: Found) -> dict[str, Any]:
        """serializers.result_as_dict for the address (new objects each time: YAML would mark
        shared ones as aliases)."""
        record, language = found.record, self.language
        location = record.get("location") or {}
        return {
            "query": found.query,
            "name": None,
            "ip_address": found.ip_address,
            "addresses": [found.ip_address],
            "network": found.network,
            "continent": _named(record.get("continent"), language, "code"),
            "country": _named(record.get("country"), language, "iso_code"),
            "registered_country": _named(record.get("registered_country"), language, "iso_code"),
            "subdivisions": [
                _named(subdivision, language, "iso_code") for subdivision in record.get("subdivisions") or ()
            ],
            "city": _named(record.get("city"), language, None),
            "postal": {"code": (record.get("postal") or {}).get("code")},
            "location": {
                "latitude": location.get("latitude"),
                "longitude": location.get("longitude"),
                "accuracy_radius": location.get("accuracy_radius"),
                "time_zone": found.time_zone,
                "time_zone_source": found.source,
            },
            "traits": {
                "autonomous_system_number": found.asn[0],
                "autonomous_system_organization": found.asn[1],
            },
            "database": {
                "edition": self.info.edition,
                "build_date": self.build_date,
                "attribution": self.attribution,
            },
            "language": language,
        }

    def history_row(
        self,
        found: Found,
        query: str,
        *,
        channel: str,
        requester: str | None,
        created_at: dt.datetime | None = None,
    ) -> history.HistoryRow:
        """services.history_row for the address; `requester` already anonymised. `created_at`:
        the batch's one time (now, by default)."""
        record = found.record
        location = record.get("location") or {}
        latitude, longitude = location.get("latitude"), location.get("longitude")
        continent = record.get("continent")
        country = record.get("country")
        subdivisions = record.get("subdivisions")
        city = record.get("city")
        row = history.new_row(
            created_at=created_at or timezone.now(),
            query=query.strip()[:255].replace("\x00", "\ufffd"),
            channel=channel,
            requester=requester,
            outcome=OUTCOME_OK,
            addresses=[found.ip_address],
            ip_address=found.ip_address,
            network=found.network,
            continent_code=(continent and continent.get("code")) or "",
            postal_code=((record.get("postal") or {}).get("code") or "")[:20],
            location=(longitude, latitude) if latitude is not None and longitude is not None else None,
            accuracy_radius=location.get("accuracy_radius"),
            time_zone=found.time_zone or "",
            time_zone_source=found.source or "",
            database_edition=self.info.edition,
            database_build_date=self.info.build_date,
        )
        if country:
            row["country_code"] = country.get("iso_code") or ""
            row["country_name"] = ((country.get("names") or {}).get("en") or "")[:100]
        if subdivisions:
            row["subdivision_code"] = (subdivisions[0].get("iso_code") or "")[:8]
            row["subdivision_name"] = ((subdivisions[0].get("names") or {}).get("en") or "")[:100]
        if city:
            row["city"] = ((city.get("names") or {}).get("en") or "")[:100]
        return row


def _named(data: dict[str, Any] | None, language: str, code_key: str | None) -> dict[str, Any] | None:
    """serializers._named of services._place: a place's code and its name in `language`."""
    if not data:
        return None
    names = data.get("names") or {}
    name = names.get(language) or names.get("en")
    if code_key:
        return {code_key: data.get(code_key), "name": name}
    return {"name": name}
