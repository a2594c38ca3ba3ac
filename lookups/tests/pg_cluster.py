"""A throwaway PostgreSQL cluster on a free loopback port, for fault tests and the load-and-fault run.

The suite's main PostgreSQL is shared, so it cannot be stopped; this one belongs to its creator,
who can stop it mid-flow and start it again. It runs as the `postgres` OS user (initdb refuses
root) from a temporary folder that user owns, listens on 127.0.0.1 only and has no Unix socket.
"""

import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import closing, suppress
from pathlib import Path

import psycopg2

BASE_DIR = Path(__file__).resolve().parents[2]
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
OS_USER = "postgres"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    prefix = ["runuser", "-u", OS_USER, "--"] if os.geteuid() == 0 else []
    return subprocess.run([*prefix, *args], check=True, capture_output=True, text=True, **kwargs)


class PostgresCluster:
    """initdb'd on creation; start(), stop() and destroy() as the test needs."""

    def __init__(self):
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="easygeoip-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        if os.geteuid() == 0:
            shutil.chown(self.root, OS_USER, OS_USER)
        initdb = [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust"]
        _as_postgres([*initdb, "-E", "UTF8", "--no-sync", "--locale=C"])
        # A disposable cluster on a shared machine: spare the disk; clean stops still write everything.
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
                "fsync = off\nfull_page_writes = off\nshared_buffers = 32MB\nmax_connections = 60\n"
            )

    def url(self, dbname: str) -> str:
        return f"postgis://postgres@127.0.0.1:{self.port}/{dbname}"

    def api_key_header(self, dbname: str, label: str) -> dict[str, str]:
        """A web-service key made in `dbname` by `manage.py create_api_key`, as an Authorization header."""
        env = {
            **os.environ,
            "DATABASE_URL": self.url(dbname),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_SECRET_KEY": "create-key-only",
        }
        command = [sys.executable, "manage.py", "create_api_key", label]
        output = subprocess.run(command, cwd=BASE_DIR, env=env, check=True, capture_output=True, text=True)
        account_id, license_key = output.stdout.split()
        return {"Authorization": "Basic " + base64.b64encode(f"{account_id}:{license_key}".encode()).decode()}

    def start(self) -> None:
        _as_postgres(
            [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start"]
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop now: `fast` disconnects every client, as a restart or a crash of the server would."""
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"])

    def processes(self) -> list[int]:
        """The postmaster's pid, then its children's (backends, checkpointer, ...)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with suppress(OSError):
                    # Field 4 of /proc/PID/stat, after the parenthesised command name: the parent.
                    stat = Path(f"/proc/{entry}/stat").read_text()
                    if int(stat.rsplit(")", 1)[1].split()[1]) == postmaster:
                        children.append(int(entry))
        return [postmaster, *children]

    def freeze(self) -> None:
        """SIGSTOP every process of the cluster: connections stay open, nothing answers (the
        kernel still accepts connections and acknowledges what clients send)."""
        for pid in self.processes():  # the postmaster first: it forks no new child meanwhile
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in reversed(self.processes()):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def is_running(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def connect(self, dbname: str = "postgres"):
        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=dbname)
        connection.autocommit = True
        return connection

    def create_database(self, dbname: str) -> None:
        with closing(self.connect()) as connection, connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{dbname}"')
        with closing(self.connect(dbname)) as connection, connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS postgis")

    def wait_until_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.connect().close()
                return
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with suppress(OSError, ValueError):
                self.thaw()  # a frozen cluster cannot stop
            with suppress(subprocess.CalledProcessError):
                self.stop(mode="immediate")
        shutil.rmtree(self.root, ignore_errors=True)
