"""The lookup function timezones/sql/tz_world_zone_at.sql (see its header)."""

from django.db import migrations

from timezones.schema import TZ_WORLD_ZONE_AT_SQL


class Migration(migrations.Migration):
    dependencies = [("timezones", "0001_initial")]

    operations = [
        migrations.RunSQL(
            TZ_WORLD_ZONE_AT_SQL.read_text(),
            reverse_sql="DROP FUNCTION IF EXISTS tz_world_zone_at(float8, float8, boolean, float8, text)",
        ),
    ]
