"""A small authoritative DNS server on loopback, for tests: real UDP, real dnspython messages."""

import contextlib
import socket
import threading

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.reversename
import dns.rrset

# Names that misbehave on purpose.
SILENT_NAME = "silent.test.example"  # never answers (nor do its subdomains): the resolver must time out
GARBAGE_NAME = "garbage.test.example"  # answers with bytes that are not DNS
SERVER_FAILURE = "SERVFAIL"  # as a name's records or an address's pointers: answered SERVFAIL


class LocalDNSServer:
    """Answers A and AAAA from `records` ({name: [address, ...]}), PTR from `pointers` ({address:
    [name, ...]}, names as DNS text, escapes allowed; None: that reverse name never answers), and
    NXDOMAIN otherwise. SERVER_FAILURE as a name's records or an address's pointers: SERVFAIL."""

    def __init__(
        self, records: dict[str, list[str] | str], pointers: dict[str, list[str] | str | None] | None = None
    ):
        self.records = {name.lower().rstrip("."): addresses for name, addresses in records.items()}
        self.pointers = {
            dns.reversename.from_address(address).to_text().rstrip(".").lower(): names
            for address, names in (pointers or {}).items()
        }
        self.queries: list[tuple[str, str]] = []
        # Seconds to wait before each answer (slow DNS), and a switch that silences everything.
        self.delay = 0.0
        self.silent = False
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self.port = self._socket.getsockname()[1]
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "LocalDNSServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=2)
        self._socket.close()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                wire, peer = self._socket.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                reply = self._answer(wire)
            except Exception:  # a test server must never die on a strange packet
                continue
            if reply is None or self.silent:
                continue
            if self.delay > 0:
                threading.Timer(self.delay, self._send, (reply, peer)).start()
            else:
                self._send(reply, peer)

    def _send(self, reply: bytes, peer) -> None:
        with contextlib.suppress(OSError):  # stopped meanwhile
            self._socket.sendto(reply, peer)

    def _answer(self, wire: bytes) -> bytes | None:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        name = question.name.to_text().rstrip(".").lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rdtype))
        if name == SILENT_NAME or name.endswith("." + SILENT_NAME):
            return None
        if name == GARBAGE_NAME:
            return wire[:2] + b"\xff" * 7
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if name in self.pointers:
            names = self.pointers[name]
            if names is None:
                return None
            if names == SERVER_FAILURE:
                response.set_rcode(dns.rcode.SERVFAIL)
            elif rdtype == "PTR":
                response.answer.append(dns.rrset.from_text_list(question.name, 60, "IN", "PTR", names))
            return response.to_wire()
        if name not in self.records:
            response.set_rcode(dns.rcode.NXDOMAIN)
            return response.to_wire()
        if self.records[name] == SERVER_FAILURE:
            response.set_rcode(dns.rcode.SERVFAIL)
            return response.to_wire()
        wanted = [a for a in self.records[name] if (":" in a) == (rdtype == "AAAA")]
        if wanted and rdtype in ("A", "AAAA"):
            response.answer.append(dns.rrset.from_text_list(question.name, 60, "IN", rdtype, wanted))
        return response.to_wire()
