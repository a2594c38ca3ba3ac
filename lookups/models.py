"""The lookup history: one row per lookup, failed ones included."""

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


class Lookup(models.Model):
    created_at = models.DateTimeField(default=timezone.now)
    query = models.CharField(max_length=255)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    # "ok", or the error code the caller saw (see lookups.errors).
    outcome = models.CharField(max_length=32, default=OUTCOME_OK)
    addresses = ArrayField(models.GenericIPAddressField(), default=list, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    network = models.CharField(max_length=43, blank=True, default="")
    continent_code = models.CharField(max_length=2, blank=True, default="")
    country_code = models.CharField(max_length=2, blank=True, default="")
    country_name = models.CharField(max_length=100, blank=True, default="")
    subdivision_code = models.CharField(max_length=8, blank=True, default="")
    subdivision_name = models.CharField(max_length=100, blank=True, default="")
    city = models.CharField(max_length=100, blank=True, default="")
    postal_code = models.CharField(max_length=20, blank=True, default="")
    location = models.PointField(srid=4326, null=True, blank=True)
    accuracy_radius = models.PositiveIntegerField(null=True, blank=True)
    time_zone = models.CharField(max_length=64, blank=True, default="")
    time_zone_source = models.CharField(max_length=16, choices=TimeZoneSource.choices, blank=True, default="")
    # Anonymised to /24 (IPv4) or /48 (IPv6) by default: see LOOKUP_REQUESTER_ADDRESS.
    requester = models.GenericIPAddressField(null=True, blank=True)
    database_edition = models.CharField(max_length=64, blank=True, default="")
    database_build_date = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # What the admin, the history API, the dashboard and purge_lookups read by, so that none
        # of them scans a table of millions of rows (README: "The lookup history").
        indexes = [
            # Newest first, time ranges, the cursor of the history API, and the purge's oldest first.
            models.Index(fields=["created_at", "id"], name="lookup_time_idx"),
            # Each filter, newest first; also the index skip scans that list a filter's choices.
            models.Index(fields=["country_code", "-created_at"], name="lookup_country_time_idx"),
            models.Index(fields=["channel", "-created_at"], name="lookup_channel_time_idx"),
            models.Index(fields=["outcome", "-created_at"], name="lookup_outcome_time_idx"),
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
        return f"{self.query} ({self.outcome}) at {self.created_at:%Y-%m-%d %H:%M:%S}"

    @property
    def succeeded(self) -> bool:
        return self.outcome == OUTCOME_OK
