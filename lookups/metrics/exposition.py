"""What a scrape of /metrics answers: every worker's counters summed, and what is read at scrape time.

The counters (lookups.metrics.instruments) come from prometheus_client's multiprocess files when
PROMETHEUS_MULTIPROC_DIR is set (gunicorn), else from this process. The rest is the same whichever
worker answers, so it is read when scraped rather than kept up to date on the hot path: the GeoIP
databases' build time and age, the history spool's depth and write lag, and the update runs.
"""

import os
import time
from collections.abc import Iterable, Iterator

from django.db import DatabaseError
from django.db.models import Count, Max
from prometheus_client import REGISTRY, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from lookups import history
from lookups.core.geoip import asn_reader, city_reader
from lookups.errors import DatabaseUnavailable
from lookups.history import spool
from lookups.metrics.instruments import HISTORY_LAST_FLUSH_NAME
from lookups.models import UpdateRun

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Families:
    """What generate_latest() reads: anything with collect()."""

    def __init__(self, families: list[Metric]):
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def render() -> bytes:
    """The text exposition format, as Prometheus scrapes it."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counted = list(multiprocess.MultiProcessCollector(None).collect())
    else:
        counted = list(REGISTRY.collect())
    return generate_latest(_Families(counted + list(scrape_time_families(counted))))


def scrape_time_families(counted: list[Metric], *, now: float | None = None) -> Iterator[Metric]:
    now = time.time() if now is None else now
    yield from _database_families(now)
    yield from _spool_families(counted, now)
    yield from _update_run_families()


def _database_families(now: float) -> Iterator[Metric]:
    built = GaugeMetricFamily(
        "easygeoip_geoip_database_build_timestamp_seconds",
        "When the installed GeoIP database was built (Unix time), by edition.",
        labels=["edition"],
    )
    age = GaugeMetricFamily(
        "easygeoip_geoip_database_age_seconds",
        "How old the installed GeoIP database is, by edition.",
        labels=["edition"],
    )
    for reader in (city_reader(), asn_reader()):
        try:
            info = reader.info()
        except DatabaseUnavailable:
            continue  # none installed (or none usable): no sample, which an alert can look for
        timestamp = info.build_date.timestamp()
        built.add_metric([info.edition], timestamp)
        age.add_metric([info.edition], max(0.0, now - timestamp))
    yield built
    yield age


def _spool_families(counted: list[Metric], now: float) -> Iterator[Metric]:
    files = size = 0
    for path in spool.waiting_files():
        try:
            size += path.stat().st_size
        except FileNotFoundError:
            continue  # flushed meanwhile
        files += 1
    yield GaugeMetricFamily(
        "easygeoip_history_spool_files", "History spool files waiting for PostgreSQL.", value=files
    )
    yield GaugeMetricFamily(
        "easygeoip_history_spool_bytes", "Bytes of history waiting in the spool for PostgreSQL.", value=size
    )
    yield GaugeMetricFamily(
        "easygeoip_history_write_lag_seconds",
        "How long history has waited for PostgreSQL: 0 with nothing spooled, else the time since a "
        "flush last reached it.",
        value=_write_lag(counted, files, now),
    )


def _write_lag(counted: list[Metric], files: int, now: float) -> float:
    if not files:
        return 0.0
    last = max(
        (
            sample.value
            for family in counted
            if family.name == HISTORY_LAST_FLUSH_NAME
            for sample in family.samples
        ),
        default=0.0,
    )
    if not last:  # no flush reached PostgreSQL since gunicorn started: as old as the oldest file
        last = min((_mtime(path) for path in spool.waiting_files()), default=now)
    return max(0.0, now - last)


def _mtime(path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return time.time()


def _update_run_families() -> Iterator[Metric]:
    """From the update runs' table, which update_maxmind (a command, not a worker) writes."""
    runs = CounterMetricFamily(
        "easygeoip_update_runs",
        "GeoIP database update runs (update_maxmind), by outcome.",
        labels=["outcome"],
    )
    last = GaugeMetricFamily(
        "easygeoip_update_last_run_timestamp_seconds",
        "When an update run last ended with this outcome (Unix time).",
        labels=["outcome"],
    )
    if not history.database_recently_unreachable():  # known down: answer at once without them
        try:
            rows = list(
                UpdateRun.objects.values("outcome").annotate(runs=Count("id"), last=Max("created_at"))
            )
        except DatabaseError:
            rows = []
        for row in rows:
            runs.add_metric([row["outcome"]], row["runs"])
            last.add_metric([row["outcome"]], row["last"].timestamp())
    yield runs
    yield last
