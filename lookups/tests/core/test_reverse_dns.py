"""Reverse names checked forward, against a local DNS server of this module's own (real UDP)."""

import socket
import time

import pytest
from prometheus_client import REGISTRY

from conftest import free_port
from lookups.core import dns_limits, reverse_dns
from lookups.core.resolver import Resolver
from lookups.core.reverse_dns import ReverseName, reverse_name
from lookups.tests.dns_server import SERVER_FAILURE, SILENT_NAME, LocalDNSServer

LONGEST_NAME = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 56, "test"])  # 253 characters
RECORDS = {
    "host.example.com": ["192.0.2.1"],
    "v6.example.com": ["2001:db8::1"],
    "elsewhere.example.com": ["192.0.2.99"],
    "internal.example.com": ["10.0.0.1", "fd00::1"],
    "second.example.com": ["192.0.2.8"],
    "also.example.com": ["192.0.2.9"],
    LONGEST_NAME: ["192.0.2.10"],
    "failing.example.com": SERVER_FAILURE,
}
POINTERS = {
    "192.0.2.1": ["host.example.com."],
    "2001:db8::1": ["v6.example.com."],
    "192.0.2.2": ["elsewhere.example.com."],
    "192.0.2.3": ["internal.example.com."],
    # 192.0.2.4 has none (NXDOMAIN).
    "192.0.2.5": None,  # never answered
    "192.0.2.6": [f"slow.{SILENT_NAME}."],  # the PTR comes, the forward check never does
    "192.0.2.7": ["bad\\032name.example.", "localhost.", "-dash.example.", "\\200.example."],
    "192.0.2.8": ["bad\\032name.example.", "second.example.com."],
    "192.0.2.9": ["elsewhere.example.com.", "also.example.com."],
    "192.0.2.10": [LONGEST_NAME + "."],
    "192.0.2.11": SERVER_FAILURE,
    "192.0.2.12": ["failing.example.com."],  # whose forward check is answered SERVFAIL
}
CLIENT = "198.51.100.7"


@pytest.fixture(scope="module")
def server():
    server = LocalDNSServer(RECORDS, POINTERS).start()
    yield server
    server.stop()


@pytest.fixture
def resolver(server):
    # Far longer than the budget: an answer within about the budget can only be the budget's doing.
    return Resolver(nameservers=[server.address], timeout=10.0)


@pytest.fixture(autouse=True)
def budget(settings):
    settings.RDNS_TIMEOUT = 0.3
    settings.RDNS_CACHE_TTL = 60.0
    settings.DNS_NEGATIVE_TTL = 10.0


def test_a_name_that_resolves_back_is_verified(resolver):
    assert reverse_name("192.0.2.1", client=CLIENT, resolver=resolver) == ReverseName(
        "ok", "host.example.com", verified=True
    )


def test_an_ipv6_address_is_checked_against_aaaa_in_any_textual_form(resolver):
    expected = ReverseName("ok", "v6.example.com", verified=True)
    assert reverse_name("2001:db8::1", client=CLIENT, resolver=resolver) == expected
    assert reverse_name("2001:0db8:0:0::1", client=CLIENT, resolver=resolver) == expected


def test_a_name_that_resolves_elsewhere_is_shown_unverified(resolver):
    assert reverse_name("192.0.2.2", client=CLIENT, resolver=resolver) == ReverseName(
        "ok", "elsewhere.example.com", verified=False
    )


def test_an_internal_name_is_unverified(resolver):
    # What it resolves to is nowhere in the answer: a ReverseName has no field for it.
    answer = reverse_name("192.0.2.3", client=CLIENT, resolver=resolver)
    assert answer == ReverseName("ok", "internal.example.com", verified=False)


def test_no_pointer_is_none(resolver):
    assert reverse_name("192.0.2.4", client=CLIENT, resolver=resolver) == ReverseName("none")


def test_a_silent_server_times_out_within_the_budget(resolver):
    started = time.monotonic()
    answer = reverse_name("192.0.2.5", client=CLIENT, resolver=resolver)
    elapsed = time.monotonic() - started
    assert answer == ReverseName("timeout")
    assert 0.3 <= elapsed < 2.0  # the budget (0.3 s), with room for a loaded machine


def test_the_forward_check_shares_the_budget_and_leaves_the_name_unverified(resolver):
    started = time.monotonic()
    answer = reverse_name("192.0.2.6", client=CLIENT, resolver=resolver)
    elapsed = time.monotonic() - started
    assert answer == ReverseName("timeout", f"slow.{SILENT_NAME}", verified=False)
    assert elapsed < 2.0


def test_pointers_that_are_no_host_names_are_invalid_and_not_shown(resolver):
    assert reverse_name("192.0.2.7", client=CLIENT, resolver=resolver) == ReverseName("invalid")


def test_garbage_pointers_beside_a_host_name_are_skipped(resolver):
    assert reverse_name("192.0.2.8", client=CLIENT, resolver=resolver) == ReverseName(
        "ok", "second.example.com", verified=True
    )


def test_the_first_name_that_resolves_back_is_the_one_shown(resolver):
    assert reverse_name("192.0.2.9", client=CLIENT, resolver=resolver) == ReverseName(
        "ok", "also.example.com", verified=True
    )


def test_the_longest_name_dns_allows_is_answered(resolver):
    answer = reverse_name("192.0.2.10", client=CLIENT, resolver=resolver)
    assert answer == ReverseName("ok", LONGEST_NAME, verified=True)
    assert len(answer.name) == 253


def test_name_servers_that_fail_are_an_error_at_once(resolver):
    started = time.monotonic()
    assert reverse_name("192.0.2.11", client=CLIENT, resolver=resolver) == ReverseName("error")
    assert time.monotonic() - started < 2.0  # not the resolver's 10 s


def test_a_forward_check_the_servers_fail_leaves_the_name_unverified(resolver):
    assert reverse_name("192.0.2.12", client=CLIENT, resolver=resolver) == ReverseName(
        "error", "failing.example.com", verified=False
    )


def test_no_answering_server_is_a_timeout_within_the_budget():
    nobody = Resolver(nameservers=[f"127.0.0.1:{free_port()}"], timeout=10.0)  # nobody listens there
    started = time.monotonic()
    assert reverse_name("192.0.2.1", client=CLIENT, resolver=nobody) == ReverseName("timeout")
    assert time.monotonic() - started < 2.0


def test_an_answer_is_cached_and_given_again_without_a_query(server, resolver):
    first = reverse_name("192.0.2.1", client=CLIENT, resolver=resolver)
    asked = len(server.queries)
    assert reverse_name("192.0.2.1", client=CLIENT, resolver=resolver) == first
    assert len(server.queries) == asked


def test_a_timeout_is_cached_for_the_negative_ttl(server, resolver, settings):
    reverse_name("192.0.2.5", client=CLIENT, resolver=resolver)
    asked = len(server.queries)
    assert reverse_name("192.0.2.5", client=CLIENT, resolver=resolver) == ReverseName("timeout")
    assert len(server.queries) == asked  # not asked again, so not waited for


def test_a_cache_ttl_of_zero_keeps_nothing(server, resolver, settings):
    settings.RDNS_CACHE_TTL = 0
    reverse_name("192.0.2.1", client=CLIENT, resolver=resolver)
    asked = len(server.queries)
    reverse_name("192.0.2.1", client=CLIENT, resolver=resolver)
    assert len(server.queries) > asked


def test_a_cache_that_fails_is_a_cache_that_misses(resolver, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",  # nobody listens
        }
    }
    expected = ReverseName("ok", "host.example.com", verified=True)
    assert reverse_name("192.0.2.1", client=CLIENT, resolver=resolver) == expected
    assert reverse_name("192.0.2.1", client=CLIENT, resolver=resolver) == expected


def test_a_redis_that_stalls_is_left_alone_after_its_first_timeout(resolver, settings):
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        silent.settimeout(0.5)
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{silent.getsockname()[1]}/0",
                "OPTIONS": settings.CACHE_REDIS_OPTIONS,
            }
        }
        expected = ReverseName("ok", "host.example.com", verified=True)
        # Given up on after its socket timeout (without them it would wait for ever): the answer
        # stands without the cache.
        assert reverse_name("192.0.2.1", client=CLIENT, resolver=resolver) == expected
        connection, _ = silent.accept()  # the one try
        connection.close()
        # Then not asked again, nor written to, for a while: no second connection.
        assert reverse_name("192.0.2.1", client=CLIENT, resolver=resolver) == expected
        with pytest.raises(TimeoutError):
            silent.accept()


def test_busy_at_once_when_the_clients_slots_are_held(server, resolver, settings):
    settings.DNS_MAX_CONCURRENT_PER_CLIENT = 1
    asked = len(server.queries)
    with dns_limits.slots(CLIENT):
        assert reverse_name("192.0.2.1", client=CLIENT, resolver=resolver) == ReverseName("busy")
        # Another client's slots are its own.
        assert reverse_name("192.0.2.2", client="203.0.113.9", resolver=resolver).status == "ok"
    assert len(server.queries) == asked + 2  # the other client's PTR and forward check only
    # Busy is never cached: once the slot is free, the name is asked.
    assert reverse_name("192.0.2.1", client=CLIENT, resolver=resolver).verified


def test_busy_when_the_machines_slots_are_held(resolver, settings):
    settings.DNS_MAX_CONCURRENT = 1
    with dns_limits.slots(None):
        assert reverse_name("192.0.2.1", client=CLIENT, resolver=resolver) == ReverseName("busy")


def test_busy_when_the_workers_other_threads_wait_on_dns(resolver):
    dns_limits.set_request_threads(2)  # one thread may wait on DNS, the other stays for addresses
    try:
        with dns_limits.request_thread_in_dns():
            assert reverse_name("192.0.2.1", client=CLIENT, resolver=resolver) == ReverseName("busy")
    finally:
        dns_limits.set_request_threads(1)


def test_the_slots_are_let_go_afterwards(resolver, settings):
    settings.DNS_MAX_CONCURRENT = 1
    settings.DNS_MAX_CONCURRENT_PER_CLIENT = 1
    for address in ("192.0.2.1", "192.0.2.2", "192.0.2.5"):
        reverse_name(address, client=CLIENT, resolver=resolver)
    with dns_limits.slots(CLIENT):
        pass  # would raise DNSBusy if any were still held


def _count(outcome: str, cached: str) -> float:
    labels = {"outcome": outcome, "cached": cached}
    return REGISTRY.get_sample_value("easygeoip_reverse_dns_total", labels) or 0.0


def test_answers_are_counted_by_outcome_and_cache(resolver):
    before_asked, before_cached = _count("ok", "false"), _count("ok", "true")
    reverse_name("192.0.2.1", client=CLIENT, resolver=resolver)
    reverse_name("192.0.2.1", client=CLIENT, resolver=resolver)
    assert _count("ok", "false") == before_asked + 1
    assert _count("ok", "true") == before_cached + 1


def test_every_status_is_listed():
    assert set(reverse_dns.STATUSES) == {"ok", "none", "invalid", "timeout", "error", "busy"}
