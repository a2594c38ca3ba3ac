"""The admin: the lookup history and the database update runs (read only), and the web service's API keys."""

import datetime as dt

from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.db.models import OuterRef, Subquery
from django.template.response import TemplateResponse
from django.utils import timezone

from lookups import credentials
from lookups.models import ApiKey, ApiKeyUsage, Lookup, UpdateRun


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
        "api_key",
        "outcome",
    )
    list_filter = ("channel", "outcome", "time_zone_source", "api_key")
    list_select_related = ("api_key",)  # nullable: Django would not follow it by itself
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


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
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
