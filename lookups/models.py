"""The lookup history (one row per lookup, failed ones included) and the web service's API keys."""

from django.contrib.gis.db import models
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db.models.functions import Cast, Upper
from django.utils import timezone


class Channel(models.TextChoices):
    WEB = "web", "Web page"
    API = "api", "JSON API"
    BATCH = "batch", "Batch"
    WEBSERVICE = "webservice", "MaxMind web-service API"


class TimeZoneSource(models.TextChoices):
    MAXMIND = "maxmind", "GeoIP database"
    TZ_WORLD = "tz_world", "tz_world polygons"


OUTCOME_OK = "ok"


class ApiKey(models.Model):
    """A credential for the MaxMind-compatible web service (lookups.web.webservice).

    Clients send `account_id:licence key` as HTTP basic auth, as MaxMind's client libraries do.
    The licence key itself is never stored: see lookups.web.credentials for how it is hashed.
    """

    name = models.CharField(max_length=100, help_text="Who or what uses this key.")
    # MaxMind's clients send an integer account ID; each key has its own, random one.
    account_id = models.PositiveIntegerField("account ID", unique=True, editable=False)
    key_hash = models.CharField(max_length=128, editable=False)
    daily_quota = models.PositiveIntegerField(
        null=True, blank=True, help_text="Lookups allowed per UTC day; empty for no limit."
    )
    revoked = models.BooleanField(default=False, help_text="A revoked key is refused at once.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Updated at most once a minute (lookups.web.credentials), not on every request.
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.account_id})"


class ApiKeyUsage(models.Model):
    """Lookups admitted for one key on one UTC day: the quota counter, one small row per key a day."""

    # db_index off: the unique (api_key, day) constraint's index serves lookups by key.
    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="usage", db_index=False)
    day = models.DateField()
    used = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_key", "day"], name="apikeyusage_key_day_uniq")]

    def __str__(self) -> str:
        return f"{self.api_key_id} on {self.day}: {self.used}"


class Lookup(models.Model):
    created_at = models.DateTimeField(default=timezone.now)
    query = models.CharField(max_length=255)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    # "ok", or the error code the caller saw (see lookups.errors).
    outcome = models.CharField(max_length=32, default=OUTCOME_OK)
    addresses = ArrayField(models.GenericIPAddressField(), default=list, blank=True)
    ip_address = models.GenericIPAddressField("IP address", null=True, blank=True)
    network = models.CharField(max_length=43, blank=True, default="")
    continent_code = models.CharField(max_length=2, blank=True, default="")
    country_code = models.CharField(max_length=2, blank=True, default="")
    country_name = models.CharField(max_length=100, blank=True, default="")
    subdivision_code = models.CharField(max_length=8, blank=True, default="")
    subdivision_name = models.CharField(max_length=100, blank=True, default="")
    # Every subdivision of the answer, largest first, as [{"iso_code": ..., "name": ...}]; the two
    # fields above repeat the first one. Rows recorded before it existed have [] here (db_default:
    # spool files written by those versions do not name the column).
    subdivisions = models.JSONField(default=list, blank=True, db_default=[])
    city = models.CharField(max_length=100, blank=True, default="")
    postal_code = models.CharField(max_length=20, blank=True, default="")
    # No spatial index: nothing queries the history by place (the dashboard's map reads the
    # per-day cells), and a GiST entry cost each stored row about a fifth of its PostgreSQL CPU.
    location = models.PointField(srid=4326, null=True, blank=True, spatial_index=False)
    accuracy_radius = models.PositiveIntegerField(null=True, blank=True)
    time_zone = models.CharField(max_length=64, blank=True, default="")
    time_zone_source = models.CharField(max_length=16, choices=TimeZoneSource.choices, blank=True, default="")
    # Anonymised to /24 (IPv4) or /48 (IPv6) by default: see LOOKUP_REQUESTER_ADDRESS.
    requester = models.GenericIPAddressField(null=True, blank=True)
    # The requester's country in the City database when the row was built (lookups.core.history_row),
    # for the dashboard; "" when unknown or not kept. db_default: older spool files do not name it.
    requester_country = models.CharField(max_length=2, blank=True, default="", db_default="")
    database_edition = models.CharField(max_length=64, blank=True, default="")
    database_build_date = models.DateTimeField(null=True, blank=True)
    # Set when the row is written (lookups.history), so that a row replayed from the disk spool
    # after a PostgreSQL outage is stored once however often it is replayed: unique with
    # created_at (Meta), as a partitioned table's unique constraints must include its partition
    # column; a replayed row carries both.
    uid = models.UUIDField(null=True, blank=True, editable=False)
    # The web-service credential that asked (channel "webservice"); keys are revoked, never deleted.
    api_key = models.ForeignKey(
        ApiKey,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="lookups",
        db_index=False,
        verbose_name="API key",
    )

    class Meta:
        # The table is partitioned by day on created_at (migration 0008, lookups.history.partitions):
        # in the database the primary key is (id, created_at); ids still come from one sequence.
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["uid", "created_at"], name="lookup_uid_time_uniq")]
        # What the admin, the history API, the dashboard and purge_lookups read by, so that none
        # of them scans a table of millions of rows (README: "The lookup history").
        indexes = [
            # Newest first, time ranges, the cursor of the history API, and the purge's oldest first.
            models.Index(fields=["created_at", "id"], name="lookup_time_idx"),
            # Each filter, newest first; also the index skip scans that list a filter's choices.
            models.Index(fields=["country_code", "-created_at"], name="lookup_country_time_idx"),
            models.Index(fields=["channel", "-created_at"], name="lookup_channel_time_idx"),
            models.Index(fields=["outcome", "-created_at"], name="lookup_outcome_time_idx"),
            # Partial: only web-service rows carry a key, so other lookups pay nothing for it.
            models.Index(
                fields=["api_key", "-created_at"],
                name="lookup_apikey_time_idx",
                condition=models.Q(api_key__isnull=False),
            ),
            models.Index(fields=["time_zone_source", "-created_at"], name="lookup_tz_source_time_idx"),
            # Search: an exact address, and words within queries and city names (icontains,
            # which Django writes as UPPER(column::text) LIKE UPPER('%word%')).
            models.Index(fields=["ip_address"], name="lookup_ip_address_idx"),
            GinIndex(
                OpClass(Upper(Cast("query", models.TextField())), name="gin_trgm_ops"),
                name="lookup_query_trgm_idx",
            ),
            GinIndex(
                OpClass(Upper(Cast("city", models.TextField())), name="gin_trgm_ops"),
                name="lookup_city_trgm_idx",
            ),
        ]

    def __str__(self) -> str:
        # Cut: this titles the admin's page and breadcrumbs, where 255 characters widened the page.
        query = self.query if len(self.query) <= 40 else self.query[:39] + "…"
        return f"{query} ({self.outcome}) at {self.created_at:%Y-%m-%d %H:%M:%S}"

    @property
    def succeeded(self) -> bool:
        return self.outcome == OUTCOME_OK


class LookupDayCount(models.Model):
    """The history's figures per UTC day and country, for the dashboard: kept by a trigger on the
    history table (migration 0009) as rows arrive and go, so that the dashboard never reads the rows."""

    day = models.DateField()
    country_code = models.CharField(max_length=2, blank=True, default="")
    country_name = models.CharField(max_length=100, blank=True, default="")
    total = models.BigIntegerField(default=0)
    failed = models.BigIntegerField(default=0)
    with_time_zone = models.BigIntegerField(default=0)
    tz_world = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "country_code"], name="lookupdaycount_day_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.country_code or '-'}: {self.total}"


class LookupDayQuery(models.Model):
    """Lookups per UTC day and query, for the dashboard's busiest queries: kept like LookupDayCount."""

    day = models.DateField()
    query = models.CharField(max_length=255)
    lookups = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["query", "day"], name="lookupdayquery_query_day_uniq")]
        # A day's busiest queries (the dashboard's candidates), then each one's days (the unique index).
        indexes = [models.Index(fields=["day", "-lookups"], name="lookupdayquery_day_busy_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.query}: {self.lookups}"


class LookupDayCell(models.Model):
    """Looked-up locations per UTC day and grid cell (CELL_DEGREES wide, keyed by the floor of the
    latitude and longitude), for the dashboard's map: kept like LookupDayCount (migration 0011). The
    sums of the coordinates put the cell's marker at the mean of its lookups, not its corner."""

    CELL_DEGREES = 1

    day = models.DateField()
    latitude_cell = models.SmallIntegerField()
    longitude_cell = models.SmallIntegerField()
    lookups = models.BigIntegerField(default=0)
    latitude_sum = models.FloatField(default=0)
    longitude_sum = models.FloatField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "latitude_cell", "longitude_cell"], name="lookupdaycell_day_cell_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} ({self.latitude_cell}, {self.longitude_cell}): {self.lookups}"


class LookupDayRequester(models.Model):
    """Lookups per UTC day and requester country (Lookup.requester_country), kept like LookupDayCount."""

    day = models.DateField()
    country_code = models.CharField(max_length=2, blank=True, default="")
    lookups = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "country_code"], name="lookupdayrequester_day_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.country_code or '-'}: {self.lookups}"


class UpdateRun(models.Model):
    """One database installed (or refused) by `manage.py update_maxmind`: what, from where, how it went."""

    class Outcome(models.TextChoices):
        UPDATED = "updated", "Updated"
        CURRENT = "current", "Already current"
        FAILED = "failed", "Failed"
        ROLLED_BACK = "rolled_back", "Rolled back"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # maxmind, dbip, url, file or rollback.
    source = models.CharField(max_length=16)
    edition = models.CharField(max_length=64, blank=True, default="")
    build_date = models.DateTimeField(null=True, blank=True)
    # SHA-256 of the .mmdb file itself (not of the archive it came in).
    checksum = models.CharField(max_length=64, blank=True, default="")
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    message = models.TextField(blank=True, default="")
    # What the build changed from the one it replaced (lookups.updater.build_diff), filled in once
    # the comparison, which runs after the swap, has finished; null until then, or with nothing
    # to compare (a first install, a failed run).
    changes = models.JSONField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.edition or self.source} {self.outcome} at {self.created_at:%Y-%m-%d %H:%M:%S}"
