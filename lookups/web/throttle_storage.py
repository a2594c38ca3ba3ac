"""Where the rate limits count: limits' Redis storage with REDIS_URL, else a SQLite file on this
machine through diskcache, which every worker process (and every instance naming the same
folder) shares.

limits has no storage shared between processes without a server of its own (its memory storage
is one process's), so DiskCacheStorage implements limits' moving-window interface over diskcache.
Each acquisition is one SQLite write transaction (`BEGIN IMMEDIATE`): read the key's window,
check it, append, write back, with the database locked against every other process meanwhile.
That is what makes it atomic, where DRF's throttle read, appended and wrote back unlocked.
"""

import sqlite3
import time
from array import array
from collections.abc import Callable
from pathlib import Path

import diskcache
from limits.storage import MovingWindowSupport, RedisStorage, Storage

# A worker waits at most this long for another's transaction or for Redis; then the request is
# let through unlimited (lookups.web.throttling) rather than stalled.
STORAGE_TIMEOUT = 1.0


class DiskCacheStorage(Storage, MovingWindowSupport):
    """limits' moving window (and the fixed-window counters its interface requires) in diskcache.

    A key's window is one value: (time, units) pairs, oldest first, as doubles. A request is one
    pair whatever it costs, so a window holds at most `limit` pairs (limits' own storages keep one
    entry per unit: a batch of 1,000 would be 1,000 entries).
    """

    STORAGE_SCHEME = ["diskcache"]

    # The errors this storage raises, and those it meets opening its folder (not wrapped by limits).
    ERRORS = (sqlite3.Error, OSError, diskcache.Timeout)

    def __init__(
        self,
        uri: str | None = None,
        wrap_exceptions: bool = False,
        *,
        directory: str | Path | None = None,
        clock: Callable[[], float] = time.time,
    ):
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        directory = Path(uri.removeprefix("diskcache://")) if uri else Path(directory)
        self.clock = clock
        self.cache = diskcache.Cache(
            str(directory),
            timeout=STORAGE_TIMEOUT,
            # Nothing is evicted before it expires: an evicted window would let its client start over.
            eviction_policy="none",
            # Every window stays in SQLite, never in a file of its own (diskcache's default past 32 KiB).
            disk_min_file_size=2**30,
        )

    @property
    def base_exceptions(self) -> tuple[type[Exception], ...]:
        return self.ERRORS

    # --- The moving window -------------------------------------------------------------------

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        with self.cache.transact(retry=False):
            now = self.clock()
            pairs = self._window(key, now, expiry)
            if sum(pairs[1::2]) + amount > limit:
                return False
            pairs.extend((now, amount))
            self.cache.set(key, pairs.tobytes(), expire=expiry)
        return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = self.clock()
        pairs = self._window(key, now, expiry)
        if not pairs:
            return now, 0
        return pairs[0], int(sum(pairs[1::2]))

    def _window(self, key: str, now: float, expiry: int) -> array:
        """The pairs still inside the window ending now (a time exactly `expiry` ago counts, as in
        limits' own storages)."""
        pairs = array("d")
        raw = self.cache.get(key)
        if raw:
            pairs.frombytes(raw)
        start = now - expiry
        first = next((index for index in range(0, len(pairs), 2) if pairs[index] >= start), len(pairs))
        return pairs[first:]

    # --- limits' Storage interface (fixed windows; not used by the moving window) ---------------

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        with self.cache.transact(retry=False):
            value, expire_time = self.cache.get(key, default=0, expire_time=True)
            value += amount
            remaining = expiry if expire_time is None else max(0.0, expire_time - self.clock())
            self.cache.set(key, value, expire=remaining)
        return value

    def get(self, key: str) -> int:
        value = self.cache.get(key, default=0)
        return value if isinstance(value, int) else 0

    def get_expiry(self, key: str) -> float:
        _, expire_time = self.cache.get(key, expire_time=True)
        return expire_time or self.clock()

    def check(self) -> bool:
        try:
            self.cache.get("check")
        except self.base_exceptions:
            return False
        return True

    def reset(self) -> int | None:
        return self.cache.clear()

    def clear(self, key: str) -> None:
        self.cache.delete(key)


def storage_for(*, redis_url: str, directory: Path) -> Storage:
    """Redis (or Valkey) when a URL is given, shared by every instance; else the folder's file."""
    if redis_url:
        return RedisStorage(
            redis_url,
            wrap_exceptions=True,
            key_prefix="easygeoip-limits",
            socket_timeout=STORAGE_TIMEOUT,
            socket_connect_timeout=STORAGE_TIMEOUT,
        )
    return DiskCacheStorage(directory=str(directory), wrap_exceptions=True)
