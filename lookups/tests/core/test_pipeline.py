import dataclasses
import datetime as dt

import pytest

from lookups.core import pipeline
from lookups.core.geoip import GeoIPReader
from lookups.core.history_row import history_row
from lookups.core.resolver import Resolver
from lookups.core.reverse_dns import ReverseName
from lookups.errors import (
    ADDRESS_NOT_FOUND_MESSAGE,
    ADDRESS_NOT_PUBLIC_MESSAGE,
    DATABASE_MISSING_MESSAGE,
    NAME_NOT_PUBLIC_MESSAGE,
    AddressNotFound,
    AddressNotPublic,
    BatchTooLarge,
    DatabaseUnavailable,
    InvalidQuery,
    LookupFailed,
    NameNotResolved,
)
from lookups.models import Lookup
from lookups.tests.geoip_data import (
    AT_SEA_IP,
    BERLIN_IP,
    COUNTRY_ONLY_IP,
    LINKOPING_IP,
    LONDON_IP,
    UNKNOWN_PUBLIC_IP,
    build_city_database,
)

pytestmark = pytest.mark.django_db


def test_geolocate_an_ipv4_address(city_database):
    result = pipeline.geolocate(LONDON_IP)
    assert result.ip_address == LONDON_IP
    assert result.addresses == (LONDON_IP,)
    assert result.network == "81.2.69.0/24"
    assert result.country.code == "GB"
    assert result.country.name("de") == "Vereinigtes Königreich"
    assert result.city.name("en") == "London"
    assert result.subdivisions[0].code == "ENG"
    assert result.postal_code == "EC2V"
    assert (result.latitude, result.longitude, result.accuracy_radius) == (51.5142, -0.0931, 10)
    assert (result.time_zone, result.time_zone_source) == ("Europe/London", "maxmind")
    assert result.database.edition == "GeoLite2-City"


def test_geolocate_an_ipv6_address(city_database):
    result = pipeline.geolocate("2A02:EC80:0:0:0:0:0:1")
    assert result.ip_address == BERLIN_IP
    assert result.network == "2a02:ec80::/29"
    assert result.country.code == "DE"


def test_time_zone_comes_from_tz_world_when_the_record_has_none(city_database):
    result = pipeline.geolocate(LINKOPING_IP)
    assert (result.time_zone, result.time_zone_source) == ("Europe/Stockholm", "tz_world")
    assert result.record["location"]["time_zone"] == "Europe/Stockholm"


def test_no_time_zone_at_sea_or_without_coordinates(city_database):
    at_sea = pipeline.geolocate(AT_SEA_IP)
    assert (at_sea.time_zone, at_sea.time_zone_source) == (None, None)
    country_only = pipeline.geolocate(COUNTRY_ONLY_IP)
    assert country_only.latitude is None
    assert (country_only.time_zone, country_only.time_zone_source) == (None, None)
    assert country_only.city is None


def test_a_name_reports_every_address_and_geolocates_the_first(city_database):
    result = pipeline.geolocate("dual.example.com.")
    assert result.query == "dual.example.com."
    assert result.name == "dual.example.com"
    assert result.addresses == (LONDON_IP, BERLIN_IP)
    assert result.ip_address == LONDON_IP


def test_an_internationalised_name_resolves(city_database):
    result = pipeline.geolocate("Bücher.example")
    assert result.name == "xn--bcher-kva.example"
    assert result.ip_address == BERLIN_IP


def test_private_addresses_of_a_name_are_skipped_and_never_reported(city_database):
    result = pipeline.geolocate("mixed.example.com")
    assert result.addresses == (LONDON_IP,)
    assert result.ip_address == LONDON_IP


def test_a_name_with_only_internal_addresses_reveals_nothing(city_database):
    with pytest.raises(AddressNotPublic) as error:
        pipeline.geolocate("internal.example.com")
    assert error.value.message == NAME_NOT_PUBLIC_MESSAGE.format(name="internal.example.com")
    assert "10.1.2.3" not in error.value.message


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.1.1",
        "100.64.0.1",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "0.0.0.0",
        "192.0.2.1",
        "198.51.100.7",
        "203.0.113.9",
        "198.18.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12::1",
        "2001:db8::1",
        "ff02::1",
        "ff0e::1",
        "::ffff:10.0.0.1",
        "64:ff9b:1::1",
    ],
)
def test_non_public_addresses_are_not_looked_up(city_database, address):
    with pytest.raises(AddressNotPublic) as error:
        pipeline.geolocate(address)
    assert error.value.code == "address_not_public"


def test_unknown_address(city_database):
    with pytest.raises(AddressNotFound) as error:
        pipeline.geolocate(UNKNOWN_PUBLIC_IP)
    assert error.value.message == ADDRESS_NOT_FOUND_MESSAGE.format(address=UNKNOWN_PUBLIC_IP)


def test_name_that_does_not_resolve(city_database):
    with pytest.raises(NameNotResolved):
        pipeline.geolocate("nope.example.com")


def test_missing_database_is_a_clear_error(geoip_dir):
    with pytest.raises(DatabaseUnavailable) as error:
        pipeline.geolocate(LONDON_IP)
    assert error.value.message == DATABASE_MISSING_MESSAGE


def test_a_database_of_the_wrong_kind_is_refused(geoip_dir):
    build_city_database(geoip_dir / "GeoLite2-City.mmdb", edition="GeoLite2-ASN")
    with pytest.raises(DatabaseUnavailable, match="GeoLite2-ASN database"):
        pipeline.geolocate(LONDON_IP)


def test_a_corrupt_file_is_refused(geoip_dir):
    (geoip_dir / "GeoLite2-City.mmdb").write_bytes(b"not a database" * 100)
    with pytest.raises(DatabaseUnavailable, match="not a MaxMind DB file"):
        pipeline.geolocate(LONDON_IP)


def test_collaborators_can_be_injected(geoip_dir, dns_server, tmp_path):
    other = build_city_database(tmp_path / "other.mmdb", edition="DBIP-City-Lite")
    reader = GeoIPReader(other)
    resolver = Resolver(nameservers=[dns_server.address], timeout=1)
    result = pipeline.geolocate("london.example.com", resolver=resolver, reader=reader)
    assert result.database.edition == "DBIP-City-Lite"
    assert result.country.code == "GB"


def test_the_reader_picks_up_a_replaced_file(geoip_dir):
    path = geoip_dir / "GeoLite2-City.mmdb"
    build_city_database(path, build_epoch=1_700_000_000)
    reader = GeoIPReader(path, check_interval=0)
    assert reader.info().build_date == dt.datetime.fromtimestamp(1_700_000_000, tz=dt.UTC)
    build_city_database(
        path, build_epoch=1_800_000_000, networks={"8.8.8.0/24": {"country": {"iso_code": "US"}}}
    )
    assert reader.info().build_date == dt.datetime.fromtimestamp(1_800_000_000, tz=dt.UTC)
    record, network, _ = reader.get(__import__("ipaddress").ip_address(UNKNOWN_PUBLIC_IP))
    assert record == {"country": {"iso_code": "US"}}
    assert network == "8.8.8.0/24"


def test_an_ipv4_only_database_answers_ipv6_as_unknown(geoip_dir):
    build_city_database(geoip_dir / "GeoLite2-City.mmdb", ip_version=4)
    assert pipeline.geolocate(LONDON_IP).country.code == "GB"
    with pytest.raises(AddressNotFound):
        pipeline.geolocate(BERLIN_IP)


# --- History ---------------------------------------------------------------------------------


def test_a_lookup_is_recorded_with_its_result(city_database):
    pipeline.lookup("dual.example.com", channel="api", requester="203.0.113.77")
    row = Lookup.objects.get()
    assert row.query == "dual.example.com"
    assert row.channel == "api"
    assert row.outcome == "ok"
    assert row.addresses == [LONDON_IP, BERLIN_IP]
    assert row.ip_address == LONDON_IP
    assert row.network == "81.2.69.0/24"
    assert (row.country_code, row.country_name, row.city) == ("GB", "United Kingdom", "London")
    assert (row.subdivision_code, row.subdivision_name, row.postal_code) == ("ENG", "England", "EC2V")
    assert (row.location.x, row.location.y, row.location.srid) == (-0.0931, 51.5142, 4326)
    assert row.accuracy_radius == 10
    assert (row.time_zone, row.time_zone_source) == ("Europe/London", "maxmind")
    assert row.requester == "203.0.113.0"
    assert row.database_edition == "GeoLite2-City"
    assert row.database_build_date is not None
    assert row.subdivisions == [{"iso_code": "ENG", "name": "England"}]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("not a query", "invalid_query"),
        ("10.0.0.1", "address_not_public"),
        ("nope.example.com", "name_not_resolved"),
        (UNKNOWN_PUBLIC_IP, "address_not_found"),
    ],
)
def test_a_failed_lookup_is_recorded_with_its_error(city_database, query, code):
    with pytest.raises(LookupFailed):
        pipeline.lookup(query, channel="web", requester="2001:db8:1234:5678::1")
    row = Lookup.objects.get()
    assert (row.query, row.outcome, row.channel) == (query, code, "web")
    assert row.ip_address is None
    assert row.requester == "2001:db8:1234::"


def test_a_lookup_without_a_database_is_recorded(geoip_dir):
    with pytest.raises(DatabaseUnavailable):
        pipeline.lookup(LONDON_IP, channel="api")
    assert Lookup.objects.get().outcome == "database_unavailable"


@pytest.mark.parametrize(
    ("mode", "address", "stored"),
    [
        ("anonymize", "203.0.113.77", "203.0.113.0"),
        ("anonymize", "2001:db8:abcd:12::1", "2001:db8:abcd::"),
        ("full", "203.0.113.77", "203.0.113.77"),
        ("none", "203.0.113.77", None),
        ("anonymize", None, None),
    ],
)
def test_requester_address_privacy(city_database, settings, mode, address, stored):
    settings.LOOKUP_REQUESTER_ADDRESS = mode
    pipeline.lookup(LONDON_IP, channel="api", requester=address)
    assert Lookup.objects.get().requester == stored


def test_batch_answers_in_order_and_looks_repeats_up_once(city_database, django_assert_num_queries):
    queries = [LONDON_IP, "nope.example.com", BERLIN_IP, f" {LONDON_IP} ", "10.0.0.1"]
    # The history written behind, nothing per query but tz_world (none here).
    with django_assert_num_queries(0):
        answers = pipeline.lookup_batch(queries, channel="batch")
    assert [getattr(a, "ip_address", None) for a in answers] == [LONDON_IP, None, BERLIN_IP, LONDON_IP, None]
    assert isinstance(answers[1], NameNotResolved)
    assert isinstance(answers[4], AddressNotPublic)
    assert answers[0] is answers[3]
    assert Lookup.objects.count() == 4
    assert sorted(Lookup.objects.values_list("outcome", flat=True)) == [
        "address_not_public",
        "name_not_resolved",
        "ok",
        "ok",
    ]


def test_batch_size_is_limited(city_database, settings):
    settings.LOOKUP_BATCH_MAX = 3
    with pytest.raises(BatchTooLarge, match="at most 3 queries; this one has 4"):
        pipeline.lookup_batch(["8.8.8.8"] * 4, channel="batch")
    assert Lookup.objects.count() == 0


def test_invalid_query_message(city_database):
    with pytest.raises(InvalidQuery):
        pipeline.geolocate("exa mple")
    assert ADDRESS_NOT_PUBLIC_MESSAGE.format(subject="x")


@pytest.mark.parametrize(
    "module",
    [
        "lookups.errors",
        "lookups.web.forms",
        "lookups.web.history_filters",
        "lookups.web.pages",
        "lookups.web.parsers",
        "lookups.web.webservice",
    ],
)
def test_messages_for_the_public_are_plain_sentences(module):
    """No Markdown, no operator's commands: what a visitor or an API client reads (issue 19)."""
    import importlib

    constants = vars(importlib.import_module(module))
    messages = {
        name: value
        for name, value in constants.items()
        if name.endswith("_MESSAGE") and isinstance(value, str)
    }
    assert messages
    for name, message in messages.items():
        assert "`" not in message, name
        assert "manage" not in message, name


def test_every_subdivision_is_recorded_the_first_also_in_its_own_fields(city_database):
    result = pipeline.geolocate(LONDON_IP)
    two = [
        {"iso_code": "ENG", "names": {"en": "England"}},
        {"iso_code": "LND", "names": {"en": "Greater London", "de": "Groß-London"}},
        {"names": {"de": "Nur Deutsch"}},  # neither a code nor an English name
    ]
    result = dataclasses.replace(result, record={**result.record, "subdivisions": two})
    row = history_row(LONDON_IP, result, channel="api", requester=None)
    assert row["subdivisions"] == [
        {"iso_code": "ENG", "name": "England"},
        {"iso_code": "LND", "name": "Greater London"},
        {"iso_code": "", "name": ""},
    ]
    assert (row["subdivision_code"], row["subdivision_name"]) == ("ENG", "England")


# --- Reverse DNS, on request (lookups.core.reverse_dns has its own tests) ---------------------------


def test_a_lookup_carries_a_reverse_name_only_when_asked(city_database, dns_server):
    asked = len(dns_server.queries)
    assert pipeline.lookup(LONDON_IP, channel="api").reverse_dns is None
    assert len(dns_server.queries) == asked
    result = pipeline.lookup(LONDON_IP, channel="api", with_reverse_dns=True)
    assert result.reverse_dns == ReverseName("ok", "london.example.com", verified=True)
    assert Lookup.objects.filter(query=LONDON_IP, outcome="ok").count() == 2  # recorded as ever


def test_a_names_lookup_reverses_the_address_it_looked_up(city_database):
    result = pipeline.lookup("london.example.com", channel="api", with_reverse_dns=True)
    assert (result.ip_address, result.reverse_dns.name) == (LONDON_IP, "london.example.com")


def test_a_failed_lookup_raises_as_ever_with_reverse_dns_asked(city_database):
    with pytest.raises(AddressNotPublic):
        pipeline.lookup("10.0.0.1", channel="api", with_reverse_dns=True)
