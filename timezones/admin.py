"""Time zones in the admin, read only: the zones with their polygon counts, and a zone's shape on
a map (Leaflet from django-leaflet's own static files; tiles from LEAFLET_CONFIG, OSM by default)."""

import json

from django.contrib import admin
from django.contrib.gis.db.models.functions import NumGeometries
from django.db.models import Min, OuterRef, Subquery, Sum
from django.utils.html import format_html, json_script
from leaflet import app_settings as leaflet_settings

from timezones.models import TzWorld

# The map shows a zone simplified to about a kilometre: enough to see it, light enough to send.
MAP_TOLERANCE_DEGREES = 0.01


@admin.register(TzWorld)
class TimeZoneAdmin(admin.ModelAdmin):
    """One line per zone (tz_world has one row per polygon, or per zone, as its source had)."""

    list_display = ("tzid", "polygons")
    search_fields = ("tzid",)
    ordering = ("tzid",)
    fields = ("tzid", "polygons", "shape")
    readonly_fields = fields
    show_full_result_count = False

    class Media:
        css = {"all": ("leaflet/leaflet.css", "timezones/zone_map.css")}
        js = ("leaflet/leaflet.js", "timezones/zone_map.js")

    def get_queryset(self, request):
        zone_rows = TzWorld.objects.filter(tzid=OuterRef("tzid")).order_by().values("tzid")
        first_row_of_each_zone = TzWorld.objects.order_by().values("tzid").annotate(first=Min("gid"))
        return (
            super()
            .get_queryset(request)
            .filter(gid__in=first_row_of_each_zone.values("first"))
            .annotate(polygon_count=Subquery(zone_rows.annotate(n=Sum(NumGeometries("geom"))).values("n")))
        )

    @admin.display(description="polygons", ordering="polygon_count")
    def polygons(self, zone: TzWorld) -> int:
        return zone.polygon_count

    @admin.display(description="shape")
    def shape(self, zone: TzWorld) -> str:
        """Every polygon of the zone, simplified, drawn by static/timezones/zone_map.js."""
        parts = [row.geom for row in TzWorld.objects.filter(tzid=zone.tzid).only("geom")]
        geojson = {
            "type": "GeometryCollection",
            "geometries": [
                json.loads(part.simplify(MAP_TOLERANCE_DEGREES, preserve_topology=True).geojson)
                for part in parts
            ],
        }
        _name, tiles_url, tiles_options = leaflet_settings["TILES"][0]
        return format_html(
            '<div class="zone-map" data-zone-map="zone-shape" data-tiles="{}" data-tiles-options="{}">'
            "</div>{}",
            tiles_url,
            json.dumps(tiles_options),
            json_script(geojson, "zone-shape"),
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
