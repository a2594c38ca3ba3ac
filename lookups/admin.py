"""The lookup history and the database update runs in the admin: read only, for staff."""

from django.contrib import admin

from lookups.models import Lookup, UpdateRun


@admin.register(Lookup)
class LookupAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "query",
        "ip_address",
        "country_code",
        "city",
        "time_zone",
        "time_zone_source",
        "channel",
        "outcome",
    )
    list_filter = ("channel", "outcome", "time_zone_source")
    search_fields = ("query", "=ip_address", "city")
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(UpdateRun)
class UpdateRunAdmin(admin.ModelAdmin):
    """Written by `manage.py update_maxmind` only."""

    list_display = ("created_at", "source", "edition", "build_date", "outcome", "message")
    list_filter = ("outcome", "source", "edition")
    search_fields = ("message", "=checksum")
    date_hierarchy = "created_at"
    readonly_fields = ("created_at", "source", "edition", "build_date", "checksum", "outcome", "message")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
