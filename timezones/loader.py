"""Load time-zone polygons into tz_world: from the timezonefinder data package (offline, the
default), or from a shapefile or GeoJSON file read through GDAL.

A load stages the polygons (made valid), numbers them smallest first into a new tz_world, cuts
that into its lookup copy tz_world_subdivided, all in a scratch schema, then,
in the same transaction, drops the old tables and moves the new ones in. Readers see the old
polygons until the commit and the new ones after it, never an empty or half-loaded table; the
swap itself holds the old tables' lock only for the moment of the commit. A failed load leaves the
old tables exactly as they were.
"""

import contextlib
import importlib.metadata
import struct
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.contrib.gis.gdal import DataSource, GDALException, SpatialReference
from django.db import DatabaseError, connection, transaction

from timezones import selectors
from timezones.schema import (
    MAX_VERTICES,
    TZ_WORLD,
    TZ_WORLD_SQL,
    TZ_WORLD_SUBDIVIDED,
    TZ_WORLD_SUBDIVIDED_SQL,
    UNINHABITED,
    subdivided_mark,
)

TZID_MAX_LENGTH = 30  # tz_world.tzid is varchar(30), as shp2pgsql made it
LOAD_SCHEMA = "tz_world_load"
# Held for the whole load, so that two loaders never build in the same scratch schema at once.
_LOCK_KEY = 0x747A5F776F726C64  # "tz_world"
# A reader holding tz_world in a long transaction must not stall the service behind our swap.
SWAP_LOCK_TIMEOUT = "30s"

FILE_KINDS = {"shapefile": "ESRI Shapefile", "geojson": "GeoJSON"}

NO_SUCH_FILE = "No such file: {path}"
UNREADABLE_FILE = "GDAL cannot read {path} as a {kind}: {error}"
WRONG_KIND = "{path} is a {driver} file, not a {kind}"
NO_TZID_FIELD = "{path} has no tzid field (its fields: {fields})"
NAME_TOO_LONG = "Zone name {name!r} is longer than {limit} characters, the width of tz_world.tzid"
NOTHING_MATCHES = "--zones: nothing in {source} matches {entries}"
NO_POLYGONS = "{source} holds no time-zone polygons"
DATABASE_FAILED = "PostgreSQL refused the load, tz_world is unchanged: {error}"
SOURCE_FAILED = "Reading {source} failed, tz_world is unchanged: {error}"


class LoadError(Exception):
    """A load that did not happen; tz_world is unchanged."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Feature:
    """One zone polygon (or multipolygon) from a source; its WKB is built only when loaded."""

    tzid: str | None
    wkb: Callable[[], bytes | None]  # None: the feature has no polygon


@dataclass(frozen=True)
class PolygonSource:
    description: str
    total: int  # features, for the progress display
    features: Iterable[Feature]
    zone_names: frozenset[str] | None = None  # when known before reading (to check --zones at once)


@dataclass(frozen=True)
class LoadReport:
    source: str
    zones: int
    polygons: int  # polygons, counting each part of a multipolygon
    rows: int  # tz_world rows (one per source feature)
    pieces: int  # tz_world_subdivided rows
    skipped: int  # features without a polygon, or of efele's "uninhabited"
    seconds: float


class ZoneSelection:
    """Which zones to load: everything, or the names and prefixes (ending in '/') listed."""

    def __init__(self, spec: str | None = None):
        self.spec = spec
        entries = [entry.strip() for entry in (spec or "").split(",") if entry.strip()]
        self.names = {entry for entry in entries if not entry.endswith("/")}
        self.prefixes = tuple(entry for entry in entries if entry.endswith("/"))
        self._matched: set[str] = set()

    @property
    def everything(self) -> bool:
        return not (self.names or self.prefixes)

    def __contains__(self, name: str) -> bool:
        if self.everything:
            return True
        matches = {name} & self.names | {prefix for prefix in self.prefixes if name.startswith(prefix)}
        self._matched |= matches
        return bool(matches)

    def unmatched(self, zone_names: Iterable[str] | None = None) -> list[str]:
        """The entries that matched no zone read so far, or none of `zone_names`."""
        if zone_names is not None:
            for name in zone_names:
                name in self  # noqa: B015 (records the entries it matches)
        return sorted((self.names | set(self.prefixes)) - self._matched)


# --- Sources --------------------------------------------------------------------------------


def _polygon_wkb(rings: list[np.ndarray]) -> bytes:
    """A one-polygon MultiPolygon as little-endian WKB; `rings` are (2, n) arrays, closed here
    when their last point does not repeat the first (timezonefinder's do not)."""
    parts = [struct.pack("<BII", 1, 6, 1), struct.pack("<BII", 1, 3, len(rings))]
    for ring in rings:
        points = np.ascontiguousarray(ring.T, dtype="<f8")
        if not np.array_equal(points[0], points[-1]):
            points = np.vstack([points, points[:1]])
        parts += [struct.pack("<I", len(points)), points.tobytes()]
    return b"".join(parts)


def offline_source() -> PolygonSource:
    """timezone-boundary-builder's polygons with oceans, as the timezonefinder package ships them."""
    from timezonefinder import TimezoneFinder
    from timezonefinder.configs import INT2COORD_FACTOR

    finder = TimezoneFinder()
    # The package's public get_geometry() converts 8 million points one by one in Python (over a
    # minute here); its own integer arrays, scaled in numpy, give the same floats at once (a
    # test compares the two).
    boundaries = [
        (name, boundary_id)
        for zone_id, name in enumerate(finder.timezone_names)
        for boundary_id in finder._iter_boundary_ids_of_zone(zone_id)
    ]

    def rings_of(boundary_id: int) -> list[np.ndarray]:
        return [finder.coords_of(boundary_id) * INT2COORD_FACTOR] + [
            hole * INT2COORD_FACTOR for hole in finder._holes_of_poly(boundary_id)
        ]

    version = importlib.metadata.version("timezonefinder-data")
    return PolygonSource(
        description=f"timezonefinder-data {version}",
        total=len(boundaries),
        zone_names=frozenset(finder.timezone_names),
        features=(
            Feature(tzid=name, wkb=lambda boundary_id=boundary_id: _polygon_wkb(rings_of(boundary_id)))
            for name, boundary_id in boundaries
        ),
    )


def file_source(path: Path | str, *, kind: str) -> PolygonSource:
    """A shapefile or GeoJSON file (zipped or not): efele's tz_world or timezone-boundary-builder's."""
    path = Path(path)
    if not path.is_file():
        raise LoadError(NO_SUCH_FILE.format(path=path))
    gdal_path = f"/vsizip/{path}" if path.suffix.lower() == ".zip" else str(path)
    try:
        source = DataSource(gdal_path, encoding="utf-8")
        driver = str(source.driver)
        if driver != FILE_KINDS[kind]:
            raise LoadError(WRONG_KIND.format(path=path, driver=driver, kind=kind))
        layer = source[0]
        fields = layer.fields
    except (GDALException, IndexError) as exc:
        raise LoadError(UNREADABLE_FILE.format(path=path, kind=kind, error=exc or "no layer")) from exc
    field = next((name for name in fields if name.lower() == "tzid"), None)
    if field is None:
        raise LoadError(NO_TZID_FIELD.format(path=path, fields=", ".join(fields) or "none"))
    transform = _needs_transform(layer.srs)

    def features() -> Iterator[Feature]:
        for feature in layer:

            def wkb(feature=feature) -> bytes | None:
                try:
                    geometry = feature.geom
                except GDALException:  # a feature without a geometry
                    return None
                if geometry.geom_type.name.removesuffix("25D") not in {"Polygon", "MultiPolygon"}:
                    return None
                if transform:
                    geometry.transform(4326)
                return bytes(geometry.wkb)

            yield Feature(tzid=feature.get(field), wkb=wkb)

    # The layer keeps its DataSource open as long as it is referenced.
    return PolygonSource(description=str(path), total=len(layer), features=features())


def _needs_transform(srs: SpatialReference | None) -> bool:
    """False when the layer is in WGS 84 already (or says nothing, as GeoJSON may not)."""
    if srs is None:
        return False
    with contextlib.suppress(GDALException):
        srs.identify_epsg()
    return srs.srid != 4326


# --- The load ---------------------------------------------------------------------------------

STAGING = "tz_world_staging"
_STAGE_SQL = """
    WITH given AS (
        SELECT ST_Force2D(ST_GeomFromWKB(%(wkb)s, 4326)) AS geom
    ), valid AS (
        -- An invalid outline (self-crossing rings) would break ST_Subdivide and answer wrongly.
        SELECT CASE WHEN ST_IsValid(geom) THEN geom
                    ELSE ST_CollectionExtract(ST_MakeValid(geom), 3) END AS geom
        FROM given
    )
    INSERT INTO tz_world_staging (tzid, geom)
    SELECT %(tzid)s, ST_Multi(geom) FROM valid WHERE NOT ST_IsEmpty(geom)
"""
# Smallest polygon first: where two zones overlap (timezone-boundary-builder has a few such
# areas, e.g. Asia/Urumqi inside Asia/Shanghai in Xinjiang), lookups take the lowest gid, that
# is the more local zone, and usually the one GeoNames (and so MaxMind) gives (README).
_NUMBER_SQL = """
    INSERT INTO tz_world (tzid, geom)
    SELECT tzid, geom FROM tz_world_staging ORDER BY ST_Area(geom), tzid
"""
_CUT_SQL = """
    INSERT INTO tz_world_subdivided (gid, tzid, geom)
    SELECT tz_world.gid, tz_world.tzid, part.geom
    FROM tz_world,
        LATERAL ST_Subdivide(tz_world.geom, %(max_vertices)s) AS piece(geom),
        LATERAL ST_Dump(piece.geom) AS part
    WHERE tz_world.gid BETWEEN %(first)s AND %(last)s AND GeometryType(part.geom) = 'POLYGON'
    ORDER BY tz_world.gid
"""
_CUT_BATCH = 10  # rows cut per statement, between two progress reports

# What progress reports: the step, and how far it is.
READING, CUTTING = "Reading polygons", "Cutting pieces for lookups"
Progress = Callable[[str, int, int], None]


def load_tz_world(
    source: PolygonSource,
    *,
    zones: ZoneSelection | None = None,
    progress: Progress | None = None,
) -> LoadReport:
    """Replace tz_world and tz_world_subdivided with the source's polygons, atomically."""
    zones = zones or ZoneSelection()
    started = time.monotonic()
    if source.zone_names is not None and (
        unmatched := ZoneSelection(zones.spec).unmatched(source.zone_names)
    ):
        raise LoadError(NOTHING_MATCHES.format(source=source.description, entries=", ".join(unmatched)))
    quote = connection.ops.quote_name
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
            # The new tables go where the current ones are (or the first schema on the path).
            cursor.execute(
                "SELECT coalesce((SELECT nspname FROM pg_class JOIN pg_namespace ON pg_namespace.oid = "
                "relnamespace WHERE pg_class.oid = to_regclass(%s)), current_schema()), "
                "current_setting('search_path'), current_setting('lock_timeout')",
                [TZ_WORLD],
            )
            target, search_path, lock_timeout = cursor.fetchone()
            cursor.execute(f"DROP SCHEMA IF EXISTS {quote(LOAD_SCHEMA)} CASCADE")
            cursor.execute(f"CREATE SCHEMA {quote(LOAD_SCHEMA)}")
            # The schema files name their tables unqualified: they are created in, and every
            # statement below reaches, the scratch schema first.
            cursor.execute("SELECT set_config('search_path', %s, true)", [f"{LOAD_SCHEMA}, {search_path}"])
            cursor.execute(TZ_WORLD_SQL.read_text())
            cursor.execute(TZ_WORLD_SUBDIVIDED_SQL.read_text())
            cursor.execute(
                f"CREATE UNLOGGED TABLE {STAGING} (tzid varchar(30), geom geometry(MultiPolygon, 4326))"
            )

            skipped = _stage_features(cursor, source, zones, progress)
            unmatched = zones.unmatched()
            if unmatched:
                raise LoadError(
                    NOTHING_MATCHES.format(source=source.description, entries=", ".join(unmatched))
                )
            cursor.execute(_NUMBER_SQL)
            cursor.execute(f"DROP TABLE {STAGING}")
            cursor.execute(
                "SELECT count(*), count(DISTINCT tzid), coalesce(sum(ST_NumGeometries(geom)), 0), "
                "pg_relation_filenode(%s) FROM tz_world",
                [TZ_WORLD],
            )
            rows, zone_count, polygons, filenode = cursor.fetchone()
            if rows == 0:
                raise LoadError(NO_POLYGONS.format(source=source.description))
            _cut_pieces(cursor, rows, progress)
            cursor.execute("SELECT count(*) FROM tz_world_subdivided")
            (pieces,) = cursor.fetchone()
            cursor.execute("COMMENT ON TABLE tz_world_subdivided IS %s", [subdivided_mark(filenode)])
            cursor.execute("ANALYZE tz_world")
            cursor.execute("ANALYZE tz_world_subdivided")

            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [SWAP_LOCK_TIMEOUT])
            for table in (TZ_WORLD_SUBDIVIDED, TZ_WORLD):
                cursor.execute(f"DROP TABLE IF EXISTS {quote(target)}.{quote(table)}")
            for table in (TZ_WORLD, TZ_WORLD_SUBDIVIDED):
                cursor.execute(f"ALTER TABLE {quote(LOAD_SCHEMA)}.{quote(table)} SET SCHEMA {quote(target)}")
            cursor.execute(f"DROP SCHEMA {quote(LOAD_SCHEMA)}")
            cursor.execute(
                "SELECT set_config('search_path', %s, true), set_config('lock_timeout', %s, true)",
                [search_path, lock_timeout],
            )
    except DatabaseError as exc:
        raise LoadError(DATABASE_FAILED.format(error=str(exc).strip())) from exc
    except GDALException as exc:
        raise LoadError(SOURCE_FAILED.format(source=source.description, error=exc)) from exc
    selectors.clear_cache()
    return LoadReport(
        source=source.description,
        zones=zone_count,
        polygons=polygons,
        rows=rows,
        pieces=pieces,
        skipped=skipped,
        seconds=time.monotonic() - started,
    )


def _stage_features(cursor, source: PolygonSource, zones: ZoneSelection, progress: Progress | None) -> int:
    """Stage the selected zones' polygons, valid; return how many features were skipped."""
    skipped = 0
    for done, feature in enumerate(source.features, start=1):
        tzid = (feature.tzid or "").strip()
        if tzid and tzid in zones:
            if len(tzid) > TZID_MAX_LENGTH:
                raise LoadError(NAME_TOO_LONG.format(name=tzid, limit=TZID_MAX_LENGTH))
            wkb = feature.wkb() if tzid != UNINHABITED else None
            if wkb is None:
                skipped += 1
            else:
                cursor.execute(_STAGE_SQL, {"wkb": wkb, "tzid": tzid})
        elif not tzid:
            skipped += 1
        if progress is not None:
            progress(READING, done, source.total)
    return skipped


def _cut_pieces(cursor, rows: int, progress: Progress | None) -> None:
    """Fill tz_world_subdivided from tz_world (gids 1..rows, as just numbered)."""
    for first in range(1, rows + 1, _CUT_BATCH):
        last = min(first + _CUT_BATCH - 1, rows)
        cursor.execute(_CUT_SQL, {"max_vertices": MAX_VERTICES, "first": first, "last": last})
        if progress is not None:
            progress(CUTTING, last, rows)
