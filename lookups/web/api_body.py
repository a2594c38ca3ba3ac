"""The JSON API's body for a lookup (single and batch, every format) and for a lookup error, and
the same answers as CSV rows in one fixed set of columns (LOOKUP_CSV).

Built from the database's record directly: a DRF serializer per field, or a Place per name,
cost more than the lookup itself. lookups.web.api_schema documents the same shape for OpenAPI,
and the tests check real bodies against it.
"""

import functools
from typing import Any

from lookups.core.answer import LookupResult
from lookups.core.asn_networks import AsnNetworkPage
from lookups.core.geoip import DatabaseInfo, attribution_for
from lookups.core.networks import NetworkPage
from lookups.errors import LookupFailed
from lookups.web.csv_format import CsvTable


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
    body = {
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
    if result.reverse_dns is not None:  # asked for (?rdns=1): otherwise no key at all
        reverse = result.reverse_dns
        body["reverse_dns"] = {"status": reverse.status, "name": reverse.name, "verified": reverse.verified}
    return body


# What a lookup's body says about the query, which a network of a listing has none of.
_QUERY_KEYS = ("query", "name", "ip_address", "addresses")


def network_as_dict(result: LookupResult, *, language: str = "en") -> dict[str, Any]:
    """One network of a networks listing: a lookup's body without the query's keys."""
    body = result_as_dict(result, language=language)
    for key in _QUERY_KEYS:
        del body[key]
    return body


def networks_page_as_dict(page: NetworkPage, *, language: str, next_url: str | None) -> dict[str, Any]:
    return {
        "prefix": page.prefix,
        "networks": [network_as_dict(result, language=language) for result in page.networks],
        "truncated": page.truncated,
        "next": next_url,
    }


def asn_networks_page_as_dict(page: AsnNetworkPage, *, next_url: str | None) -> dict[str, Any]:
    return {
        "autonomous_system_number": page.asn,
        "autonomous_system_organization": page.organization,
        "networks": [{"network": network} for network in page.networks],
        "truncated": page.truncated,
        "next": next_url,
    }


def error_as_dict(error: LookupFailed) -> dict[str, Any]:
    return {"error": {"code": error.code, "message": error.message}}


def batch_item(query: str, answer: LookupResult | LookupFailed, *, language: str) -> dict[str, Any]:
    """One entry of a batch's results: the lookup's body, or the query as sent and its error."""
    if isinstance(answer, LookupFailed):
        return {"query": query, **error_as_dict(answer)}
    return result_as_dict(answer, language=language)


# --- The same body as CSV ------------------------------------------------------------------------

# One row per lookup, in these columns whatever the data: every CSV of lookups (the API's single
# and batch answers, the batch page's download). docs/api.md describes each column.
LOOKUP_CSV_COLUMNS = (
    "query",
    "name",
    "ip_address",
    "addresses",
    "network",
    "continent_code",
    "continent_name",
    "country_code",
    "country_name",
    "registered_country_code",
    "registered_country_name",
    "subdivision_1_code",
    "subdivision_1_name",
    "subdivision_2_code",
    "subdivision_2_name",
    "city",
    "postal_code",
    "latitude",
    "longitude",
    "accuracy_radius",
    "time_zone",
    "time_zone_source",
    "autonomous_system_number",
    "autonomous_system_organization",
    "database_edition",
    "database_build_date",
    "database_attribution",
    "language",
    "error_code",
    "error_message",
)
# With ?rdns=1 (a single lookup only), a lookup's CSV has these columns too, before the error's.
REVERSE_DNS_CSV_COLUMNS = ("reverse_dns_status", "reverse_dns_name", "reverse_dns_verified")


def _csv_values(body: dict[str, Any]) -> dict[str, Any]:
    """A result body, a batch entry's error or a whole answer's error, as LOOKUP_CSV_COLUMNS."""
    if "error" in body:
        error = body["error"] or {}
        return {
            "query": body.get("query"),
            "error_code": error.get("code"),
            "error_message": error.get("message"),
        }
    continent, country = body.get("continent") or {}, body.get("country") or {}
    registered = body.get("registered_country") or {}
    # MaxMind's records have at most two subdivisions, largest first (their own CSV has two too).
    first, second = [*(body.get("subdivisions") or ()), {}, {}][:2]
    location, traits = body.get("location") or {}, body.get("traits") or {}
    database = body.get("database") or {}
    return {
        "query": body.get("query"),
        "name": body.get("name"),
        "ip_address": body.get("ip_address"),
        "addresses": " ".join(body.get("addresses") or ()),
        "network": body.get("network"),
        "continent_code": continent.get("code"),
        "continent_name": continent.get("name"),
        "country_code": country.get("iso_code"),
        "country_name": country.get("name"),
        "registered_country_code": registered.get("iso_code"),
        "registered_country_name": registered.get("name"),
        "subdivision_1_code": (first or {}).get("iso_code"),
        "subdivision_1_name": (first or {}).get("name"),
        "subdivision_2_code": (second or {}).get("iso_code"),
        "subdivision_2_name": (second or {}).get("name"),
        "city": (body.get("city") or {}).get("name"),
        "postal_code": (body.get("postal") or {}).get("code"),
        "latitude": location.get("latitude"),
        "longitude": location.get("longitude"),
        "accuracy_radius": location.get("accuracy_radius"),
        "time_zone": location.get("time_zone"),
        "time_zone_source": location.get("time_zone_source"),
        "autonomous_system_number": traits.get("autonomous_system_number"),
        "autonomous_system_organization": traits.get("autonomous_system_organization"),
        "database_edition": database.get("edition"),
        "database_build_date": database.get("build_date"),
        "database_attribution": database.get("attribution"),
        "language": body.get("language"),
        **_reverse_dns_values(body.get("reverse_dns")),
    }


def _reverse_dns_values(reverse: dict[str, Any] | None) -> dict[str, Any]:
    if not reverse:
        return {}
    verified = reverse.get("verified")
    return {
        "reverse_dns_status": reverse.get("status"),
        "reverse_dns_name": reverse.get("name"),
        "reverse_dns_verified": None if verified is None else str(verified).lower(),
    }


LOOKUP_CSV = CsvTable(columns=LOOKUP_CSV_COLUMNS, values=_csv_values)
LOOKUP_REVERSE_DNS_CSV = CsvTable(
    columns=(*LOOKUP_CSV_COLUMNS[:-2], *REVERSE_DNS_CSV_COLUMNS, *LOOKUP_CSV_COLUMNS[-2:]),
    values=_csv_values,
)

# A networks listing: one row per network, the network first (ready for an ipset or a firewall:
# `tail -n +2 | cut -d, -f1`), then a lookup's other columns.
NETWORK_CSV = CsvTable(
    columns=tuple(
        column
        for column in LOOKUP_CSV_COLUMNS
        if column not in ("query", "name", "ip_address", "addresses", "error_code", "error_message")
    ),
    values=_csv_values,
)

# Every leaf of a lookup's body, as a `?fields=` path (a list's items share theirs), and the CSV
# columns it fills; a path's parents (`country`, `location`) are selectable too
# (lookups.web.field_selection). `error` is no body field: it selects a failed row's CSV columns.
LOOKUP_FIELD_COLUMNS: dict[str, tuple[str, ...]] = {
    "query": ("query",),
    "name": ("name",),
    "ip_address": ("ip_address",),
    "addresses": ("addresses",),
    "network": ("network",),
    "continent.code": ("continent_code",),
    "continent.name": ("continent_name",),
    "country.iso_code": ("country_code",),
    "country.name": ("country_name",),
    "registered_country.iso_code": ("registered_country_code",),
    "registered_country.name": ("registered_country_name",),
    "subdivisions.iso_code": ("subdivision_1_code", "subdivision_2_code"),
    "subdivisions.name": ("subdivision_1_name", "subdivision_2_name"),
    "city.name": ("city",),
    "postal.code": ("postal_code",),
    "location.latitude": ("latitude",),
    "location.longitude": ("longitude",),
    "location.accuracy_radius": ("accuracy_radius",),
    "location.time_zone": ("time_zone",),
    "location.time_zone_source": ("time_zone_source",),
    "traits.autonomous_system_number": ("autonomous_system_number",),
    "traits.autonomous_system_organization": ("autonomous_system_organization",),
    "database.edition": ("database_edition",),
    "database.build_date": ("database_build_date",),
    "database.attribution": ("database_attribution",),
    "language": ("language",),
    "error": ("error_code", "error_message"),
}
# The paths ?rdns=1 adds (lookups.web.field_selection.REVERSE_DNS_FIELDS).
REVERSE_DNS_FIELD_COLUMNS: dict[str, tuple[str, ...]] = {
    "reverse_dns.status": ("reverse_dns_status",),
    "reverse_dns.name": ("reverse_dns_name",),
    "reverse_dns.verified": ("reverse_dns_verified",),
}

# An AS's networks: the network alone, one a line after the header (for an ipset or a firewall).
ASN_NETWORK_CSV = CsvTable(columns=("network",), values=lambda body: body)
