"""The rate limits' storage on one machine: limits' moving window over diskcache, atomic across
processes."""

import multiprocessing
from concurrent.futures import ThreadPoolExecutor

from limits import parse
from limits.strategies import MovingWindowRateLimiter

from lookups.web.throttle_storage import DiskCacheStorage

TEN_A_MINUTE = parse("10/minute")


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_window_moves_rather_than_resetting(tmp_path):
    clock = Clock()
    limiter = MovingWindowRateLimiter(DiskCacheStorage(directory=tmp_path, clock=clock))
    assert limiter.hit(TEN_A_MINUTE, "client", cost=6)
    clock.now += 30
    assert limiter.hit(TEN_A_MINUTE, "client", cost=4)
    assert not limiter.hit(TEN_A_MINUTE, "client")  # 10 units in the last minute
    assert limiter.get_window_stats(TEN_A_MINUTE, "client") == (clock.now - 30 + 60, 0)
    clock.now += 31  # the first 6 units are more than a minute old, the other 4 are not
    assert not limiter.hit(TEN_A_MINUTE, "client", cost=7)
    assert limiter.hit(TEN_A_MINUTE, "client", cost=6)
    assert not limiter.hit(TEN_A_MINUTE, "client")
    assert limiter.get_window_stats(TEN_A_MINUTE, "client") == (clock.now - 31 + 60, 0)


def test_a_refused_hit_spends_nothing_and_clients_count_apart(tmp_path):
    limiter = MovingWindowRateLimiter(DiskCacheStorage(directory=tmp_path))
    assert limiter.hit(TEN_A_MINUTE, "a", cost=8)
    assert not limiter.hit(TEN_A_MINUTE, "a", cost=3)
    assert not limiter.hit(TEN_A_MINUTE, "a", cost=11)  # more than the whole window
    assert limiter.get_window_stats(TEN_A_MINUTE, "a")[1] == 2
    assert limiter.hit(TEN_A_MINUTE, "a", cost=2)
    assert limiter.hit(TEN_A_MINUTE, "b", cost=10)


def test_no_window_is_evicted_by_many_other_clients(tmp_path):
    """The per-worker cache forgot a throttled client after 1,500 others (issue 16)."""
    limiter = MovingWindowRateLimiter(DiskCacheStorage(directory=tmp_path))
    assert limiter.hit(TEN_A_MINUTE, "throttled", cost=10)
    for number in range(3000):
        limiter.hit(TEN_A_MINUTE, f"other-{number}")
    assert not limiter.hit(TEN_A_MINUTE, "throttled")


def hit_many(directory: str, times: int, results) -> None:
    limiter = MovingWindowRateLimiter(DiskCacheStorage(directory=directory))
    item = parse("100/minute")
    results.put(sum(limiter.hit(item, "shared") for _ in range(times)))


def test_processes_sharing_the_folder_share_one_count(tmp_path):
    """Four processes at once, 300 hits, limit 100: exactly 100 pass (each acquisition is one
    locked transaction, so none reads a count another is about to change)."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    processes = [context.Process(target=hit_many, args=(str(tmp_path), 75, results)) for _ in range(4)]
    for process in processes:
        process.start()
    allowed = sum(results.get(timeout=60) for _ in processes)
    for process in processes:
        process.join(timeout=10)
    assert allowed == 100


def test_threads_sharing_one_storage_share_one_count(tmp_path):
    """For gunicorn's threaded workers: one storage object, eight threads at once."""
    limiter = MovingWindowRateLimiter(DiskCacheStorage(directory=tmp_path))
    item = parse("100/minute")
    with ThreadPoolExecutor(max_workers=8) as pool:
        allowed = sum(pool.map(lambda _: limiter.hit(item, "shared"), range(300)))
    assert allowed == 100
