"""What a new build changed: two databases compared network by network over the whole address space.

Both readers iterate their networks in address order, so one merge of the two sorted streams
visits every address once, in time linear in the networks of both builds and memory independent
of their size. Where the builds split the space differently (a /16 in one, a /24 and others
inside it in the other), the merge walks the common refinement: each piece lies in exactly one
network of each build (or in none), and is compared on its own.

The counts are of those pieces, as CIDR blocks ("networks"): a /24 that changed is one network
changed, an old /16 of which the new build keeps no data is one removed, and a range left
uncovered that is not a single CIDR block counts as the blocks it splits into. A network whose
record differs only in fields not listed in lookups.core.record_changes (postal code, names in
other languages, coordinates moved within the accuracy radius) is "retouched", not changed.
"""

import contextlib
import datetime as dt
import ipaddress
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import maxminddb

from lookups.core.record_changes import FIELDS, changed_fields, country_of, place_name

EXAMPLES_PER_KIND = 10
PROGRESS_EVERY = 1 << 16  # networks between two progress calls
NICENESS = 10  # added to the process's: the diff yields the CPU to gunicorn's workers

DiffProgress = Callable[[int, int], None]  # (networks read, networks expected about)


def _segments(reader: maxminddb.Reader, counter: list[int]) -> Iterator[list]:
    """[start, end, record, version] per network, in address order (IPv4 as ::a.b.c.d)."""
    for network, record in reader:
        start = int(network.network_address)
        counter[0] += 1
        yield [start, start + (1 << (network.max_prefixlen - network.prefixlen)) - 1, record, network.version]


def cidr_count(start: int, end: int) -> int:
    """How many CIDR blocks the range [start, end] splits into (1 when it is one)."""
    count = 0
    while start <= end:
        size = start & -start if start else 1 << 128
        while size > end - start + 1:
            size >>= 1
        start += size
        count += 1
    return count


def _piece_text(start: int, end: int, version: int) -> str:
    """A piece as an operator reads it: "81.2.69.0/24", or "a - b" when it is no single block."""
    address = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    size = end - start + 1
    if size & (size - 1) == 0 and start % size == 0:
        bits = 32 if version == 4 else 128
        return f"{address(start)}/{bits - size.bit_length() + 1}"
    return f"{address(start)} - {address(end)}"


class _Tally:
    def __init__(self):
        self.counts = Counter()
        self.fields = Counter()
        self.by_country = Counter()
        self.examples = {"added": [], "removed": [], "changed": []}

    def note(self, kind: str, start: int, end: int, version: int, old, new, fields=()) -> None:
        networks = cidr_count(start, end)
        self.counts[kind] += networks
        self.by_country[(country_of(old), country_of(new))] += networks
        for field in fields:
            self.fields[field] += networks
        examples = self.examples[kind]
        if len(examples) < EXAMPLES_PER_KIND:
            examples.append(
                {
                    "network": _piece_text(start, end, version),
                    "from": place_name(old) or country_of(old),
                    "to": place_name(new) or country_of(new),
                    "fields": list(fields),
                }
            )


def diff_builds(
    old: maxminddb.Reader, new: maxminddb.Reader, *, progress: DiffProgress | None = None
) -> dict:
    """The changes from build `old` to build `new`, as plain JSON-ready data (see the module doc)."""
    began = time.monotonic()
    read_old, read_new = [0], [0]
    expected = old.metadata().node_count + new.metadata().node_count  # about the networks of both
    olds, news = _segments(old, read_old), _segments(new, read_new)
    a, b = next(olds, None), next(news, None)
    tally = _Tally()
    retouched = steps = 0
    while a is not None or b is not None:
        steps += 1
        if progress is not None and steps % PROGRESS_EVERY == 0:
            progress(read_old[0] + read_new[0], expected)
        if b is None or (a is not None and a[1] < b[0]):
            tally.note("removed", a[0], a[1], a[3], a[2], None)
            a = next(olds, None)
            continue
        if a is None or b[1] < a[0]:
            tally.note("added", b[0], b[1], b[3], None, b[2])
            b = next(news, None)
            continue
        # They overlap: first the part that only one of them covers, then the part both do.
        if a[0] < b[0]:
            tally.note("removed", a[0], b[0] - 1, a[3], a[2], None)
            a[0] = b[0]
        elif b[0] < a[0]:
            tally.note("added", b[0], a[0] - 1, b[3], None, b[2])
            b[0] = a[0]
        end = min(a[1], b[1])
        if a[2] != b[2]:
            fields = changed_fields(a[2], b[2])
            if fields:
                tally.note("changed", a[0], end, b[3], a[2], b[2], fields)
            else:
                retouched += cidr_count(a[0], end)
        if a[1] == end:
            a = next(olds, None)
        else:
            a[0] = end + 1
        if b[1] == end:
            b = next(news, None)
        else:
            b[0] = end + 1
    if progress is not None:
        progress(read_old[0] + read_new[0], read_old[0] + read_new[0])
    by_country = sorted(
        tally.by_country.items(), key=lambda item: (-item[1], item[0][0] or "", item[0][1] or "")
    )
    return {
        "old_build": _build_date(old),
        "new_build": _build_date(new),
        "networks_old": read_old[0],
        "networks_new": read_new[0],
        "networks_added": tally.counts["added"],
        "networks_removed": tally.counts["removed"],
        "networks_changed": tally.counts["changed"],
        "networks_retouched": retouched,
        "fields": {field: tally.fields[field] for field in FIELDS},
        "by_country": [{"from": old_c, "to": new_c, "networks": n} for (old_c, new_c), n in by_country],
        "examples": tally.examples,
        "seconds": round(time.monotonic() - began, 3),
    }


def _build_date(reader: maxminddb.Reader) -> str:
    return dt.datetime.fromtimestamp(reader.metadata().build_epoch, tz=dt.UTC).isoformat()


def diff_in_background(
    old: maxminddb.Reader, new: maxminddb.Reader, *, progress: DiffProgress | None = None
) -> Callable[[], dict]:
    """Start diff_builds on a thread of low priority (lookups first); returns a function that waits
    for the result (and raises what the diff raised)."""
    result: dict = {}

    def work() -> None:
        with contextlib.suppress(OSError):  # a system that refuses: the diff still runs
            thread_id = threading.get_native_id()  # Linux: the priority of this thread only
            niceness = os.getpriority(os.PRIO_PROCESS, thread_id) + NICENESS
            os.setpriority(os.PRIO_PROCESS, thread_id, min(niceness, 19))
        try:
            result["changes"] = diff_builds(old, new, progress=progress)
        except Exception as error:  # handed to the caller, which records it
            result["error"] = error

    thread = threading.Thread(target=work, name="build-diff", daemon=True)
    thread.start()

    def wait() -> dict:
        thread.join()
        if "error" in result:
            raise result["error"]
        return result["changes"]

    return wait
