"""Bounded lookup traffic against a live server on loopback, with its bookkeeping.

Used by the fault tests and by bench/load_and_fault.py: a few threads send a mix of single
lookups, batches and page views, and count what came back, by kind, and which history rows
each answer promises (a lookup that is answered is a lookup recorded).
"""

import collections
import http.client
import itertools
import json
import threading
import time
from dataclasses import dataclass, field

from lookups.tests.geoip_data import LINKOPING_IP, LONDON_IP

# Error codes that lookups.core.pipeline records in the history like a success.
RECORDED_ERRORS = {
    "invalid_query",
    "address_not_public",
    "name_not_resolved",
    "address_not_found",
    "dns_unavailable",
    "dns_busy",
    "database_unavailable",
    "too_many_names",
}


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: dict | None = None
    # The queries whose rows an answer promises (a batch: each distinct one once).
    queries: tuple[str, ...] = ()


def default_mix() -> list[Call]:
    """A mix that touches every path of a lookup: GeoIP, tz_world, DNS, errors, batches, pages."""
    calls = []
    for host in range(1, 255, 7):
        address = f"81.2.69.{host}"
        calls.append(Call("GET", f"/api/v1/lookup/{address}", queries=(address,)))
    calls += [
        Call("GET", f"/api/v1/lookup/{LINKOPING_IP}", queries=(LINKOPING_IP,)),  # tz_world in PostGIS
        Call("GET", "/api/v1/lookup/london.example.com", queries=("london.example.com",)),
        Call("GET", "/api/v1/lookup/10.0.0.1", queries=("10.0.0.1",)),
        Call("GET", "/api/v1/lookup/nope.example.com", queries=("nope.example.com",)),
        Call("GET", f"/lookup/{LONDON_IP}", queries=(LONDON_IP,)),
        Call(
            "POST",
            "/api/v1/lookup/batch",
            {"queries": [LONDON_IP, "dual.example.com", "not a name", LINKOPING_IP, LONDON_IP]},
            queries=(LONDON_IP, "dual.example.com", "not a name", LINKOPING_IP),
        ),
    ]
    return calls


@dataclass
class Tally:
    sent: int = 0
    answered: int = 0
    by_kind: collections.Counter = field(default_factory=collections.Counter)
    expected_rows: collections.Counter = field(default_factory=collections.Counter)
    server_errors: list = field(default_factory=list)  # (time, status, body) of every 5xx not promised
    slowest: float = 0.0
    latencies: list = field(default_factory=list)
    samples: list = field(default_factory=list)  # (wall-clock start, seconds) of every answer


class Traffic:
    """`threads` clients sending `mix` in turn to 127.0.0.1:`port` until stop() or `max_seconds`."""

    def __init__(
        self, port: int, *, mix: list[Call] | None = None, threads: int = 4, max_seconds: float = 120
    ):
        self.port, self.mix, self.threads = port, mix or default_mix(), threads
        self.max_seconds = max_seconds
        self.tally = Tally()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self._counter = itertools.count()

    def start(self) -> "Traffic":
        self._started = time.monotonic()
        for _ in range(self.threads):
            worker = threading.Thread(target=self._run, daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def stop(self) -> Tally:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=60)
        return self.tally

    def _run(self) -> None:
        connection = None
        while not self._stop.is_set() and time.monotonic() - self._started < self.max_seconds:
            call = self.mix[next(self._counter) % len(self.mix)]
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            started, wall_started = time.monotonic(), time.time()
            try:
                body = json.dumps(call.body) if call.body is not None else None
                headers = {"Content-Type": "application/json"} if body else {}
                connection.request(call.method, call.path, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                connection = None
                with self._lock:
                    self.tally.sent += 1
                    self.tally.by_kind[f"connection error: {type(exc).__name__}"] += 1
                continue
            elapsed = time.monotonic() - started
            self._count(call, status, payload, elapsed, wall_started)

    def _count(self, call: Call, status: int, payload: bytes, elapsed: float, wall_started: float) -> None:
        code = None
        if status != 200:
            try:
                code = json.loads(payload)["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = "html" if payload.lstrip().startswith(b"<") else "unknown"
        recorded = status == 200 or code in RECORDED_ERRORS or (code == "html" and status < 500)
        with self._lock:
            tally = self.tally
            tally.sent += 1
            tally.answered += 1
            tally.by_kind[f"{status} {code or 'ok'}"] += 1
            tally.slowest = max(tally.slowest, elapsed)
            tally.latencies.append(elapsed)
            tally.samples.append((wall_started, elapsed))
            if recorded:
                for query in call.queries:
                    tally.expected_rows[query] += 1
            if status >= 500 and not recorded:
                tally.server_errors.append((time.time(), status, payload[:200]))


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
