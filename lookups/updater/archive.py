"""Unpacking what was downloaded: MaxMind's .tar.gz, DB-IP's .mmdb.gz, or a plain .mmdb."""

import gzip
import hashlib
import tarfile
import zlib
from pathlib import Path
from typing import BinaryIO

from lookups.updater.download import CHUNK, MAX_DATABASE_BYTES, TOO_LARGE_MESSAGE
from lookups.updater.errors import UpdateFailed

CORRUPT_ARCHIVE_MESSAGE = "{name} is not a readable .mmdb, .mmdb.gz or .tar.gz file ({reason})."
NO_MMDB_IN_ARCHIVE_MESSAGE = "{name} holds no .mmdb file."


def _copy_limited(source: BinaryIO, into: BinaryIO, *, name: str) -> str:
    digest, done = hashlib.sha256(), 0
    while chunk := source.read(CHUNK):
        done += len(chunk)
        if done > MAX_DATABASE_BYTES:
            raise UpdateFailed(TOO_LARGE_MESSAGE.format(name=name, limit=MAX_DATABASE_BYTES))
        digest.update(chunk)
        into.write(chunk)
    return digest.hexdigest()


def unpack(archive: Path, into: BinaryIO, *, name: str) -> str:
    """Write the .mmdb held by `archive` (.tar.gz, .mmdb.gz or .mmdb) into `into`; its SHA-256.

    Decided by content, not by name: MaxMind sends tar.gz, DB-IP gzip, people plain files.
    """
    with open(archive, "rb") as handle:
        compressed = handle.read(2) == b"\x1f\x8b"
    into.seek(0)
    into.truncate()
    try:
        if not compressed:
            with open(archive, "rb") as source:
                return _copy_limited(source, into, name=name)
        try:
            with tarfile.open(archive, "r:gz") as tar:
                for member in tar:
                    if member.isfile() and member.name.endswith(".mmdb"):
                        sha256 = _copy_limited(tar.extractfile(member), into, name=name)
                        # gzip checks its CRC only at the end of the stream, which tarfile never
                        # reaches on its own: without this, flipped bits pass unnoticed.
                        while tar.fileobj.read(CHUNK):
                            pass
                        return sha256
                raise UpdateFailed(NO_MMDB_IN_ARCHIVE_MESSAGE.format(name=name))
        except tarfile.ReadError:
            pass  # gzip, but not a tar inside: a plain .mmdb.gz
        into.seek(0)
        into.truncate()
        with gzip.open(archive, "rb") as source:
            return _copy_limited(source, into, name=name)
    except (OSError, EOFError, zlib.error, tarfile.TarError) as error:
        if isinstance(error, OSError) and not isinstance(error, gzip.BadGzipFile) and error.errno:
            raise  # a disk error, not a bad archive
        reason = str(error) or type(error).__name__
        raise UpdateFailed(CORRUPT_ARCHIVE_MESSAGE.format(name=name, reason=reason)) from None
