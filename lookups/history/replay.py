"""Replay: move spooled rows into PostgreSQL and delete their files.

Every spool file that can be claimed (lookups.history.spool) goes in, REPLAY_BATCH lines per
COPY (lookups.history.postgres). A batch PostgreSQL refuses goes again line by line, so that one
bad row never holds the others back: the rows it refuses are kept in a `.rejected` file beside
the spool, under the same header, for an operator to look at.
"""

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from django.db import DatabaseError

from lookups.history import legacy, postgres, spool
from lookups.history.breaker import UNREACHABLE_ERRORS
from lookups.history.encoding import HEADER, header_columns
from lookups.history.rows import COLUMNS

logger = logging.getLogger("lookups.history")

REPLAY_BATCH = 500


@dataclass(frozen=True)
class ReplayReport:
    files: int
    rows: int
    rejected: int


def replay(*, time_budget: float | None = None) -> ReplayReport:
    """Store every spooled row that no live writer or replayer holds, and delete its file.

    Stops early after `time_budget` seconds (between files). Raises OperationalError or
    InterfaceError when PostgreSQL goes away; the file being replayed is then put back.
    """
    deadline = None if time_budget is None else time.monotonic() + time_budget
    files = rows = rejected = 0
    spool.seal_own()  # this process's rows too; other live writers' files are theirs to seal
    for path in spool.waiting_files():
        if deadline is not None and time.monotonic() > deadline:
            break
        claim = spool.claim(path)
        if claim is None:
            continue
        try:
            stored, bad = _replay_file(claim)
        except BaseException:
            claim.put_back()
            raise
        claim.done()
        files, rows, rejected = files + 1, rows + stored, rejected + bad
    if files:
        logger.info("Replayed %d history row(s) from %d spool file(s) into PostgreSQL", rows, files)
    return ReplayReport(files=files, rows=rows, rejected=rejected)


def _replay_file(claim: spool.Claim) -> tuple[int, int]:
    """(rows stored, rows kept aside) of a claimed file."""
    data = claim.read()
    if not data:
        return 0, 0
    lines = data.split(b"\n")
    torn = lines.pop()  # after the last newline: empty, or what a writer killed mid-write left
    bad = [torn] if torn else []
    columns = header_columns(lines[0]) if lines else None
    if columns is not None:
        header, lines = lines[0] + b"\n", lines[1:]
    else:
        header, columns, lines = HEADER, COLUMNS, _from_legacy(lines, claim.path, bad)
    stored = 0
    for start in range(0, len(lines), REPLAY_BATCH):
        batch = lines[start : start + REPLAY_BATCH]
        try:
            postgres.store_lines(b"\n".join(batch) + b"\n", columns)
            stored += len(batch)
        except UNREACHABLE_ERRORS:
            raise
        except DatabaseError:
            for line in batch:
                try:
                    postgres.store_lines(line + b"\n", columns)
                    stored += 1
                except UNREACHABLE_ERRORS:
                    raise
                except DatabaseError as exc:
                    logger.error("PostgreSQL refuses a spooled history row: %s", str(exc).strip())
                    bad.append(line)
    if bad:
        _keep_rejected(claim.path, header, bad)
    return stored, len(bad)


def _from_legacy(lines: list[bytes], path: Path, bad: list[bytes]) -> list[bytes]:
    converted = []
    for line in lines:
        if not line.strip():
            continue
        try:
            converted.append(legacy.as_copy_line(line).rstrip(b"\n"))
        except (ValueError, TypeError, KeyError) as exc:
            logger.error("Unreadable line in history spool %s: %s", path.name, exc)
            bad.append(line)
    return converted


def _keep_rejected(claimed: Path, header: bytes, lines: list[bytes]) -> None:
    rejected = spool.rejected_path(claimed)
    rejected.write_bytes(header + b"\n".join(lines) + b"\n")
    logger.error("Kept %d history row(s) PostgreSQL refused in %s", len(lines), rejected)
