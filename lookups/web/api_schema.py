"""The API's shapes for the OpenAPI schema: DRF serializers that document them, never build them.

lookups.web.api_body builds a lookup's body (a serializer per field costs more than the lookup
itself); the serializers below describe the same shape and are checked against real bodies in the
tests.
"""

from django.conf import settings
from rest_framework import serializers

# --- Documentation of the shapes (OpenAPI) ------------------------------------------------------


class TrimmableSerializer(serializers.Serializer):
    """Every key is there (absent data is null), unless ?fields= leaves it out."""

    # So none is listed as required: lookups.web.field_selection trims the body.
    def get_fields(self):
        fields = super().get_fields()
        for field in fields.values():
            field.required = False
        return fields


class CodeNameSerializer(TrimmableSerializer):
    code = serializers.CharField(allow_null=True)
    name = serializers.CharField(allow_null=True)


class CountrySerializer(serializers.Serializer):
    iso_code = serializers.CharField(allow_null=True)
    name = serializers.CharField(allow_null=True)


class CitySerializer(TrimmableSerializer):
    name = serializers.CharField(allow_null=True)


class PostalSerializer(TrimmableSerializer):
    code = serializers.CharField(allow_null=True)


class LocationSerializer(serializers.Serializer):
    latitude = serializers.FloatField(allow_null=True)
    longitude = serializers.FloatField(allow_null=True)
    accuracy_radius = serializers.IntegerField(allow_null=True, help_text="Kilometres.")
    time_zone = serializers.CharField(allow_null=True)
    time_zone_source = serializers.ChoiceField(
        choices=["maxmind", "tz_world"],
        allow_null=True,
        help_text="maxmind: from the GeoIP record; tz_world: from the time-zone polygons.",
    )


class TraitsSerializer(TrimmableSerializer):
    autonomous_system_number = serializers.IntegerField(
        allow_null=True, help_text="From the ASN database, when one is installed."
    )
    autonomous_system_organization = serializers.CharField(allow_null=True)


class DatabaseSerializer(TrimmableSerializer):
    edition = serializers.CharField()
    build_date = serializers.DateTimeField()
    attribution = serializers.CharField(
        allow_null=True, help_text="The credit the database's licence asks for, to show with its data."
    )


class LookupCountrySerializer(TrimmableSerializer, CountrySerializer):
    """A lookup's country or subdivision (the history's keeps every key: it takes no ?fields=)."""


class LookupLocationSerializer(TrimmableSerializer, LocationSerializer):
    """A lookup's location (the history's keeps every key)."""


class ReverseDnsSerializer(TrimmableSerializer):
    status = serializers.ChoiceField(
        choices=["ok", "none", "invalid", "timeout", "error", "busy"],
        help_text=(
            "ok: a PTR name (name); none: no PTR record; invalid: PTR records that are no host name; "
            "timeout: no complete answer within RDNS_TIMEOUT; error: the name servers failed (with "
            "either, name is set when the PTR came but its forward check did not); busy: no DNS slot "
            "was free, nothing was asked."
        ),
    )
    name = serializers.CharField(
        allow_null=True, help_text="The PTR name, in ASCII form, without the final dot."
    )
    verified = serializers.BooleanField(
        help_text="Whether name resolves back (A for IPv4, AAAA for IPv6) to the address: forward-confirmed."
    )


class LookupResultSerializer(TrimmableSerializer):
    query = serializers.CharField()
    name = serializers.CharField(allow_null=True, help_text="The domain name, in ASCII form.")
    ip_address = serializers.IPAddressField()
    addresses = serializers.ListField(child=serializers.IPAddressField())
    network = serializers.CharField(allow_null=True)
    continent = CodeNameSerializer(allow_null=True)
    country = LookupCountrySerializer(allow_null=True)
    registered_country = LookupCountrySerializer(allow_null=True)
    subdivisions = LookupCountrySerializer(many=True)
    city = CitySerializer(allow_null=True)
    postal = PostalSerializer()
    location = LookupLocationSerializer()
    traits = TraitsSerializer()
    database = DatabaseSerializer()
    language = serializers.CharField()
    reverse_dns = ReverseDnsSerializer(help_text="With rdns=1 only (single lookups): no key without it.")


class NetworkSerializer(LookupResultSerializer):
    """A network of a listing: a lookup's body without query, name, ip_address, addresses and
    reverse_dns."""

    query = name = ip_address = addresses = reverse_dns = None  # DRF: a field set to None is removed
    network = serializers.CharField()  # a listed network always has one


class NetworkPageSerializer(serializers.Serializer):
    prefix = serializers.CharField(help_text="The prefix asked for, in its canonical form.")
    networks = NetworkSerializer(many=True)
    truncated = serializers.BooleanField(help_text="Whether the prefix holds more networks than this page.")
    next = serializers.URLField(allow_null=True, help_text="The next page, when truncated.")


class AsnNetworkSerializer(serializers.Serializer):
    network = serializers.CharField()


class AsnNetworkPageSerializer(serializers.Serializer):
    autonomous_system_number = serializers.IntegerField()
    autonomous_system_organization = serializers.CharField(
        allow_null=True, help_text="null when the database has no network of this AS."
    )
    networks = AsnNetworkSerializer(many=True)
    truncated = serializers.BooleanField()
    next = serializers.URLField(allow_null=True)


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


class BatchInputSerializer(serializers.Serializer):
    queries = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        allow_empty=False,
        max_length=settings.LOOKUP_BATCH_MAX,
        help_text=(
            "At most LOOKUP_BATCH_MAX queries (1,000 by default) and LOOKUP_BATCH_MAX_NAMES distinct "
            "domain names (100 by default; the others answer too_many_names)."
        ),
    )


class BatchItemSerializer(serializers.Serializer):
    """Either a lookup result, or {"query": ..., "error": {...}}."""

    query = serializers.CharField(required=False, help_text="Always there, unless ?fields= leaves it out.")
    error = ErrorDetailSerializer(required=False)


class BatchOutputSerializer(serializers.Serializer):
    results = BatchItemSerializer(many=True)


class BatchAgreementSerializer(serializers.Serializer):
    compared = serializers.IntegerField(help_text="Entries both databases answered.")
    countries_agreeing_percent = serializers.FloatField(
        allow_null=True, help_text="Of the compared entries where both name a country."
    )
    cities_agreeing_percent = serializers.FloatField(
        allow_null=True, help_text="Of the compared entries where both name a city."
    )
    median_distance_km = serializers.FloatField(
        allow_null=True, help_text="Of the compared entries where both give coordinates."
    )
    alternative_database = DatabaseSerializer(allow_null=True)


class BatchComparedOutputSerializer(serializers.Serializer):
    results = BatchItemSerializer(many=True, help_text="The first database's answers, as without compare.")
    agreement = BatchAgreementSerializer(help_text="With compare=1 only.")


# --- Two City databases compared (lookups.web.comparison_body builds the body) ----------------


class AgreementSerializer(serializers.Serializer):
    same_country = serializers.BooleanField(allow_null=True, help_text="null: one of them names no country.")
    same_city = serializers.BooleanField(
        allow_null=True, help_text="By GeoNames ID when both have one, else by English name."
    )
    distance_km = serializers.FloatField(allow_null=True, help_text="Between their coordinates (haversine).")
    within_accuracy = serializers.BooleanField(
        allow_null=True,
        help_text="Whether distance_km is at most the two accuracy radii together; null: neither has one.",
    )
    newer = serializers.ChoiceField(
        choices=["primary", "alternative", "same"],
        allow_null=True,
        help_text="Whose database was built later.",
    )


class ComparisonSerializer(serializers.Serializer):
    query = serializers.CharField()
    primary = LookupResultSerializer(
        help_text="GEOIP_CITY's answer: a lookup's body, or {\"error\": ...} (address_not_found)."
    )
    alternative = LookupResultSerializer(help_text="GEOIP_CITY_ALTERNATIVE's answer, the same way.")
    agreement = AgreementSerializer(help_text="null fields wherever one answer lacks what is compared.")


# --- The history API (lookups.web.history_filters.history_row_as_dict builds the body) ----------------------


class HistoryDatabaseSerializer(serializers.Serializer):
    edition = serializers.CharField()
    build_date = serializers.DateTimeField(allow_null=True)


class HistoryRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    query = serializers.CharField(help_text="As typed, spaces trimmed.")
    channel = serializers.ChoiceField(choices=["web", "api", "batch", "webservice"])
    outcome = serializers.CharField(help_text="ok, or the error code the caller saw.")
    addresses = serializers.ListField(child=serializers.IPAddressField())
    ip_address = serializers.IPAddressField(allow_null=True)
    network = serializers.CharField(allow_null=True)
    continent_code = serializers.CharField(allow_null=True)
    country = CountrySerializer(allow_null=True)
    subdivision = CountrySerializer(allow_null=True, help_text="The first (largest) of `subdivisions`.")
    subdivisions = CountrySerializer(many=True, help_text="Every subdivision, largest first.")
    city = serializers.CharField(allow_null=True)
    postal_code = serializers.CharField(allow_null=True)
    location = LocationSerializer()
    requester = serializers.IPAddressField(
        allow_null=True, help_text="Anonymised by default (IPv4 /24, IPv6 /48): LOOKUP_REQUESTER_ADDRESS."
    )
    requester_country = serializers.CharField(
        allow_null=True,
        help_text="The requester's country (ISO 3166-1 alpha-2) in the GeoIP database of the lookup; "
        "null when unknown, and for rows recorded before December 2026.",
    )
    database = HistoryDatabaseSerializer(allow_null=True)


class HistoryPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = HistoryRowSerializer(many=True)


# --- Health and MaxMind's web service (plain views: lookups.web.health, lookups.web.webservice) --


class HealthDatabaseSerializer(serializers.Serializer):
    edition = serializers.CharField()
    build_date = serializers.DateTimeField()
    age_days = serializers.IntegerField(help_text="Days since the build.")
    attribution = serializers.CharField(allow_null=True, help_text="The credit the licence asks for.")


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["ok", "warning", "degraded"],
        help_text="warning: a database older than GEOIP_MAX_AGE_DAYS; degraded: PostgreSQL away or "
        "history waiting on disk. warnings says why.",
    )
    warnings = serializers.ListField(child=serializers.CharField())
    database = HealthDatabaseSerializer()
    asn_database = HealthDatabaseSerializer(allow_null=True, help_text="null: no ASN database installed.")
    alternative_database = HealthDatabaseSerializer(
        allow_null=True,
        help_text="GEOIP_CITY_ALTERNATIVE's, compared with the first; null: none configured or usable.",
    )


class HealthUnavailableSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["unavailable"])
    reason = serializers.CharField()
    fix = serializers.CharField(help_text="The command that installs a database.")


class MaxMindErrorSerializer(serializers.Serializer):
    """MaxMind's web-service error body."""

    code = serializers.CharField(help_text="MaxMind's error code, such as IP_ADDRESS_NOT_FOUND.")
    error = serializers.CharField()
