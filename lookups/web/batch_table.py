"""A batch's answers as the batch page's table and as its CSV download: one row per query."""

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lookups.core.answer import LookupResult
from lookups.errors import LookupFailed
from lookups.web.api_body import result_as_dict
from lookups.web.page_context import flag_emoji

CSV_COLUMNS = (
    "query",
    "ip_address",
    "addresses",
    "network",
    "continent_code",
    "country_code",
    "country_name",
    "subdivision_code",
    "subdivision_name",
    "city",
    "postal_code",
    "latitude",
    "longitude",
    "accuracy_radius",
    "time_zone",
    "time_zone_source",
    "database_edition",
    "database_build_date",
    "error_code",
    "error_message",
)
# Cells a spreadsheet would run as a formula.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class BatchRow:
    query: str
    body: dict[str, Any] | None  # the API body of a result
    error: LookupFailed | None

    @property
    def flag(self) -> str:
        return flag_emoji(((self.body or {}).get("country") or {}).get("iso_code"))


def batch_rows(
    queries: Sequence[str], answers: Sequence[LookupResult | LookupFailed], *, language: str
) -> list[BatchRow]:
    rows = []
    for query, answer in zip(queries, answers, strict=True):
        if isinstance(answer, LookupFailed):
            rows.append(BatchRow(query=query, body=None, error=answer))
        else:
            rows.append(BatchRow(query=query, body=result_as_dict(answer, language=language), error=None))
    return rows


def spreadsheet_safe(value: str | None) -> str:
    """Text from a visitor, made inert for spreadsheets (OWASP's CSV injection advice)."""
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_PREFIXES) else value


def _csv_record(row: BatchRow) -> list[Any]:
    if row.error is not None:
        values = dict.fromkeys(CSV_COLUMNS, "")
        values.update(error_code=row.error.code, error_message=spreadsheet_safe(row.error.message))
    else:
        body = row.body or {}
        country = body.get("country") or {}
        subdivision = (body.get("subdivisions") or [{}])[0]
        location = body.get("location") or {}
        values = {
            "ip_address": body.get("ip_address"),
            "addresses": " ".join(body.get("addresses") or ()),
            "network": body.get("network"),
            "continent_code": (body.get("continent") or {}).get("code"),
            "country_code": country.get("iso_code"),
            "country_name": country.get("name"),
            "subdivision_code": subdivision.get("iso_code"),
            "subdivision_name": subdivision.get("name"),
            "city": (body.get("city") or {}).get("name"),
            "postal_code": (body.get("postal") or {}).get("code"),
            "latitude": location.get("latitude"),
            "longitude": location.get("longitude"),
            "accuracy_radius": location.get("accuracy_radius"),
            "time_zone": location.get("time_zone"),
            "time_zone_source": location.get("time_zone_source"),
            "database_edition": (body.get("database") or {}).get("edition"),
            "database_build_date": (body.get("database") or {}).get("build_date"),
            "error_code": "",
            "error_message": "",
        }
    values["query"] = spreadsheet_safe(row.query)
    return ["" if values.get(column) is None else values[column] for column in CSV_COLUMNS]


def batch_csv(rows: Iterable[BatchRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(_csv_record(row))
    return buffer.getvalue()
