import logging

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from conftest import TEST_POLYGONS, create_tz_world
from timezones import selectors
from timezones.selectors import NEAREST_ZONE_METRES, timezone_at
from timezones.tests.conftest import box, load_file, replace_tz_world, write_geojson

pytestmark = pytest.mark.django_db

# Metres per degree of longitude at latitude 45.
EAST_METRES_PER_DEGREE = 111_320 * 0.7071


@pytest.fixture(params=["subdivided", "tz_world only"])
def test_zones(request, tmp_path):
    """The test features loaded by the loader; then, for the second run, the lookup copy removed
    so that the lookups read tz_world itself. Both must answer alike."""
    load_file(write_geojson(tmp_path / "zones.geojson"))
    if request.param == "tz_world only":
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE tz_world_subdivided")
    return request.param


@pytest.mark.parametrize(
    ("longitude", "latitude", "zone"),
    [
        (11.0, 45.0, "Test/Alpha"),  # inside the disc
        (15.0, 45.0, None),  # the middle of its hole: 111 km from any polygon
        (15.0, 45.99, "Test/Alpha"),  # in the hole, 1 km from its edge: the nearest zone
        (22.0, 45.0, "Test/Beta"),
        (27.0, 45.0, "Test/Gamma"),
        (25.0, 45.0, "Test/Beta"),  # on the shared border: the smaller polygon
        (32.5, 0.5, "Test/Delta"),  # the second part of a multipolygon
        (30.15, 45.0, "Test/Gamma"),  # 12 km off Gamma's edge: within reach of the coast
        (30.5, 45.0, None),  # 39 km off: open sea in land-only data
        (-40.0, 30.0, None),  # the middle of the Atlantic
        (-55.0, -75.0, None),  # efele's "uninhabited" is never an answer
        (200.0, 45.0, None),  # not a coordinate
        (float("nan"), 45.0, None),
    ],
)
def test_the_zone_at_a_point(test_zones, longitude, latitude, zone):
    assert timezone_at(longitude=longitude, latitude=latitude) == zone


def test_the_nearest_zone_reaches_exactly_the_documented_distance(test_zones):
    # Gamma's east edge is the meridian 30°E; 0.5% inside and outside the limit.
    inside = 30 + NEAREST_ZONE_METRES * 0.995 / EAST_METRES_PER_DEGREE
    outside = 30 + NEAREST_ZONE_METRES * 1.005 / EAST_METRES_PER_DEGREE
    assert timezone_at(longitude=inside, latitude=45.0) == "Test/Gamma"
    assert timezone_at(longitude=outside, latitude=45.0) is None


@pytest.mark.parametrize("lookup_copy", [True, False])
def test_near_a_pole_the_nearest_zone_is_found_whatever_the_longitude(tmp_path, lookup_copy):
    """Within reach of a pole, the nearest zone may lie across it, at any longitude."""
    pole = {"type": "Polygon", "coordinates": [box(0, 89.9, 10, 90)]}
    load_file(write_geojson(tmp_path / "pole.geojson", [("Test/Pole", pole)]))
    if not lookup_copy:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE tz_world_subdivided")
    assert timezone_at(longitude=100.0, latitude=89.95) == "Test/Pole"  # 5.6 km, through the pole
    assert timezone_at(longitude=100.0, latitude=89.85) == "Test/Pole"  # 16.8 km
    assert timezone_at(longitude=-170.0, latitude=89.85) == "Test/Pole"
    assert timezone_at(longitude=100.0, latitude=89.75) is None  # 27.9 km


def test_the_lookup_copy_is_used_when_it_matches_tz_world(tmp_path):
    load_file(write_geojson(tmp_path / "zones.geojson"))
    with connection.cursor() as cursor:  # an UPDATE keeps the table's identity: still a match
        cursor.execute("UPDATE tz_world_subdivided SET tzid = 'Test/FromTheCopy' WHERE tzid = 'Test/Alpha'")
    assert timezone_at(longitude=11.0, latitude=45.0) == "Test/FromTheCopy"


def test_a_lookup_copy_of_an_older_tz_world_is_not_used(tmp_path, caplog):
    load_file(write_geojson(tmp_path / "zones.geojson"))
    # tz_world replaced by hand (as with shp2pgsql), the lookup copy left behind.
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE tz_world")
        create_tz_world(cursor, TEST_POLYGONS)
    with caplog.at_level(logging.WARNING, logger="timezones.selectors"):
        assert timezone_at(longitude=11.0, latitude=45.0) is None  # Alpha is gone
        assert timezone_at(longitude=18.0, latitude=60.0) == "Europe/Stockholm"
    assert "tz_world_subdivided was not cut from the current tz_world" in caplog.text
    assert "Run bin/manage load_tz_world to rebuild both." in caplog.text


def test_no_table_answers_none_and_warns(caplog):
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE tz_world")
    with caplog.at_level(logging.WARNING, logger="timezones.selectors"):
        assert timezone_at(longitude=18.0, latitude=60.0) is None
    assert "There is no tz_world table" in caplog.text


def test_a_failing_lookup_does_not_break_the_callers_transaction(caplog, monkeypatch):
    monkeypatch.setattr(selectors, "_STATE_SQL", "SELECT no_such_column FROM tz_world")
    with transaction.atomic():
        with caplog.at_level(logging.WARNING, logger="timezones.selectors"):
            assert timezone_at(longitude=18.0, latitude=60.0) is None
        with connection.cursor() as cursor:  # the transaction is still usable
            cursor.execute("SELECT count(*) FROM tz_world")
            assert cursor.fetchone() == (len(TEST_POLYGONS),)
    assert "tz_world lookup failed" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_lookup_is_two_plain_selects():
    with CaptureQueriesContext(connection) as queries:
        assert timezone_at(longitude=18.0, latitude=60.0) == "Europe/Stockholm"
    statements = [query["sql"].split()[0].upper() for query in queries.captured_queries]
    assert statements == ["SELECT", "SELECT"]  # the tables' state, the lookup; no BEGIN, no SAVEPOINT


@pytest.mark.django_db(transaction=True)
def test_a_new_connection_answers_as_the_old_one_did(caplog):
    """PostgreSQL keeps the lookup's plans per connection: a fresh connection plans again."""
    assert timezone_at(longitude=18.0, latitude=60.0) == "Europe/Stockholm"
    connection.close()
    selectors.clear_cache()
    with caplog.at_level(logging.WARNING, logger="timezones.selectors"):
        assert timezone_at(longitude=18.0, latitude=60.0) == "Europe/Stockholm"
        assert timezone_at(longitude=-1.0, latitude=52.0) == "Europe/London"
    assert "tz_world lookup failed" not in caplog.text


@pytest.mark.django_db(transaction=True)
def test_kept_plans_follow_tables_replaced_by_another_connection(settings, restore_tz_world):
    settings.TZ_WORLD_RELOAD_CHECK_INTERVAL = 0
    assert timezone_at(longitude=18.0, latitude=60.0) == "Europe/Stockholm"  # planned on tz_world
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with other.cursor() as cursor:  # autocommit: replaced for everyone at once
            cursor.execute("DROP TABLE tz_world")
            create_tz_world(cursor, [("Europe/Helsinki", "MULTIPOLYGON(((10 50,30 50,30 70,10 70,10 50)))")])
    finally:
        other.close()
    assert timezone_at(longitude=18.0, latitude=60.0) == "Europe/Helsinki"


# --- The cache ----------------------------------------------------------------------------------


def test_repeated_coordinates_are_answered_from_memory(settings, django_assert_num_queries):
    settings.TZ_WORLD_RELOAD_CHECK_INTERVAL = 3600
    # Inside the test's transaction: a savepoint, the tables' state, the lookup, the release.
    with django_assert_num_queries(4):
        assert timezone_at(longitude=18.0, latitude=60.0) == "Europe/Stockholm"
    with django_assert_num_queries(0):
        assert timezone_at(longitude=18.0, latitude=60.0) == "Europe/Stockholm"
        assert timezone_at(longitude=18.0, latitude=60.0) == "Europe/Stockholm"


def test_answers_at_sea_are_remembered_too(settings, django_assert_num_queries):
    settings.TZ_WORLD_RELOAD_CHECK_INTERVAL = 3600
    assert timezone_at(longitude=-40.0, latitude=30.0) is None
    with django_assert_num_queries(0):
        assert timezone_at(longitude=-40.0, latitude=30.0) is None


def test_the_cache_keeps_at_most_its_size_dropping_the_least_recently_used(
    settings, django_assert_num_queries
):
    settings.TZ_WORLD_RELOAD_CHECK_INTERVAL = 3600
    settings.TZ_WORLD_CACHE_SIZE = 2
    timezone_at(longitude=15.0, latitude=60.0)
    timezone_at(longitude=16.0, latitude=60.0)
    timezone_at(longitude=15.0, latitude=60.0)  # used again: 16 is now the least recently used
    timezone_at(longitude=17.0, latitude=60.0)  # a third answer: 16 is dropped
    with django_assert_num_queries(0):
        timezone_at(longitude=15.0, latitude=60.0)
        timezone_at(longitude=17.0, latitude=60.0)
    with django_assert_num_queries(3):  # asked again: savepoint, lookup, release
        assert timezone_at(longitude=16.0, latitude=60.0) == "Europe/Stockholm"


def test_a_cache_of_size_zero_is_off(settings, django_assert_num_queries):
    settings.TZ_WORLD_RELOAD_CHECK_INTERVAL = 3600
    settings.TZ_WORLD_CACHE_SIZE = 0
    timezone_at(longitude=18.0, latitude=60.0)
    with django_assert_num_queries(3):  # savepoint, lookup, release: the state was checked already
        assert timezone_at(longitude=18.0, latitude=60.0) == "Europe/Stockholm"


def test_a_reload_by_the_loader_empties_the_cache(settings, tmp_path):
    settings.TZ_WORLD_RELOAD_CHECK_INTERVAL = 3600
    assert timezone_at(longitude=18.0, latitude=60.0) == "Europe/Stockholm"
    helsinki = {"type": "Polygon", "coordinates": [box(10, 50, 30, 70)]}
    load_file(write_geojson(tmp_path / "z.geojson", [("Europe/Helsinki", helsinki)]))
    assert timezone_at(longitude=18.0, latitude=60.0) == "Europe/Helsinki"


def test_a_reload_elsewhere_is_noticed_at_the_next_check(settings):
    """Another process reloading tz_world changes the table's identity; this process notices it
    at its next check and forgets its answers."""
    settings.TZ_WORLD_RELOAD_CHECK_INTERVAL = 3600
    assert timezone_at(longitude=18.0, latitude=60.0) == "Europe/Stockholm"
    replace_tz_world([("Europe/Helsinki", "MULTIPOLYGON(((10 50,30 50,30 70,10 70,10 50)))")])
    assert timezone_at(longitude=18.0, latitude=60.0) == "Europe/Stockholm"  # not checked yet
    settings.TZ_WORLD_RELOAD_CHECK_INTERVAL = 0
    assert timezone_at(longitude=18.0, latitude=60.0) == "Europe/Helsinki"
