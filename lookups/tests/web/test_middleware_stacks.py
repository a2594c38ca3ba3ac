"""The lookup paths run LOOKUP_MIDDLEWARE, every other path MIDDLEWARE: through the WSGI
application gunicorn serves (config.wsgi) and through the test client, routed the same way."""

import io
import sys

import pytest
from django.conf import settings

from lookups.tests.geoip_data import LONDON_IP
from lookups.web import middleware_stacks


def _call(application, path: str, *, host: str = "localhost") -> tuple[str, dict[str, str], bytes]:
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer.update(status=status, headers=dict(headers))

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "HTTP_HOST": host,
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
    }
    body = b"".join(application(environ, start_response))
    return answer["status"], answer["headers"], body


@pytest.fixture
def application(db):
    return middleware_stacks.wsgi_application()


def test_the_lookup_stack_is_the_site_stack_without_what_the_api_never_reads():
    assert set(settings.LOOKUP_MIDDLEWARE) < set(settings.MIDDLEWARE)
    in_site_order = [name for name in settings.MIDDLEWARE if name in settings.LOOKUP_MIDDLEWARE]
    assert in_site_order == settings.LOOKUP_MIDDLEWARE
    left_out = set(settings.MIDDLEWARE) - set(settings.LOOKUP_MIDDLEWARE)
    assert "django.contrib.sessions.middleware.SessionMiddleware" in left_out
    assert "django.middleware.csrf.CsrfViewMiddleware" in left_out
    assert left_out == settings.SITE_ONLY_MIDDLEWARE  # each named there is in MIDDLEWARE


@pytest.mark.django_db
def test_each_path_gets_its_own_chain(application):
    lookup_chain = application.lookups._middleware_chain
    site_chain = application.site._middleware_chain
    assert lookup_chain is not site_chain
    # CSRF checks views (process_view) on the site only.
    assert any("CsrfViewMiddleware" in repr(method) for method in application.site._view_middleware)
    assert not any("CsrfViewMiddleware" in repr(method) for method in application.lookups._view_middleware)
    assert settings.MIDDLEWARE[-1] == "lookups.web.middleware.DatabaseUnreachableMiddleware"  # restored


def test_a_lookup_answer_keeps_the_site_headers(city_database, application):
    status, headers, body = _call(application, f"/api/v1/lookup/{LONDON_IP}")
    assert status == "200 OK"
    assert headers["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Content-Security-Policy"] == settings.CONTENT_SECURITY_POLICY
    assert headers["Content-Length"] == str(len(body))  # CommonMiddleware
    assert "Set-Cookie" not in headers  # no session, no CSRF cookie


def test_a_lookup_path_still_checks_the_host(city_database, application):
    status, _, _ = _call(application, f"/api/v1/lookup/{LONDON_IP}", host="evil.example")
    assert status.startswith("400")


def test_the_admin_runs_the_site_stack(application):
    status, headers, _ = _call(application, "/admin/login/")
    assert status == "200 OK"
    assert "csrftoken" in headers.get("Set-Cookie", "")  # the login form's: CsrfViewMiddleware


def test_the_test_client_is_routed_as_production(city_database, client):
    assert isinstance(client.handler, middleware_stacks.PathRouter)
    assert "csrftoken" not in client.get(f"/api/v1/lookup/{LONDON_IP}").cookies
    assert "csrftoken" in client.get("/admin/login/").cookies
