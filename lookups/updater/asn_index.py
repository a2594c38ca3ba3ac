"""The index of an ASN database's networks by AS number, built when the database is installed
(lookups.updater.install) and read by lookups.core.asn_networks.

Built from the new file before it is renamed into place, so the index is there when the database
is; indexes of databases that are neither the installed one nor its `.previous` are removed.
"""

import logging
import os
import sqlite3
from pathlib import Path

import maxminddb

from lookups.core.asn_networks import INDEX_ORDER, INDEX_SCHEMA, index_path
from lookups.core.geoip import is_asn_database_type
from lookups.updater.files import TEMP_PREFIX, previous_path

logger = logging.getLogger(__name__)


def index_asn_database(new_file: Path, target: Path) -> Path | None:
    """Index `new_file` (to be installed at `target`) when it is an ASN database; None otherwise,
    and when the index cannot be written: the database is installed all the same (lookups need
    it; only the AS listings answer asn_index_unavailable), and the log says why."""
    with maxminddb.open_database(str(new_file)) as reader:
        meta = reader.metadata()
        if not is_asn_database_type(meta.database_type):
            return None
        path = index_path(target, build_epoch=meta.build_epoch, node_count=meta.node_count)
        staging = path.with_name(f"{TEMP_PREFIX}{path.name}.{os.getpid()}")
        try:
            _write_index(reader, staging)
            os.replace(staging, path)
        except (OSError, sqlite3.Error) as error:
            staging.unlink(missing_ok=True)
            logger.error("The networks of %s were not indexed by AS: %s", target.name, error)
            return None
    return path


def _write_index(reader: maxminddb.Reader, staging: Path) -> None:
    staging.unlink(missing_ok=True)
    connection = sqlite3.connect(staging)
    try:
        connection.execute(INDEX_SCHEMA)
        connection.executemany(
            "INSERT INTO networks VALUES (?, ?, ?, ?, ?)",
            (
                (
                    number,
                    network.version,
                    network.network_address.packed,
                    network.prefixlen,
                    record.get("autonomous_system_organization"),
                )
                for network, record in reader
                if isinstance(record, dict)
                and isinstance(number := record.get("autonomous_system_number"), int)
            ),
        )
        connection.execute(INDEX_ORDER)
        connection.commit()
    finally:
        connection.close()
    os.chmod(staging, 0o644)


def remove_stale_indexes(target: Path) -> None:
    """Keep the indexes of the installed database and of its `.previous` only."""
    keep = {_index_of(target), _index_of(previous_path(target))}
    for index in target.parent.glob(f"{target.name}.networks-*.sqlite3"):
        if index not in keep:
            index.unlink(missing_ok=True)


def _index_of(database: Path) -> Path | None:
    try:
        with maxminddb.open_database(str(database)) as reader:
            meta = reader.metadata()
    except (OSError, ValueError, maxminddb.InvalidDatabaseError):
        return None
    return index_path(database, build_epoch=meta.build_epoch, node_count=meta.node_count)
