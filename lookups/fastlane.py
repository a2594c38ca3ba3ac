"""A fast lane for the hottest request: `GET /api/v1/lookup/<IP address>` asking for JSON.

Through Django, that request spends most of its time in the handler, the middleware, URL
resolution and DRF's dispatch: about 460 µs of CPU, against 100 µs here. This WSGI app sits in
front of Django and answers that one shape of request itself, with the same status, headers and
body Django would give (lookups/tests/test_fastlane.py compares them), and hands everything else
to Django untouched: other paths and methods, names (they need DNS), other query parameters or
Accept headers, hosts Django would refuse, plain HTTP when HTTPS is required, and every lookup
that does not succeed (Django answers the error, and records it, as always).

The response headers are Django's own: the first eligible request of each kind goes through
Django and its headers (all but Content-Length) are kept for the next ones. Any setting change
forgets them.

Two Django settings our environment does not expose, DISALLOWED_USER_AGENTS and PREPEND_WWW,
are not looked at: whoever sets one in code must switch the lane off (API_FAST_LANE=0).

Order matters for side effects: the lookup (which records nothing) runs first, then the rate
limit, then the history row, so a request handed to Django is not recorded twice (nor counted
twice, unless the history itself fails).
"""

import logging
import re
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.http.request import split_domain_port, validate_host
from django.test.signals import setting_changed

from lookups import history, services
from lookups.batch import LeanLookup
from lookups.core.geoip import city_reader
from lookups.core.resolver import parse_query
from lookups.errors import LookupFailed
from lookups.models import Channel
from lookups.web.api import LookupView
from lookups.web.request_meta import accepted_languages, choose_language, client_address

logger = logging.getLogger(__name__)

PREFIX = "/api/v1/lookup/"
# What an IP address literal is made of; brackets, zone IDs and names go to Django.
_ADDRESS_CHARACTERS = frozenset("0123456789abcdefABCDEF:.")
_LANGUAGE_ONLY = re.compile(r"lang=[A-Za-z0-9-]{0,35}")
# The Accept headers DRF answers with JSON without parsing them (lookups.web.negotiation).
_PLAIN_ACCEPT = frozenset({"", "*/*", "application/json"})


class _Request:
    """What lookups.web.request_meta and DRF's throttle read from a request: its META and its user."""

    __slots__ = ("META",)

    def __init__(self, environ: dict[str, Any]):
        self.META = environ

    @property
    def user(self) -> None:
        return None  # the public lookup endpoints take no credentials


class FastLane:
    def __init__(self, django_app):
        self.django_app = django_app
        # Django's response headers for a successful lookup, by (secure, has cookies).
        self._headers: dict[tuple[bool, bool], list[tuple[str, str | None]]] = {}
        # The view's own renderer and throttles: the same bytes, the same rate limit.
        self._renderer = LookupView.renderer_classes[0]()
        self._throttle_classes = LookupView.throttle_classes
        setting_changed.connect(self._forget, weak=False)

    def _forget(self, **kwargs) -> None:
        self._headers.clear()
        _allowed_hosts.clear()

    def __call__(self, environ: dict[str, Any], start_response):
        secure = _is_secure(environ)
        query = self._eligible_query(environ, secure)
        if query is None:
            return self.django_app(environ, start_response)
        key = (secure, "HTTP_COOKIE" in environ)
        headers = self._headers.get(key)
        if headers is None:
            return self._learn(key, environ, start_response)
        try:
            body = self._answer(query, environ)
        except Exception:
            # The history row is the last step, so nothing was recorded: Django answers, with its
            # own error handling, as if the fast lane were not there.
            logger.exception(
                "Fast lane failed on %s; handing the request to Django", environ.get("PATH_INFO")
            )
            body = None
        if body is None:
            return self.django_app(environ, start_response)
        start_response(
            "200 OK", [(name, str(len(body)) if value is None else value) for name, value in headers]
        )
        return [body]

    def _eligible_query(self, environ: dict[str, Any], secure: bool) -> str | None:
        """The address in the path when Django would answer this request as a plain lookup."""
        if environ.get("REQUEST_METHOD") != "GET" or not settings.API_FAST_LANE:
            return None
        path = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX):
            return None
        query = path[len(PREFIX) :]
        if not query or not _ADDRESS_CHARACTERS.issuperset(query):
            return None
        query_string = environ.get("QUERY_STRING", "")
        if query_string and not _LANGUAGE_ONLY.fullmatch(query_string):
            return None
        if environ.get("HTTP_ACCEPT", "") not in _PLAIN_ACCEPT:
            return None
        if settings.SECURE_SSL_REDIRECT and not secure:
            return None  # SecurityMiddleware redirects it
        if not _host_allowed(environ):
            return None  # Django answers 400
        return query

    def _learn(self, key, environ, start_response):
        """Let Django answer, and keep its headers if the lookup succeeded."""

        def capturing_start_response(status, headers, exc_info=None):
            content_types = [value for name, value in headers if name.lower() == "content-type"]
            if status.startswith("200 ") and content_types == ["application/json"]:
                # Content-Length (None here) is the one header that changes from answer to answer.
                self._headers[key] = [
                    (name, None if name.lower() == "content-length" else value) for name, value in headers
                ]
            return start_response(status, headers, exc_info)

        return self.django_app(environ, capturing_start_response)

    def _answer(self, query: str, environ: dict[str, Any]) -> bytes | None:
        """The JSON body of a successful lookup, recorded in the history; None: let Django answer."""
        try:
            try:
                parsed = parse_query(query)
                database, info = city_reader().open_database()
            except LookupFailed:
                return None
            if parsed.address is None:
                return None  # a name made of hex digits and dots ("dead.beef"): DNS, Django's
            explicit = environ.get("QUERY_STRING", "")[len("lang=") :]
            requested = (
                [explicit] if explicit else accepted_languages(environ.get("HTTP_ACCEPT_LANGUAGE", ""))
            )
            # The batch's lean lookup: record to body and history row, without a LookupResult.
            lean = LeanLookup(database, info, choose_language(requested, info.languages))
            try:
                found = lean.find(query, parsed.address)
            except LookupFailed:
                return None
            request = _Request(environ)
            if not all(throttle().allow_request(request, None) for throttle in self._throttle_classes):
                return None
            body = self._renderer.render(lean.body(found))
            requester = services.anonymise_address(client_address(request))
            try:
                history.record([lean.history_row(found, query, channel=Channel.API, requester=requester)])
            except LookupFailed:
                return None  # history unavailable: Django answers with the error
            return body
        finally:
            # What Django's request_finished does for the database: drop a connection that broke
            # or outlived CONN_MAX_AGE, so that the next request opens a fresh one.
            close_old_connections()


def _is_secure(environ: dict[str, Any]) -> bool:
    """HttpRequest.is_secure(), from the environ."""
    if settings.SECURE_PROXY_SSL_HEADER:
        header, secure_value = settings.SECURE_PROXY_SSL_HEADER
        value = environ.get(header)
        if value is not None:
            return value.split(",", 1)[0].strip() == secure_value
    return environ.get("wsgi.url_scheme") == "https"


# Host header -> allowed, for the hosts seen lately (the header is the client's: bounded).
_allowed_hosts: dict[str, bool] = {}
_ALLOWED_HOSTS_REMEMBERED = 256


def _host_allowed(environ: dict[str, Any]) -> bool:
    """HttpRequest.get_host() would not raise DisallowedHost."""
    if settings.USE_X_FORWARDED_HOST and "HTTP_X_FORWARDED_HOST" in environ:
        return False  # rare enough to leave to Django
    host = environ.get("HTTP_HOST")
    if not host:
        return False
    allowed = _allowed_hosts.get(host)
    if allowed is None:
        allowed_hosts = settings.ALLOWED_HOSTS
        if settings.DEBUG and not allowed_hosts:
            allowed_hosts = [".localhost", "127.0.0.1", "[::1]"]
        domain, _ = split_domain_port(host)
        allowed = bool(domain) and validate_host(domain, allowed_hosts)
        if len(_allowed_hosts) >= _ALLOWED_HOSTS_REMEMBERED:
            _allowed_hosts.clear()
        _allowed_hosts[host] = allowed
    return allowed
