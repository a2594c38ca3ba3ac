"""The JSON API's body for a lookup (single and batch, every format) and for a lookup error.

Built from the database's record directly: a DRF serializer per field, or a Place per name,
cost more than the lookup itself. lookups.web.api_schema documents the same shape for OpenAPI,
and the tests check real bodies against it.
"""

import functools
from typing import Any

from lookups.core.answer import LookupResult
from lookups.core.geoip import DatabaseInfo, attribution_for
from lookups.errors import LookupFailed


def _named(data: dict[str, Any] | None, language: str, code_key: str | None) -> dict[str, Any] | None:
    """A place's code (when it has one) and its name in `language`, English when it has none."""
    if not data:
        return None
    names = data.get("names") or {}
    name = names.get(language) or names.get("en")
    if code_key:
        return {code_key: data.get(code_key), "name": name}
    return {"name": name}


@functools.lru_cache(maxsize=8)
def _database(info: DatabaseInfo) -> tuple[str, str, str | None]:
    return info.edition, info.build_date.isoformat(), attribution_for(info.edition)


def result_as_dict(result: LookupResult, *, language: str = "en") -> dict[str, Any]:
    """The API body of a successful lookup. Absent data is None, never a missing key; new objects
    every time (YAML would mark shared ones as aliases)."""
    record = result.record
    location = record.get("location") or {}
    edition, build_date, attribution = _database(result.database)
    return {
        "query": result.query,
        "name": result.name,
        "ip_address": result.ip_address,
        "addresses": list(result.addresses),
        "network": result.network,
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
            "time_zone": result.time_zone,
            "time_zone_source": result.time_zone_source,
        },
        "traits": {
            "autonomous_system_number": result.autonomous_system_number,
            "autonomous_system_organization": result.autonomous_system_organization,
        },
        "database": {"edition": edition, "build_date": build_date, "attribution": attribution},
        "language": language,
    }


def error_as_dict(error: LookupFailed) -> dict[str, Any]:
    return {"error": {"code": error.code, "message": error.message}}


def batch_item(query: str, answer: LookupResult | LookupFailed, *, language: str) -> dict[str, Any]:
    """One entry of a batch's results: the lookup's body, or the query as sent and its error."""
    if isinstance(answer, LookupFailed):
        return {"query": query, **error_as_dict(answer)}
    return result_as_dict(answer, language=language)
