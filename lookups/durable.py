"""Making a file's new name survive a crash: the GeoIP installer and the history spool both rename
files into place, and a rename is only durable once its directory is fsynced."""

import os
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
