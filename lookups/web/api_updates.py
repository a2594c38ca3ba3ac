"""`GET /api/v1/updates/`: the database update runs, newest first, each with what its build changed
(lookups.updater.build_diff), for staff. Who may read it is decided as for the history API."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from lookups.models import UpdateRun
from lookups.web.api import HistoryPagination
from lookups.web.api_schema import ErrorSerializer
from lookups.web.renderers import JSONRenderer

PAGE_SIZE = 50


class CanReadUpdates(BasePermission):
    """Active staff allowed to view update runs (superusers, or staff given "Can view update run")."""

    def has_permission(self, request: Request, view) -> bool:
        user = request.user
        return bool(user and user.is_active and user.is_staff and user.has_perm("lookups.view_updaterun"))


class UpdatesPagination(HistoryPagination):
    """Newest first, a bad cursor a clear 400, as for the history."""

    page_size = PAGE_SIZE
    page_size_query_param = None


class CountryMoveSerializer(serializers.Serializer):
    from_ = serializers.CharField(allow_null=True, help_text="The country before; null: no data.")
    to = serializers.CharField(allow_null=True, help_text="The country after; null: no data.")
    networks = serializers.IntegerField()

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields


class ChangesSerializer(serializers.Serializer):
    old_build = serializers.DateTimeField(help_text="The build replaced.")
    new_build = serializers.DateTimeField()
    networks_added = serializers.IntegerField(help_text="Data where the old build had none.")
    networks_removed = serializers.IntegerField()
    networks_changed = serializers.IntegerField(help_text="A field listed in `fields` changed.")
    networks_retouched = serializers.IntegerField(help_text="Other fields only (postal code, names...).")
    fields = serializers.DictField(child=serializers.IntegerField(), help_text="Networks changed, per field.")
    by_country = CountryMoveSerializer(many=True, help_text="Networks added, removed or changed, by country.")
    examples = serializers.DictField(help_text="Up to 10 networks added, removed and changed.")


class UpdateRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    source = serializers.CharField()
    edition = serializers.CharField()
    build_date = serializers.DateTimeField(allow_null=True)
    outcome = serializers.ChoiceField(choices=UpdateRun.Outcome.choices)
    message = serializers.CharField()
    changes = ChangesSerializer(
        allow_null=True,
        help_text="null: nothing compared (a first install, no new build) or still comparing.",
    )


class UpdatesPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = UpdateRunSerializer(many=True)


def run_as_dict(run: UpdateRun) -> dict:
    return {
        "id": run.id,
        "created_at": run.created_at.isoformat(),
        "source": run.source,
        "edition": run.edition,
        "build_date": run.build_date.isoformat() if run.build_date else None,
        "outcome": run.outcome,
        "message": run.message,
        "changes": run.changes,
    }


class UpdatesView(APIView):
    """Database update runs, newest first, with what each new build changed, for staff."""

    # Token first: an anonymous caller gets 401 with `WWW-Authenticate: Token`.
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [CanReadUpdates]
    renderer_classes = [JSONRenderer]  # nested data: JSON only

    @extend_schema(
        operation_id="updates",
        responses={
            200: UpdatesPageSerializer,
            **{status: ErrorSerializer for status in (400, 401, 403, 405, 406, 429)},
        },
    )
    def get(self, request: Request) -> Response:
        paginator = UpdatesPagination()
        page = paginator.paginate_queryset(UpdateRun.objects.all(), request, view=self)
        return paginator.get_paginated_response([run_as_dict(run) for run in page])
