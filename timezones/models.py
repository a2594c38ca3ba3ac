"""Time-zone polygons, read from the `tz_world` table.

The table is not Django's: its schema is the one `shp2pgsql -I -s 4326` makes from efele's
tz_world shapefile (gid serial, tzid varchar(30), geom MultiPolygon SRID 4326, GiST index),
kept as SQL in `timezones/sql/tz_world.sql`. `manage.py load_tz_world` and the tests create
the table from that file; the model is unmanaged so migrations never touch it. The longest
IANA zone name in the boundary data is exactly 30 characters, so varchar(30) holds them all.
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
