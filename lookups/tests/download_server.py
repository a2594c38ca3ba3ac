"""A real HTTP server on loopback that the tests script: MaxMind's download service, its storage
host, DB-IP (City Lite and ASN Lite). Each route answers with its replies in order (the last one
repeats), and every request is kept for assertions. Given a trustme CA, it speaks HTTPS with a certificate for
127.0.0.1 issued by that CA, as MaxMind's hosts do with theirs."""

import base64
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    reason: str | None = None  # the status line's reason phrase, when not the standard one
    cut_after: int | None = None  # announce the whole body, send this many bytes, hang up


@dataclass(frozen=True)
class Seen:
    method: str
    target: str  # path and query, as sent
    headers: dict[str, str]  # lower-case names


Responder = Reply | Callable[[Seen], Reply]

# DB-IP's free Lite databases, as https://download.db-ip.com/free/ publishes them: one gzipped
# .mmdb a month for each, named <product>-YYYY-MM.mmdb.gz.
DBIP_CITY_LITE = "dbip-city-lite"
DBIP_ASN_LITE = "dbip-asn-lite"


def dbip_target(product: str, month: str, *, base: str = "/free") -> str:
    """Where DB-IP publishes `product` (DBIP_CITY_LITE, DBIP_ASN_LITE) for `month` ("2026-03")."""
    return f"{base}/{product}-{month}.mmdb.gz"


class LocalHTTPServer:
    def __init__(self, *, credentials: tuple[str, str] | None = None, tls=None):
        self.credentials = credentials
        self.tls = tls  # a trustme.CA, or None for plain HTTP
        self.routes: dict[str, list[Responder]] = {}
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    def route(self, target: str, *replies: Responder) -> None:
        with self._lock:
            self.routes[target] = list(replies)

    def publish_dbip(self, product: str, month: str, *replies: Responder, base: str = "/free") -> str:
        """Serve a DB-IP Lite file (as its replies; give Reply(200, gzipped .mmdb)); its target."""
        target = dbip_target(product, month, base=base)
        self.route(target, *replies)
        return target

    def seen(self, target: str | None = None) -> list[Seen]:
        with self._lock:
            return [seen for seen in self.requests if target is None or seen.target == target]

    def _reply_for(self, seen: Seen) -> Reply:
        with self._lock:
            self.requests.append(seen)
            if self.credentials is not None:
                expected = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
                if seen.headers.get("authorization") != expected:
                    return Reply(401, b"Invalid account ID or license key", {"WWW-Authenticate": "Basic"})
            replies = self.routes.get(seen.target)
            if not replies:
                return Reply(404, b"Not Found")
            responder = replies.pop(0) if len(replies) > 1 else replies[0]
        return responder(seen) if callable(responder) else responder

    def start(self) -> "LocalHTTPServer":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, with_body: bool) -> None:
                seen = Seen(
                    self.command, self.path, {name.lower(): value for name, value in self.headers.items()}
                )
                reply = owner._reply_for(seen)
                self.send_response(reply.status, reply.reason)
                headers = {"Content-Length": str(len(reply.body)), **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if with_body and reply.status not in (204, 304):
                    self.wfile.write(reply.body if reply.cut_after is None else reply.body[: reply.cut_after])
                self.close_connection = True

            def do_GET(self):
                self._answer(with_body=True)

            def do_HEAD(self):
                self._answer(with_body=False)

            def log_message(self, format, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if self.tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.tls.issue_cert("127.0.0.1").configure_cert(context)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
