"""A lookup as the HTML page shows it: the template context, with its flag, local time, map view.

Plain functions over LookupResult and the API body, so the page and the API never disagree
about the data and the templates hold no logic beyond layout.
"""

import datetime as dt
import ipaddress
import json
import shlex
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse

from lookups.core import reverse_dns, timeline
from lookups.core.answer import LookupResult
from lookups.core.comparison import ALTERNATIVE, PRIMARY, SAME, Comparison, agreement
from lookups.core.record_changes import place_name
from lookups.errors import LookupFailed
from lookups.models import TimeZoneSource
from lookups.web.api_body import result_as_dict
from lookups.web.request_meta import request_language

# When no place but the network's registration is known (1.1.1.1): the heading and the map say so.
REGISTERED_ONLY_SUMMARY = "Only the country where this network is registered is known: {country}."
NO_PLACE_SUMMARY = "No place is known for this address."

# What the page says beside (or instead of) a reverse name, by lookups.core.reverse_dns status.
REVERSE_DNS_NOTES = {
    reverse_dns.NONE: "This address has no reverse name.",
    reverse_dns.INVALID: "This address's reverse records hold no host name.",
    reverse_dns.TIMEOUT: "The name servers did not answer in time.",
    reverse_dns.ERROR: "The name servers failed to answer.",
    reverse_dns.BUSY: "Not looked up: too many names are being looked up right now. Try again in a moment.",
}
VERIFIED_NOTE = "verified: the name resolves back to this address"
UNVERIFIED_NOTE = "not verified: the name does not resolve back to this address"

# Above this accuracy radius (km) a position is a region, not a place: no pin on the map.
PRECISE_RADIUS_KM = 200

TIME_ZONE_SOURCES = {
    TimeZoneSource.MAXMIND.value: "from the GeoIP record",
    TimeZoneSource.TZ_WORLD.value: "from the time-zone polygons (tz_world)",
}


def flag_emoji(iso_code: str | None) -> str:
    """The flag of a two-letter country code, as its two regional indicator symbols."""
    if not iso_code or len(iso_code) != 2 or not iso_code.isascii() or not iso_code.isalpha():
        return ""
    return "".join(chr(0x1F1E6 + ord(letter) - ord("A")) for letter in iso_code.upper())


@dataclass(frozen=True)
class LocalTime:
    iso: str  # for <time datetime=...>
    text: str  # "Mon 14:05", the same format the page's script keeps up to date
    offset: str  # "UTC+01:00"


def local_time(time_zone: str | None, *, now: dt.datetime | None = None) -> LocalTime | None:
    if not time_zone:
        return None
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(zone)
    offset = moment.strftime("%z")  # "+0100"
    return LocalTime(
        iso=moment.isoformat(timespec="seconds"),
        text=moment.strftime("%a %H:%M"),
        offset=f"UTC{offset[:3]}:{offset[3:]}",
    )


@dataclass(frozen=True)
class MapView:
    latitude: float
    longitude: float
    radius_km: int | None
    precise: bool  # a pin; otherwise only the circle (or the area) and a note


def map_view(result: LookupResult) -> MapView | None:
    """Where the map looks, or None when the record has no coordinates (country-level)."""
    if result.latitude is None or result.longitude is None:
        return None
    radius = result.accuracy_radius
    precise = radius is not None and 0 < radius <= PRECISE_RADIUS_KM and result.city is not None
    return MapView(result.latitude, result.longitude, radius, precise)


def raw_record_json(result: LookupResult) -> str:
    """The database's own record, pretty-printed (the time zone filled in from tz_world)."""
    return json.dumps(result.record, indent=2, ensure_ascii=False, default=str)


NOT_IN_DATABASE = "not in the database"


@dataclass(frozen=True)
class MovedNote:
    """ "changed on <date>: was <city, country>", when a build changed this address's answer."""

    date: dt.date
    was: str


def moved_note(result: LookupResult, *, language: str = "en") -> MovedNote | None:
    """The newest change among the installed builds up to the current one (lookups.core.timeline)."""
    try:
        answers = timeline.address_timeline(ipaddress.ip_address(result.ip_address))
    except (LookupFailed, ValueError):
        return None
    change = timeline.last_change(answers)
    if change is None:
        return None
    before, after = change
    if before.record is None:
        return MovedNote(after.build_date.date(), NOT_IN_DATABASE)
    return MovedNote(after.build_date.date(), place_name(before.record, language) or NO_PLACE_SUMMARY)


def curl_command(url: str) -> str:
    return f"curl {shlex.quote(url)}"


def result_context(request: HttpRequest, result: LookupResult) -> dict:
    """What the result template shows: the API body, and what the page adds to it."""
    language = request_language(request, result.database.languages)
    body = result_as_dict(result, language=language)
    api_url = request.build_absolute_uri(reverse("api-lookup", args=[result.query]))
    params = [f"lang={language}"] if language != "en" else []
    if result.reverse_dns is not None:
        params.append("rdns=1")
    if params:
        api_url += "?" + "&".join(params)
    places = [body["city"] and body["city"]["name"], *(s["name"] for s in body["subdivisions"][:1])]
    places.append(body["country"] and body["country"]["name"])
    place_summary = ", ".join(place for place in places if place)
    if place_summary:
        summary = place_summary
    elif body["registered_country"]:
        summary = REGISTERED_ONLY_SUMMARY.format(country=body["registered_country"]["name"])
    else:
        summary = NO_PLACE_SUMMARY
    return {
        "result": result,
        "body": body,
        "flag": flag_emoji(result.country and result.country.code),
        "place_summary": place_summary,
        "summary": summary,
        "local_time": local_time(result.time_zone),
        "time_zone_source": TIME_ZONE_SOURCES.get(result.time_zone_source or ""),
        "map": map_view(result),
        "map_tile_url": settings.MAP_TILE_URL,
        "map_tile_attribution": settings.MAP_TILE_ATTRIBUTION,
        "raw_json": raw_record_json(result),
        "moved": moved_note(result, language=language),
        "curl": curl_command(api_url),
        **reverse_dns_context(result),
    }


def reverse_dns_context(result: LookupResult) -> dict:
    """The reverse name's line: what was found, or the link that asks for it (?rdns=1)."""
    answer = result.reverse_dns
    if answer is None:
        return {"reverse_dns_url": reverse("lookup", args=[result.query]) + "?rdns=1"}
    note = REVERSE_DNS_NOTES.get(answer.status)
    if answer.name:
        note = VERIFIED_NOTE if answer.verified else (note or UNVERIFIED_NOTE)
    return {"reverse_dns": answer, "reverse_dns_note": note}


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else "yes" if value else "no"


def comparison_context(request: HttpRequest, comparison: Comparison) -> dict:
    """The comparison panel: the alternative database's answer (or its error) beside the result,
    and how far the two agree."""
    primary, alternative = comparison.primary, comparison.alternative
    if not isinstance(alternative, LookupResult):
        return {"error": alternative}
    language = request_language(request, primary.database.languages)
    figures = agreement(comparison)
    if figures.distance_km is None:
        distance = None
    elif figures.within_accuracy is None:
        distance = f"{figures.distance_km:g} km apart (neither gives an accuracy radius)"
    else:
        side = "within" if figures.within_accuracy else "beyond"
        distance = f"{figures.distance_km:g} km apart, {side} their accuracy radii"
    newer = {
        PRIMARY: primary.database.edition,
        ALTERNATIVE: alternative.database.edition,
        SAME: "neither: both were built at the same moment",
    }
    return {
        "body": result_as_dict(alternative, language=language),
        "result": alternative,
        "same_country": _yes_no(figures.same_country),
        "same_city": _yes_no(figures.same_city),
        "distance": distance,
        "newer": newer[figures.newer],
    }
