"""The tz_world tables: where their schema lives, and how the lookup copy is marked.

`tz_world` is the table a database prepared with `shp2pgsql -I -s 4326` has; `tz_world_subdivided`
is our lookup copy of it, cut into small pieces. Both schemas are SQL files beside this module,
run by the loader and by the tests. So is the lookup function tz_world_zone_at, which a
migration creates.
"""

from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent / "sql"
TZ_WORLD_SQL = SQL_DIR / "tz_world.sql"
TZ_WORLD_SUBDIVIDED_SQL = SQL_DIR / "tz_world_subdivided.sql"
TZ_WORLD_ZONE_AT_SQL = SQL_DIR / "tz_world_zone_at.sql"

TZ_WORLD = "tz_world"
TZ_WORLD_SUBDIVIDED = "tz_world_subdivided"

# ST_Subdivide's limit: measured on the real data, 256-vertex pieces answer a point in 0.27 ms
# where the whole polygons take 0.93 ms (FIELD-NOTES). Finer pieces (128, 64, 32 vertices: 2, 4
# and 8 times the rows) answered no faster, and cutting them takes longer.
MAX_VERTICES = 256

# Zone names the lookups never answer: efele's tz_world marks uninhabited land with this tzid.
UNINHABITED = "uninhabited"


def subdivided_mark(tz_world_filenode: int) -> str:
    """The comment on tz_world_subdivided naming the tz_world it was cut from.

    A table's filenode changes whenever it is dropped and created again or truncated, which is
    how tz_world is replaced by hand (shp2pgsql): a lookup copy of an older tz_world is then
    recognised as stale and left unused.
    """
    return f"easygeoip: subdivided from tz_world filenode {tz_world_filenode}"
