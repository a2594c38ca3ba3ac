"""The dashboard map's cells and the requesters' countries (migration 0011): kept exactly by the
trigger as rows arrive through the write-behind path and go, filled from the rows already there,
dropped with their partitions by retention, and older spool files still replay."""

import datetime as dt
import math
import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from lookups import history
from lookups.admin.dashboard import history_stats
from lookups.admin.dashboard_map import MapCell, map_cells
from lookups.core.history_row import history_row
from lookups.core.pipeline import geolocate
from lookups.history.encoding import HEADER_PREFIX, encode_row
from lookups.history.retention import purge_history
from lookups.history.rows import COLUMNS, give_uids
from lookups.models import Lookup, LookupDayCell, LookupDayRequester
from lookups.tests.geoip_data import BERLIN_IP, LINKOPING_IP, LONDON_IP
from lookups.tests.test_history_partitions import laid_out_day, today_at

pytestmark = pytest.mark.django_db

BEFORE = [("lookups", "0010_updaterun_changes")]


def cells() -> dict[tuple[dt.date, int, int], tuple[int, float, float]]:
    """(day, latitude cell, longitude cell) -> (lookups, latitude sum, longitude sum), empty ones left out."""
    return {
        (cell.day, cell.latitude_cell, cell.longitude_cell): (
            cell.lookups,
            round(cell.latitude_sum, 6),
            round(cell.longitude_sum, 6),
        )
        for cell in LookupDayCell.objects.all()
        if cell.lookups
    }


def requesters() -> dict[tuple[dt.date, str], int]:
    return {
        (row.day, row.country_code): row.lookups for row in LookupDayRequester.objects.all() if row.lookups
    }


def row_at(moment: dt.datetime, location, requester_country: str = "", query: str = "q") -> dict:
    return history.new_row(
        query=query, channel="api", created_at=moment, location=location, requester_country=requester_country
    )


def test_the_trigger_counts_each_write_behind_batch_exactly(history_spool):
    day, next_day = today_at(0, 0).date(), today_at(1, 0).date()
    history.record(
        [
            row_at(today_at(0, 1), (-0.1, 51.5), "GB"),
            row_at(today_at(0, 2), (-0.3, 51.7), "GB"),
            row_at(today_at(0, 3), (-0.5, -33.9), "SE"),  # south and west of 0: the floor, not truncation
            row_at(today_at(0, 4), None, "SE"),  # a failure: a requester, no cell
            row_at(today_at(0, 5), (math.nan, math.nan)),  # NaN: no cell, and no refused batch
            row_at(today_at(0, 6), (180.0, 90.0)),  # the edge of the world is a cell
            row_at(today_at(1, 1), (-0.2, 51.6), "GB"),
        ]
    )
    assert next(history_spool.glob("*.spool"))  # written behind, not yet in PostgreSQL

    assert cells() == {  # reading the counts flushes the spool first (conftest)
        (day, 51, -1): (2, 103.2, -0.4),
        (day, -34, -1): (1, -33.9, -0.5),
        (day, 90, 180): (1, 90.0, 180.0),
        (next_day, 51, -1): (1, 51.6, -0.2),
    }
    assert requesters() == {(day, "GB"): 2, (day, "SE"): 2, (day, ""): 2, (next_day, "GB"): 1}

    # Rows deleted one by one (the boundary day of a purge) are taken off again.
    Lookup.objects.filter(created_at=today_at(0, 1)).delete()
    assert cells()[(day, 51, -1)] == (1, 51.7, -0.3)
    assert requesters()[(day, "GB")] == 1


def test_a_spool_replayed_twice_counts_once(history_spool):
    history.record([row_at(today_at(0, 1), (13.4, 52.5), "DE"), row_at(today_at(0, 2), (13.5, 52.6), "DE")])
    copy = next(history_spool.glob("*.spool")).read_bytes()
    history.replay()
    (history_spool / "history-again.spool").write_bytes(copy)
    history.replay()
    assert Lookup.objects.count() == 2
    day = today_at(0, 0).date()
    assert cells() == {(day, 52, 13): (2, 105.1, 26.9)}
    assert requesters() == {(day, "DE"): 2}


def test_a_spool_file_from_before_requester_country_still_replays(history_spool):
    """Its header does not name the column: the rows take the table's default, an unknown country."""
    row = row_at(today_at(0, 1), (13.4, 52.5))
    give_uids([row])
    dropped = COLUMNS.index("requester_country")
    old_columns = [column for index, column in enumerate(COLUMNS) if index != dropped]
    fields = encode_row(row).rstrip(b"\n").split(b"\t")
    old_line = b"\t".join(field for index, field in enumerate(fields) if index != dropped)
    header = HEADER_PREFIX + "\t".join(old_columns).encode() + b"\n"
    history_spool.mkdir(parents=True, exist_ok=True)
    (history_spool / "history-old.spool").write_bytes(header + old_line + b"\n")

    report = history.replay()

    assert (report.rows, report.rejected) == (1, 0)
    assert Lookup.objects.get().requester_country == ""
    assert requesters() == {(today_at(0, 0).date(), ""): 1}
    assert cells() == {(today_at(0, 0).date(), 52, 13): (1, 52.5, 13.4)}


def test_retention_takes_the_dropped_days_cells_and_requesters_with_them():
    laid_out_day_at = laid_out_day()
    for days, hour in ((-30, 1), (1, 1), (4, 5), (4, 20), (5, 1)):
        Lookup.objects.create(
            query=f"day{days}-{hour}",
            channel="api",
            created_at=laid_out_day_at(days, hour),
            location=f"SRID=4326;POINT({days} 10)",
            requester_country="FR",
        )
    # The cutoff: day 4, 12:00.
    result = purge_history(dt.timedelta(days=1), now=laid_out_day_at(5, 12), batch_size=100)
    assert len(result.dropped_partitions) == 4  # the first partition and days 1 to 3

    day4, day5 = laid_out_day_at(4, 0).date(), laid_out_day_at(5, 0).date()
    # Whole partitions' days are gone; the boundary day's early row went by DELETE (the trigger).
    assert cells() == {(day4, 10, 4): (1, 10.0, 4.0), (day5, 10, 5): (1, 10.0, 5.0)}
    assert requesters() == {(day4, "FR"): 1, (day5, "FR"): 1}
    assert not LookupDayCell.objects.filter(day__lt=day4).exists()


def test_the_map_reads_the_periods_cells_busiest_first_at_their_mean(city_database):
    rows = [history_row(LONDON_IP, geolocate(LONDON_IP), channel="api", requester=LINKOPING_IP)] * 2
    rows += [history_row(BERLIN_IP, geolocate(BERLIN_IP), channel="web", requester=LONDON_IP)]
    rows += [row_at(today_at(-40, 1), (2.35, 48.85))]  # before the dashboard's 30 days
    history.record([dict(row) for row in rows])

    found = map_cells(today_at(-29, 0).date())

    london = geolocate(LONDON_IP).record["location"]
    berlin = geolocate(BERLIN_IP).record["location"]
    assert found.cells == (
        MapCell(london["latitude"], london["longitude"], 2),
        MapCell(berlin["latitude"], berlin["longitude"], 1),
    )
    assert (found.total_cells, found.lookups) == (2, 3)
    assert map_cells(today_at(-29, 0).date(), limit=1).cells == found.cells[:1]
    assert map_cells(today_at(-29, 0).date(), limit=1).total_cells == 2
    stats = history_stats()
    # Named where a looked-up country names them: nobody looked up a Swedish address here.
    assert [(row.label, row.value) for row in stats.requesters] == [("SE", 2), ("GB · United Kingdom", 1)]


@pytest.mark.django_db(transaction=True)
def test_the_migration_counts_the_rows_already_there():
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes("lookups")
    executor.migrate(BEFORE)
    old_lookup = (
        MigrationExecutor(connection).loader.project_state(BEFORE).apps.get_model("lookups", "Lookup")
    )
    for hour, location in ((1, "POINT(-0.1 51.5)"), (2, "POINT(-0.3 51.7)"), (3, None)):
        old_lookup.objects.create(
            query="q",
            channel="api",
            created_at=today_at(-2, hour),
            uid=uuid.uuid4(),
            location=location and f"SRID=4326;{location}",
        )
    MigrationExecutor(connection).migrate(latest)

    day = today_at(-2, 0).date()
    assert cells() == {(day, 51, -1): (2, 103.2, -0.4)}
    assert requesters() == {(day, ""): 3}  # the rows from before have no requester country
    # And the trigger counts from then on.
    Lookup.objects.create(
        query="q", channel="api", created_at=today_at(-2, 4), location="SRID=4326;POINT(-0.2 51.6)"
    )
    assert cells()[(day, 51, -1)] == (3, 154.8, -0.6)
