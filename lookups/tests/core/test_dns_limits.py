"""The limits on name resolution, against the local DNS server (SILENT_NAME never answers)."""

import fcntl
import os
import subprocess
import sys
import threading
import time

import pytest

from lookups.core import dns_limits
from lookups.core.dns_limits import LimitedResolver
from lookups.core.pipeline import resolve_batch_names
from lookups.core.resolver import Resolver
from lookups.errors import (
    DNS_BUSY_MESSAGE,
    DNS_CLIENT_BUSY_MESSAGE,
    DNS_FAILURE_MESSAGE,
    DNSBusy,
    DNSUnavailable,
)
from lookups.tests.dns_server import SILENT_NAME
from lookups.tests.geoip_data import LONDON_IP


@pytest.fixture
def resolver(dns_server):
    return Resolver(nameservers=[dns_server.address], timeout=1.0)


@pytest.fixture
def silent_resolver(dns_server):
    """For the silent lookups that hold slots: long enough that, on a loaded machine too, they
    still hold them when the test asks for one more."""
    return Resolver(nameservers=[dns_server.address], timeout=4.0)


def slot_taken(path) -> bool:
    """Whether somebody holds the slot file's lock (taken and let go again if not)."""
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def wait_for(check, timeout: float = 10) -> None:
    """Until check() is true (the silent lookups hold their slots), or give up: what follows fails."""
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.01)


class SilentLookups:
    """Threads each resolving a silent name for `client`, holding their slots meanwhile."""

    def __init__(self, resolver, count: int, client: str):
        self.errors: list[Exception] = []
        limited = LimitedResolver(resolver, client=client)

        def resolve(number: int) -> None:
            try:
                limited.resolve(f"n{number}-{client}.{SILENT_NAME}")
            except Exception as error:  # kept for the test to look at
                self.errors.append(error)

        self.threads = [threading.Thread(target=resolve, args=(number,)) for number in range(count)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        for thread in self.threads:
            thread.join()


def test_a_name_that_timed_out_is_answered_the_same_without_a_query(resolver, dns_server, settings):
    settings.DNS_NEGATIVE_TTL = 60
    limited = LimitedResolver(resolver, client="198.51.100.7")
    with pytest.raises(DNSUnavailable) as first:
        limited.resolve(SILENT_NAME)
    queries = len(dns_server.queries)
    with pytest.raises(DNSUnavailable) as second:
        limited.resolve(SILENT_NAME)
    assert second.value.message == first.value.message == DNS_FAILURE_MESSAGE.format(name=SILENT_NAME)
    assert len(dns_server.queries) == queries  # nothing asked the second time


def test_without_negative_caching_the_name_is_asked_again(resolver, dns_server, settings):
    settings.DNS_NEGATIVE_TTL = 0
    limited = LimitedResolver(resolver, client=None)
    for _ in range(2):
        queries = len(dns_server.queries)
        with pytest.raises(DNSUnavailable):
            limited.resolve(SILENT_NAME)
        assert len(dns_server.queries) > queries


def test_over_the_machine_limit_a_name_is_refused_at_once_and_answered_again_after(
    resolver, silent_resolver, settings
):
    settings.DNS_MAX_CONCURRENT = 2
    settings.DNS_MAX_CONCURRENT_PER_CLIENT = 0
    slots = [settings.DNS_SLOT_DIR / f"instance-{number}" for number in range(2)]
    with SilentLookups(silent_resolver, count=2, client="198.51.100.1") as silent:
        wait_for(lambda: all(slot_taken(slot) for slot in slots))
        with pytest.raises(DNSBusy) as refused:
            LimitedResolver(resolver, client="203.0.113.9").resolve("london.example.com")
    assert refused.value.message == DNS_BUSY_MESSAGE
    assert [error.code for error in silent.errors] == ["dns_unavailable"] * 2
    assert LimitedResolver(resolver, client="203.0.113.9").resolve("london.example.com") == [LONDON_IP]


def test_the_machine_limit_counts_other_processes(resolver, settings):
    settings.DNS_MAX_CONCURRENT = 1
    settings.DNS_SLOT_DIR.mkdir(parents=True)
    slot = settings.DNS_SLOT_DIR / "instance-0"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT);"
            "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()",
            str(slot),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(DNSBusy):
            LimitedResolver(resolver, client=None).resolve("london.example.com")
    finally:
        holder.kill()  # its lock dies with it
        holder.wait()
    assert LimitedResolver(resolver, client=None).resolve("london.example.com") == [LONDON_IP]


def test_one_client_over_its_limit_is_refused_while_others_are_answered(resolver, silent_resolver, settings):
    settings.DNS_MAX_CONCURRENT = 8
    settings.DNS_MAX_CONCURRENT_PER_CLIENT = 1
    busy_client = "198.51.100.2"
    slot = settings.DNS_SLOT_DIR / dns_limits._client_slots(busy_client).prefix
    with SilentLookups(silent_resolver, count=1, client=busy_client):
        wait_for(lambda: slot_taken(slot.with_name(f"{slot.name}-0")))
        with pytest.raises(DNSBusy) as refused:
            LimitedResolver(resolver, client=busy_client).resolve("london.example.com")
        other = LimitedResolver(resolver, client="203.0.113.10").resolve("london.example.com")
    assert refused.value.message == DNS_CLIENT_BUSY_MESSAGE.format(limit=1)
    assert other == [LONDON_IP]


def test_a_batch_s_names_wait_for_a_slot_within_the_deadline(settings):
    settings.DNS_MAX_CONCURRENT = 1
    settings.LOOKUP_BATCH_DNS_WORKERS = 4
    names = ["london.example.com", "dual.example.com", "v6only.example.com", "xn--bcher-kva.example"]
    answers = resolve_batch_names(names, resolver=None, client="198.51.100.3")
    assert [len(answers.resolve(name)) for name in names] == [1, 2, 1, 1]


def test_too_many_request_threads_waiting_on_dns_refuse_at_once():
    dns_limits.set_request_threads(2)  # one of them may wait on DNS
    try:
        with dns_limits.request_thread_in_dns(), pytest.raises(DNSBusy), dns_limits.request_thread_in_dns():
            pass
        answers = resolve_batch_names(["london.example.com"], resolver=None)  # the thread is free again
        assert answers.resolve("london.example.com") == [LONDON_IP]
    finally:
        dns_limits.set_request_threads(1)


def test_an_unusable_slot_folder_falls_back_to_counting_in_this_process(
    resolver, silent_resolver, settings, tmp_path
):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    settings.DNS_SLOT_DIR = blocker / "slots"  # cannot be created
    settings.DNS_MAX_CONCURRENT = 1
    settings.DNS_MAX_CONCURRENT_PER_CLIENT = 0
    with SilentLookups(silent_resolver, count=1, client="198.51.100.4"):
        wait_for(lambda: dns_limits._local_counts.get("instance"))
        with pytest.raises(DNSBusy):
            LimitedResolver(resolver, client=None).resolve("london.example.com")
    assert LimitedResolver(resolver, client=None).resolve("london.example.com") == [LONDON_IP]
