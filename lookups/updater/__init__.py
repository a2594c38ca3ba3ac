"""The GeoIP database updater: download, verify and install databases from MaxMind, DB-IP Lite,
a URL or a local file (`manage.py update_maxmind` is a thin shell over `run_updates` and
`rollback`; docs/updating.md is the operator's guide). What it promises:

- Cheap: MaxMind publishes a SHA-256 of each archive; when it matches the one recorded beside the
  installed file (`<file>.update.json`), nothing is downloaded (free accounts get 30 downloads a
  day). Other sources get a conditional GET (If-Modified-Since the recorded Last-Modified).
- Safe: the archive is downloaded and unpacked into temporary files in GEOIP_PATH, checked (the
  published checksum, opens as a MaxMind DB of the expected kind, sane metadata, readable
  records, not older than the installed file unless --force, not under half its search-tree
  nodes unless --allow-shrink), synced, and renamed over the installed file: a reader sees the
  old file or the new one, never part of one. The old file is kept as `<file>.previous` for
  `rollback`. An flock on GEOIP_PATH/.update_maxmind.lock keeps two runs apart. Workers switch
  to the new file on their own (lookups.core.geoip checks a new file before it switches).
- Polite: retries with exponential backoff only for 5xx, 408, 429 (honouring Retry-After) and
  connection errors, a bounded number of times; 401 and 403 end at once with what to fix.
- Secret: the licence key travels only in the Authorization header of requests to
  MAXMIND_DOWNLOAD_URL (https only; never in a URL, never across a redirect to the storage host),
  and every message this package returns or records is scrubbed of it.

Modules: sources (what to fetch), download (the HTTP client) and retry (when to try again),
archive (unpacking), verify (checking a build), install (rename into place, rollback's swap),
files (the files in GEOIP_PATH and the lock), record (the UpdateRun row), database_update (one
database from start to end), run (a whole run, and rollback).

We do not use MaxMind's `pygeoipupdate` (0.1.0): it speaks the updates protocol through aiohttp
(four more dependencies), retries only 5xx without Retry-After or an injectable sleep, writes
`<edition>.mmdb` without checking the kind, metadata or build date, and keeps no previous file.
"""

from lookups.updater.errors import UpdateFailed
from lookups.updater.record import Outcome
from lookups.updater.run import rollback, run_updates

__all__ = ["Outcome", "UpdateFailed", "rollback", "run_updates"]
