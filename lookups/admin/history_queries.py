"""The admin's reads of the history at volume: cheap counts and choices.

The history grows by a row per lookup, to millions of rows: the total is PostgreSQL's own estimate
rather than a count of every row, the choices of a filter come from an index skip scan, and the
date drill-down probes one index range per period instead of truncating every row's date.
"""

import datetime as dt
import json
from functools import cached_property

from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Max, Min, QuerySet, Value
from django.utils import timezone

from lookups.models import Lookup

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
