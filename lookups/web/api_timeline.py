"""`GET /api/v1/lookup/<address>/timeline`: the address in each installed build of the City
database, oldest first, marking what changed (lookups.core.timeline)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from lookups.core import timeline
from lookups.core.geoip import city_reader
from lookups.core.record_changes import FIELDS
from lookups.errors import LookupFailed
from lookups.web.api_schema import ErrorSerializer
from lookups.web.renderers import JSONRenderer
from lookups.web.request_meta import request_language


def _name(part: dict | None, language: str) -> str | None:
    names = (part or {}).get("names") or {}
    return names.get(language) or names.get("en")


def _place(part: dict | None, language: str, code: str = "iso_code") -> dict | None:
    if not part:
        return None
    return {"code": part.get(code), "name": _name(part, language)}


def build_as_dict(answer: timeline.BuildAnswer, *, language: str) -> dict:
    record = answer.record or {}
    location = record.get("location") or {}
    subdivisions = record.get("subdivisions") or []
    return {
        "edition": answer.edition,
        "build_date": answer.build_date.isoformat(),
        "current": answer.current,
        "found": answer.record is not None,
        "network": answer.network,
        "country": _place(record.get("country"), language),
        "subdivision": _place(subdivisions[0] if subdivisions else None, language),
        "city": _name(record.get("city"), language),
        "location": {
            "latitude": location.get("latitude"),
            "longitude": location.get("longitude"),
            "accuracy_radius": location.get("accuracy_radius"),
        }
        if "latitude" in location
        else None,
        "time_zone": location.get("time_zone"),
        "change": answer.change,
        "changed_fields": list(answer.changed_fields),
    }


def _languages() -> tuple[str, ...]:
    try:
        return city_reader().info().languages
    except LookupFailed:  # only older builds answer: their names in English
        return ("en",)


class TimelineLocationSerializer(serializers.Serializer):
    latitude = serializers.FloatField()
    longitude = serializers.FloatField()
    accuracy_radius = serializers.IntegerField(allow_null=True)


class TimelinePlaceSerializer(serializers.Serializer):
    code = serializers.CharField(allow_null=True)
    name = serializers.CharField(allow_null=True)


class TimelineBuildSerializer(serializers.Serializer):
    edition = serializers.CharField()
    build_date = serializers.DateTimeField()
    current = serializers.BooleanField(help_text="The build lookups answer from.")
    found = serializers.BooleanField(help_text="false: the address is not in this build.")
    network = serializers.CharField(allow_null=True)
    country = TimelinePlaceSerializer(allow_null=True)
    subdivision = TimelinePlaceSerializer(allow_null=True)
    city = serializers.CharField(allow_null=True)
    location = TimelineLocationSerializer(allow_null=True)
    time_zone = serializers.CharField(allow_null=True)
    change = serializers.ChoiceField(
        choices=[timeline.ADDED, timeline.REMOVED, timeline.CHANGED],
        allow_null=True,
        help_text="From the build before; null for the first build or when nothing changed.",
    )
    changed_fields = serializers.ListField(child=serializers.ChoiceField(choices=FIELDS))


class TimelineSerializer(serializers.Serializer):
    address = serializers.CharField()
    builds = TimelineBuildSerializer(many=True, help_text="Oldest first.")
    changes = serializers.IntegerField(help_text="Builds that changed the answer.")


class TimelineView(APIView):
    """The address in each installed build of the City database (GEOIP_KEEP_BUILDS), oldest first,
    each marked with what changed from the build before."""

    # Public, as a lookup is (and rate-limited per address like every API view).
    authentication_classes = ()
    renderer_classes = [JSONRenderer]  # nested data: JSON only

    @extend_schema(
        operation_id="lookup_timeline",
        parameters=[
            OpenApiParameter(
                "address", OpenApiTypes.STR, OpenApiParameter.PATH, description="An IP address."
            ),
            OpenApiParameter("lang", OpenApiTypes.STR, description="Language of place names."),
        ],
        responses={
            200: TimelineSerializer,
            **{status: ErrorSerializer for status in (400, 405, 406, 429, 503)},
        },
    )
    def get(self, request: Request, address: str) -> Response:
        parsed = timeline.timeline_address(address)
        answers = timeline.address_timeline(parsed)
        language = request_language(request, _languages())
        return Response(
            {
                "address": str(parsed),
                "builds": [build_as_dict(answer, language=language) for answer in answers],
                "changes": sum(1 for answer in answers if answer.change is not None),
            }
        )
