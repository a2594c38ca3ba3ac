"""The counters and histograms the service updates as it works.

Under gunicorn each worker writes them to files in PROMETHEUS_MULTIPROC_DIR (config/gunicorn.conf.py
sets it up) and a scrape sums them; elsewhere (runserver, tests, commands) they live in the process.
The hot path pays one dictionary look-up and one add per update: the labelled children are made once
and kept, instead of calling `.labels()` (which takes a lock and builds a tuple) every time.
"""

import collections

from prometheus_client import Counter, Gauge, Histogram

LOOKUPS = Counter(
    "easygeoip_lookups",
    "Lookups answered and recorded in the history, by channel (web, api, batch, webservice) and "
    "outcome (ok, or the error code).",
    ["channel", "outcome"],
)
# The lookup API answers in about a millisecond: finer buckets than prometheus_client's below 5 ms.
REQUEST_DURATION = Histogram(
    "easygeoip_request_duration_seconds",
    "Time from the request reaching Django to its answer, by URL pattern name.",
    ["view"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
RATE_LIMITED = Counter(
    "easygeoip_rate_limited",
    "Requests refused with 429 Too Many Requests by a rate limit or the admin's login lockout, by URL "
    "pattern name.",
    ["view"],
)
REVERSE_DNS = Counter(
    "easygeoip_reverse_dns",
    "Reverse DNS answers given (lookups asked with rdns=1), by outcome (ok, none, invalid, timeout, "
    "error, busy) and whether the cache gave it (true, false).",
    ["outcome", "cached"],
)
# The newest of every worker's: the history's write lag is measured from it (lookups.metrics.exposition).
HISTORY_LAST_FLUSH_NAME = "easygeoip_history_last_flush_timestamp_seconds"
HISTORY_LAST_FLUSH = Gauge(
    HISTORY_LAST_FLUSH_NAME,
    "When a history flush last reached PostgreSQL (Unix time).",
    multiprocess_mode="max",
)

_lookup_children: dict = {}
_duration_children: dict = {}
_rate_limited_children: dict = {}
_reverse_dns_children: dict = {}


def count_lookup(channel: str, outcome: str) -> None:
    """One lookup answered on `channel` with `outcome` ("ok" or the error's code)."""
    child = _lookup_children.get((channel, outcome))
    if child is None:
        child = _lookup_children[(channel, outcome)] = LOOKUPS.labels(channel, outcome)
    child.inc()


def count_lookups(channel: str, outcomes: collections.Counter) -> None:
    """A batch's lookups: one add per distinct outcome, not per entry."""
    for outcome, count in outcomes.items():
        child = _lookup_children.get((channel, outcome))
        if child is None:
            child = _lookup_children[(channel, outcome)] = LOOKUPS.labels(channel, outcome)
        child.inc(count)


def observe_request(view: str, seconds: float) -> None:
    child = _duration_children.get(view)
    if child is None:
        child = _duration_children[view] = REQUEST_DURATION.labels(view)
    child.observe(seconds)


def count_rate_limited(view: str) -> None:
    child = _rate_limited_children.get(view)
    if child is None:
        child = _rate_limited_children[view] = RATE_LIMITED.labels(view)
    child.inc()


def count_reverse_dns(outcome: str, *, cached: bool) -> None:
    child = _reverse_dns_children.get((outcome, cached))
    if child is None:
        child = _reverse_dns_children[(outcome, cached)] = REVERSE_DNS.labels(outcome, str(cached).lower())
    child.inc()


def history_flushed() -> None:
    HISTORY_LAST_FLUSH.set_to_current_time()
