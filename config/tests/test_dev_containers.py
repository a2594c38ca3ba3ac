"""Development in containers, as the README promises it: `docker compose -f docker-compose.yml
-f compose.dev.yml up` with the checkout mounted at /app, runserver reloading on an edit, the
lookups made there reaching the history, and an editor attaching to debugpy inside the
container and stopping at a breakpoint.

The tests of this module share one project and run in order.
"""

import ast
import json
import secrets
import socket
import threading
import time
import uuid
from pathlib import Path

import psycopg2
import pytest

from config.tests.containers import ENV_EXAMPLE, read_env_file
from config.tests.debug_adapter import DebugSession, attach
from config.tests.docker_engine import (
    ComposeProject,
    FileServer,
    backing_services,
    base_images,
    free_port,
    http_get,
    requires_docker,
    wait_for,
)
from lookups.tests.geoip_data import LONDON_IP, build_city_database

pytestmark = [requires_docker, pytest.mark.slow]

POSTGRES_PASSWORD = secrets.token_hex(16)


class DevProject:
    def __init__(self, project: ComposeProject, ports: dict[str, int]):
        self.project, self.ports = project, ports

    def get(self, path: str, timeout: float = 30) -> tuple[int, bytes]:
        return http_get(f"http://127.0.0.1:{self.ports['web']}{path}", timeout=timeout)

    def start(self, *, debugpy: bool) -> None:
        self.project.dotenv["DEBUGPY"] = "1" if debugpy else "0"
        self.project.prepare()
        self.project.up("app")

    def wait_serving(self) -> None:
        wait_for(
            lambda: self.get("/health")[0] in {200, 503},
            timeout=240,
            what="runserver did not answer",
            diagnose=lambda: self.project.logs("app"),
        )

    def rows(self, query: str) -> list[tuple]:
        connection = psycopg2.connect(
            host="127.0.0.1",
            port=self.ports["db"],
            user="easygeoip",
            password=POSTGRES_PASSWORD,
            dbname="easygeoip",
        )
        try:
            with connection, connection.cursor() as cursor:
                cursor.execute("SELECT channel FROM lookups_lookup WHERE query = %s", (query,))
                return cursor.fetchall()
        finally:
            connection.close()


@pytest.fixture(scope="module")
def dev(dev_image, tmp_path_factory):
    downloads = FileServer()  # DB-IP with nothing to download: the first start fails fast
    ports = {name: free_port() for name in ("db", "valkey", "web", "debug")}
    backing, commands = backing_services(ports, POSTGRES_PASSWORD)
    project = ComposeProject(
        directory=tmp_path_factory.mktemp("dev"),
        name=f"easygeoipdev{uuid.uuid4().hex[:8]}",
        files=("docker-compose.yml", "compose.dev.yml"),
        dotenv={
            **read_env_file(ENV_EXAMPLE),
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "localhost",
            "POSTGRES_PASSWORD": POSTGRES_PASSWORD,
            "TZ_WORLD_ZONES": "Europe/London",
            "DBIP_DOWNLOAD_URL": downloads.url + "/free",
            **base_images(),
        },
        host_settings={
            **backing,
            "app": {
                **backing["app"],
                "RUNSERVER_ADDRESS": f"127.0.0.1:{ports['web']}",
                "DEBUGPY_ADDRESS": f"127.0.0.1:{ports['debug']}",
            },
        },
        commands=commands,
    )
    try:
        yield DevProject(project, ports)
    finally:
        project.down(volumes=True)
        downloads.stop()


def test_the_mounted_checkout_reloads_on_an_edit_and_lookups_reach_the_history(dev, tmp_path):
    dev.start(debugpy=False)
    dev.wait_serving()
    app = dev.project.container("app")
    mounts = {mount["Destination"]: mount for mount in app.inspect()["Mounts"]}
    assert mounts["/app"]["Type"] == "bind"
    assert Path(mounts["/app"]["Source"]) == dev.project.directory
    # The spool is a named volume, never the mounted checkout or the container's own filesystem.
    assert mounts["/data/spool"]["Type"] == "volume"

    app.install_database(build_city_database(tmp_path / "city.mmdb"))
    # The server notices the new file within GEOIP_RELOAD_CHECK_INTERVAL (1 s).
    wait_for(lambda: dev.get("/health")[0] == 200, timeout=10, what="the new database was not picked up")
    status, body = dev.get(f"/api/v1/lookup/{LONDON_IP}")
    assert status == 200, body
    assert json.loads(body)["city"]["name"] == "London"
    wait_for(lambda: dev.rows(LONDON_IP) == [("api",)], timeout=30, what="the lookup was not recorded")

    # An edit on the host, seen through the mount: runserver reloads.
    edited = dev.project.directory / "config" / "urls.py"
    edited.write_text(edited.read_text() + "\n# edited by test_dev_containers\n")
    wait_for(
        lambda: "/app/config/urls.py changed, reloading" in dev.project.logs("app"),
        timeout=60,
        what="runserver did not reload",
        diagnose=lambda: dev.project.logs("app"),
    )
    dev.wait_serving()
    status, _ = dev.get(f"/api/v1/lookup/{LONDON_IP}")
    assert status == 200
    wait_for(lambda: len(dev.rows(LONDON_IP)) == 2, timeout=30, what="the second lookup was not recorded")


# The editor's breakpoint: in the lookup API's view, which only the test asks. The image's
# HEALTHCHECK asks /health every 30 s, and a breakpoint there could stop its request instead.
BREAKPOINT_MODULE, BREAKPOINT_VIEW = Path("lookups/web/api_lookup.py"), "lookup"


def view_breakpoint(checkout: Path) -> tuple[str, int]:
    """The container's path of the breakpoint's module, and its view's first statement's line."""
    for node in ast.walk(ast.parse((checkout / BREAKPOINT_MODULE).read_text())):
        if isinstance(node, ast.FunctionDef) and node.name == BREAKPOINT_VIEW:
            body = node.body
            if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]  # the docstring
            return f"/app/{BREAKPOINT_MODULE}", body[0].lineno
    raise AssertionError(f"no {BREAKPOINT_VIEW} view in {BREAKPOINT_MODULE}")


def connect(port: int, diagnose) -> DebugSession:
    """The editor's one connection, once debugpy listens (a probe would count as the editor)."""
    return wait_for(
        lambda: DebugSession(port),
        timeout=120,
        interval=0.3,
        what="debugpy did not listen",
        diagnose=diagnose,
    )


def test_an_editor_attaches_to_debugpy_in_the_container_and_stops_at_a_breakpoint(dev):
    dev.start(debugpy=True)
    logs = lambda: dev.project.logs("app")  # noqa: E731 (a diagnosis, passed around)
    path, line = view_breakpoint(dev.project.directory)
    sessions: list[DebugSession] = []
    try:
        parent = connect(dev.ports["debug"], logs)
        sessions.append(parent)
        with pytest.raises(ConnectionRefusedError):  # runserver waits for the editor
            socket.create_connection(("127.0.0.1", dev.ports["web"]), timeout=1).close()
        attach(parent, {"justMyCode": True}, {path: [line]})
        # The autoreloader's child serves requests: the adapter asks the editor to attach to it too.
        child_configuration = parent.wait_for("event", "debugpyAttach")["body"]
        child = connect(dev.ports["debug"], logs)
        sessions.append(child)
        attach(child, child_configuration, {path: [line]})
        # Listening (not asked anything yet: a request would stop at the breakpoint).
        wait_for(
            lambda: socket.create_connection(("127.0.0.1", dev.ports["web"]), timeout=1).close() or True,
            timeout=120,
            what="runserver did not listen",
            diagnose=logs,
        )

        answers: list[tuple[int, bytes]] = []
        request = threading.Thread(
            target=lambda: answers.append(dev.get(f"/api/v1/lookup/{LONDON_IP}", timeout=90))
        )
        request.start()
        stopped = child.wait_for("event", "stopped")["body"]
        assert stopped["reason"] == "breakpoint"
        frame = child.request("stackTrace", {"threadId": stopped["threadId"], "levels": 1})["body"][
            "stackFrames"
        ][0]
        assert frame["name"] == BREAKPOINT_VIEW
        assert (frame["source"]["path"], frame["line"]) == (path, line)
        time.sleep(0.5)
        assert answers == []  # held at the breakpoint
        try:
            child.request("continue", {"threadId": stopped["threadId"]})
        except TimeoutError:
            pytest.fail(f"debugpy did not answer 'continue'; events: {child.pending}; app: {logs()[-3000:]}")
        request.join(timeout=60)
        assert answers, f"the request was not answered after 'continue'; events: {child.pending}"
        [(status, body)] = answers
        assert status == 200, body
        assert json.loads(body)["city"]["name"] == "London"
    finally:
        for session in sessions:
            session.close()
