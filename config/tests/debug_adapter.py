"""A Debug Adapter Protocol client, as VS Code speaks it to debugpy: the dev-server tests attach
with it, on this machine and inside the development container."""

import json
import socket


class DebugSession:
    """One Debug Adapter Protocol connection: requests out, responses and events in."""

    def __init__(self, port: int):
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buffer = b""
        self.seq = 0
        self.pending: list[dict] = []

    def close(self):
        self.socket.close()

    def send(self, command: str, arguments: dict | None = None) -> int:
        self.seq += 1
        body = json.dumps(
            {"seq": self.seq, "type": "request", "command": command, "arguments": arguments or {}}
        )
        data = body.encode()
        self.socket.sendall(b"Content-Length: %d\r\n\r\n" % len(data) + data)
        return self.seq

    def _read(self) -> dict:
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        header, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        length = int(header.split(b":")[1])
        while len(self.buffer) < length:
            self.buffer += self._recv()
        message, self.buffer = self.buffer[:length], self.buffer[length:]
        return json.loads(message)

    def _recv(self) -> bytes:
        chunk = self.socket.recv(65536)
        if not chunk:
            raise ConnectionError("the debug adapter closed the connection")
        return chunk

    def wait_for(self, kind: str, name: str) -> dict:
        """The next response to `name` (kind "response") or event `name`, keeping the others."""
        for index, message in enumerate(self.pending):
            if message["type"] == kind and message.get("command", message.get("event")) == name:
                return self.pending.pop(index)
        while True:
            message = self._read()
            if message["type"] == kind and message.get("command", message.get("event")) == name:
                return message
            self.pending.append(message)

    def request(self, command: str, arguments: dict | None = None) -> dict:
        self.send(command, arguments)
        response = self.wait_for("response", command)
        assert response["success"], response
        return response


def attach(session: DebugSession, configuration: dict, breakpoints: dict[str, list[int]]) -> DebugSession:
    """What an editor does: initialize, attach, set breakpoints, configuration done."""
    session.request(
        "initialize", {"adapterID": "debugpy", "clientID": "easygeoip-test", "pathFormat": "path"}
    )
    session.send("attach", configuration)
    session.wait_for("event", "initialized")
    for path, lines in breakpoints.items():
        answer = session.request(
            "setBreakpoints", {"source": {"path": path}, "breakpoints": [{"line": line} for line in lines]}
        )
        assert all(breakpoint["verified"] for breakpoint in answer["body"]["breakpoints"]), answer
    session.request("configurationDone")
    assert session.wait_for("response", "attach")["success"]
    return session
