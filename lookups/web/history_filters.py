"""The history API's filters and its body for a row: what `GET /api/v1/history/` reads, through the
indexes in Lookup.Meta.indexes (filters and time ranges walk an index newest first). The same row
as CSV, in one fixed column set for the API and the admin's export: HISTORY_CSV."""

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass

import orjson
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from lookups.errors import InvalidHistoryFilter
from lookups.models import Channel, Lookup
from lookups.web.csv_format import CsvTable

# --- History API filters ------------------------------------------------------------------------

FILTERS = ("since", "until", "country", "channel", "outcome", "query")
# Parameters the API itself reads besides the filters.
API_PARAMETERS = ("cursor", "page_size", "format")
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100

UNKNOWN_PARAMETER_MESSAGE = (
    "Unknown parameter {name!r}. The history is filtered by: " + ", ".join(FILTERS) + "."
)
MOMENT_MESSAGE = (
    "{name} must be an ISO 8601 date or date and time, such as 2026-11-01 or 2026-11-01T12:00:00Z, "
    "not {value!r}."
)
MIN_OFFSET, MAX_OFFSET = dt.timedelta(hours=-12), dt.timedelta(hours=14)
OFFSET_MESSAGE = "{name} must have a UTC offset from -12:00 to +14:00, not {value!r}."
RANGE_MESSAGE = "since must be before until."
COUNTRY_MESSAGE = "country must be a two-letter ISO 3166 code such as GB, not {value!r}."
CHANNEL_MESSAGE = "channel must be one of " + ", ".join(Channel.values) + ", not {value!r}."
OUTCOME_MESSAGE = "outcome must be ok or an error code such as address_not_found, not {value!r}."
QUERY_MESSAGE = "query must be between 1 and 255 characters."
PAGE_SIZE_MESSAGE = f"page_size must be a whole number from 1 to {MAX_PAGE_SIZE}, not {{value!r}}."
CURSOR_MESSAGE = "The cursor is not valid: follow the next and previous links as they are given."


@dataclass(frozen=True)
class HistoryFilters:
    since: dt.datetime | None = None  # inclusive
    until: dt.datetime | None = None  # exclusive
    country: str | None = None
    channel: str | None = None
    outcome: str | None = None
    query: str | None = None  # contained in the query, case-insensitive


_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
_COUNTRY = re.compile(r"[A-Za-z]{2}")
_OUTCOME = re.compile(r"[a-z_]{1,32}")


def _shown(value: str) -> str:
    return value if len(value) <= 40 else value[:40] + "…"


def parse_moment(name: str, text: str, *, end_of_day: bool = False) -> dt.datetime:
    """An aware datetime from an ISO date or date-time (naive ones are UTC).

    A bare date is the start of that day, or with `end_of_day` the start of the next, so that
    `until=2026-11-30` includes the whole of 30 November.
    """
    text = text.strip()
    moment = None
    try:
        if _DATE_ONLY.fullmatch(text):
            day = parse_date(text)
            if day is not None:
                moment = dt.datetime.combine(day, dt.time.min) + dt.timedelta(days=1 if end_of_day else 0)
        else:
            moment = parse_datetime(text)
    except (ValueError, OverflowError):
        moment = None
    if moment is None:
        raise InvalidHistoryFilter(MOMENT_MESSAGE.format(name=name, value=_shown(text)))
    offset = moment.utcoffset()
    # Real offsets lie within these; PostgreSQL refuses any beyond 15:59.
    if offset is not None and not MIN_OFFSET <= offset <= MAX_OFFSET:
        raise InvalidHistoryFilter(OFFSET_MESSAGE.format(name=name, value=_shown(text)))
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=dt.UTC)


def parse_filters(params: Mapping[str, str]) -> HistoryFilters:
    """HistoryFilters from query parameters. Raises InvalidHistoryFilter with a clear message."""
    for name in params:
        if name not in FILTERS and name not in API_PARAMETERS:
            raise InvalidHistoryFilter(UNKNOWN_PARAMETER_MESSAGE.format(name=_shown(name)))
    values = {name: params[name] for name in FILTERS if params.get(name, "") != ""}
    since = parse_moment("since", values["since"]) if "since" in values else None
    until = parse_moment("until", values["until"], end_of_day=True) if "until" in values else None
    if since and until and since >= until:
        raise InvalidHistoryFilter(RANGE_MESSAGE)
    country = values.get("country", "").strip()
    if country and not _COUNTRY.fullmatch(country):
        raise InvalidHistoryFilter(COUNTRY_MESSAGE.format(value=_shown(country)))
    channel = values.get("channel", "").strip()
    if channel and channel not in Channel.values:
        raise InvalidHistoryFilter(CHANNEL_MESSAGE.format(value=_shown(channel)))
    outcome = values.get("outcome", "").strip()
    if outcome and not _OUTCOME.fullmatch(outcome):
        raise InvalidHistoryFilter(OUTCOME_MESSAGE.format(value=_shown(outcome)))
    query = values.get("query", "").strip()
    if "query" in values and not 1 <= len(query) <= 255:
        raise InvalidHistoryFilter(QUERY_MESSAGE)
    return HistoryFilters(
        since=since,
        until=until,
        country=country.upper() or None,
        channel=channel or None,
        outcome=outcome or None,
        query=query or None,
    )


def parse_page_size(text: str | None) -> int:
    if text is None or text == "":
        return DEFAULT_PAGE_SIZE
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE_SIZE:
        raise InvalidHistoryFilter(PAGE_SIZE_MESSAGE.format(value=_shown(text)))
    return int(text)


def filter_history(filters: HistoryFilters, queryset: QuerySet | None = None) -> QuerySet:
    """The history rows matching `filters` (unordered: the caller orders and pages)."""
    queryset = Lookup.objects.all() if queryset is None else queryset
    if filters.since:
        queryset = queryset.filter(created_at__gte=filters.since)
    if filters.until:
        queryset = queryset.filter(created_at__lt=filters.until)
    if filters.country:
        queryset = queryset.filter(country_code=filters.country)
    if filters.channel:
        queryset = queryset.filter(channel=filters.channel)
    if filters.outcome:
        queryset = queryset.filter(outcome=filters.outcome)
    if filters.query:
        queryset = queryset.filter(query__icontains=filters.query)
    return queryset


def _empty_as_none(value: str) -> str | None:
    return value or None


def subdivisions_of(row: Lookup) -> list[dict]:
    """Every subdivision of the answer, largest first, as {"iso_code", "name"} (None when empty).
    A row recorded before the history kept them all has its first one only."""
    if row.subdivisions:
        kept = row.subdivisions
    elif row.subdivision_name:
        kept = [{"iso_code": row.subdivision_code, "name": row.subdivision_name}]
    else:
        kept = []
    return [{"iso_code": _empty_as_none(item["iso_code"]), "name": item["name"]} for item in kept]


def history_row_as_dict(row: Lookup) -> dict:
    """The API body of one history row. Absent data is None, never a missing key."""
    location = row.location
    return {
        "id": row.pk,
        "created_at": row.created_at.isoformat(),
        "query": row.query,
        "channel": row.channel,
        "outcome": row.outcome,
        "addresses": list(row.addresses),
        "ip_address": row.ip_address,
        "network": _empty_as_none(row.network),
        "continent_code": _empty_as_none(row.continent_code),
        "country": {"iso_code": row.country_code, "name": _empty_as_none(row.country_name)}
        if row.country_code
        else None,
        "subdivision": {"iso_code": _empty_as_none(row.subdivision_code), "name": row.subdivision_name}
        if row.subdivision_name
        else None,
        "subdivisions": subdivisions_of(row),
        "city": _empty_as_none(row.city),
        "postal_code": _empty_as_none(row.postal_code),
        "location": {
            "latitude": location.y if location else None,
            "longitude": location.x if location else None,
            "accuracy_radius": row.accuracy_radius,
            "time_zone": _empty_as_none(row.time_zone),
            "time_zone_source": _empty_as_none(row.time_zone_source),
        },
        "requester": row.requester,
        "requester_country": _empty_as_none(row.requester_country),
        "database": {
            "edition": row.database_edition,
            "build_date": row.database_build_date.isoformat() if row.database_build_date else None,
        }
        if row.database_edition
        else None,
    }


# --- The same row as CSV --------------------------------------------------------------------------

# One line per history row, in these columns on every page: the history API's CSV and the admin's
# export. docs/api.md describes them.
HISTORY_CSV_COLUMNS = (
    "id",
    "created_at",
    "query",
    "channel",
    "outcome",
    "addresses",
    "ip_address",
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
    "requester",
    "database_edition",
    "database_build_date",
    # Columns added later come last, so that the columns before them keep their places: every
    # subdivision, as JSON, then the requester's country.
    "subdivisions",
    "requester_country",
)


def _csv_values(body: Mapping) -> dict:
    """history_row_as_dict's body as HISTORY_CSV_COLUMNS."""
    country, subdivision = body.get("country") or {}, body.get("subdivision") or {}
    location, database = body.get("location") or {}, body.get("database") or {}
    return {
        **{column: body.get(column) for column in HISTORY_CSV_COLUMNS},
        "addresses": " ".join(body.get("addresses") or ()),
        "country_code": country.get("iso_code"),
        "country_name": country.get("name"),
        "subdivision_code": subdivision.get("iso_code"),
        "subdivision_name": subdivision.get("name"),
        **{
            key: location.get(key)
            for key in ("latitude", "longitude", "accuracy_radius", "time_zone", "time_zone_source")
        },
        "database_edition": database.get("edition"),
        "database_build_date": database.get("build_date"),
        "subdivisions": orjson.dumps(body.get("subdivisions") or []).decode(),
    }


HISTORY_CSV = CsvTable(columns=HISTORY_CSV_COLUMNS, values=_csv_values)
