"""Which time zone a point lies in, from the tz_world polygons.

The answer for a point, in order:

1. the zone whose polygon holds it; where polygons overlap or share a border, the one with the
   lowest gid, which load_tz_world gives to the smallest polygon (the more local zone);
2. else the nearest zone within NEAREST_ZONE_METRES (12 nautical miles): coastal points that a
   land-only outline (efele's tz_world, timezone-boundary-builder without oceans) leaves just
   offshore, and slivers between polygons;
3. else None: open sea in land-only data, or a region the loaded subset (--zones) does not cover.

The default data (timezone-boundary-builder with oceans) covers the whole globe, its land zones
reaching 12 nautical miles out to sea and the open sea in nautical zones (Etc/GMT±N), so with it
step 1 answers every point. We never make an Etc/GMT±N zone up ourselves: with a subset or with
land-only data, a point no polygon reaches has no zone we could vouch for.

Speed: the lookups read tz_world_subdivided (the loader's copy of tz_world cut into pieces of at
most 256 vertices) when it exists and was cut from the current tz_world, else tz_world itself.
Steps 1 to 3 run in PostgreSQL as one function, tz_world_zone_at (timezones/sql/): one round
trip per lookup, with query plans PostgreSQL keeps per connection instead of planning each point
(planning cost more than the lookup itself). The plans follow the tables when they are replaced,
and a new connection plans afresh, so nothing here tracks connections. Answers are kept in a
bounded in-process cache keyed on the coordinates (GeoIP databases repeat the same city
coordinates for many networks). The cache is emptied when either table is replaced, which each
process notices within TZ_WORLD_RELOAD_CHECK_INTERVAL seconds (that check is the only other
query, once per interval).
"""

import logging
import math
import sys
import threading
import time
from collections import OrderedDict
from contextlib import nullcontext
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from timezones.schema import TZ_WORLD, TZ_WORLD_SUBDIVIDED, UNINHABITED, subdivided_mark

logger = logging.getLogger(__name__)

# The territorial sea: timezone-boundary-builder's land zones reach this far out, so land-only
# outlines answer coastal points as the default data does.
NEAREST_ZONE_METRES = 22_224

# The tables' identities: a filenode changes when its table is dropped and created again or
# truncated, so a change here means the polygons were replaced.
_STATE_SQL = """
    SELECT pg_relation_filenode(w.oid), pg_relation_filenode(s.oid), obj_description(s.oid, 'pg_class')
    FROM (SELECT to_regclass(%s) AS oid) AS w, (SELECT to_regclass(%s) AS oid) AS s
"""
# Steps 1 to 3 in one round trip, with plans kept per connection (timezones/sql/tz_world_zone_at.sql).
_ZONE_AT_SQL = "SELECT tz_world_zone_at(%s, %s, %s, %s, %s)"

_MISSING = object()


@dataclass(frozen=True)
class _TableState:
    table: str | None  # the table the lookups read, None when there is no tz_world
    generation: tuple


class _ZoneCache:
    """Answers by coordinates (least recently used dropped first), and the tables they came from."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: OrderedDict[tuple[float, float], str | None] = OrderedDict()
        self._state: _TableState | None = None
        self._checked_at = -math.inf

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()
            self._state = None
            self._checked_at = -math.inf

    def fresh_answer(self, key: tuple[float, float]) -> object:
        """The cached answer, when the tables were checked recently enough; else _MISSING."""
        with self._lock:
            if time.monotonic() - self._checked_at >= settings.TZ_WORLD_RELOAD_CHECK_INTERVAL:
                return _MISSING
            return self._get(key)

    def _get(self, key: tuple[float, float]) -> object:
        answer = self._answers.get(key, _MISSING)
        if answer is not _MISSING:
            self._answers.move_to_end(key)
        return answer

    def refresh(self, cursor, key: tuple[float, float]) -> tuple[_TableState, object]:
        """Check the tables (unless just checked), forget everything if they changed, and
        return the state with the cached answer for `key` (or _MISSING)."""
        with self._lock:
            state, checked_at = self._state, self._checked_at
        if state is None or time.monotonic() - checked_at >= settings.TZ_WORLD_RELOAD_CHECK_INTERVAL:
            state = _read_state(cursor)
            with self._lock:
                if state != self._state:
                    self._answers.clear()
                self._state, self._checked_at = state, time.monotonic()
        with self._lock:
            return state, self._get(key) if state == self._state else _MISSING

    def remember(self, key: tuple[float, float], answer: str | None, state: _TableState) -> None:
        size = settings.TZ_WORLD_CACHE_SIZE
        with self._lock:
            if size <= 0 or state != self._state:
                return
            self._answers[key] = answer
            while len(self._answers) > size:
                self._answers.popitem(last=False)


_cache = _ZoneCache()


def clear_cache() -> None:
    """Forget every cached answer in this process (the loader calls it after a reload)."""
    _cache.clear()


def _read_state(cursor) -> _TableState:
    cursor.execute(_STATE_SQL, [TZ_WORLD, TZ_WORLD_SUBDIVIDED])
    tz_world, subdivided, mark = cursor.fetchone()
    if tz_world is None:
        logger.warning("There is no tz_world table: time zones are answered only from the GeoIP records.")
        return _TableState(table=None, generation=(None, None))
    if subdivided is None:
        return _TableState(table=TZ_WORLD, generation=(tz_world, None))
    if mark != subdivided_mark(tz_world):
        logger.warning(
            "tz_world_subdivided was not cut from the current tz_world (replaced by hand?): "
            "looking up in tz_world, more slowly. Run %s load_tz_world to rebuild both.",
            settings.MANAGE_COMMAND,
        )
        return _TableState(table=TZ_WORLD, generation=(tz_world, None))
    return _TableState(table=TZ_WORLD_SUBDIVIDED, generation=(tz_world, subdivided))


def _zone_at(cursor, table: str, longitude: float, latitude: float) -> str | None:
    subdivided = table == TZ_WORLD_SUBDIVIDED
    cursor.execute(_ZONE_AT_SQL, [longitude, latitude, subdivided, NEAREST_ZONE_METRES, UNINHABITED])
    (zone,) = cursor.fetchone()
    # One string per zone, however many coordinates map to it.
    return sys.intern(zone) if zone is not None else None


def timezone_at(*, longitude: float, latitude: float) -> str | None:
    """The IANA zone at the point (see the module's docstring for the rule), or None.

    None also when there is no tz_world table or PostgreSQL fails: the lookup answers without a
    time zone rather than not at all, and a warning is logged.
    """
    if not (-180.0 <= longitude <= 180.0 and -90.0 <= latitude <= 90.0):  # NaN fails too
        return None
    key = (longitude, latitude)
    answer = _cache.fresh_answer(key)
    if answer is not _MISSING:
        return answer
    # Inside a transaction, a savepoint keeps a failed query from breaking the caller's
    # transaction; outside one, autocommit needs none (and a BEGIN/COMMIT would cost two trips).
    guard = transaction.atomic() if connection.in_atomic_block else nullcontext()
    try:
        with guard, connection.cursor() as cursor:
            state, answer = _cache.refresh(cursor, key)
            if answer is not _MISSING:
                return answer
            if state.table is None:
                return None
            answer = _zone_at(cursor, state.table, longitude, latitude)
    except DatabaseError as exc:
        logger.warning("tz_world lookup failed, answering without a time zone: %s", exc)
        _cache.clear()
        return None
    _cache.remember(key, answer, state)
    return answer
