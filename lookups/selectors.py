"""Reading the lookup history at volume: the history API's filters, and the admin's cheap counts.

The history grows by a row per lookup, to millions of rows. Everything here reads it through the
indexes in Lookup.Meta.indexes: filters and time ranges walk an index newest first, the total is
PostgreSQL's own estimate rather than a count of every row, the choices of a filter come from an
index skip scan, and the admin's date drill-down probes one index range per period instead of
truncating every row's date.
"""

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from http import HTTPStatus

from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Max, Min, QuerySet, Value
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from lookups.errors import LookupFailed
from lookups.models import Channel, Lookup

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


class InvalidHistoryFilter(LookupFailed):
    code = "invalid_filter"
    status = HTTPStatus.BAD_REQUEST


class InvalidCursor(LookupFailed):
    code = "invalid_cursor"
    status = HTTPStatus.BAD_REQUEST


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
        "database": {
            "edition": row.database_edition,
            "build_date": row.database_build_date.isoformat() if row.database_build_date else None,
        }
        if row.database_edition
        else None,
    }


# --- The admin's cheap counts and choices -------------------------------------------------------

# Up to this many rows a list is counted exactly (a short index scan); beyond, the count is
# PostgreSQL's estimate, shown as "about N".
EXACT_COUNT_UP_TO = 10_000


def estimated_rows(queryset: QuerySet) -> int:
    """The planner's estimate of how many rows `queryset` returns (EXPLAIN, nothing is read)."""
    plan = json.loads(queryset.order_by().explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])


def capped_count(queryset: QuerySet, cap: int) -> int:
    """The number of rows, counting no further than cap + 1."""
    return queryset.order_by().values("pk")[: cap + 1].count()


class EstimatedCountPaginator(Paginator):
    """Counts exactly up to EXACT_COUNT_UP_TO rows, and estimates beyond: no COUNT(*) of millions.

    A popular filter value (channel=api is half the table) or no filter at all would otherwise
    count hundreds of thousands of index entries on every page view. `estimated` says which.
    """

    estimated = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        exact = capped_count(queryset, EXACT_COUNT_UP_TO)
        if exact <= EXACT_COUNT_UP_TO:
            return exact
        self.estimated = True
        # An estimate below what was just counted would hide pages.
        return max(estimated_rows(queryset), exact)


def distinct_values(column: str, *, label: str | None = None, model=Lookup) -> list[tuple[str, str]]:
    """The distinct values of an indexed column, with a label column's value for each.

    A recursive "skip scan": one index probe per distinct value (a few hundred country codes),
    where SELECT DISTINCT would read every row. `column` must lead one of the model's indexes.
    """
    quote = connection.ops.quote_name
    table, col = quote(model._meta.db_table), quote(column)
    # Names come from the model, never from a request.
    label_sql = "''"
    if label:
        label_sql = f"(SELECT {quote(label)} FROM {table} WHERE {col} = seen.value LIMIT 1)"  # noqa: S608
    sql = f"""
        WITH RECURSIVE seen(value) AS (
            (SELECT {col} FROM {table} ORDER BY {col} LIMIT 1)
            UNION ALL
            SELECT (SELECT {col} FROM {table} WHERE {col} > seen.value ORDER BY {col} LIMIT 1)
            FROM seen WHERE seen.value IS NOT NULL
        )
        SELECT value, {label_sql} FROM seen WHERE value IS NOT NULL
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [(value, name or "") for value, name in cursor.fetchall()]


def _period_starts(first: dt.datetime, last: dt.datetime, kind: str, tz) -> list[dt.datetime]:
    """The starts of every year, month or day from `first` to `last`, in time zone `tz`."""
    first, last = timezone.localtime(first, tz), timezone.localtime(last, tz)
    if kind == "year":
        return [dt.datetime(year, 1, 1, tzinfo=tz) for year in range(first.year, last.year + 1)]
    if kind == "month":
        starts, year, month = [], first.year, first.month
        while (year, month) <= (last.year, last.month):
            starts.append(dt.datetime(year, month, 1, tzinfo=tz))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return starts
    days = (last.date() - first.date()).days
    return [
        dt.datetime.combine(first.date() + dt.timedelta(days=n), dt.time.min, tzinfo=tz)
        for n in range(days + 1)
    ]


def _next_start(start: dt.datetime, kind: str) -> dt.datetime:
    if kind == "year":
        return start.replace(year=start.year + 1)
    if kind == "month":
        return (
            start.replace(year=start.year + 1, month=1)
            if start.month == 12
            else start.replace(month=start.month + 1)
        )
    return dt.datetime.combine(start.date() + dt.timedelta(days=1), dt.time.min, tzinfo=start.tzinfo)


class HistoryQuerySet(QuerySet):
    """The admin's queryset: its date drill-down finds the periods that hold rows cheaply."""

    # Keep the drill-down's probes few: a day list covers one month, a month list one year.
    MAX_PROBES = 400

    def datetimes(self, field_name, kind, order="ASC", tzinfo=None):
        """Like QuerySet.datetimes (returns a list), without reading every row.

        Django's version truncates the date of every matching row (SELECT DISTINCT
        date_trunc(...)): a full scan at millions of rows. Here: the first and last times (two
        index probes), then one query that asks each period in between for any one row.
        """
        if field_name != "created_at" or kind not in ("year", "month", "day") or order != "ASC":
            return super().datetimes(field_name, kind, order=order, tzinfo=tzinfo)
        bounds = self.order_by().aggregate(first=Min("created_at"), last=Max("created_at"))
        if bounds["first"] is None:
            return []
        tz = tzinfo or timezone.get_current_timezone()
        starts = _period_starts(bounds["first"], bounds["last"], kind, tz)
        if len(starts) == 1 or len(starts) > self.MAX_PROBES:
            return starts if len(starts) == 1 else list(super().datetimes(field_name, kind, tzinfo=tzinfo))
        # ORDER BY makes each probe an index range scan: without it the planner expects a row
        # early in a sequential scan, but rows are in time order on disk, so it reads on and on.
        probes = [
            self.order_by("created_at")
            .filter(created_at__gte=start, created_at__lt=_next_start(start, kind))
            .annotate(period=Value(start))
            .values_list("period", flat=True)[:1]
            for start in starts
        ]
        present = probes[0].union(*probes[1:], all=True)
        return sorted(timezone.localtime(moment, tz) for moment in present)
