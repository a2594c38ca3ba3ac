"""What the updater's tests publish and how they run it: databases, MaxMind's archives, a
MaxMind of our own on the local download server, and the command."""

import base64
import hashlib
import io
import tarfile
from pathlib import Path

from django.core.management import call_command

from lookups.tests.download_server import LocalHTTPServer, Reply
from lookups.tests.geoip_data import LONDON, build_asn_database, build_city_database
from lookups.updater.download import HTTPClient

ACCOUNT_ID = "424242"
LICENSE_KEY = "Xk3y_SuperSecret_0123456789ab"
AUTHORIZATION = "Basic " + base64.b64encode(f"{ACCOUNT_ID}:{LICENSE_KEY}".encode()).decode()
SECRETS = (LICENSE_KEY, AUTHORIZATION.removeprefix("Basic "))

OLD = 1_780_000_000  # 2026-05-28
NEW = 1_790_000_000  # 2026-09-21
NEWER = 1_795_000_000  # 2026-11-18
DECEMBER_2025 = 1_765_000_000  # 2025-12-06: DB-IP tests run with their clock in early 2026
LAST_MODIFIED = "Fri, 20 Nov 2026 12:00:00 GMT"
LONDINIUM = {"81.2.69.0/24": {**LONDON, "city": {"names": {"en": "Londinium"}}}}


def city_bytes(tmp_path: Path, **kwargs) -> bytes:
    """A City database's bytes (built once per distinct arguments in this test)."""
    name = hashlib.sha256(repr(sorted(kwargs.items())).encode()).hexdigest()[:12]
    return build_city_database(tmp_path / "built" / f"{name}.mmdb", **kwargs).read_bytes()


def asn_bytes(tmp_path: Path, **kwargs) -> bytes:
    return build_asn_database(
        tmp_path / "built" / f"asn-{kwargs.get('build_epoch')}.mmdb", **kwargs
    ).read_bytes()


def many_networks(count: int) -> dict:
    """`count` /24 networks of London: a database with many more search-tree nodes."""
    return {f"81.{i // 256}.{i % 256}.0/24": LONDON for i in range(count)}


def tar_gz(mmdb: bytes, edition: str, date: str = "20261120", *, include_mmdb: bool = True) -> bytes:
    """An archive laid out as MaxMind's: a dated folder with the licence files and the .mmdb."""
    buffer = io.BytesIO()
    members = [(f"{edition}_{date}/COPYRIGHT.txt", b"Database and Contents Copyright (c) MaxMind, Inc.\n")]
    if include_mmdb:
        members.append((f"{edition}_{date}/{edition}.mmdb", mmdb))
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        folder = tarfile.TarInfo(f"{edition}_{date}")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class FakeMaxMind:
    """MaxMind's download service: basic auth, permalinks redirecting to a storage host, .sha256."""

    def __init__(self, api: LocalHTTPServer, storage: LocalHTTPServer):
        self.api, self.storage = api, storage

    @staticmethod
    def permalink(edition: str, suffix: str = "tar.gz") -> str:
        return f"/geoip/databases/{edition}/download?suffix={suffix}"

    def publish(
        self,
        edition: str,
        mmdb: bytes = b"",
        *,
        archive: bytes | None = None,
        sha256: str | None = None,
        storage_replies: tuple[Reply, ...] = (),
        date: str = "20261120",
    ) -> bytes:
        archive = tar_gz(mmdb, edition, date) if archive is None else archive
        name = f"{edition}_{date}.tar.gz"
        signed = f"/geoip-storage/{name}?X-Amz-Signature=signed-{date}"
        self.api.route(self.permalink(edition), Reply(302, headers={"Location": self.storage.url + signed}))
        published = sha256 or hashlib.sha256(archive).hexdigest()
        self.api.route(
            self.permalink(edition, "tar.gz.sha256"), Reply(200, f"{published}  {name}\n".encode())
        )
        self.storage.route(
            signed, *(storage_replies or (Reply(200, archive, {"Last-Modified": LAST_MODIFIED}),))
        )
        return archive

    def downloads(self) -> int:
        return len(self.storage.seen())


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def update(*args, stdout=None, **options) -> tuple[str, str]:
    """Run the command; (stdout, stderr). CommandError propagates, as it does to manage.py."""
    out, err = stdout or io.StringIO(), io.StringIO()
    call_command("update_maxmind", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def files_in(directory: Path) -> set[str]:
    return {path.name for path in directory.iterdir()}


def no_sleep_client(sleeps: list[float], **kwargs) -> HTTPClient:
    return HTTPClient(sleep=sleeps.append, timeout=5, **kwargs)
