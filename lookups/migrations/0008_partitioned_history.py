# The history becomes a table partitioned by day (UTC) on created_at, keeping every row: the old
# table is attached as the first partition (everything before tomorrow), so no row is copied.
# Days from tomorrow on get partitions of their own, created ahead (lookups.history.partitions),
# and a DEFAULT partition catches a row no day partition covers yet. docs/history.md tells why.
#
# PostgreSQL requires a partitioned table's primary key and unique constraints to include the
# partition column: the database's key is (id, created_at) and the uid's uniqueness (uid,
# created_at). Django keeps `id` as its primary key (ids still come from one sequence, so they
# stay unique), which is what the admin needs. The SQL is here rather than in the app's code, so
# that this migration keeps doing what it did whatever that code becomes.
#
# It holds the table for the time it takes to check the rows' times and build the new key's index
# (about a minute at ten million rows): lookups keep being answered, their rows wait in the spool.

import datetime as dt

from django.db import migrations, models

TABLE = "lookups_lookup"
FIRST = "lookups_lookup_initial"
DEFAULT = "lookups_lookup_default"
DAYS_AHEAD = 7


def _day_partition(day: dt.date) -> str:
    return f"{TABLE}_p{day:%Y%m%d}"


def partition(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = %s::regclass", [TABLE])
        if cursor.fetchone()[0] == "p":
            return
        cursor.execute("SET LOCAL TimeZone = 'UTC'")
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s",
            [TABLE],
        )
        indexes = cursor.fetchall()
        cursor.execute(
            "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'f')",
            [TABLE],
        )
        constraints = cursor.fetchall()
        cursor.execute(f"SELECT max(created_at) FROM {TABLE}")
        (newest,) = cursor.fetchone()
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [TABLE])
        (sequence,) = cursor.fetchone()
        cursor.execute(f"SELECT last_value, is_called FROM {sequence}")  # noqa: S608 (from the catalogue)
        last_value, is_called = cursor.fetchone()

        # The old table, with its rows and indexes, becomes the first partition. Its key and
        # unique constraints make way for the partitioned ones; its other indexes are renamed
        # and then adopted by the parent's identical indexes (not built again).
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {FIRST}")
        # Foreign keys too: the parent's, below, apply to every partition.
        for name, _kind, _definition in constraints:
            cursor.execute(f'ALTER TABLE {FIRST} DROP CONSTRAINT "{name}"')
        constraint_indexes = {name for name, kind, _ in constraints if kind in ("p", "u")}
        kept = [(name, definition) for name, definition in indexes if name not in constraint_indexes]
        for number, (name, _definition) in enumerate(kept):
            cursor.execute(f'ALTER INDEX "{name}" RENAME TO {FIRST}_{number}_idx')
        cursor.execute(f"ALTER TABLE {FIRST} ALTER COLUMN id DROP IDENTITY IF EXISTS")
        cursor.execute(f"ALTER TABLE {FIRST} ALTER COLUMN id DROP DEFAULT")

        cursor.execute(
            f"CREATE TABLE {TABLE} (LIKE {FIRST} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
            f"INCLUDING STATISTICS INCLUDING STORAGE) PARTITION BY RANGE (created_at)"
        )
        cursor.execute(f"CREATE SEQUENCE {TABLE}_id_seq OWNED BY {TABLE}.id")
        cursor.execute("SELECT setval(%s, %s, %s)", [f"{TABLE}_id_seq", last_value, is_called])
        cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id SET DEFAULT nextval('{TABLE}_id_seq')")
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id, created_at)")
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT lookup_uid_time_uniq UNIQUE (uid, created_at)")
        for name, kind, definition in constraints:
            if kind == "f":
                cursor.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {definition}')

        tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
        first_end = max(tomorrow, newest.date() + dt.timedelta(days=1)) if newest else tomorrow
        cursor.execute(
            f"ALTER TABLE {TABLE} ATTACH PARTITION {FIRST} FOR VALUES FROM (MINVALUE) TO (%s)", [first_end]
        )
        for name, definition in kept:
            cursor.execute(definition)  # CREATE INDEX name ON the parent: adopts FIRST's own
        for offset in range(DAYS_AHEAD + 1):
            day = first_end + dt.timedelta(days=offset)
            cursor.execute(
                f"CREATE TABLE {_day_partition(day)} PARTITION OF {TABLE} FOR VALUES FROM (%s) TO (%s)",
                [day, day + dt.timedelta(days=1)],
            )
        cursor.execute(f"CREATE TABLE {DEFAULT} PARTITION OF {TABLE} DEFAULT")


def unpartition(apps, schema_editor):
    """Back to one plain table, every row copied (for going back a version; slow at volume)."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s "
            "AND indexname NOT IN (%s, 'lookup_uid_time_uniq')",
            [TABLE, f"{TABLE}_pkey"],
        )
        indexes = cursor.fetchall()
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
            "AND contype = 'f'",
            [TABLE],
        )
        foreign_keys = cursor.fetchall()
        cursor.execute(f"SELECT last_value, is_called FROM {TABLE}_id_seq")  # noqa: S608 (a constant)
        last_value, is_called = cursor.fetchone()
        plain = f"{TABLE}_plain"
        cursor.execute(f"CREATE TABLE {plain} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        cursor.execute(f"INSERT INTO {plain} SELECT * FROM {TABLE}")  # noqa: S608 (constants)
        cursor.execute(f"ALTER TABLE {plain} ALTER COLUMN id DROP DEFAULT")  # the sequence goes below
        cursor.execute(f"DROP TABLE {TABLE}")
        cursor.execute(f"ALTER TABLE {plain} RENAME TO {TABLE}")
        cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY")
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, %s)", [TABLE, last_value, is_called]
        )
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id)")
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_uid_key UNIQUE (uid)")
        for _name, definition in indexes:
            cursor.execute(definition)
        for name, definition in foreign_keys:
            cursor.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {definition}')


class Migration(migrations.Migration):
    dependencies = [
        ("lookups", "0007_subdivisions"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(partition, unpartition, elidable=False)],
            state_operations=[
                migrations.AlterField(
                    model_name="lookup",
                    name="uid",
                    field=models.UUIDField(blank=True, editable=False, null=True),
                ),
                migrations.AddConstraint(
                    model_name="lookup",
                    constraint=models.UniqueConstraint(
                        fields=("uid", "created_at"), name="lookup_uid_time_uniq"
                    ),
                ),
            ],
        ),
    ]
