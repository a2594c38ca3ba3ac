"""How a lookup is shown on the HTML pages: flags, local time, the map's view, the CSV table.

Plain functions over LookupResult and the API body, so the page and the API never disagree
about the data and the templates hold no logic beyond layout.
"""

import csv
import datetime as dt
import io
import json
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lookups.errors import LookupFailed
from lookups.models import TimeZoneSource
from lookups.services import LookupResult
from lookups.web.api_schema import result_as_dict

# Above this accuracy radius (km) a position is a region, not a place: no pin on the map.
PRECISE_RADIUS_KM = 200

TIME_ZONE_SOURCES = {
    TimeZoneSource.MAXMIND.value: "from the GeoIP record",
    TimeZoneSource.TZ_WORLD.value: "from the time-zone polygons (tz_world)",
}


def flag_emoji(iso_code: str | None) -> str:
    """The flag of a two-letter country code, as its two regional indicator symbols."""
    if not iso_code or len(iso_code) != 2 or not iso_code.isascii() or not iso_code.isalpha():
        return ""
    return "".join(chr(0x1F1E6 + ord(letter) - ord("A")) for letter in iso_code.upper())


@dataclass(frozen=True)
class LocalTime:
    iso: str  # for <time datetime=...>
    text: str  # "Mon 14:05", the same format the page's script keeps up to date
    offset: str  # "UTC+01:00"


def local_time(time_zone: str | None, *, now: dt.datetime | None = None) -> LocalTime | None:
    if not time_zone:
        return None
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(zone)
    offset = moment.strftime("%z")  # "+0100"
    return LocalTime(
        iso=moment.isoformat(timespec="seconds"),
        text=moment.strftime("%a %H:%M"),
        offset=f"UTC{offset[:3]}:{offset[3:]}",
    )


@dataclass(frozen=True)
class MapView:
    latitude: float
    longitude: float
    radius_km: int | None
    precise: bool  # a pin; otherwise only the circle (or the area) and a note


def map_view(result: LookupResult) -> MapView | None:
    """Where the map looks, or None when the record has no coordinates (country-level)."""
    if result.latitude is None or result.longitude is None:
        return None
    radius = result.accuracy_radius
    precise = radius is not None and 0 < radius <= PRECISE_RADIUS_KM and result.city is not None
    return MapView(result.latitude, result.longitude, radius, precise)


def raw_record_json(result: LookupResult) -> str:
    """The database's own record, pretty-printed (the time zone filled in from tz_world)."""
    return json.dumps(result.record, indent=2, ensure_ascii=False, default=str)


def curl_command(url: str) -> str:
    return f"curl {shlex.quote(url)}"


# --- Batch results as a table and as CSV ------------------------------------------------------

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
