"""The development container's command, docker/runserver.sh, under debugpy: an editor attaches
over the Debug Adapter Protocol (as VS Code does), sets a breakpoint, and the autoreloading
runserver stops there when a request comes in."""

import contextlib
import inspect
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from config.tests.containers import (
    COMPOSE_DEV_FILE,
    COMPOSE_FILE,
    REPO,
    load_compose,
    on_this_machine,
    operator_dotenv,
    service_environment,
)
from config.tests.debug_adapter import DebugSession, attach
from conftest import free_port, live_environment
from lookups import views

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def connect(port: int, process: subprocess.Popen, log: Path) -> DebugSession:
    """The editor's connection, once debugpy listens (a mere probe would count as the editor)."""
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise AssertionError(f"exited ({process.returncode}):\n{log.read_text()}")
        try:
            return DebugSession(port)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def wait_for_port(port: int, process: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            raise AssertionError(f"exited ({process.returncode}):\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing listens on {port}:\n{log.read_text()}")
        time.sleep(0.2)


def parent_notices_a_reload(parent: DebugSession, path: Path) -> dict:
    """Touch `path` until the reloader notices (it looks once a second) and the adapter asks the
    editor to attach to the new child; that request's configuration."""
    deadline = time.monotonic() + 90
    parent.socket.settimeout(2)
    try:
        while True:
            os.utime(path)
            try:
                return parent.wait_for("event", "debugpyAttach")["body"]
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise
    finally:
        parent.socket.settimeout(60)


def stop_at_breakpoint(session: DebugSession, web_port: int, line: int, path: str) -> None:
    """A request to /health stops at the breakpoint, and finishes once the editor continues."""
    answers: list[int] = []

    def ask_health():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/health", timeout=60) as response:
                answers.append(response.status)
        except urllib.error.HTTPError as error:
            answers.append(error.code)

    request = threading.Thread(target=ask_health)
    request.start()
    stopped = session.wait_for("event", "stopped")["body"]
    assert stopped["reason"] == "breakpoint"
    trace = session.request("stackTrace", {"threadId": stopped["threadId"], "levels": 1})
    frame = trace["body"]["stackFrames"][0]
    assert frame["name"] == "health"
    assert frame["line"] == line
    assert Path(frame["source"]["path"]).resolve() == Path(path)
    assert answers == []  # held at the breakpoint
    session.request("continue", {"threadId": stopped["threadId"]})
    request.join(timeout=30)
    assert answers == [200]


def test_an_editor_attaches_to_the_dev_server_and_stops_at_a_breakpoint(
    django_db_setup, live_geoip_dir, dns_server, collected_static, tmp_path
):
    web_port, debug_port = free_port(), free_port()
    environment = {
        **service_environment(
            "app", dotenv=operator_dotenv(DEBUGPY="1"), files=(COMPOSE_FILE, COMPOSE_DEV_FILE)
        ),
        **live_environment(geoip_dir=live_geoip_dir, dns_server=dns_server, static_root=collected_static),
        "PATH": f"{BIN}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "RUNSERVER_ADDRESS": f"127.0.0.1:{web_port}",
        "DEBUGPY_ADDRESS": f"127.0.0.1:{debug_port}",
    }
    assert environment["DEBUGPY"] == "1"
    assert environment["DJANGO_DEBUG"] == "1"
    source, first_line = inspect.getsourcelines(views.health)
    breakpoint_line = first_line + next(i for i, line in enumerate(source) if line.strip() == "try:")
    views_path = str(Path(views.__file__).resolve())

    log = tmp_path / "runserver.log"
    sessions: list[DebugSession] = []
    with open(log, "wb") as output:
        process = subprocess.Popen(
            on_this_machine(load_compose(COMPOSE_FILE, COMPOSE_DEV_FILE)["services"]["app"]["command"]),
            cwd=REPO,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        parent = connect(debug_port, process, log)
        sessions.append(parent)
        # Waiting for the editor: runserver has not started yet.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", web_port), timeout=1).close()
        assert "waiting for a debugger to attach" in log.read_text()
        attach(parent, {"justMyCode": True}, {views_path: [breakpoint_line]})
        # The autoreloader's child serves the requests: the adapter asks the editor to attach to it.
        child_configuration = parent.wait_for("event", "debugpyAttach")["body"]
        child = connect(debug_port, process, log)
        sessions.append(child)
        attach(child, child_configuration, {views_path: [breakpoint_line]})
        wait_for_port(web_port, process, log)

        stop_at_breakpoint(child, web_port, breakpoint_line, views_path)

        # A saved change: runserver reloads into a new child, which the editor attaches to again.
        child_configuration = parent_notices_a_reload(parent, REPO / "lookups" / "models.py")
        reloaded = connect(debug_port, process, log)
        sessions.append(reloaded)
        attach(reloaded, child_configuration, {views_path: [breakpoint_line]})
        wait_for_port(web_port, process, log)
        stop_at_breakpoint(reloaded, web_port, breakpoint_line, views_path)
    finally:
        for session in sessions:
            session.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
