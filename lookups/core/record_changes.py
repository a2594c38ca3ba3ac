"""What changed between two GeoIP records of one address: the fields operators and users ask about.

Shared by the build diff (lookups.updater.build_diff) and the timeline (lookups.core.timeline), so
both call the same thing a change. Records are the raw dicts maxminddb returns (City or ASN).
"""

import math

COUNTRY = "country"
SUBDIVISION = "subdivision"
CITY = "city"
COORDINATES = "coordinates"
TIME_ZONE = "time_zone"
ASN = "asn"
# In this order in every answer.
FIELDS = (COUNTRY, SUBDIVISION, CITY, COORDINATES, TIME_ZONE, ASN)

EARTH_RADIUS_KM = 6371.0088


def country_of(record: dict | None) -> str | None:
    if not record:
        return None
    return (record.get("country") or {}).get("iso_code")


def _subdivisions(record: dict) -> tuple:
    subdivisions = record.get("subdivisions") or ()
    return tuple(s.get("iso_code") or (s.get("names") or {}).get("en") for s in subdivisions)


def _city(record: dict):
    city = record.get("city") or {}
    return city.get("geoname_id") or (city.get("names") or {}).get("en")


def _location(record: dict) -> dict:
    return record.get("location") or {}


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _coordinates_moved(old: dict, new: dict) -> bool:
    """Moved farther than either record's accuracy radius: a move within it is the same answer."""
    before, after = _location(old), _location(new)
    points = [(loc.get("latitude"), loc.get("longitude")) for loc in (before, after)]
    known = [None not in point for point in points]
    if not any(known):
        return False
    if not all(known):
        return True  # coordinates appeared or went
    radius = max(before.get("accuracy_radius") or 0, after.get("accuracy_radius") or 0)
    return distance_km(*points[0], *points[1]) > radius


def changed_fields(old: dict, new: dict) -> tuple[str, ...]:
    """The FIELDS in which `new` differs from `old` (both records of one address); () when none do."""
    if old == new:
        return ()
    changed = []
    if country_of(old) != country_of(new):
        changed.append(COUNTRY)
    if _subdivisions(old) != _subdivisions(new):
        changed.append(SUBDIVISION)
    if _city(old) != _city(new):
        changed.append(CITY)
    if _coordinates_moved(old, new):
        changed.append(COORDINATES)
    if _location(old).get("time_zone") != _location(new).get("time_zone"):
        changed.append(TIME_ZONE)
    if old.get("autonomous_system_number") != new.get("autonomous_system_number"):
        changed.append(ASN)
    return tuple(changed)


def place_name(record: dict | None, language: str = "en") -> str:
    """ "London, United Kingdom": the city and country a person would say, "" when neither is known."""
    if not record:
        return ""
    names = []
    for key in ("city", "country"):
        part = (record.get(key) or {}).get("names") or {}
        name = part.get(language) or part.get("en")
        if name:
            names.append(name)
    return ", ".join(names)
