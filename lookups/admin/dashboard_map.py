"""The dashboard's map of looked-up locations and its requester countries, read from the per-day
cells and requester counts a trigger keeps (LookupDayCell, LookupDayRequester; migration 0011):
a few thousand small rows for the period, never the history's rows."""

import datetime as dt
import json
from dataclasses import dataclass

from django.db import connection
from django.db.models import OuterRef, Subquery, Sum

from lookups.models import LookupDayCell, LookupDayCount, LookupDayRequester

# The busiest cells drawn, at most: a 1-degree grid has 64,800 cells, lookups fall in a few
# thousand, and a map of more markers than this is slow to cluster in the browser.
MAP_CELLS = 5000


@dataclass(frozen=True)
class MapCell:
    latitude: float  # the mean of the cell's lookups
    longitude: float
    lookups: int


@dataclass(frozen=True)
class CellMap:
    cells: tuple[MapCell, ...]  # busiest first, at most MAP_CELLS
    total_cells: int  # every cell with lookups in the period
    lookups: int  # those drawn

    @property
    def points_json(self) -> str:
        """[[latitude, longitude, lookups], ...] for the page's script, which reads it from a data
        attribute (no script element in the page, for the Content-Security-Policy)."""
        return json.dumps([[cell.latitude, cell.longitude, cell.lookups] for cell in self.cells])


def map_cells(first_day: dt.date, *, limit: int = MAP_CELLS) -> CellMap:
    """The cells with lookups since `first_day`, busiest first, each at the mean of its lookups."""
    table = connection.ops.quote_name(LookupDayCell._meta.db_table)
    sql = f"""
        SELECT latitude_cell, longitude_cell, sum(lookups)::bigint AS lookups,
            sum(latitude_sum) AS latitudes, sum(longitude_sum) AS longitudes,
            count(*) OVER () AS cells
        FROM {table} WHERE day >= %s
        GROUP BY latitude_cell, longitude_cell HAVING sum(lookups) > 0
        ORDER BY lookups DESC, latitude_cell, longitude_cell LIMIT %s
    """  # noqa: S608 (the table name comes from the model)
    with connection.cursor() as cursor:
        cursor.execute(sql, [first_day, limit])
        rows = cursor.fetchall()
    size = LookupDayCell.CELL_DEGREES
    cells = tuple(
        MapCell(
            # Within the cell: sums of many floats, added and taken away, may drift a little.
            latitude=round(_within(latitudes / lookups, lat, lat + size), 4),
            longitude=round(_within(longitudes / lookups, lon, lon + size), 4),
            lookups=int(lookups),
        )
        for lat, lon, lookups, latitudes, longitudes, _cells in rows
    )
    return CellMap(
        cells=cells,
        total_cells=rows[0][5] if rows else 0,
        lookups=sum(cell.lookups for cell in cells),
    )


def _within(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


@dataclass(frozen=True)
class RequesterCountry:
    code: str
    name: str
    lookups: int


def requester_countries(first_day: dt.date, *, top: int) -> tuple[RequesterCountry, ...]:
    """The `top` requester countries by lookups since `first_day` (an unknown country left out),
    named as the looked-up countries' counts name them (a code alone where none does)."""
    named = (
        LookupDayCount.objects.filter(day__gte=first_day, country_code=OuterRef("country_code"))
        .exclude(country_name="")
        .values("country_name")[:1]
    )
    busiest = (
        LookupDayRequester.objects.filter(day__gte=first_day)
        .exclude(country_code="")
        .values("country_code")
        .annotate(lookups=Sum("lookups"), name=Subquery(named))
        .filter(lookups__gt=0)
        .order_by("-lookups", "country_code")[:top]
    )
    return tuple(RequesterCountry(row["country_code"], row["name"] or "", row["lookups"]) for row in busiest)
