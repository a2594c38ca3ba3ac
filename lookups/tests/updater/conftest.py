"""The updater's local servers: MaxMind's download service and storage host over HTTPS (a
certificate from a test CA that the process trusts through REQUESTS_CA_BUNDLE), DB-IP over HTTP."""

import pytest
import trustme

from lookups.tests.download_server import LocalHTTPServer
from lookups.tests.updater.fakes import ACCOUNT_ID, LICENSE_KEY, FakeMaxMind


@pytest.fixture(scope="session")
def test_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def test_ca_bundle(test_ca, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    test_ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(autouse=True)
def trust_test_ca(monkeypatch, test_ca_bundle):
    """The updater verifies certificates as in production, against the CA our servers use."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", test_ca_bundle)


@pytest.fixture
def storage(test_ca):
    server = LocalHTTPServer(tls=test_ca).start()
    yield server
    server.stop()


@pytest.fixture
def plain_http():
    server = LocalHTTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def fake_maxmind(settings, geoip_dir, storage, test_ca):
    api = LocalHTTPServer(credentials=(ACCOUNT_ID, LICENSE_KEY), tls=test_ca).start()
    settings.MAXMIND_ACCOUNT_ID = ACCOUNT_ID
    settings.MAXMIND_LICENSE_KEY = LICENSE_KEY
    settings.MAXMIND_DOWNLOAD_URL = api.url
    settings.MAXMIND_EDITIONS = ["GeoLite2-City"]
    yield FakeMaxMind(api, storage)
    api.stop()


@pytest.fixture
def fake_dbip(settings, geoip_dir):
    server = LocalHTTPServer().start()
    settings.MAXMIND_ACCOUNT_ID = ""
    settings.MAXMIND_LICENSE_KEY = ""
    settings.DBIP_DOWNLOAD_URL = server.url + "/free"
    yield server
    server.stop()
