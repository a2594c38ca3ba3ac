"""MaxMind's GeoIP2 web-service body for a lookup: the database's own record (time zone filled from
tz_world), as MaxMind's City and Country services answer it."""

from collections.abc import Mapping
from typing import Any

from lookups.core.answer import LookupResult

# MaxMind's media types (the clients only look for "json" in them).
CONTENT_TYPES = {
    "city": "application/vnd.maxmind.com-city+json; charset=UTF-8; version=2.1",
    "country": "application/vnd.maxmind.com-country+json; charset=UTF-8; version=2.1",
}
COUNTRY_PARTS = ("continent", "country", "registered_country", "represented_country")
CITY_PARTS = (*COUNTRY_PARTS, "city", "location", "postal", "subdivisions")


def body_for(result: LookupResult, *, service: str, queries_remaining: int | None) -> dict[str, Any]:
    """MaxMind's response body from the database's own record (time zone filled from tz_world)."""
    record: Mapping[str, Any] = result.record
    parts = CITY_PARTS if service == "city" else COUNTRY_PARTS
    body: dict[str, Any] = {part: record[part] for part in parts if record.get(part)}
    body["traits"] = {**(record.get("traits") or {}), "ip_address": result.ip_address}
    if result.network:
        body["traits"]["network"] = result.network
    if queries_remaining is not None:
        body["maxmind"] = {"queries_remaining": queries_remaining}
    return body
