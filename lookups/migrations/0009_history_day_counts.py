# The dashboard's figures, kept as rows arrive: one statement-level trigger for INSERT and one for
# DELETE on the (partitioned) history table add or subtract each statement's rows, grouped by UTC
# day and country, and by day and query, from two small tables. The replay's INSERT ... ON CONFLICT
# DO NOTHING hands the trigger only the rows it stored, so a replayed row is counted once. Rows
# locked in key order (ORDER BY), so that two flushes at once wait for each other, never deadlock.
# Partitions dropped whole (lookups.history.partitions) take their days' counts with them.
#
# Then the counts of the rows already there, in one pass over the table (about 10 s a million rows).

from django.db import migrations, models

COUNT_ROWS = """
CREATE FUNCTION lookups_count_history() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sign integer := CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END;
BEGIN
    INSERT INTO lookups_lookupdaycount AS counted
        (day, country_code, country_name, total, failed, with_time_zone, tz_world)
    SELECT (created_at AT TIME ZONE 'UTC')::date, country_code, max(country_name),
        sign * count(*),
        sign * count(*) FILTER (WHERE outcome <> 'ok'),
        sign * count(*) FILTER (WHERE time_zone_source <> ''),
        sign * count(*) FILTER (WHERE time_zone_source = 'tz_world')
    FROM changed GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (day, country_code) DO UPDATE SET
        total = counted.total + excluded.total,
        failed = counted.failed + excluded.failed,
        with_time_zone = counted.with_time_zone + excluded.with_time_zone,
        tz_world = counted.tz_world + excluded.tz_world,
        country_name = CASE WHEN excluded.country_name <> '' AND sign > 0
            THEN excluded.country_name ELSE counted.country_name END;
    INSERT INTO lookups_lookupdayquery AS counted (day, query, lookups)
    SELECT (created_at AT TIME ZONE 'UTC')::date, query, sign * count(*)
    FROM changed GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (day, query) DO UPDATE SET lookups = counted.lookups + excluded.lookups;
    RETURN NULL;
END
$$;
CREATE TRIGGER lookups_count_inserts AFTER INSERT ON lookups_lookup
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION lookups_count_history();
CREATE TRIGGER lookups_count_deletes AFTER DELETE ON lookups_lookup
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION lookups_count_history();
"""

NO_COUNTS = """
DROP TRIGGER lookups_count_inserts ON lookups_lookup;
DROP TRIGGER lookups_count_deletes ON lookups_lookup;
DROP FUNCTION lookups_count_history();
"""

COUNT_EXISTING_ROWS = """
INSERT INTO lookups_lookupdaycount (day, country_code, country_name, total, failed, with_time_zone, tz_world)
SELECT (created_at AT TIME ZONE 'UTC')::date, country_code, max(country_name), count(*),
    count(*) FILTER (WHERE outcome <> 'ok'),
    count(*) FILTER (WHERE time_zone_source <> ''),
    count(*) FILTER (WHERE time_zone_source = 'tz_world')
FROM lookups_lookup GROUP BY 1, 2;
INSERT INTO lookups_lookupdayquery (day, query, lookups)
SELECT (created_at AT TIME ZONE 'UTC')::date, query, count(*) FROM lookups_lookup GROUP BY 1, 2;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('lookups', '0008_partitioned_history'),
    ]

    operations = [
        migrations.CreateModel(
            name='LookupDayCount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField()),
                ('country_code', models.CharField(blank=True, default='', max_length=2)),
                ('country_name', models.CharField(blank=True, default='', max_length=100)),
                ('total', models.BigIntegerField(default=0)),
                ('failed', models.BigIntegerField(default=0)),
                ('with_time_zone', models.BigIntegerField(default=0)),
                ('tz_world', models.BigIntegerField(default=0)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('day', 'country_code'), name='lookupdaycount_day_uniq')],
            },
        ),
        migrations.CreateModel(
            name='LookupDayQuery',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField()),
                ('query', models.CharField(max_length=255)),
                ('lookups', models.BigIntegerField(default=0)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('query', 'day'), name='lookupdayquery_query_day_uniq')],
                'indexes': [models.Index(fields=['day', '-lookups'], name='lookupdayquery_day_busy_idx')],
            },
        ),
        # The existing rows are counted under a lock that keeps new ones out until the trigger
        # counts them: none counted twice, none missed.
        migrations.RunSQL("LOCK TABLE lookups_lookup IN SHARE MODE", migrations.RunSQL.noop),
        migrations.RunSQL(COUNT_ROWS, NO_COUNTS),
        migrations.RunSQL(COUNT_EXISTING_ROWS, migrations.RunSQL.noop),
    ]
