"""A real Docker engine for the container tests: the image built from this checkout, containers
and compose projects run by it, all on the host's network (our dockerd runs without a bridge)
and all removed afterwards.

bin/setup-docker installs the engine, Debian's docker-compose and the base images; when the
engine cannot run on a machine it writes the reason to var/docker-unavailable, and every test
here skips with that reason.
"""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from config.tests.containers import REPO

# Debian's CLI: it has BuildKit built in (a newer CLI in /usr/local/bin may want buildx).
DOCKER = "/usr/bin/docker"
COMPOSE = "docker-compose"
REASON_FILE = REPO / "var" / "docker-unavailable"
IMAGES_FILE = REPO / "var" / "docker-images.env"
# The names docker-compose.yml and compose.dev.yml give the images they build.
PRODUCTION_IMAGE = "easygeoip:local"
DEV_IMAGE = "easygeoip:dev"
APP_UID = "10001"


def engine_unavailable() -> str | None:
    """Why the container tests cannot run here, or None."""
    if REASON_FILE.exists():
        return REASON_FILE.read_text().strip()
    if not Path(DOCKER).exists() or shutil.which(COMPOSE) is None:
        return "no Docker engine set up: run bin/setup-docker (make test does)"
    info = subprocess.run([DOCKER, "info"], capture_output=True, text=True, timeout=30)
    if info.returncode != 0:
        return f"no Docker engine answers: {info.stderr.strip()[:200]}"
    return None


requires_docker = pytest.mark.skipif(
    (reason := engine_unavailable()) is not None, reason=f"container tests skipped: {reason}"
)


def docker(*args: str, timeout: float = 300, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [DOCKER, *args],
        capture_output=True,
        text=kwargs.pop("text", True),
        timeout=timeout,
        env={**os.environ, "DOCKER_BUILDKIT": "1"},
        **kwargs,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def build_image(target: str, tag: str) -> None:
    """The Dockerfile's `target` stage from this checkout, as a user builds it (on the host's
    network: there is no bridge here for build steps to use)."""
    docker("build", "--network", "host", "--target", target, "-t", tag, str(REPO), timeout=1200)


def base_images() -> dict[str, str]:
    """POSTGIS_IMAGE and CADDY_IMAGE as bin/setup-docker found them: the public images, or their
    stand-ins where no registry answers."""
    lines = IMAGES_FILE.read_text().splitlines() if IMAGES_FILE.exists() else []
    return dict(line.split("=", 1) for line in lines if "=" in line)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, *, host: str = "localhost", timeout: float = 30, **kwargs) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Host": host, **kwargs.pop("headers", {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout, **kwargs) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_for(condition, *, timeout: float, interval: float = 0.5, what: str, diagnose=None):
    """condition()'s first truthy answer, or an AssertionError saying what never happened."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError, ConnectionError):
            answer = condition()
            if answer:
                return answer
        if time.monotonic() > deadline:
            detail = diagnose() if diagnose else ""
            raise AssertionError(f"{what} within {timeout:.0f} s\n{detail}")
        time.sleep(interval)


@dataclass
class Container:
    """A running container, by id."""

    id: str

    def exec(
        self, *command: str, input: str | bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess:
        text = not isinstance(input, bytes)
        return docker("exec", "-i", self.id, *command, input=input, check=check, text=text)

    def inspect(self) -> dict:
        return json.loads(docker("inspect", self.id).stdout)[0]

    def health(self) -> str:
        return self.inspect()["State"].get("Health", {}).get("Status", "none")

    def logs(self) -> str:
        result = docker("logs", "--tail", "80", self.id, check=False)
        return result.stdout + result.stderr

    def wait_healthy(self, timeout: float = 240) -> None:
        wait_for(lambda: self.health() == "healthy", timeout=timeout, what="not healthy", diagnose=self.logs)

    def install_database(self, path: Path) -> str:
        """A GeoIP database installed the way an operator installs a file they have: copied into
        the container's /tmp (the root filesystem is read only), then `update_maxmind --file`."""
        self.exec("sh", "-c", "cat > /tmp/incoming.mmdb", input=path.read_bytes())
        return self.exec("python", "manage.py", "update_maxmind", "--file", "/tmp/incoming.mmdb").stdout


def backing_services(
    ports: dict[str, int], password: str
) -> tuple[dict[str, dict[str, str]], dict[str, list[str]]]:
    """db and valkey on ports of their own on 127.0.0.1 (5432 and 6379 are the machine's): their
    host settings and commands, and the app's DATABASE_URL and REDIS_URL pointing at them."""
    settings = {
        "db": {"PGPORT": str(ports["db"])},
        "app": {
            "DATABASE_URL": f"postgis://easygeoip:{password}@127.0.0.1:{ports['db']}/easygeoip",
            "REDIS_URL": f"redis://127.0.0.1:{ports['valkey']}/0",
        },
    }
    commands = {
        "db": ["postgres", "-c", "listen_addresses=127.0.0.1"],
        "valkey": ["valkey-server", "--bind", "127.0.0.1", "--port", str(ports["valkey"]), "--save", ""],
    }
    return settings, commands


def copy_checkout(destination: Path) -> Path:
    """The checkout as a user has it: every file git tracks or would track, nothing it ignores."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = REPO / name.decode()
        if source.is_file():
            target = destination / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


@dataclass
class ComposeProject:
    """A compose project as an operator runs it: a copy of the checkout with their .env beside
    the compose files, run by a real compose implementation (Debian's docker-compose 1.29).

    What differs from the compose files, because this engine has no bridge network: every
    service runs on the host's network, so `ports:`/`expose:` go, each service gets ports of its
    own on 127.0.0.1 (`host_settings`, per service), and the app's health is checked every 2 s
    instead of 30 s. compose 1.29 cannot drop `ports:` in an override file, so the project runs
    from one file: `docker-compose config` (compose's own merge and interpolation of the files and
    .env) with those changes, written to compose.hostnet.yml. Nothing else is changed.
    """

    directory: Path
    name: str
    dotenv: dict[str, str]
    host_settings: dict[str, dict[str, str]]
    files: tuple[str, ...] = ("docker-compose.yml",)
    commands: dict[str, list[str]] = field(default_factory=dict)

    def prepare(self) -> "ComposeProject":
        copy_checkout(self.directory)
        # A checkout's folder is readable by all; pytest makes its folders private.
        self.directory.chmod(0o755)
        env = {**self.dotenv, "COMPOSE_PROJECT_NAME": self.name}
        (self.directory / ".env").write_text("".join(f"{key}={value}\n" for key, value in env.items()))
        merged = subprocess.run(
            [COMPOSE, *(arg for name in self.files for arg in ("-f", name)), "config"],
            cwd=self.directory,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        model = yaml.safe_load(merged)
        for service_name, service in model["services"].items():
            service.pop("ports", None)
            service.pop("expose", None)
            service["network_mode"] = "host"
            service.setdefault("environment", {}).update(self.host_settings.get(service_name, {}))
            if service_name in self.commands:
                service["command"] = self.commands[service_name]
            healthcheck = service.get("healthcheck")
            if healthcheck is None and service_name == "app":
                service["healthcheck"] = {"interval": "2s"}  # the image's check, more often
            elif healthcheck and (healthcheck.get("disable") or healthcheck.get("test") == ["NONE"]):
                service["healthcheck"] = {"disable": True}  # `config` writes `disable` as test NONE
            elif healthcheck:
                healthcheck["interval"] = "2s"
        (self.directory / "compose.hostnet.yml").write_text(yaml.safe_dump(model, sort_keys=False))
        return self

    def compose(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [COMPOSE, "-f", "compose.hostnet.yml", *args],
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "DOCKER_BUILDKIT": "1", "COMPOSE_DOCKER_CLI_BUILD": "1"},
        )
        if check and result.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def up(self, *services: str) -> None:
        # The images are built by the tests from this checkout (build_image), as compose would.
        self.compose("up", "-d", "--no-build", *services)

    def container(self, service: str) -> Container:
        container_id = self.compose("ps", "-q", service).stdout.strip()
        assert container_id, f"no container for {service}:\n{self.logs()}"
        return Container(container_id)

    def logs(self, *services: str) -> str:
        result = self.compose("logs", "--no-color", "--tail", "60", *services, check=False)
        return result.stdout + result.stderr

    def down(self, *, volumes: bool = False) -> None:
        self.compose("down", "--timeout", "20", *(["--volumes"] if volumes else []), timeout=180, check=False)


class FileServer:
    """A real HTTP server on 127.0.0.1 answering GET with the files it is given (path -> bytes)
    and 404 for anything else: DB-IP's download site, as update_maxmind asks it."""

    def __init__(self):
        files = self.files = {}
        self.requests: list[str] = []
        requests = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                requests.append(self.path)
                body = files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
