"""Time-zone polygons, read from the `tz_world` table.

The table is not Django's: its schema is the one `shp2pgsql -I -s 4326` makes from efele's
tz_world shapefile (gid serial, tzid varchar(30), geom MultiPolygon SRID 4326, GiST index),
kept as SQL in `timezones/sql/tz_world.sql`. `manage.py load_tz_world` and the tests create
the table from that file; the model is unmanaged so migrations never touch it. varchar(30)
holds every real name: the longest in timezone-boundary-builder's data (America/Argentina/
Buenos_Aires and three others) is exactly 30 characters, which a test checks against the
packaged data, and the loader refuses a longer one with a clear message.

One row per polygon of the source (efele's and the packaged data) or per zone (timezone-boundary-
builder's own files, as multipolygons). The loader also builds `tz_world_subdivided`
(`timezones/sql/tz_world_subdivided.sql`), the same polygons cut into small pieces for fast
lookups; it has no model, only `timezones.selectors` reads it.
"""

from django.contrib.gis.db import models


class TzWorld(models.Model):
    gid = models.AutoField(primary_key=True)
    tzid = models.CharField(max_length=30)
    geom = models.MultiPolygonField(srid=4326)

    class Meta:
        managed = False
        db_table = "tz_world"
        verbose_name = "time zone polygon"

    def __str__(self) -> str:
        return f"{self.tzid} ({self.gid})"
