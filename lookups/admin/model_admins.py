"""The lookup history in the admin: read only, for staff, fast at millions of rows.

Nobody edits an audit trail: no add, change or delete, here or anywhere (purging old rows is
`manage.py purge_lookups`). Speed at volume comes from lookups.admin.history_queries: an estimated
total, filter choices from index skip scans, a cheap date drill-down, and sorting only by time.
"""

import datetime as dt
import ipaddress

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest, HttpResponseBadRequest, StreamingHttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html
from leaflet import app_settings as leaflet_settings

from lookups.admin import dashboard, update_changes
from lookups.admin.history_queries import EstimatedCountPaginator, HistoryQuerySet, distinct_values
from lookups.models import OUTCOME_OK, ApiKey, ApiKeyUsage, Lookup, LookupDayCell, TimeZoneSource, UpdateRun
from lookups.operator_messages import manage_command
from lookups.web import credentials, history_filters

NO_VALUE = "none"  # the filter choice for rows without a country or time zone

REQUESTER_POLICY = {
    "anonymize": "anonymised when recorded: IPv4 to its /24 network, IPv6 to its /48",
    "full": "recorded whole (LOOKUP_REQUESTER_ADDRESS=full)",
    "none": "not recorded (LOOKUP_REQUESTER_ADDRESS=none)",
}


NUL_IN_FILTER_MESSAGE = "A filter or search holds a NUL character, which no stored text can contain."


class RefusesNul:
    """A 400 for a list whose filters or search hold NUL: PostgreSQL refuses it in text, a 500."""

    def changelist_view(self, request, extra_context=None):
        if any("\x00" in key or any("\x00" in v for v in values) for key, values in request.GET.lists()):
            return HttpResponseBadRequest(NUL_IN_FILTER_MESSAGE, content_type="text/plain; charset=utf-8")
        return super().changelist_view(request, extra_context)


class CountryFilter(admin.SimpleListFilter):
    title = "country"
    parameter_name = "country"

    def lookups(self, request, model_admin):
        choices = [
            (code, f"{code} · {name}" if name else code)
            for code, name in distinct_values("country_code", label="country_name")
            if code
        ]
        return [*choices, (NO_VALUE, "No country")]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(country_code="" if value == NO_VALUE else value)


class OutcomeFilter(admin.SimpleListFilter):
    title = "outcome"
    parameter_name = "outcome"

    def lookups(self, request, model_admin):
        outcomes = [value for value, _ in distinct_values("outcome")]
        # "ok" first, then the errors alphabetically.
        return [(value, value) for value in sorted(outcomes, key=lambda v: (v != OUTCOME_OK, v))]

    def queryset(self, request, queryset):
        return queryset if self.value() is None else queryset.filter(outcome=self.value())


class TimeZoneSourceFilter(admin.SimpleListFilter):
    title = "time zone source"
    parameter_name = "tz_source"

    def lookups(self, request, model_admin):
        return [*TimeZoneSource.choices, (NO_VALUE, "No time zone")]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(time_zone_source="" if value == NO_VALUE else value)


class ApiKeyFilter(admin.RelatedFieldListFilter):
    """The web-service key, with the rows made without one named in words rather than "-"."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.empty_value_display = NO_API_KEY


NO_API_KEY = "No API key (pages and the JSON API)"


@admin.action(description="Export the selected lookups as CSV", permissions=["view"])
def export_csv(modeladmin, request: HttpRequest, queryset: QuerySet) -> StreamingHttpResponse:
    """The history API's CSV columns (history_filters.HISTORY_CSV), streamed, so that "select all"
    over a million rows neither waits nor fills memory."""
    rows = queryset.order_by("-created_at", "-id").iterator(chunk_size=2000)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(
        history_filters.HISTORY_CSV.lines(history_filters.history_row_as_dict(row) for row in rows),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="lookups-{stamp}.csv"'
    return response


@admin.register(Lookup)
class LookupAdmin(RefusesNul, admin.ModelAdmin):
    list_display = (
        "created_at",
        "query_cut",
        "ip_address",
        "country",
        "city",
        "time_zone",
        "time_zone_source",
        "channel",
        "api_key",
        "outcome",
    )
    list_display_links = ("created_at", "query_cut")
    list_select_related = ("api_key",)  # nullable: Django would not follow it by itself
    list_filter = (CountryFilter, "channel", OutcomeFilter, TimeZoneSourceFilter, ("api_key", ApiKeyFilter))
    # Each word is looked for in the query and the city (trigram indexes); an address also
    # matches the address geolocated exactly (see get_search_results).
    search_fields = ("query", "city")
    search_help_text = "Words in the query or city name, or an exact IP address."
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    # Sorting by any other column would sort the whole table; the filters do that job.
    sortable_by = ("created_at",)
    list_per_page = 100
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # facet counts are a COUNT per choice
    actions = [export_csv]

    fieldsets = (
        ("Lookup", {"fields": ("created_at", "query", "channel", "api_key", "outcome", "requester_address")}),
        (
            "Answer",
            {
                "fields": (
                    "addresses",
                    "ip_address",
                    "network",
                    "continent_code",
                    ("country_code", "country_name"),
                    "subdivisions_shown",
                    "city",
                    "postal_code",
                    ("time_zone", "time_zone_source"),
                )
            },
        ),
        ("Location", {"fields": ("map",)}),
        ("GeoIP database", {"fields": ("database_edition", "database_build_date")}),
    )
    readonly_fields = ("requester_address", "subdivisions_shown", "map")

    class Media:
        css = {"all": ("leaflet/leaflet.css", "lookups/admin.css")}
        js = ("leaflet/leaflet.js", "lookups/lookup-map.js")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        # The history's columns need the width the navigation sidebar takes (the index has it).
        return super().changelist_view(request, {"is_nav_sidebar_enabled": False, **(extra_context or {})})

    def get_queryset(self, request):
        queryset = HistoryQuerySet(model=self.model, using=self.model.objects.db)
        return queryset.order_by(*self.get_ordering(request))

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        try:
            address = ipaddress.ip_address(search_term.strip())
        except ValueError:
            return results, may_have_duplicates
        return results | queryset.filter(ip_address=str(address)), may_have_duplicates

    @admin.display(description="query")
    def query_cut(self, obj: Lookup) -> str:
        """Cut to fit its column (255 characters pushed every other one off the screen)."""
        return format_html('<span class="truncated-text" title="{}">{}</span>', obj.query, obj.query)

    @admin.display(description="country", ordering="country_code")
    def country(self, obj: Lookup) -> str:
        return obj.country_code or "—"

    @admin.display(description="requester")
    def requester_address(self, obj: Lookup) -> str:
        policy = REQUESTER_POLICY.get(settings.LOOKUP_REQUESTER_ADDRESS, "")
        if obj.requester is None:
            return f"— (requester addresses are {policy})"
        country = f" in {obj.requester_country}" if obj.requester_country else ""
        return f"{obj.requester}{country} (requester addresses are {policy})"

    @admin.display(description="subdivisions")
    def subdivisions_shown(self, obj: Lookup) -> str:
        """All of them, largest first: "England (ENG), Greater London (LND)"."""
        names = [
            f"{item['name']} ({item['iso_code']})" if item["iso_code"] else item["name"]
            for item in history_filters.subdivisions_of(obj)
        ]
        return ", ".join(names) or "—"

    @admin.display(description="map")
    def map(self, obj: Lookup) -> str:
        if obj.location is None:
            return "No coordinates in the answer."
        url, options = _tiles()
        radius = obj.accuracy_radius or 0
        return format_html(
            '<div class="lookup-map" data-latitude="{}" data-longitude="{}" data-radius-km="{}" '
            'data-tiles="{}" data-attribution="{}" role="img" aria-label="Map of {}, {}"></div>'
            '<p class="lookup-coordinates">{}, {}{}</p>',
            obj.location.y,
            obj.location.x,
            radius,
            url,
            options.get("attribution", ""),
            obj.location.y,
            obj.location.x,
            obj.location.y,
            obj.location.x,
            f" (within {radius} km)" if radius else "",
        )

    # --- The dashboard --------------------------------------------------------------------------

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "dashboard/",
                self.admin_site.admin_view(self.dashboard_view),
                name="{}_{}_dashboard".format(*info),
            ),
            *super().get_urls(),
        ]

    def dashboard_view(self, request: HttpRequest) -> TemplateResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        days = dashboard.period_days(request.GET.get("days"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Lookup history dashboard",
            "opts": self.opts,
            "stats": dashboard.cached_history_stats(days),
            "periods": dashboard.PERIODS,
            "cell_degrees": LookupDayCell.CELL_DEGREES,
            # The lookup page's tiles (https, allowed by the Content-Security-Policy's default).
            "tiles_url": settings.MAP_TILE_URL,
            "tiles_attribution": settings.MAP_TILE_ATTRIBUTION,
            "cache_minutes": dashboard.CACHE_SECONDS // 60,
            "databases": dashboard.installed_databases(),
            "update_runs": dashboard.recent_update_runs(),
            "update_command": manage_command("update_maxmind"),
        }
        return TemplateResponse(request, "admin/lookups/lookup/dashboard.html", context)


def _tiles() -> tuple[str, dict]:
    """The first tile layer of django-leaflet's LEAFLET_CONFIG (OpenStreetMap by default)."""
    _name, url, options = leaflet_settings["TILES"][0]
    return url, options if isinstance(options, dict) else {}


# A run that never read a database (a file or URL that failed) has the file's or URL's name
# where the edition goes: an edition is known once a build date is.
_EDITION_READ = Q(build_date__isnull=False) | ~Q(source__in=["file", "url"])


class EditionFilter(admin.SimpleListFilter):
    title = "edition"
    parameter_name = "edition"

    def lookups(self, request, model_admin):
        editions = (
            UpdateRun.objects.filter(_EDITION_READ).exclude(edition="").values_list("edition", flat=True)
        )
        return [(edition, edition) for edition in sorted(set(editions))]

    def queryset(self, request, queryset):
        return queryset if self.value() is None else queryset.filter(_EDITION_READ, edition=self.value())


@admin.register(UpdateRun)
class UpdateRunAdmin(RefusesNul, admin.ModelAdmin):
    """Written by `manage.py update_maxmind` only."""

    list_display = (
        "created_at",
        "source",
        "edition_read",
        "build_date",
        "outcome",
        "changes_read",
        "message",
    )
    list_filter = ("outcome", "source", EditionFilter)
    search_fields = ("message", "=checksum")
    date_hierarchy = "created_at"
    readonly_fields = (
        "created_at",
        "source",
        "edition",
        "build_date",
        "checksum",
        "outcome",
        "message",
        "changes_report",
    )

    class Media:
        css = {"all": ("lookups/admin.css",)}

    @admin.display(description="changes (+added −removed ~changed)")
    def changes_read(self, run: UpdateRun) -> str:
        return update_changes.changes_summary(run.changes)

    @admin.display(description="what the build changed")
    def changes_report(self, run: UpdateRun) -> str:
        report = update_changes.changes_report(run.changes)
        return render_to_string("admin/lookups/updaterun/_changes.html", {"report": report})

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="edition", ordering="edition")
    def edition_read(self, run: UpdateRun) -> str:
        read = run.build_date is not None or run.source not in {"file", "url"}
        return run.edition if read and run.edition else "—"


@admin.register(ApiKey)
class ApiKeyAdmin(RefusesNul, admin.ModelAdmin):
    """Web-service keys: created here (the licence key is shown once), renamed, limited, revoked.

    The hash is never shown. Keys are revoked rather than deleted, so that the history keeps
    which credential made each lookup.
    """

    list_display = (
        "name",
        "account_id",
        "daily_quota",
        "used_today",
        "revoked",
        "created_at",
        "last_used_at",
    )
    list_filter = ("revoked",)
    search_fields = ("name", "=account_id")
    readonly_fields = ("account_id", "created_at", "last_used_at", "used_today")
    actions = ("revoke",)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("name", "daily_quota")
        return ("name", "account_id", "daily_quota", "used_today", "revoked", "created_at", "last_used_at")

    def get_queryset(self, request):
        today = timezone.now().astimezone(dt.UTC).date()
        used = ApiKeyUsage.objects.filter(api_key=OuterRef("pk"), day=today).values("used")
        return super().get_queryset(request).annotate(_used_today=Subquery(used))

    @admin.display(description="used today (UTC)")
    def used_today(self, obj: ApiKey) -> int:
        used = getattr(obj, "_used_today", None)
        return used if used is not None else credentials.used_today(obj)

    def save_model(self, request, obj, form, change):
        if change:
            # Only what the form edits: last_used_at is written by requests meanwhile.
            obj.save(update_fields=["name", "daily_quota", "revoked"])
            return
        # Kept on the request for response_add only: never in a message, cookie or session.
        request._issued_license_key = credentials.issue_key(obj)

    def response_add(self, request, obj, post_url_continue=None):
        license_key = getattr(request, "_issued_license_key", None)
        if license_key is None or IS_POPUP_VAR in request.POST:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "API key created",
            "api_key": obj,
            "license_key": license_key,
        }
        response = TemplateResponse(request, "admin/lookups/apikey/issued.html", context)
        response["Cache-Control"] = "no-store"
        return response

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        count = queryset.filter(revoked=False).update(revoked=True)
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)
