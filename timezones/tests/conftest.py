"""Fixtures for the time-zone tests: polygon files written with GDAL, and tz_world put back as
the rest of the suite expects it (the root conftest's two test polygons, no lookup copy)."""

import json
import math
import subprocess
from pathlib import Path

import pytest
from django.db import connection

from conftest import create_tz_world
from timezones import selectors
from timezones.loader import ZoneSelection, file_source, load_tz_world


def circle(lon: float, lat: float, radius: float, vertices: int = 1000) -> list[list[float]]:
    """A closed ring of `vertices` points, enough for ST_Subdivide to cut it into pieces."""
    ring = [
        [
            round(lon + radius * math.cos(2 * math.pi * i / vertices), 6),
            round(lat + radius * math.sin(2 * math.pi * i / vertices), 6),
        ]
        for i in range(vertices)
    ]
    return [*ring, ring[0]]


def box(west: float, south: float, east: float, north: float) -> list[list[float]]:
    return [[west, south], [east, south], [east, north], [west, north], [west, south]]


# Test/Alpha: a detailed disc around (15, 45) with a hole of 1° radius in its middle.
# Test/Beta and Test/Gamma: boxes sharing the edge at longitude 25; Beta is loaded first.
# Test/Delta: a multipolygon of two squares. Then what efele's files also hold: an
# "uninhabited" polygon, and a feature without a geometry.
FEATURES = [
    ("Test/Alpha", {"type": "Polygon", "coordinates": [circle(15, 45, 5), circle(15, 45, 1, 400)[::-1]]}),
    ("Test/Beta", {"type": "Polygon", "coordinates": [box(20.5, 40, 25, 50)]}),
    ("Test/Gamma", {"type": "Polygon", "coordinates": [box(25, 40, 30, 50)]}),
    ("Test/Delta", {"type": "MultiPolygon", "coordinates": [[box(30, 0, 31, 1)], [box(32, 0, 33, 1)]]}),
    ("uninhabited", {"type": "Polygon", "coordinates": [box(-60, -80, -50, -70)]}),
    ("Test/Nowhere", None),
]


def write_geojson(path: Path, features=FEATURES, field: str = "tzid") -> Path:
    collection = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {field: tzid}, "geometry": geometry}
            for tzid, geometry in features
        ],
    }
    path.write_text(json.dumps(collection))
    return path


def write_shapefile(path: Path, features=FEATURES, *, srs: str = "EPSG:4326") -> Path:
    """A shapefile as efele's tz_world is: a TZID field, made by GDAL from GeoJSON."""
    geojson = write_geojson(path.with_suffix(".geojson"), features, field="TZID")
    subprocess.run(
        ["ogr2ogr", "-f", "ESRI Shapefile", "-nlt", "MULTIPOLYGON", "-t_srs", srs, str(path), str(geojson)],
        check=True,
        capture_output=True,
    )
    return path


def replace_tz_world(polygons) -> None:
    """tz_world holding `polygons` (tzid, WKT) and no lookup copy, inside the test's transaction."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS tz_world_subdivided")
        create_tz_world(cursor, polygons)


def load_file(path: Path, *, kind: str = "geojson", zones: str | None = None):
    return load_tz_world(file_source(path, kind=kind), zones=ZoneSelection(zones))


def tz_world_rows() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT gid, tzid, ST_AsText(geom) FROM tz_world ORDER BY gid")
        return cursor.fetchall()


@pytest.fixture(autouse=True)
def _fresh_zone_cache():
    selectors.clear_cache()
    yield
    selectors.clear_cache()


@pytest.fixture
def restore_tz_world(django_db_blocker):
    """For tests that commit: put tz_world back as the rest of the suite expects it."""
    yield
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS tz_world_subdivided")
        cursor.execute("DROP TABLE IF EXISTS tz_world")
        create_tz_world(cursor)
