"""How far two City databases' answers agree (lookups.core.comparison), on real lookups of the
known test databases and on distances known from geography."""

import pytest

from lookups.core import pipeline
from lookups.core.comparison import (
    ALTERNATIVE,
    PRIMARY,
    SAME,
    Agreement,
    Comparison,
    agreement,
    batch_agreement,
    haversine_km,
)
from lookups.core.geoip import GeoIPReader
from lookups.errors import ADDRESS_NOT_FOUND_MESSAGE, AddressNotFound
from lookups.tests.geoip_data import (
    BERLIN_DISTANCE_KM,
    BERLIN_IP,
    COUNTRY_ONLY_IP,
    LINKOPING_DISTANCE_KM,
    LINKOPING_IP,
    LONDON_DISTANCE_KM,
    LONDON_IP,
    build_city_database,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("a", "b", "km"),
    [
        ((0, 0), (0, 0), 0),
        ((0, 0), (90, 0), 10007.5),  # a quarter of a meridian
        ((0, 0), (0, 180), 20015.1),  # half the equator
        ((0, 179.5), (0, -179.5), 111.2),  # across the antimeridian: 1 degree, not 359
        (
            (51.4700, -0.4543),
            (40.6413, -73.7781),
            5554.0,
        ),  # Heathrow to JFK (gcmap: 3,451 mi on the ellipsoid)
    ],
)
def test_haversine_distances(a, b, km):
    assert haversine_km(*a, *b) == pytest.approx(km, rel=0.005, abs=0.1)  # a sphere, not the ellipsoid


def test_agreement_of_the_known_databases(city_database, alternative_database):
    def compared(query):
        return agreement(pipeline.compare(query, channel="api"))

    assert compared(LONDON_IP) == Agreement(True, True, LONDON_DISTANCE_KM, True, PRIMARY)
    assert compared(BERLIN_IP) == Agreement(True, False, BERLIN_DISTANCE_KM, True, PRIMARY)
    assert compared(LINKOPING_IP) == Agreement(False, False, LINKOPING_DISTANCE_KM, False, PRIMARY)


def test_nothing_to_compare_is_none(city_database, tmp_path):
    # The same database twice: the same build; a country-level record has no city or coordinates.
    same = GeoIPReader(city_database, check_interval=0)
    comparison = pipeline.compare(COUNTRY_ONLY_IP, channel="api", alternative_reader=same)
    assert agreement(comparison) == Agreement(True, None, None, None, SAME)
    missing = AddressNotFound(ADDRESS_NOT_FOUND_MESSAGE.format(address="9.9.9.9"))
    assert agreement(Comparison(comparison.primary, missing)) == Agreement(None, None, None, None, None)


def test_no_radius_on_either_side_is_none(city_database, tmp_path):
    # Two databases without accuracy radii: no "within" to say.
    lean = {"81.2.69.0/24": {"country": {"iso_code": "GB"}, "location": {"latitude": 51.5, "longitude": 0.0}}}
    first = GeoIPReader(
        build_city_database(tmp_path / "a.mmdb", networks=lean, build_epoch=2), check_interval=0
    )
    second = GeoIPReader(
        build_city_database(tmp_path / "b.mmdb", networks=lean, build_epoch=3), check_interval=0
    )
    comparison = pipeline.compare(LONDON_IP, channel="api", reader=first, alternative_reader=second)
    assert agreement(comparison) == Agreement(True, None, 0.0, None, ALTERNATIVE)


def test_batch_figures(city_database, alternative_database):
    comparisons = pipeline.compare_batch(
        [LONDON_IP, BERLIN_IP, LINKOPING_IP, COUNTRY_ONLY_IP], channel="batch"
    )
    figures = batch_agreement(comparisons)
    assert figures.compared == 3  # the country-level address is not in the DB-IP-style database
    assert figures.countries_agreeing_percent == pytest.approx(66.7)
    assert figures.cities_agreeing_percent == pytest.approx(33.3)
    assert figures.median_distance_km == BERLIN_DISTANCE_KM


def test_an_empty_comparison_has_no_figures():
    figures = batch_agreement([])
    assert (figures.compared, figures.countries_agreeing_percent, figures.median_distance_km) == (
        0,
        None,
        None,
    )
