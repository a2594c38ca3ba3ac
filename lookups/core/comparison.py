"""Two City databases' answers for one query side by side, and how far they agree.

lookups.core.pipeline.compare and compare_batch look a query up in both (GEOIP_CITY and
GEOIP_CITY_ALTERNATIVE); the functions here only compare the two answers: plain data in and out.
"""

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from lookups.core.answer import LookupResult
from lookups.errors import LookupFailed

EARTH_RADIUS_KM = 6371.0088  # the mean radius (IUGG), as geopy's great-circle distance uses

PRIMARY = "primary"
ALTERNATIVE = "alternative"
SAME = "same"


@dataclass(frozen=True, slots=True)
class Comparison:
    """A query's answer from each database: a result, or the error that database gave."""

    primary: LookupResult | LookupFailed
    alternative: LookupResult | LookupFailed


@dataclass(frozen=True, slots=True)
class Agreement:
    """None wherever one of the two answers lacks what is compared."""

    same_country: bool | None
    same_city: bool | None
    distance_km: float | None
    # Whether the distance is at most the two accuracy radii together (their circles meet).
    within_accuracy: bool | None
    newer: str | None  # PRIMARY, ALTERNATIVE or SAME: whose database was built later


@dataclass(frozen=True, slots=True)
class BatchAgreement:
    compared: int  # entries both databases answered
    countries_agreeing_percent: float | None  # of those where both name a country
    cities_agreeing_percent: float | None  # of those where both name a city
    median_distance_km: float | None  # of those where both give coordinates


def haversine_km(latitude_a: float, longitude_a: float, latitude_b: float, longitude_b: float) -> float:
    """The great-circle distance between two points, in km."""
    phi_a, phi_b = math.radians(latitude_a), math.radians(latitude_b)
    d_phi = phi_b - phi_a
    d_lambda = math.radians(longitude_b - longitude_a)
    h = math.sin(d_phi / 2) ** 2 + math.cos(phi_a) * math.cos(phi_b) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _same_city(a: LookupResult, b: LookupResult) -> bool | None:
    city_a, city_b = a.city, b.city
    if city_a is None or city_b is None:
        return None
    if city_a.geoname_id is not None and city_b.geoname_id is not None:
        return city_a.geoname_id == city_b.geoname_id
    # DB-IP's Lite records carry no GeoNames ID for cities: their English names then.
    name_a, name_b = city_a.name("en"), city_b.name("en")
    if not name_a or not name_b:
        return None
    return name_a.casefold() == name_b.casefold()


def _same_country(a: LookupResult, b: LookupResult) -> bool | None:
    code_a, code_b = a.country and a.country.code, b.country and b.country.code
    if not code_a or not code_b:
        return None
    return code_a.upper() == code_b.upper()


def agreement(comparison: Comparison) -> Agreement:
    a, b = comparison.primary, comparison.alternative
    if not isinstance(a, LookupResult) or not isinstance(b, LookupResult):
        return Agreement(None, None, None, None, None)
    built_a, built_b = a.database.build_date, b.database.build_date
    newer = PRIMARY if built_a > built_b else ALTERNATIVE if built_b > built_a else SAME
    distance = within = None
    if None not in (a.latitude, a.longitude, b.latitude, b.longitude):
        distance = round(haversine_km(a.latitude, a.longitude, b.latitude, b.longitude), 1)
        radii = [radius for radius in (a.accuracy_radius, b.accuracy_radius) if radius is not None]
        within = distance <= sum(radii) if radii else None
    return Agreement(_same_country(a, b), _same_city(a, b), distance, within, newer)


def _percent(values: list[bool]) -> float | None:
    return round(100 * sum(values) / len(values), 1) if values else None


def batch_agreement(comparisons: Iterable[Comparison]) -> BatchAgreement:
    """The agreement of a whole batch (each distinct comparison counted as often as given)."""
    agreements = [
        agreement(c)
        for c in comparisons
        if isinstance(c.primary, LookupResult) and isinstance(c.alternative, LookupResult)
    ]
    distances = [a.distance_km for a in agreements if a.distance_km is not None]
    return BatchAgreement(
        compared=len(agreements),
        countries_agreeing_percent=_percent(
            [a.same_country for a in agreements if a.same_country is not None]
        ),
        cities_agreeing_percent=_percent([a.same_city for a in agreements if a.same_city is not None]),
        median_distance_km=round(statistics.median(distances), 1) if distances else None,
    )
