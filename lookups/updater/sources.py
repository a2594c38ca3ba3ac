"""Where a run gets its databases: MaxMind (an account), DB-IP Lite City and ASN (none), a URL or
a local file.

`plan` turns the options and the settings into Jobs, one per database; nothing is fetched here.
"""

import datetime as dt
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from lookups.core.geoip import ASN, CITY, is_asn_database_type, is_city_database_type
from lookups.updater.download import check_url, describe_url
from lookups.updater.errors import UpdateFailed
from lookups.updater.files import target_path

# Sources, as UpdateRun.source records them.
MAXMIND = "maxmind"
DBIP = "dbip"
URL = "url"
FILE = "file"
ROLLBACK = "rollback"

CREDENTIALS_INCOMPLETE_MESSAGE = (
    "Set both MAXMIND_ACCOUNT_ID and MAXMIND_LICENSE_KEY to download from MaxMind "
    "(or neither, to install DB-IP Lite)."
)
UNSUPPORTED_EDITION_MESSAGE = (
    "MAXMIND_EDITIONS: {edition} is neither a City nor an ASN edition. "
    "Use GeoLite2-City or GeoIP2-City, and optionally GeoLite2-ASN or GeoIP2-ISP."
)
DUPLICATE_KIND_MESSAGE = (
    "MAXMIND_EDITIONS names two {kind} editions ({editions}), and both would be installed at {path}. "
    "Keep one."
)
INSECURE_URL_MESSAGE = (
    "MAXMIND_DOWNLOAD_URL must be an https:// address: the licence key goes with every request."
)
INSECURE_DOWNLOAD_MESSAGE = (
    "{url} is a plain http:// address: anyone on the way could change the database. "
    "Use https://, or add --insecure if you trust the network."
)


@dataclass(frozen=True)
class Job:
    """One database to fetch. kind None: decided by the database itself (--url, --file)."""

    source: str
    label: str  # the edition, or the URL or file name, for messages
    kind: str | None
    urls: tuple[str, ...] = ()  # candidates in order: the first that exists wins (DB-IP months)
    checksum_url: str | None = None
    auth: tuple[str, str] | None = None
    file: Path | None = None


def edition_kind(edition: str) -> str:
    if is_city_database_type(edition):
        return CITY
    if is_asn_database_type(edition):
        return ASN
    raise UpdateFailed(UNSUPPORTED_EDITION_MESSAGE.format(edition=edition))


def maxmind_jobs(*, account_id: str, license_key: str, base_url: str, editions: list[str]) -> list[Job]:
    """MaxMind's permalinks: the archive and its published SHA-256, basic auth on both."""
    if urllib.parse.urlsplit(base_url).scheme != "https":
        raise UpdateFailed(INSECURE_URL_MESSAGE)
    by_kind: dict[str, list[str]] = {}
    for edition in editions:
        by_kind.setdefault(edition_kind(edition), []).append(edition)
    for kind, names in by_kind.items():
        if len(names) > 1:
            raise UpdateFailed(
                DUPLICATE_KIND_MESSAGE.format(kind=kind, editions=", ".join(names), path=target_path(kind))
            )
    base = base_url.rstrip("/")
    jobs = []
    for edition in editions:
        download = f"{base}/geoip/databases/{urllib.parse.quote(edition, safe='')}/download"
        jobs.append(
            Job(
                source=MAXMIND,
                label=edition,
                kind=edition_kind(edition),
                urls=(f"{download}?suffix=tar.gz",),
                checksum_url=f"{download}?suffix=tar.gz.sha256",
                auth=(account_id, license_key),
            )
        )
    return jobs


# DB-IP's free, keyless Lite databases: (file name stem, label) by kind. Both are installed, so
# that a keyless install answers `traits` too.
DBIP_LITE = {CITY: ("dbip-city-lite", "DB-IP City Lite"), ASN: ("dbip-asn-lite", "DB-IP ASN Lite")}


def dbip_job(*, base_url: str, now: dt.datetime, kind: str = CITY) -> Job:
    """DB-IP's monthly Lite file of `kind`: this month's, or last month's while this one is not out."""
    stem, label = DBIP_LITE[kind]
    this_month = now.astimezone(dt.UTC).date().replace(day=1)
    last_month = (this_month - dt.timedelta(days=1)).replace(day=1)
    base = base_url.rstrip("/")
    urls = tuple(f"{base}/{stem}-{month:%Y-%m}.mmdb.gz" for month in (this_month, last_month))
    return Job(source=DBIP, label=label, kind=kind, urls=urls)


def url_job(url: str, *, insecure: bool = False) -> Job:
    check_url(url)
    if urllib.parse.urlsplit(url).scheme != "https" and not insecure:
        raise UpdateFailed(INSECURE_DOWNLOAD_MESSAGE.format(url=describe_url(url)))
    return Job(source=URL, label=describe_url(url), kind=None, urls=(url,))


def plan(
    *, url: str | None = None, file: Path | str | None = None, insecure: bool = False, now: dt.datetime
) -> list[Job]:
    """The databases a run fetches, from the options and the settings."""
    if file is not None:
        return [Job(source=FILE, label=Path(file).name, kind=None, file=Path(file))]
    if url is not None:
        return [url_job(url, insecure=insecure)]
    account_id, license_key = settings.MAXMIND_ACCOUNT_ID, settings.MAXMIND_LICENSE_KEY
    if account_id or license_key:
        if not (account_id and license_key):
            raise UpdateFailed(CREDENTIALS_INCOMPLETE_MESSAGE)
        return maxmind_jobs(
            account_id=account_id,
            license_key=license_key,
            base_url=settings.MAXMIND_DOWNLOAD_URL,
            editions=settings.MAXMIND_EDITIONS,
        )
    return [dbip_job(base_url=settings.DBIP_DOWNLOAD_URL, now=now, kind=kind) for kind in DBIP_LITE]


def source_of(*, url: str | None, file: Path | str | None) -> str:
    """The source a run would record, for a failure before any job was planned."""
    if file is not None:
        return FILE
    if url is not None:
        return URL
    return MAXMIND if settings.MAXMIND_ACCOUNT_ID or settings.MAXMIND_LICENSE_KEY else DBIP
