import io
import ipaddress
import time

import dns.resolver
import dns.reversename
import pytest

from lookups.core.resolver import QUERY_MAX_LENGTH, Resolver, parse_nameserver, parse_query
from lookups.errors import (
    INVALID_QUERY_MESSAGE,
    IPV4_LEADING_ZERO_MESSAGE,
    IPV4_STRAY_DOT_MESSAGE,
    DNSUnavailable,
    InvalidQuery,
    NameNotResolved,
)
from lookups.tests.dns_server import GARBAGE_NAME, SILENT_NAME
from lookups.tests.geoip_data import BERLIN_IP, LONDON_IP


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8.8.8.8", "8.8.8.8"),
        ("  81.2.69.142  ", "81.2.69.142"),
        ("2001:4860:4860::8888", "2001:4860:4860::8888"),
        ("2001:4860:4860:0000:0000:0000:0000:8888", "2001:4860:4860::8888"),
        ("2001:4860:4860:0:0:0:0:8888", "2001:4860:4860::8888"),
        ("[2001:4860:4860::8888]", "2001:4860:4860::8888"),
        ("2001:4860:4860::8888%eth0", "2001:4860:4860::8888"),
        ("::ffff:81.2.69.142", "81.2.69.142"),  # IPv4-mapped IPv6 is the IPv4 address
        ("::FFFF:5102:458e", "81.2.69.142"),
        ("2A02:EC80::1", "2a02:ec80::1"),
    ],
)
def test_parse_query_reads_every_textual_form_of_an_address(text, expected):
    query = parse_query(text)
    assert query.address == ipaddress.ip_address(expected)
    assert query.name is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("example.com", "example.com"),
        ("Example.COM.", "example.com"),
        ("  www.example.com\t", "www.example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("_dmarc.example.com", "_dmarc.example.com"),
    ],
)
def test_parse_query_normalises_domain_names(text, expected):
    query = parse_query(text)
    assert query.name == expected
    assert query.address is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "localhost",
        "not a name",
        "exa mple.com",
        "-bad.example.com",
        "bad-.example.com",
        "a..b.com",
        "http://example.com/",
        "example.com/path",
        "1.2.3.4.5.6",
        "300.1.1.1",
        "bücher..example",
        "ex ample.çom",
        "a" * 64 + ".com",
        "example.123",
        "user@example.com",
        "..",
        ".",
        "2001:db8::g",
    ],
)
def test_parse_query_refuses_what_is_neither_an_address_nor_a_name(text):
    with pytest.raises(InvalidQuery) as error:
        parse_query(text)
    assert error.value.message in {INVALID_QUERY_MESSAGE, IPV4_LEADING_ZERO_MESSAGE, IPV4_STRAY_DOT_MESSAGE}


@pytest.mark.parametrize("text", ["010.8.8.8", "8.8.8", "134744072", "1.2.3.04"])
def test_ambiguous_ipv4_forms_are_refused_with_an_explanation(text):
    with pytest.raises(InvalidQuery) as error:
        parse_query(text)
    assert error.value.message == IPV4_LEADING_ZERO_MESSAGE


@pytest.mark.parametrize("text", ["8.8.8.8.", ".8.8.8.8", "8.8..8.8", "8.8.8.8..", "1.2.3."])
def test_a_stray_dot_in_an_ipv4_address_is_named(text):
    with pytest.raises(InvalidQuery) as error:
        parse_query(text)
    assert error.value.message == IPV4_STRAY_DOT_MESSAGE


def test_overlong_queries_are_refused():
    with pytest.raises(InvalidQuery, match="too long"):
        parse_query("a." * 200 + "com")
    name = ".".join(["a" * 63] * 4)  # 255 characters of valid labels: still over 253
    assert len(name) <= QUERY_MAX_LENGTH
    with pytest.raises(InvalidQuery):
        parse_query(name)


def test_parse_nameserver():
    assert parse_nameserver("127.0.0.1") == ("127.0.0.1", 53)
    assert parse_nameserver("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_nameserver("[::1]:5353") == ("::1", 5353)
    assert parse_nameserver("::1") == ("::1", 53)


def test_resolver_returns_a_and_aaaa_addresses_ipv4_first(dns_server):
    resolver = Resolver(nameservers=[dns_server.address], timeout=1)
    assert resolver.resolve("dual.example.com") == [LONDON_IP, BERLIN_IP]
    assert ("dual.example.com", "A") in dns_server.queries
    assert ("dual.example.com", "AAAA") in dns_server.queries


def test_resolver_reports_names_that_do_not_exist(dns_server):
    resolver = Resolver(nameservers=[dns_server.address], timeout=1)
    with pytest.raises(NameNotResolved, match=r"nope\.example\.com does not resolve"):
        resolver.resolve("nope.example.com")


@pytest.mark.parametrize("name", [SILENT_NAME, GARBAGE_NAME])
def test_resolver_gives_up_within_its_timeout(dns_server, name):
    resolver = Resolver(nameservers=[dns_server.address], timeout=0.5)
    started = time.monotonic()
    with pytest.raises(DNSUnavailable):
        resolver.resolve(name)
    assert time.monotonic() - started < 1.5


# --- records(): one record type, asked of each server once (lookups.core.reverse_dns uses it) ------


def test_records_answers_a_record_type(dns_server):
    resolver = Resolver(nameservers=[dns_server.address], timeout=1.0)
    records = resolver.records(dns.reversename.from_address(LONDON_IP), "PTR", timeout=0.5)
    assert [record.target.to_text() for record in records] == ["london.example.com."]
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.records("nowhere.example.com", "A", timeout=0.5)
    with pytest.raises(dns.resolver.NoAnswer):
        resolver.records("london.example.com", "AAAA", timeout=0.5)


def test_records_never_outlasts_its_timeout(dns_server):
    resolver = Resolver(nameservers=[dns_server.address, dns_server.address], timeout=1.0)
    started = time.monotonic()
    with pytest.raises(dns.resolver.LifetimeTimeout):
        resolver.records(SILENT_NAME, "A", timeout=0.3)
    assert time.monotonic() - started < 0.35  # dnspython's resolve() slept a back-off past it


def test_records_asks_the_systems_name_servers_too(dns_server, settings, monkeypatch):
    """Without DNS_NAMESERVERS, resolv.conf's servers (text in dnspython) are asked the same way."""
    settings.DNS_NAMESERVERS = []
    read = dns.resolver.Resolver.read_resolv_conf

    def local_resolv_conf(self, filename):
        read(self, io.StringIO("nameserver 127.0.0.1\n"))
        self.port = dns_server.port

    monkeypatch.setattr(dns.resolver.Resolver, "read_resolv_conf", local_resolv_conf)
    records = Resolver(timeout=1.0).records(dns.reversename.from_address(LONDON_IP), "PTR", timeout=0.5)
    assert [record.target.to_text() for record in records] == ["london.example.com."]
