"""What an update run's build changed, as the admin's update page shows it: a table of counts with
a bar each (plain geometry the template draws as SVG: the site's CSP allows no inline styles),
the moves between countries, and example networks. Plain data from UpdateRun.changes."""

from dataclasses import dataclass

from lookups.core.record_changes import FIELDS

BAR_WIDTH = 240  # px, the longest bar
BY_COUNTRY_SHOWN = 20

FIELD_LABELS = {
    "country": "Country",
    "subdivision": "Subdivision",
    "city": "City",
    "coordinates": "Coordinates (beyond the accuracy radius)",
    "time_zone": "Time zone",
    "asn": "ASN",
}


@dataclass(frozen=True)
class CountRow:
    label: str
    count: int
    width: float  # of its bar, in px
    kind: str  # the bar's CSS class


@dataclass(frozen=True)
class ChangesReport:
    old_build: str
    new_build: str
    networks_old: int
    networks_new: int
    totals: tuple[CountRow, ...]
    fields: tuple[CountRow, ...]
    by_country: tuple[dict, ...]
    more_countries: int
    examples: tuple[tuple[str, dict], ...]  # (kind, example)
    seconds: float
    bar_width: int = BAR_WIDTH


def _rows(pairs: list[tuple[str, int, str]]) -> tuple[CountRow, ...]:
    peak = max((count for _, count, _ in pairs), default=0) or 1
    return tuple(
        CountRow(label, count, round(BAR_WIDTH * count / peak, 1), kind) for label, count, kind in pairs
    )


def changes_report(changes: dict | None) -> ChangesReport | None:
    if not changes:
        return None
    totals = _rows(
        [
            ("Networks added", changes["networks_added"], "added"),
            ("Networks removed", changes["networks_removed"], "removed"),
            ("Networks changed", changes["networks_changed"], "changed"),
            ("Networks retouched (other fields only)", changes.get("networks_retouched", 0), "retouched"),
        ]
    )
    counted = changes.get("fields", {})  # in jsonb's key order: shown in FIELDS' order
    fields = _rows([(FIELD_LABELS[field], counted.get(field, 0), "changed") for field in FIELDS])
    by_country = changes.get("by_country", [])
    examples = tuple(
        (kind, example) for kind, listed in changes.get("examples", {}).items() for example in listed
    )
    return ChangesReport(
        old_build=changes.get("old_build", "")[:10],
        new_build=changes.get("new_build", "")[:10],
        networks_old=changes.get("networks_old", 0),
        networks_new=changes.get("networks_new", 0),
        totals=totals,
        fields=fields,
        by_country=tuple(by_country[:BY_COUNTRY_SHOWN]),
        more_countries=max(0, len(by_country) - BY_COUNTRY_SHOWN),
        examples=examples,
        seconds=changes.get("seconds", 0.0),
    )


def changes_summary(changes: dict | None) -> str:
    """The list column: networks added, removed and changed, signed."""
    if not changes:
        return "—"
    return f"+{changes['networks_added']:,} −{changes['networks_removed']:,} ~{changes['networks_changed']:,}"
