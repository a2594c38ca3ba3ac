"""Property tests: whatever a client sends, the answer is a Query or a clear 4xx, never a 500.

Example counts come from the Hypothesis profile (conftest.py): 200 per test in the suite,
many more with `make fuzz`.
"""

import json
import string
import urllib.parse
from http import HTTPStatus

import pytest
from django.conf import settings as django_settings
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from lookups.core.resolver import QUERY_MAX_LENGTH, Query, parse_query
from lookups.errors import (
    INVALID_QUERY_MESSAGE,
    IPV4_LEADING_ZERO_MESSAGE,
    IPV4_STRAY_DOT_MESSAGE,
    QUERY_TOO_LONG_MESSAGE,
    InvalidQuery,
)
from lookups.tests.geoip_data import LONDON_IP
from lookups.web.parsers import SURROGATE_MESSAGE, TOO_DEEP_MESSAGE

# Fixtures (the test database, the GeoIP file, the DNS server) hold across a test's examples.
FIXTURES_OK = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
TOO_LONG = QUERY_TOO_LONG_MESSAGE.format(limit=QUERY_MAX_LENGTH)

# Every code point, unpaired surrogates, NUL, bidi controls and private use included.
any_character = st.characters(exclude_categories=[])
any_text = st.text(any_character, max_size=300)
odd_text = st.text(
    st.sampled_from(["\x00", "\u202e", "\u200f", "\ufeff", "\ud800", "\udfff", "\U0010ffff", "%", "[", "]"])
    | st.characters(codec="utf-8")
    | st.sampled_from("0123456789.:abcdefABCDEF"),
    max_size=80,
)


def parses_or_refuses(text):
    try:
        query = parse_query(text)
    except InvalidQuery as error:
        message = error.message
        assert message in (INVALID_QUERY_MESSAGE, IPV4_LEADING_ZERO_MESSAGE, IPV4_STRAY_DOT_MESSAGE, TOO_LONG)
        return None
    assert isinstance(query, Query)
    assert (query.address is None) != (query.name is None)
    return query


# --- parse_query -----------------------------------------------------------------------------


@given(any_text | odd_text)
@example("\x00")
@example("[::1")
@example("fe80::1%")
@example("%eth0")
@example("[]")
@example("::ffff:")
@example("1.2.3.4%eth0")
@example("a" * 64 + ".com")
@example(".")
@example("..")
@example("xn--.com")
@example("xn--zz.com")
def test_any_text_is_a_query_or_invalid_query(text):
    query = parses_or_refuses(text)
    if query is not None and query.name is not None:
        assert query.name.isascii()
        assert query.name == query.name.lower()
        assert len(query.name) <= 253


@given(st.ip_addresses(), st.sampled_from(["{}", " {} ", "\t{}\n", "[{}]"]))
def test_addresses_round_trip(address, template):
    text = template.format(address)
    if address.version == 4 and text.startswith("["):
        assume(False)  # brackets are for IPv6
    parsed = parse_query(text).address
    expected = address.ipv4_mapped if address.version == 6 and address.ipv4_mapped else address
    assert parsed == expected


@given(st.ip_addresses(v=6))
def test_every_ipv6_spelling(address):
    for text in (
        address.exploded,
        address.exploded.upper(),
        address.compressed.upper(),
        f"[{address.exploded}]",
    ):
        parsed = parse_query(text).address
        assert parsed == (address.ipv4_mapped or address)


@given(st.ip_addresses(v=6), st.text(string.ascii_letters + string.digits + "_.-", min_size=1, max_size=15))
def test_zone_ids_are_dropped(address, zone):
    assert parse_query(f"{address}%{zone}").address == (address.ipv4_mapped or address)


@given(st.ip_addresses(v=4))
def test_ipv4_mapped_ipv6_is_the_ipv4_address(address):
    for text in (
        f"::ffff:{address}",
        f"::FFFF:{address}",
        f"[::ffff:{address}]",
        f"0:0:0:0:0:ffff:{address}",
    ):
        assert parse_query(text).address == address


@given(st.ip_addresses(v=4), st.integers(0, 3))
def test_leading_zeros_are_refused_not_guessed(address, position):
    octets = str(address).split(".")
    octets[position] = "0" + octets[position]
    with pytest.raises(InvalidQuery) as error:
        parse_query(".".join(octets))
    assert error.value.message == IPV4_LEADING_ZERO_MESSAGE


@given(st.integers(0, 2**32 - 1))
def test_integer_forms_are_refused(number):
    with pytest.raises(InvalidQuery) as error:
        parse_query(str(number))
    assert error.value.message == IPV4_LEADING_ZERO_MESSAGE


@given(st.lists(st.integers(0, 255), min_size=1, max_size=3))
def test_short_forms_are_refused(parts):
    with pytest.raises(InvalidQuery):
        parse_query(".".join(map(str, parts)))


@given(st.sampled_from(["0x8.8.8.8", "0x08080808", "8.8.8.8.", "8.8.8.8.8", "256.1.1.1", "8..8.8"]))
def test_other_odd_ipv4_spellings_are_refused(text):
    with pytest.raises(InvalidQuery):
        parse_query(text)


label = st.text(string.ascii_lowercase + string.digits + "-", min_size=1, max_size=22).map(
    lambda text: f"x{text}x"  # a label neither starts nor ends with a hyphen
)


@given(st.lists(label, min_size=1, max_size=4))
def test_names_round_trip_in_any_case(labels):
    name = ".".join([*labels, "example"])
    assert parse_query(name.upper() + ".").name == name


@given(st.text(any_character, min_size=QUERY_MAX_LENGTH + 1, max_size=QUERY_MAX_LENGTH + 500))
def test_too_long_is_refused(text):
    assume(len(text.strip()) > QUERY_MAX_LENGTH)
    with pytest.raises(InvalidQuery) as error:
        parse_query(text)
    assert error.value.message == QUERY_TOO_LONG_MESSAGE.format(limit=QUERY_MAX_LENGTH)


def test_the_messages_say_what_to_type():
    with pytest.raises(InvalidQuery) as error:
        parse_query("not a name")
    assert error.value.message == INVALID_QUERY_MESSAGE


# --- The API, through the Django test client -----------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | odd_text,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(odd_text, children, max_size=5),
    max_leaves=30,
)


def assert_clear_answer(response):
    assert response.status_code < 500, response.content[:300]
    body = response.json()
    if response.status_code == HTTPStatus.OK:
        assert isinstance(body["results"], list)
    else:
        assert set(body) == {"error"}
        assert set(body["error"]) == {"code", "message"}
        assert body["error"]["message"]
    return body


def post(client, data: bytes, content_type="application/json"):
    return client.post("/api/v1/lookup/batch", data=data, content_type=content_type)


@pytest.mark.django_db
@FIXTURES_OK
@given(json_values)
def test_batch_any_json(client, city_database, value):
    data = json.dumps(value, ensure_ascii=True).encode()
    assert_clear_answer(post(client, data))


@pytest.mark.django_db
@FIXTURES_OK
@given(st.lists(any_text | odd_text | st.sampled_from([LONDON_IP, "london.example.com", "::ffff:1.2.3.4"])))
def test_batch_any_queries(client, city_database, queries):
    response = post(client, json.dumps({"queries": queries}).encode())
    body = assert_clear_answer(response)
    if response.status_code == HTTPStatus.OK:
        assert [entry["query"] for entry in body["results"]] == queries


@pytest.mark.django_db
@FIXTURES_OK
@given(st.binary(max_size=2000))
@example(b"\xff\xfe\x00{")
@example(b'{"queries": ["\xc3\x28"]}')
@example(b"\xef\xbb\xbf{}")
def test_batch_any_bytes(client, city_database, data):
    assert_clear_answer(post(client, data))


@pytest.mark.django_db
@FIXTURES_OK
@given(st.integers(1, 200_000), st.sampled_from(["[", '{"a":']))
def test_batch_deep_nesting(client, city_database, depth, opener):
    closer = "]" if opener == "[" else "}"
    data = (opener * depth + "1" + closer * depth).encode()
    body = assert_clear_answer(post(client, data))
    if depth > 5000 and len(data) <= django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        assert body["error"] == {"code": "parse_error", "message": TOO_DEEP_MESSAGE}


@pytest.mark.django_db
def test_batch_unpaired_surrogates_are_a_parse_error(client, city_database):
    for text in ('{"queries": ["\\ud800"]}', '{"queries": ["\\udfff.example.com"]}', '{"\\ud83d": 1}'):
        body = assert_clear_answer(post(client, text.encode()))
        assert body["error"] == {"code": "parse_error", "message": SURROGATE_MESSAGE}
    # A well-formed pair is text like any other.
    body = assert_clear_answer(post(client, b'{"queries": ["\\ud83d\\ude00.example"]}'))
    assert body["results"][0]["query"] == "\U0001f600.example"


@pytest.mark.django_db
@settings(FIXTURES_OK, max_examples=10)
@given(st.integers(300_000, 3_000_000))
def test_batch_huge_bodies_are_413(client, city_database, size):
    response = post(client, b'{"queries": ["' + b"a" * size + b'"]}')
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert response.json()["error"]["code"] == "request_too_large"


@pytest.mark.django_db
@FIXTURES_OK
@given(any_text | odd_text)
def test_single_lookup_of_any_path(client, city_database, text):
    path = "/api/v1/lookup/" + urllib.parse.quote(text.encode("utf-8", "surrogatepass"), safe="")
    response = client.get(path)
    assert response.status_code < 500
    assert "error" in response.json() or response.status_code == HTTPStatus.OK


@pytest.mark.django_db
@FIXTURES_OK
@given(any_text | odd_text, st.sampled_from(["json", "xml", "yaml"]))
def test_comparison_of_any_path(client, city_database, alternative_database, text, output_format):
    path = "/api/v1/compare/" + urllib.parse.quote(text.encode("utf-8", "surrogatepass"), safe="")
    response = client.get(path, {"format": output_format})
    assert response.status_code < 500


@pytest.mark.django_db
@FIXTURES_OK
@given(any_text | odd_text)
def test_web_page_of_any_query(client, city_database, text):
    response = client.get("/", {"q": text.encode("utf-8", "surrogatepass")})
    assert response.status_code < 500


@pytest.mark.django_db
@FIXTURES_OK
@given(st.lists(odd_text, min_size=1, max_size=5), st.sampled_from(["json", "xml", "yaml", "csv"]))
@example(["S\x15", "a\x00b", "\ufffe"], "xml")
def test_batch_in_every_format(client, city_database, queries, output_format):
    queries = [query.encode("utf-16", "surrogatepass").decode("utf-16", "replace") for query in queries]
    response = client.post(
        f"/api/v1/lookup/batch?format={output_format}",
        data=json.dumps({"queries": queries}),
        content_type="application/json",
    )
    assert response.status_code == HTTPStatus.OK, response.content[:300]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query_string", ["format=", "format=json&format=xml", "format=JSON", "format=json%00"]
)
def test_a_format_must_be_exactly_one_known_format(client, city_database, query_string):
    response = client.get(f"/api/v1/lookup/{LONDON_IP}?{query_string}")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"]["code"] == "unknown_format"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/lookup/81.2.%0A69.142",
        "/api/v1/lookup/81.2.%0A69.142/timeline",
        "/api/v1/networks/81.2.0.0%0A/16",
        "/api/v1/compare/81.2.%0A69.142",
    ],
)
def test_a_line_break_in_a_path_is_a_400_that_says_why(client, city_database, alternative_database, path):
    """Django's <path:> stops at a line break: the resolver answered 404, which no schema documents."""
    response = client.get(path)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"]["code"] in {"invalid_query", "invalid_address", "invalid_prefix"}


@pytest.mark.django_db
def test_a_line_break_in_a_page_query_is_a_400_page(client, city_database):
    response = client.get("/lookup/81.2.%0A69.142")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "text/html" in response["Content-Type"]
