import io
import threading
import time
import zipfile

import numpy as np
import psycopg2
import pytest
from django.contrib.gis.geos import GEOSGeometry
from django.core.management import CommandError, call_command
from django.db import connection

from conftest import TEST_POLYGONS
from timezones import loader
from timezones.loader import ZoneSelection, file_source, load_tz_world, offline_source
from timezones.schema import subdivided_mark
from timezones.selectors import timezone_at
from timezones.tests.conftest import (
    box,
    tz_world_rows,
    write_geojson,
    write_shapefile,
)

pytestmark = pytest.mark.django_db


class TerminalOutput(io.StringIO):
    def isatty(self) -> bool:
        return True


def load(*args, verbosity: int = 1, stdout=None, **options) -> str:
    out = stdout or io.StringIO()
    call_command("load_tz_world", *args, verbosity=verbosity, stdout=out, **options)
    return out.getvalue()


def zone_counts() -> dict[str, tuple[int, int]]:
    """For each zone: (polygons in tz_world, pieces in tz_world_subdivided)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT w.tzid, sum(ST_NumGeometries(w.geom)), "
            "(SELECT count(*) FROM tz_world_subdivided s WHERE s.tzid = w.tzid) "
            "FROM tz_world w GROUP BY w.tzid"
        )
        return {tzid: (polygons, pieces) for tzid, polygons, pieces in cursor.fetchall()}


def assert_test_features_loaded():
    counts = zone_counts()
    assert {tzid: polygons for tzid, (polygons, _) in counts.items()} == {
        "Test/Alpha": 1,
        "Test/Beta": 1,
        "Test/Gamma": 1,
        "Test/Delta": 2,
    }
    assert counts["Test/Alpha"][1] > 4  # a 1,000-vertex disc is cut into pieces
    assert timezone_at(longitude=11.0, latitude=45.0) == "Test/Alpha"
    assert timezone_at(longitude=15.0, latitude=45.0) is None  # the hole survived
    assert timezone_at(longitude=32.5, latitude=0.5) == "Test/Delta"


# --- Sources ------------------------------------------------------------------------------------


@pytest.mark.parametrize("srs", ["EPSG:4326", "EPSG:3857"])
def test_loads_a_shapefile(tmp_path, srs):
    """efele's layout (a TZID field, one polygon per feature, a .prj), in WGS 84 or projected."""
    path = write_shapefile(tmp_path / "tz_world.shp", srs=srs)
    output = load(shapefile=str(path))
    assert_test_features_loaded()
    assert "Loaded 4 zones, 5 polygons" in output
    assert f"from {path}" in output
    assert "Skipped 2 features without a zone name or a polygon." in output  # uninhabited, no geometry


def test_loads_geojson(tmp_path):
    path = write_geojson(tmp_path / "combined.json")
    output = load(geojson=str(path))
    assert_test_features_loaded()
    assert "Loaded 4 zones, 5 polygons" in output


def test_loads_a_zipped_shapefile_as_released(tmp_path):
    shapefile = write_shapefile(tmp_path / "combined-shapefile.shp")
    archive = tmp_path / "timezones.shapefile.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for part in tmp_path.glob("combined-shapefile.*"):
            zipped.write(part, f"combined-shapefile{part.suffix}")
    load(shapefile=str(archive))
    assert_test_features_loaded()
    assert shapefile.exists()


def test_loads_only_the_zones_asked_for(tmp_path):
    load(geojson=str(write_geojson(tmp_path / "z.json")), zones="Test/Alpha, Test/Delta")
    assert set(zone_counts()) == {"Test/Alpha", "Test/Delta"}
    load(geojson=str(write_geojson(tmp_path / "z.json")), zones="Test/")
    assert set(zone_counts()) == {"Test/Alpha", "Test/Beta", "Test/Gamma", "Test/Delta"}


def test_loads_a_subset_of_the_offline_data(settings):
    output = load(zones="Europe/Stockholm,Etc/GMT+3")
    assert "Loaded 2 zones" in output
    assert "from timezonefinder-data " in output
    assert timezone_at(longitude=18.0686, latitude=59.3293) == "Europe/Stockholm"  # Stockholm
    assert timezone_at(longitude=-40.0, latitude=30.0) == "Etc/GMT+3"  # open sea: a nautical zone
    assert timezone_at(longitude=-0.1276, latitude=51.5072) is None  # London: not loaded


def test_offline_polygons_are_the_packages_own_geometry():
    """Our fast reading of timezonefinder's arrays gives its get_geometry() points, closed."""
    from timezonefinder import TimezoneFinder

    zones = ["Europe/Rome", "Europe/Vatican"]  # Rome's outline has holes: the Vatican, San Marino
    ours = {zone: [] for zone in zones}
    for feature in offline_source().features:
        if feature.tzid in ours:
            ours[feature.tzid].append(GEOSGeometry(memoryview(feature.wkb())))
    finder = TimezoneFinder()
    for zone in zones:
        theirs = finder.get_geometry(tz_name=zone, coords_as_pairs=False)
        assert len(ours[zone]) == len(theirs)
        for multipolygon, polygon in zip(ours[zone], theirs, strict=True):
            rings = list(multipolygon[0])  # the exterior ring, then the holes
            assert len(rings) == len(polygon)
            for ring, (longitudes, latitudes) in zip(rings, polygon, strict=True):
                coords = np.array(ring.coords)
                assert np.array_equal(coords[:-1, 0], longitudes)
                assert np.array_equal(coords[:-1, 1], latitudes)
                assert np.array_equal(coords[0], coords[-1])  # closed
    assert any(len(polygon) > 1 for polygon in finder.get_geometry(tz_name="Europe/Rome"))


def test_zone_names_fit_the_column():
    """FIELD-NOTES: the longest name in the boundary data is exactly 30 characters."""
    names = offline_source().zone_names
    assert max(len(name) for name in names) == loader.TZID_MAX_LENGTH == 30


def test_where_zones_overlap_the_smaller_one_answers(tmp_path):
    """As Asia/Urumqi lies inside Asia/Shanghai in the boundary data: the more local zone wins,
    whatever the order of the file, in tz_world and in its lookup copy alike."""
    big = ("Test/Big", {"type": "Polygon", "coordinates": [box(0, 0, 10, 10)]})
    small = ("Test/Small", {"type": "Polygon", "coordinates": [box(4, 4, 6, 6)]})
    for order in ([big, small], [small, big]):
        load(geojson=str(write_geojson(tmp_path / "z.json", order)))
        assert [tzid for _, tzid, _ in tz_world_rows()] == ["Test/Small", "Test/Big"]
        assert timezone_at(longitude=5.0, latitude=5.0) == "Test/Small"
        assert timezone_at(longitude=1.0, latitude=1.0) == "Test/Big"
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE tz_world_subdivided")
        assert timezone_at(longitude=5.0, latitude=5.0) == "Test/Small"


# --- Replacing the table ------------------------------------------------------------------------


def test_a_load_replaces_the_old_polygons(tmp_path):
    load(geojson=str(write_geojson(tmp_path / "z.json")))
    assert timezone_at(longitude=18.0, latitude=60.0) is None  # the conftest's Stockholm is gone
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", [loader.LOAD_SCHEMA])
        assert cursor.fetchone() == (0,)  # the scratch schema went away


def test_loading_twice_gives_the_same_tables(tmp_path):
    path = write_geojson(tmp_path / "z.json")
    load(geojson=str(path))
    first = tz_world_rows(), zone_counts()
    load(geojson=str(path))
    assert (tz_world_rows(), zone_counts()) == first


def test_creates_the_tables_when_missing(tmp_path):
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE tz_world")
    load(geojson=str(write_geojson(tmp_path / "z.json")))
    assert_test_features_loaded()


def test_the_lookup_copy_is_marked_with_its_tz_world(tmp_path):
    load(geojson=str(write_geojson(tmp_path / "z.json")))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_relation_filenode('tz_world'), "
            "obj_description('tz_world_subdivided'::regclass, 'pg_class')"
        )
        filenode, mark = cursor.fetchone()
    assert mark == subdivided_mark(filenode)


@pytest.mark.django_db(transaction=True)
def test_readers_see_the_old_polygons_or_the_new_never_none(tmp_path, restore_tz_world):
    """Another connection, reading all through a load that commits, sees the two old polygons
    until the commit and the four new zones' after it: never an empty or partial table."""
    seen, errors, stop = [], [], threading.Event()
    db = connection.settings_dict

    def read():
        reader = psycopg2.connect(
            dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"], password=db["PASSWORD"]
        )
        reader.autocommit = True
        try:
            with reader.cursor() as cursor:
                while not stop.is_set():
                    cursor.execute("SELECT count(DISTINCT tzid) FROM tz_world")
                    seen.append(cursor.fetchone()[0])
        except psycopg2.Error as exc:
            errors.append(exc)
        finally:
            reader.close()

    def slowly(step, done, total):
        time.sleep(0.05)  # hold the load open while the reader reads

    thread = threading.Thread(target=read)
    thread.start()
    try:
        while not seen:
            time.sleep(0.01)
        load_tz_world(file_source(write_geojson(tmp_path / "z.json"), kind="geojson"), progress=slowly)
        time.sleep(0.1)
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert set(seen) == {len(TEST_POLYGONS), 4}
    assert seen.index(4) > 5  # it read the old table many times during the load
    assert all(count == 4 for count in seen[seen.index(4) :])


# --- Errors leave the table as it was ----------------------------------------------------------


def write_garbage(path):
    path.write_bytes(b"\x00not a shapefile at all" * 10)
    return path


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (lambda tmp: {"shapefile": str(tmp / "missing.shp")}, "No such file: "),
        (lambda tmp: {"shapefile": str(write_garbage(tmp / "bad.shp"))}, "GDAL cannot read "),
        (lambda tmp: {"geojson": str(write_garbage(tmp / "bad.json"))}, "GDAL cannot read "),
        (lambda tmp: {"shapefile": str(write_geojson(tmp / "z.json"))}, "is a GeoJSON file, not a shapefile"),
        (
            lambda tmp: {"geojson": str(write_geojson(tmp / "z.json", field="zone"))},
            r"has no tzid field \(its fields: zone\)",
        ),
        (
            lambda tmp: {"geojson": str(write_geojson(tmp / "z.json", [("America/" + "x" * 30, None)]))},
            "is longer than 30 characters",
        ),
        (
            lambda tmp: {"geojson": str(write_geojson(tmp / "z.json", [("Test/Nowhere", None)]))},
            "holds no time-zone polygons",
        ),
        (
            lambda tmp: {"geojson": str(write_geojson(tmp / "z.json")), "zones": "Test/Alpha,Mars/,Test/D"},
            "nothing in .* matches Mars/, Test/D$",  # a prefix ends in "/": "Test/D" is a name
        ),
        (lambda tmp: {"zones": "Europe/Stockholm,Europe/Atlantis"}, "matches Europe/Atlantis"),
    ],
    ids=[
        "missing",
        "garbage-shapefile",
        "garbage-geojson",
        "wrong-kind",
        "no-tzid",
        "name-too-long",
        "no-polygons",
        "zones-not-in-file",
        "zones-not-offline",
    ],
)
def test_a_failed_load_changes_nothing(tmp_path, options, message):
    before = tz_world_rows()
    with pytest.raises(CommandError, match=message):
        load(**options(tmp_path))
    assert tz_world_rows() == before
    assert timezone_at(longitude=18.0, latitude=60.0) == "Europe/Stockholm"


def test_a_database_failure_mid_load_changes_nothing(tmp_path):
    """The lookup copy from a previous load stays too, and the scratch schema goes."""
    load(geojson=str(write_geojson(tmp_path / "z.json")))
    before = tz_world_rows(), zone_counts()
    # A ring PostGIS refuses outright: two points.
    bad = [("Test/Alpha", {"type": "Polygon", "coordinates": [box(0, 0, 1, 1)]})] * 3 + [
        ("Test/Broken", {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0]]]})
    ]
    with pytest.raises(CommandError, match="tz_world is unchanged"):
        load(geojson=str(write_geojson(tmp_path / "bad.json", bad)))
    assert (tz_world_rows(), zone_counts()) == before


def test_a_missing_zone_is_reported_before_reading_anything(monkeypatch):
    monkeypatch.setattr(loader, "_stage_features", lambda *args: pytest.fail("read the source"))
    with pytest.raises(CommandError, match="Europe/Atlantis"):
        load(zones="Europe/Atlantis")


# --- Output -------------------------------------------------------------------------------------


def test_progress_on_a_terminal(tmp_path):
    output = load(geojson=str(write_geojson(tmp_path / "z.json")), stdout=TerminalOutput())
    assert "\rReading polygons: 6/6 (100%)\n" in output
    assert "\rCutting pieces for lookups: 4/4 (100%)\n" in output
    assert output.rstrip().endswith("Skipped 2 features without a zone name or a polygon.")


def test_no_progress_when_not_on_a_terminal(tmp_path):
    assert "Reading polygons" not in load(geojson=str(write_geojson(tmp_path / "z.json")))


def test_quiet_at_verbosity_zero(tmp_path):
    assert load(geojson=str(write_geojson(tmp_path / "z.json")), verbosity=0, stdout=TerminalOutput()) == ""
    assert_test_features_loaded()


def test_zone_selection():
    everything = ZoneSelection("")
    assert everything.everything
    assert "Anything/At_All" in everything
    some = ZoneSelection(" Europe/ , Asia/Tokyo,,")
    assert "Europe/Paris" in some
    assert "Asia/Tokyo" in some
    assert "Asia/Tokyo2" not in some
    assert "Europe" not in some
    assert some.unmatched() == []
    assert ZoneSelection("Europe/,Mars/").unmatched(["Europe/Paris"]) == ["Mars/"]
