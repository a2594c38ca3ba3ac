"""One line of plain text for curl and scripts (`curl host/country`), as echoip answers: which
fields there are, and how a LookupResult or an error becomes that line.

The views (lookups.web.plain_text) look the address up through the one pipeline; this module only
renders its answer, as api_body does for JSON.
"""

from collections.abc import Callable

from lookups.core.answer import LookupResult
from lookups.errors import FIELD_NOT_FOUND_MESSAGE, FieldNotFound


def _coordinates(result: LookupResult, language: str) -> str | None:
    if result.latitude is None or result.longitude is None:
        return None
    return f"{result.latitude},{result.longitude}"


def _asn(result: LookupResult, language: str) -> str | None:
    number = result.autonomous_system_number
    return None if number is None else f"AS{number}"


def _country(result: LookupResult, language: str) -> str | None:
    return result.country.name(language) if result.country else None


def _country_code(result: LookupResult, language: str) -> str | None:
    return result.country.code if result.country else None


def _city(result: LookupResult, language: str) -> str | None:
    return result.city.name(language) if result.city else None


def _region(result: LookupResult, language: str) -> str | None:
    """The largest subdivision (England, Bavaria), as ipinfo's `region`."""
    return result.subdivisions[0].name(language) if result.subdivisions else None


# Path (without its slash) -> (what it is, for messages and docs; how it is read from a result).
FIELDS: dict[str, tuple[str, Callable[[LookupResult, str], str | None]]] = {
    "country": ("country", _country),
    "country-iso": ("country code", _country_code),
    "city": ("city", _city),
    "region": ("region", _region),
    "coordinates": ("coordinates", _coordinates),
    "timezone": ("time zone", lambda result, language: result.time_zone),
    "asn": ("AS number", _asn),
    "asn-org": ("AS organisation", lambda result, language: result.autonomous_system_organization),
}


def field_line(result: LookupResult, field: str, *, language: str) -> str:
    """The line `/<field>` answers for `result`. Raises FieldNotFound when the record has no such
    value (a country-level record has no city): a 404, as an address the database lacks."""
    label, read = FIELDS[field]
    value = read(result, language)
    if value is None or value == "":
        raise FieldNotFound(FIELD_NOT_FOUND_MESSAGE.format(field=label, address=result.ip_address))
    return line(str(value))


def line(text: str) -> str:
    """One line: whatever the text holds (a query echoed in a message), no line break inside it."""
    return " ".join(text.splitlines()) + "\n"
