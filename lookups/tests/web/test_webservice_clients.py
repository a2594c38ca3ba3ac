"""MaxMind's official client libraries against a live gunicorn serving easygeoip over TLS.

The clients always speak HTTPS, so gunicorn serves a test certificate from `trustme`, and each
client trusts its CA through the environment, as a deployment would: REQUESTS_CA_BUNDLE for
geoip2's Client (requests), SSL_CERT_FILE for its AsyncClient (aiohttp builds its SSL context at
import, so that one runs in its own process), NODE_EXTRA_CA_CERTS for the Node client.
"""

import ipaddress
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import geoip2.webservice
import pytest
import requests
import trustme
from geoip2.errors import (
    AddressNotFoundError,
    AuthenticationError,
    InvalidRequestError,
    OutOfQueriesError,
    PermissionRequiredError,
)

from conftest import BASE_DIR, live_environment, run_gunicorn, wait_until
from lookups.errors import (
    ACCOUNT_ID_UNKNOWN_MESSAGE,
    AUTHORIZATION_INVALID_MESSAGE,
    INVALID_QUERY_MESSAGE,
    KEY_REVOKED_MESSAGE,
    OUT_OF_QUERIES_MESSAGE,
)
from lookups.models import ApiKey, Channel, Lookup
from lookups.tests.geoip_data import (
    BERLIN_IP,
    LINKOPING_IP,
    LONDON_IP,
    UNKNOWN_PUBLIC_IP,
)
from lookups.web import credentials

pytestmark = pytest.mark.django_db(transaction=True)

NODE_CLIENT_DIR = BASE_DIR / "clients" / "node"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> dict[str, Path]:
    """A throwaway CA and a certificate for 127.0.0.1 that it signed."""
    directory = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    certificate = ca.issue_cert("127.0.0.1", "localhost")
    files = {"ca": directory / "ca.pem", "cert": directory / "cert.pem", "key": directory / "key.pem"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    for pem in certificate.cert_chain_pems:
        pem.write_to_path(str(files["cert"]), append=True)
    certificate.private_key_pem.write_to_path(str(files["key"]))
    return files


@pytest.fixture(scope="module")
def tls_server(
    django_db_setup,
    django_db_blocker,
    live_geoip_dir,
    dns_server,
    collected_static,
    tls_files,
    tmp_path_factory,
):
    env = {
        **live_environment(geoip_dir=live_geoip_dir, dns_server=dns_server, static_root=collected_static),
        "GUNICORN_CERTFILE": str(tls_files["cert"]),
        "GUNICORN_KEYFILE": str(tls_files["key"]),
        # Production's HTTPS-only settings: gunicorn's own TLS makes requests secure.
        "DJANGO_SECURE_SSL_REDIRECT": "1",
        # Stands for the proxy in front, so that `me` can be a public address in a test.
        "TRUSTED_PROXIES": "127.0.0.1",
    }
    with run_gunicorn(env=env, tmp_path=tmp_path_factory.mktemp("gunicorn-tls")) as server:
        yield server


@pytest.fixture
def host(tls_server) -> str:
    return tls_server.url.removeprefix("https://")


@pytest.fixture
def trusted(monkeypatch, tls_files):
    """geoip2's Client (requests) trusts the test CA through the environment."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_files["ca"]))


@pytest.fixture
def issued():
    return credentials.create_api_key(name="official client")


@pytest.fixture
def client(trusted, host, issued):
    with geoip2.webservice.Client(issued.api_key.account_id, issued.license_key, host=host) as client:
        yield client


# --- Python: geoip2.webservice.Client ---------------------------------------------------------


def test_city_carries_every_field_the_database_has(client):
    model = client.city(LONDON_IP)
    assert model.city.name == "London"
    assert model.city.names == {"en": "London", "de": "London", "ja": "ロンドン"}
    assert model.city.geoname_id == 2643743
    assert model.continent.code == "EU"
    assert model.continent.names["de"] == "Europa"
    assert (model.country.iso_code, model.country.name) == ("GB", "United Kingdom")
    assert model.registered_country.iso_code == "GB"
    assert model.subdivisions.most_specific.iso_code == "ENG"
    assert model.subdivisions.most_specific.names["ja"] == "イングランド"
    assert model.postal.code == "EC2V"
    assert (model.location.latitude, model.location.longitude) == (51.5142, -0.0931)
    assert model.location.accuracy_radius == 10
    assert model.location.time_zone == "Europe/London"
    assert model.traits.ip_address == ipaddress.ip_address(LONDON_IP)
    assert model.traits.network == ipaddress.ip_network("81.2.69.0/24")
    assert model.maxmind.queries_remaining is None  # no quota on this key


def test_city_time_zone_from_tz_world(client):
    model = client.city(LINKOPING_IP)
    assert model.location.time_zone == "Europe/Stockholm"
    assert model.city.name == "Linköping"
    assert model.traits.network == ipaddress.ip_network("89.160.20.0/24")


def test_country_and_locales(trusted, host, issued):
    with geoip2.webservice.Client(
        issued.api_key.account_id, issued.license_key, host=host, locales=["ja", "en"]
    ) as client:
        model = client.country(BERLIN_IP)
    assert isinstance(model, geoip2.models.Country)
    assert (model.country.iso_code, model.country.name) == ("DE", "ドイツ")
    assert model.continent.name == "Europe"  # no Japanese name for it in the record: English
    assert model.traits.network == ipaddress.ip_network("2a02:ec80::/29")


def test_me(client):
    # Straight from 127.0.0.1, "me" is a loopback address, which MaxMind calls reserved.
    with pytest.raises(AddressNotFoundError, match=r"127\.0\.0\.1 is not a public address"):
        client.city("me")
    # Behind a trusted proxy, "me" is the address the proxy saw. The official client has no
    # option for extra headers, so the test adds the proxy's header to its requests session.
    client._session.headers["X-Forwarded-For"] = LONDON_IP
    assert client.city("me").traits.ip_address == ipaddress.ip_address(LONDON_IP)
    assert client.country().country.iso_code == "GB"


def test_lookups_through_the_client_are_in_the_history(client, issued):
    client.city(LONDON_IP)
    wait_until(Lookup.objects.exists)
    row = Lookup.objects.get()
    assert (row.query, row.channel, row.api_key_id, row.country_code) == (
        LONDON_IP,
        Channel.WEBSERVICE,
        issued.api_key.pk,
        "GB",
    )


def test_address_errors(client):
    with pytest.raises(AddressNotFoundError, match="is not in the GeoIP database"):
        client.city(UNKNOWN_PUBLIC_IP)
    with pytest.raises(AddressNotFoundError, match="not a public address"):  # IP_ADDRESS_RESERVED
        client.country("10.0.0.1")


def test_an_invalid_address_is_an_invalid_request(trusted, host, issued):
    """The client checks addresses itself, so it never sends an invalid one on purpose: the
    fragment in `host` makes it ask /geoip/v2.1/city/not-an-address while it thinks it asks for
    8.8.8.8, which puts our answer through the client's own error mapping."""
    with (
        geoip2.webservice.Client(
            issued.api_key.account_id, issued.license_key, host=f"{host}/geoip/v2.1/city/not-an-address#"
        ) as client,
        pytest.raises(InvalidRequestError) as raised,
    ):
        client.city("8.8.8.8")
    # InvalidRequestError(message, code, status, uri): the code and status are ours.
    message, code, status, _uri = raised.value.args
    assert (message, code, status) == (INVALID_QUERY_MESSAGE, "IP_ADDRESS_INVALID", 400)


def test_authentication_errors(trusted, host, issued):
    account_id = issued.api_key.account_id
    cases = [
        (account_id, "not-the-key", AUTHORIZATION_INVALID_MESSAGE),
        (1, issued.license_key, ACCOUNT_ID_UNKNOWN_MESSAGE.format(account_id=1)),
    ]
    for client_account, license_key, message in cases:
        with (
            geoip2.webservice.Client(client_account, license_key, host=host) as client,
            pytest.raises(AuthenticationError) as raised,
        ):
            client.city(LONDON_IP)
        assert str(raised.value) == message
    ApiKey.objects.filter(pk=issued.api_key.pk).update(revoked=True)
    with (
        geoip2.webservice.Client(account_id, issued.license_key, host=host) as client,
        pytest.raises(AuthenticationError, match=KEY_REVOKED_MESSAGE),
    ):
        client.city(LONDON_IP)


def test_out_of_queries(trusted, host):
    issued = credentials.create_api_key(name="small", daily_quota=2)
    with geoip2.webservice.Client(issued.api_key.account_id, issued.license_key, host=host) as client:
        assert client.city(LONDON_IP).maxmind.queries_remaining == 1
        assert client.country(LONDON_IP).maxmind.queries_remaining == 0
        with pytest.raises(OutOfQueriesError, match=OUT_OF_QUERIES_MESSAGE.format(quota=2)):
            client.city(LONDON_IP)


def test_insights_needs_a_permission_we_do_not_give(client):
    with pytest.raises(PermissionRequiredError, match="City and Country"):
        client.insights(LONDON_IP)


def test_the_certificate_really_is_checked(monkeypatch, host, issued):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with (
        geoip2.webservice.Client(issued.api_key.account_id, issued.license_key, host=host) as client,
        pytest.raises(requests.exceptions.SSLError),
    ):
        client.city(LONDON_IP)


_ASYNC_SCRIPT = """
import asyncio, json, sys
from geoip2.webservice import AsyncClient

async def main():
    account_id, license_key, host, address = sys.argv[1:]
    async with AsyncClient(int(account_id), license_key, host=host, locales=["de"]) as client:
        model = await client.city(address)
    print(json.dumps({"city": model.city.name, "country": model.country.name,
                      "time_zone": model.location.time_zone, "network": str(model.traits.network)}))

asyncio.run(main())
"""


def test_async_client_trusts_ssl_cert_file(host, issued, tls_files):
    env = {**os.environ, "SSL_CERT_FILE": str(tls_files["ca"])}
    env.pop("REQUESTS_CA_BUNDLE", None)
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            _ASYNC_SCRIPT,
            str(issued.api_key.account_id),
            issued.license_key,
            host,
            LONDON_IP,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(completed.stdout) == {
        "city": "London",
        "country": "Vereinigtes Königreich",
        "time_zone": "Europe/London",
        "network": "81.2.69.0/24",
    }


# --- Node: @maxmind/geoip2-node's WebServiceClient ------------------------------------------


@pytest.fixture(scope="module")
def node_client() -> Path:
    """clients/node with its locked dependencies installed (bin/setup does this too)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js is not installed: the Node client cannot be tried here")
    if not (NODE_CLIENT_DIR / "node_modules" / "@maxmind" / "geoip2-node").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_CLIENT_DIR,
            check=True,
            timeout=300,
        )
    return NODE_CLIENT_DIR


def run_node(node_client: Path, *, host: str, ca: Path, account_id, license_key: str, calls: list) -> list:
    env = {
        **os.environ,
        "NODE_EXTRA_CA_CERTS": str(ca),
        "EASYGEOIP_HOST": host,
        "EASYGEOIP_ACCOUNT_ID": str(account_id),
        "EASYGEOIP_LICENSE_KEY": license_key,
    }
    completed = subprocess.run(
        ["node", "check.js", json.dumps(calls)],
        cwd=node_client,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(completed.stdout)


def test_node_client(node_client, host, issued, tls_files):
    answers = run_node(
        node_client,
        host=host,
        ca=tls_files["ca"],
        account_id=issued.api_key.account_id,
        license_key=issued.license_key,
        calls=[
            ["city", LONDON_IP],
            ["city", LINKOPING_IP],
            ["country", BERLIN_IP],
            ["city", UNKNOWN_PUBLIC_IP],
            ["city", "10.0.0.1"],
            ["insights", LONDON_IP],
        ],
    )
    london, linkoping, berlin, unknown, reserved, insights = answers
    london = london["model"]
    assert london["city"]["names"] == {"en": "London", "de": "London", "ja": "ロンドン"}
    assert london["country"]["isoCode"] == "GB"
    assert london["subdivisions"][0]["isoCode"] == "ENG"
    assert london["postal"]["code"] == "EC2V"
    assert london["location"] == {
        "latitude": 51.5142,
        "longitude": -0.0931,
        "accuracyRadius": 10,
        "timeZone": "Europe/London",
    }
    assert (london["traits"]["ipAddress"], london["traits"]["network"]) == (LONDON_IP, "81.2.69.0/24")
    assert linkoping["model"]["location"]["timeZone"] == "Europe/Stockholm"
    assert berlin["model"]["country"]["names"]["de"] == "Deutschland"
    assert "location" not in berlin["model"]
    assert berlin["model"]["traits"]["network"] == "2a02:ec80::/29"
    # The Node client rejects with the service's own code and status.
    assert (unknown["error"]["code"], unknown["error"]["status"]) == ("IP_ADDRESS_NOT_FOUND", 404)
    assert (reserved["error"]["code"], reserved["error"]["status"]) == ("IP_ADDRESS_RESERVED", 400)
    assert (insights["error"]["code"], insights["error"]["status"]) == ("PERMISSION_REQUIRED", 403)
    wait_until(lambda: Lookup.objects.filter(api_key=issued.api_key).count() >= 5)
    assert Lookup.objects.filter(api_key=issued.api_key, channel=Channel.WEBSERVICE).count() == 5


def test_node_client_credential_errors(node_client, host, tls_files):
    small = credentials.create_api_key(name="small", daily_quota=1)
    answers = run_node(
        node_client,
        host=host,
        ca=tls_files["ca"],
        account_id=small.api_key.account_id,
        license_key=small.license_key,
        calls=[["city", LONDON_IP], ["city", LONDON_IP]],
    )
    assert answers[0]["model"]["maxmind"] == {"queriesRemaining": 0}
    assert (answers[1]["error"]["code"], answers[1]["error"]["status"]) == ("OUT_OF_QUERIES", 402)
    wrong = run_node(
        node_client,
        host=host,
        ca=tls_files["ca"],
        account_id=small.api_key.account_id,
        license_key="wrong",
        calls=[["country", LONDON_IP]],
    )
    assert (wrong[0]["error"]["code"], wrong[0]["error"]["status"]) == ("AUTHORIZATION_INVALID", 401)
