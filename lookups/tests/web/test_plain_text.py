"""Plain text for curl (lookups.web.plain_text): /ip, the field paths, `curl host` at /, errors as
one line with the API's statuses, the API's rate limit, and the history."""

import shutil
import subprocess
from http import HTTPStatus

import maxminddb
import pytest

from lookups.errors import (
    ADDRESS_NOT_FOUND_MESSAGE,
    ADDRESS_NOT_PUBLIC_MESSAGE,
    DATABASE_MISSING_MESSAGE,
    FIELD_NOT_FOUND_MESSAGE,
    INVALID_QUERY_MESSAGE,
    THROTTLED_MESSAGE,
)
from lookups.models import Channel, Lookup
from lookups.tests.geoip_data import (
    BERLIN_IP,
    COUNTRY_ONLY_IP,
    LINKOPING_IP,
    LONDON_IP,
    MANY_NETWORKS,
    UNKNOWN_PUBLIC_IP,
    build_asn_database,
    build_city_database,
)

pytestmark = pytest.mark.django_db

TEXT = "text/plain; charset=utf-8"


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("/country", "United Kingdom"),
        ("/country-iso", "GB"),
        ("/city", "London"),
        ("/region", "England"),
        ("/coordinates", "51.5142,-0.0931"),
        ("/timezone", "Europe/London"),
        ("/asn", "AS20712"),
        ("/asn-org", "Andrews & Arnold Ltd"),
    ],
)
def test_each_field_for_the_caller_and_for_ip(client, city_database, path, line):
    build_asn_database(city_database.parent / "GeoLite2-ASN.mmdb")
    for response in (
        client.get(path, REMOTE_ADDR=LONDON_IP),
        client.get(path, {"ip": LONDON_IP}, REMOTE_ADDR=BERLIN_IP),
    ):
        assert response.status_code == HTTPStatus.OK
        assert response["Content-Type"] == TEXT
        assert response.content.decode() == line + "\n"


def test_names_follow_the_language_asked_for(client, city_database):
    response = client.get("/country", {"ip": LONDON_IP, "lang": "de"})
    assert response.content.decode() == "Vereinigtes Königreich\n"
    response = client.get("/city", {"ip": BERLIN_IP}, HTTP_ACCEPT_LANGUAGE="ja")
    assert response.content.decode() == "ベルリン\n"
    assert response["Vary"] == "Accept-Language"


def test_a_name_is_resolved_and_the_time_zone_comes_from_tz_world(client, city_database):
    assert client.get("/country-iso", {"ip": "london.example.com"}).content == b"GB\n"
    assert client.get("/timezone", {"ip": LINKOPING_IP}).content == b"Europe/Stockholm\n"


def test_the_lookup_is_recorded_as_an_api_lookup(client, city_database):
    client.get("/country-iso", {"ip": LONDON_IP}, REMOTE_ADDR=BERLIN_IP)
    row = Lookup.objects.get()
    assert (row.query, row.channel, row.outcome, row.country_code) == (LONDON_IP, Channel.API, "ok", "GB")


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("/country", {"ip": "not an address!"}, HTTPStatus.BAD_REQUEST, INVALID_QUERY_MESSAGE),
        ("/country", {"ip": ""}, HTTPStatus.BAD_REQUEST, INVALID_QUERY_MESSAGE),
        (
            "/country",
            {"ip": "10.0.0.1"},
            HTTPStatus.BAD_REQUEST,
            ADDRESS_NOT_PUBLIC_MESSAGE.format(subject="10.0.0.1"),
        ),
        (
            "/city",
            {"ip": UNKNOWN_PUBLIC_IP},
            HTTPStatus.NOT_FOUND,
            ADDRESS_NOT_FOUND_MESSAGE.format(address=UNKNOWN_PUBLIC_IP),
        ),
        (
            "/city",
            {"ip": COUNTRY_ONLY_IP},
            HTTPStatus.NOT_FOUND,
            FIELD_NOT_FOUND_MESSAGE.format(field="city", address=COUNTRY_ONLY_IP),
        ),
        (  # no ASN database installed
            "/asn",
            {"ip": LONDON_IP},
            HTTPStatus.NOT_FOUND,
            FIELD_NOT_FOUND_MESSAGE.format(field="AS number", address=LONDON_IP),
        ),
    ],
)
def test_errors_are_one_line_with_the_api_s_status(client, city_database, path, params, status, message):
    response = client.get(path, params)
    assert response.status_code == status
    assert response["Content-Type"] == TEXT
    assert response.content.decode() == message + "\n"


def test_a_query_holding_line_breaks_is_answered_on_one_line(client, city_database):
    body = client.get("/country", {"ip": "a\nb\r\nc"}).content.decode()
    assert body.count("\n") == 1
    assert body.endswith("\n")


def test_the_caller_s_private_address_is_not_looked_up(client, city_database):
    response = client.get("/country")  # the test client's 127.0.0.1
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.content.decode() == ADDRESS_NOT_PUBLIC_MESSAGE.format(subject="127.0.0.1") + "\n"


def test_no_database_is_503_in_text(client, geoip_dir):
    response = client.get("/country", {"ip": LONDON_IP})
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.content.decode() == DATABASE_MISSING_MESSAGE + "\n"


@pytest.mark.throttled
def test_the_api_s_rate_limit_counts_them(client, city_database, settings):
    settings.API_THROTTLE_RATE = "3/minute"
    caller = {"REMOTE_ADDR": "198.51.100.7"}
    assert client.get(f"/api/v1/lookup/{LONDON_IP}", **caller).status_code == HTTPStatus.OK  # one bucket
    statuses = [client.get("/country-iso", {"ip": LONDON_IP}, **caller).status_code for _ in range(3)]
    assert statuses == [HTTPStatus.OK, HTTPStatus.OK, HTTPStatus.TOO_MANY_REQUESTS]
    response = client.get("/city", {"ip": LONDON_IP}, **caller)
    seconds = int(response["Retry-After"])
    assert response.content.decode() == THROTTLED_MESSAGE.format(seconds=seconds) + "\n"
    assert client.get("/ip", **caller).status_code == HTTPStatus.OK  # nothing looked up: not counted


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "2001:db8::1", LONDON_IP])
def test_ip_answers_the_caller_s_address_whatever_it_is(client, address):
    response = client.get("/ip", REMOTE_ADDR=address)
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == TEXT
    assert response.content.decode() == address + "\n"
    assert not Lookup.objects.exists()


def test_ip_and_the_fields_honour_trusted_proxies_only(client, city_database, settings):
    forwarded = {"REMOTE_ADDR": "203.0.113.5", "HTTP_X_FORWARDED_FOR": f"{BERLIN_IP}, {LONDON_IP}"}
    assert client.get("/ip", **forwarded).content == b"203.0.113.5\n"
    settings.TRUSTED_PROXIES = ["203.0.113.0/24"]
    assert client.get("/ip", **forwarded).content.decode() == LONDON_IP + "\n"
    assert client.get("/country-iso", **forwarded).content == b"GB\n"


@pytest.mark.parametrize("path", ["/ip", "/country"])
@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_other_methods_are_405_in_text(client, city_database, path, method):
    response = getattr(client, method)(path, REMOTE_ADDR=LONDON_IP)
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert response["Allow"] == "GET, HEAD"
    assert response.content.decode() == f'Method "{method.upper()}" not allowed.\n'
    assert not Lookup.objects.exists()


@pytest.mark.parametrize("agent", ["curl/8.5.0", "Wget/1.21.3", "HTTPie/3.2.2", "fetch libfetch/2.0"])
def test_curl_at_the_root_gets_its_address_as_text(client, agent):
    response = client.get("/", REMOTE_ADDR=LONDON_IP, HTTP_USER_AGENT=agent)
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == TEXT
    assert response.content.decode() == LONDON_IP + "\n"
    assert "User-Agent" in response["Vary"]


def test_curl_i_at_the_root_gets_the_text_answers_headers(client):
    response = client.head("/", REMOTE_ADDR=LONDON_IP, HTTP_USER_AGENT="curl/8.5.0")
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == TEXT
    assert "User-Agent" in response["Vary"]


@pytest.mark.parametrize("agent", ["Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", "", "python-curl/1"])
def test_browsers_at_the_root_get_the_page_which_varies_on_the_user_agent(client, city_database, agent):
    response = client.get("/", REMOTE_ADDR=LONDON_IP, HTTP_USER_AGENT=agent)
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("text/html")
    assert "User-Agent" in response["Vary"]


def test_curl_asking_the_page_a_query_gets_the_page(client, city_database):
    response = client.get("/", {"q": LONDON_IP}, HTTP_USER_AGENT="curl/8.5.0")
    assert response["Content-Type"].startswith("text/html")


def test_the_schema_documents_the_text_paths(client):
    schema = client.get("/api/schema/?format=json").json()
    field = schema["paths"]["/{field}"]["get"]
    assert field["operationId"] == "lookup_field_text"
    parameters = {parameter["name"]: parameter for parameter in field["parameters"]}
    assert set(parameters) == {"field", "ip", "lang"}
    assert set(parameters["field"]["schema"]["enum"]) == {
        "country", "country-iso", "city", "region", "coordinates", "timezone", "asn", "asn-org"
    }  # fmt: skip
    assert {"200", "400", "404", "405", "429", "503"} <= set(field["responses"])
    assert set(field["responses"]["200"]["content"]) == {"text/plain"}
    own = schema["paths"]["/ip"]["get"]
    assert own["operationId"] == "own_address_text"
    assert set(own["responses"]["200"]["content"]) == {"text/plain"}


# --- Through gunicorn, with the real curl and wget ------------------------------------------------


@pytest.mark.django_db(transaction=True)  # the server records the lookups itself
@pytest.mark.skipif(not shutil.which("curl") or not shutil.which("wget"), reason="needs curl and wget")
def test_curl_and_wget_against_gunicorn(gunicorn_server):
    def curl(*args: str) -> str:
        run = subprocess.run(["curl", "-sS", *args], capture_output=True, text=True, timeout=30, check=True)
        return run.stdout

    url = gunicorn_server.url
    assert curl(f"{url}/") == "127.0.0.1\n"  # curl host: its address, not the page
    assert curl(f"{url}/ip") == "127.0.0.1\n"
    assert curl(f"{url}/country-iso?ip={LONDON_IP}") == "GB\n"
    assert curl("-H", "Accept-Language: de", f"{url}/country?ip={LONDON_IP}") == "Vereinigtes Königreich\n"
    status = curl("-o", "/dev/null", "-w", "%{http_code} %{content_type}", f"{url}/city?ip=10.0.0.1")
    assert status == "400 text/plain; charset=utf-8"
    head = curl("-I", f"{url}/country-iso?ip={LONDON_IP}")
    assert head.startswith("HTTP/1.1 200")
    wget = subprocess.run(["wget", "-qO-", f"{url}/"], capture_output=True, text=True, timeout=30, check=True)
    assert wget.stdout == "127.0.0.1\n"
    # A browser still gets the page.
    status, headers, page = gunicorn_server.get("/", headers={"User-Agent": "Mozilla/5.0"})
    assert status == HTTPStatus.OK
    assert headers["Content-Type"].startswith("text/html")
    assert b"<html" in page
    assert "User-Agent" in headers["Vary"]


def test_country_iso_matches_the_database_for_every_sampled_address(client, geoip_dir):
    """Addresses from every network of a database of many (first, middle, last): the line is the
    record's country code, or field_not_found when the record has none."""
    path = build_city_database(geoip_dir / "GeoLite2-City.mmdb", networks=MANY_NETWORKS)
    with maxminddb.open_database(str(path), maxminddb.MODE_FILE) as reader:
        own = list(reader)
    checked = 0
    for network, record in own:
        for address in {network[0], network[network.num_addresses // 2], network[-1]}:
            if not address.is_global:
                continue
            response = client.get("/country-iso", {"ip": str(address)})
            code = (record.get("country") or {}).get("iso_code")
            if code is None:
                assert response.status_code == HTTPStatus.NOT_FOUND, address
            else:
                assert response.content.decode() == code + "\n", address
            checked += 1
    assert checked > 3 * len(own) / 2
