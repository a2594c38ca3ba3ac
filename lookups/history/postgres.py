"""The one way history rows get into PostgreSQL: COPY into a temporary table, then one INSERT ...
SELECT ... ON CONFLICT (uid, created_at) DO NOTHING.

COPY costs PostgreSQL about half the CPU of a multi-row INSERT (docs/history.md has the figures),
but cannot skip a row already stored, and a replay repeats rows (a replayer killed after its
COPY committed and before it deleted the file). Through the temporary table (no indexes, no WAL)
both hold at about 10% more than a bare COPY. The CTE empties it as it inserts, so that a caller
inside a longer transaction never sees the same rows twice.
"""

import functools
import io
from collections.abc import Sequence

from django.db import connection, transaction

from lookups.history.rows import COLUMNS
from lookups.models import Lookup

_TABLE = Lookup._meta.db_table
_INCOMING = "history_incoming"


@functools.cache
def _create_incoming() -> str:
    # Its columns spelt out rather than copied from the table (AS SELECT, LIKE): creating it then
    # takes no lock on the history table, which a TRUNCATE or a migration may be waiting for.
    fields = {field.column: field for field in Lookup._meta.concrete_fields}
    columns = ", ".join(f"{column} {fields[column].db_type(connection)}" for column in COLUMNS)
    return f"CREATE TEMPORARY TABLE IF NOT EXISTS {_INCOMING} ({columns}) ON COMMIT DELETE ROWS"


def store_lines(data: bytes, columns: Sequence[str] = COLUMNS) -> None:
    """COPY text lines (lookups.history.encoding) of `columns` into the history table, a row
    whose uid is stored already skipped. Raises DatabaseError (a savepoint: the caller's
    transaction stays usable)."""
    names = ", ".join(columns)
    with transaction.atomic(), connection.cursor() as cursor, connection.wrap_database_errors:
        # Per session, created on first use (and again after a rolled-back savepoint took it).
        cursor.execute(_create_incoming())
        cursor.copy_expert(f"COPY {_INCOMING} ({names}) FROM STDIN", io.BytesIO(data))
        cursor.execute(
            f"WITH moved AS (DELETE FROM {_INCOMING} RETURNING *) "  # noqa: S608 (names from the model)
            f"INSERT INTO {_TABLE} ({names}) SELECT {names} FROM moved "
            "ON CONFLICT (uid, created_at) DO NOTHING"
        )
