"""Security headers on every kind of response, HTTPS-only behaviour in production, and the admin
login's protection against password guessing.

Content-Security-Policy: scripts only from our own origin, never inline, on every response.
"""

import datetime as dt
import http.client
from http import HTTPStatus

import pytest
from axes.models import AccessFailureLog
from django.contrib.auth.models import User
from django.utils import timezone

from conftest import live_environment, run_gunicorn
from lookups.tests.geoip_data import LONDON_IP

EXPECTED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
PATHS = [
    "/",
    f"/lookup/{LONDON_IP}",
    "/lookup/not%20a%20name",
    f"/api/v1/lookup/{LONDON_IP}",
    "/api/v1/lookup/10.0.0.1",
    "/api/v1/nothing",
    "/api/schema/",
    "/api/docs/",
    "/health",
    "/admin/login/",
    "/no/such/page",
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", PATHS)
def test_security_headers_on_every_response(gunicorn_server, path):
    status, headers, _ = gunicorn_server.get(path)
    assert status < 500
    for name, value in EXPECTED_HEADERS.items():
        assert headers[name] == value, (path, name)
    policy = headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'", (path, policy)
    assert "unsafe-inline" not in directives["script-src"]
    assert directives["frame-ancestors"] == "'none'"


@pytest.fixture
def https_server(django_db_blocker, live_geoip_dir, dns_server, collected_static, tmp_path):
    """Production as deployed: HTTPS-only, behind a proxy that says X-Forwarded-Proto."""
    env = live_environment(geoip_dir=live_geoip_dir, dns_server=dns_server, static_root=collected_static)
    env.update({"DJANGO_SECURE_SSL_REDIRECT": "1", "DJANGO_BEHIND_HTTPS_PROXY": "1"})
    with run_gunicorn(env=env, tmp_path=tmp_path, workers=1) as server:
        yield server


def plain_http(server, path):
    """One GET that does not follow redirects."""
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_https_only_in_production(https_server):
    https = {"X-Forwarded-Proto": "https"}
    status, headers, _ = https_server.get(f"/api/v1/lookup/{LONDON_IP}", headers=https)
    assert status == HTTPStatus.OK
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    for name, value in EXPECTED_HEADERS.items():
        assert headers[name] == value
    # Plain HTTP is redirected (and carries no HSTS, which browsers ignore there anyway)...
    response = plain_http(https_server, f"/api/v1/lookup/{LONDON_IP}")
    assert response.status == HTTPStatus.MOVED_PERMANENTLY
    assert (
        response.headers["Location"]
        == https_server.url.replace("http:", "https:") + f"/api/v1/lookup/{LONDON_IP}"
    )
    # ...except the health check, which load balancers probe over plain HTTP.
    assert plain_http(https_server, "/health").status == HTTPStatus.OK
    # Cookies only travel over HTTPS.
    _, headers, _ = https_server.get("/admin/login/", headers=https)
    cookies = headers.get_all("Set-Cookie")
    assert cookies
    assert all("Secure" in cookie for cookie in cookies)


# --- Admin login: password guessing -----------------------------------------------------------

LOCKOUT_MESSAGE = "Account locked: too many login attempts. Please try again later."


@pytest.fixture
def admin_user(db):
    return User.objects.create_superuser("admin", "admin@example.com", "the right password 42")


def login(client, password, address="203.0.113.9", username="admin"):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password},
        REMOTE_ADDR=address,
    )


@pytest.mark.django_db
def test_admin_login_locks_out_a_guessing_client(client, admin_user, settings):
    settings.AXES_ENABLED = True  # the production default; off elsewhere in the test settings
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = login(client, "guess")
        assert response.status_code == HTTPStatus.OK  # the form again, with Django's message
        assert b"Please enter the correct username and password" in response.content
    response = login(client, "guess")
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert response.content.decode() == LOCKOUT_MESSAGE
    # Locked out: even the right password is refused now, from that address...
    response = login(client, "the right password 42")
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    # ...but not from another one, so an attacker cannot lock the real admin out.
    response = login(client, "the right password 42", address="198.51.100.20")
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/admin/"


@pytest.mark.django_db
def test_admin_login_locks_out_an_address_trying_many_usernames(client, admin_user, settings):
    """One guess for each of many usernames never reaches the per-username limit: the address's own does."""
    settings.AXES_ENABLED = True
    limit = settings.ADMIN_LOGIN_ADDRESS_FAILURE_LIMIT
    assert limit == 20  # the documented default
    assert limit > settings.AXES_FAILURE_LIMIT
    for number in range(limit - 1):
        response = login(client, "guess", username=f"user{number}")
        assert response.status_code == HTTPStatus.OK, number
    response = login(client, "guess", username="one-more")
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert response.content.decode() == LOCKOUT_MESSAGE
    # The address is locked for every username, the right password included...
    assert login(client, "the right password 42").status_code == HTTPStatus.TOO_MANY_REQUESTS
    # ...and other addresses are not.
    assert login(client, "the right password 42", address="198.51.100.20").status_code == HTTPStatus.FOUND


@pytest.mark.django_db
def test_the_address_limit_counts_the_last_hour_only(client, admin_user, settings):
    settings.AXES_ENABLED = True
    settings.ADMIN_LOGIN_ADDRESS_FAILURE_LIMIT = 3
    old = timezone.now() - dt.timedelta(hours=1, minutes=1)
    AccessFailureLog.objects.bulk_create(
        AccessFailureLog(username=f"old{n}", ip_address="203.0.113.9") for n in range(10)
    )
    AccessFailureLog.objects.update(attempt_time=old)  # attempt_time is set on creation
    assert login(client, "guess", username="a").status_code == HTTPStatus.OK
    assert login(client, "guess", username="b").status_code == HTTPStatus.OK
    assert login(client, "guess", username="c").status_code == HTTPStatus.TOO_MANY_REQUESTS


@pytest.mark.django_db
def test_admin_lockout_counts_the_address_behind_a_trusted_proxy(client, admin_user, settings):
    settings.AXES_ENABLED = True
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    for number in range(settings.AXES_FAILURE_LIMIT):
        # Each guess claims another X-Forwarded-For; only the hop the proxy saw counts.
        response = client.post(
            "/admin/login/",
            {"username": "admin", "password": "guess"},
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{number}, 203.0.113.50",
        )
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
