"""Load the time-zone polygons into tz_world (and its lookup copy), replacing what is there."""

from django.core.management.base import BaseCommand, CommandError

from timezones.loader import LoadError, ZoneSelection, file_source, load_tz_world, offline_source


class Command(BaseCommand):
    help = (
        "Load time-zone polygons into tz_world, replacing the old ones atomically. Without options, "
        "from the timezonefinder data package (timezone-boundary-builder with oceans, offline)."
    )

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group()
        source.add_argument(
            "--shapefile",
            metavar="PATH",
            help="efele's tz_world.shp or timezone-boundary-builder's shapefile (.shp or .zip)",
        )
        source.add_argument(
            "--geojson", metavar="PATH", help="timezone-boundary-builder's GeoJSON (.json or .zip)"
        )
        parser.add_argument(
            "--zones",
            metavar="LIST",
            help="load only these zones: comma-separated names, or prefixes ending in '/' "
            "(e.g. 'Europe/,Asia/Tokyo'); empty means all",
        )

    def handle(self, *args, shapefile, geojson, zones, verbosity, **options):
        progress = self._show_progress if verbosity >= 1 and self.stdout.isatty() else None
        try:
            if shapefile:
                source = file_source(shapefile, kind="shapefile")
            elif geojson:
                source = file_source(geojson, kind="geojson")
            else:
                source = offline_source()
            report = load_tz_world(source, zones=ZoneSelection(zones), progress=progress)
        except LoadError as exc:
            if progress:
                self.stdout.write("")  # end a progress line the error would otherwise continue
            raise CommandError(exc.message) from exc
        if verbosity >= 1:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Loaded {report.zones} zones, {report.polygons:,} polygons "
                    f"({report.pieces:,} pieces for lookups) from {report.source} in {report.seconds:.1f} s."
                )
            )
            if report.skipped:
                self.stdout.write(f"Skipped {report.skipped:,} features without a zone name or a polygon.")

    def _show_progress(self, step: str, done: int, total: int) -> None:
        if done == total or done % 10 == 0:
            self.stdout.write(f"\r{step}: {done:,}/{total:,} ({done / max(total, 1):.0%})", ending="")
            if done == total:
                self.stdout.write("")
            self.stdout.flush()
