"""Which time zone a point lies in, from the tz_world polygons."""

import logging
from contextlib import nullcontext

from django.db import DatabaseError, connection, transaction

logger = logging.getLogger(__name__)

_POINT_IN_ZONE_SQL = """
    SELECT tzid FROM tz_world
    WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326))
    ORDER BY gid LIMIT 1
"""


def timezone_at(*, longitude: float, latitude: float) -> str | None:
    """The IANA zone whose polygon holds the point, or None (at sea, or no tz_world table)."""
    # Inside a transaction, a savepoint keeps a missing table from breaking the caller's
    # transaction; outside one, autocommit needs none (and a BEGIN/COMMIT would cost two trips).
    guard = transaction.atomic() if connection.in_atomic_block else nullcontext()
    try:
        with guard, connection.cursor() as cursor:
            cursor.execute(_POINT_IN_ZONE_SQL, [longitude, latitude])
            row = cursor.fetchone()
    except DatabaseError as exc:
        logger.warning("tz_world lookup failed, answering without a time zone: %s", exc)
        return None
    return row[0] if row else None
