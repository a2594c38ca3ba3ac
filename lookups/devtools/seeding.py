"""Made-up but realistic lookup history, for trying the admin and the history API at volume.

Rows look like real traffic: a few dozen cities over every continent (some answered by the
tz_world polygons, as DB-IP's databases are), country-only records, a long tail of queries where
a few are asked again and again, the three channels, the usual failures, busier days and hours.
Requesters are drawn from the documentation networks (192.0.2.0/24, 198.51.100.0/24,
203.0.113.0/24, 2001:db8::/32), so seeded rows can be told from real ones.
"""

import collections
import datetime as dt
import ipaddress
import itertools
import random
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from lookups.history.encoding import encode_row
from lookups.history.postgres import store_lines
from lookups.history.rows import new_row
from lookups.models import OUTCOME_OK, Channel, TimeZoneSource


@dataclass(frozen=True)
class Place:
    continent: str
    country_code: str
    country_name: str
    subdivision_code: str
    subdivision_name: str
    city: str
    postal_code: str
    latitude: float
    longitude: float
    time_zone: str
    weight: int


# continent|country|name|subdivision|name|city|postal code|latitude|longitude|time zone|weight
PLACES_TABLE = """
NA|US|United States|CA|California|Mountain View|94043|37.4223|-122.085|America/Los_Angeles|120
NA|US|United States|VA|Virginia|Ashburn|20149|39.0438|-77.4874|America/New_York|110
NA|US|United States|NY|New York|New York|10001|40.7128|-74.006|America/New_York|70
NA|US|United States|TX|Texas|Dallas|75201|32.7767|-96.797|America/Chicago|40
NA|US|United States|WA|Washington|Seattle|98101|47.6062|-122.3321|America/Los_Angeles|35
NA|CA|Canada|ON|Ontario|Toronto|M5H|43.6532|-79.3832|America/Toronto|30
NA|CA|Canada|QC|Quebec|Montreal|H2Y|45.5017|-73.5673|America/Toronto|12
NA|MX|Mexico|CMX|Mexico City|Mexico City|06000|19.4326|-99.1332|America/Mexico_City|15
EU|DE|Germany|HE|Hesse|Frankfurt am Main|60313|50.1109|8.6821|Europe/Berlin|60
EU|DE|Germany|BE|Land Berlin|Berlin|10115|52.52|13.405|Europe/Berlin|35
EU|GB|United Kingdom|ENG|England|London|EC2V|51.5142|-0.0931|Europe/London|55
EU|GB|United Kingdom|SCT|Scotland|Edinburgh|EH1|55.9533|-3.1883|Europe/London|8
EU|FR|France|IDF|Île-de-France|Paris|75001|48.8566|2.3522|Europe/Paris|40
EU|NL|Netherlands|NH|North Holland|Amsterdam|1012|52.3676|4.9041|Europe/Amsterdam|35
EU|SE|Sweden|E|Östergötland County|Linköping|582 22|58.4108|15.6214|Europe/Stockholm|6
EU|SE|Sweden|AB|Stockholm County|Stockholm|111 22|59.3293|18.0686|Europe/Stockholm|14
EU|PL|Poland|14|Mazovia|Warsaw|00-001|52.2297|21.0122|Europe/Warsaw|14
EU|ES|Spain|MD|Madrid|Madrid|28001|40.4168|-3.7038|Europe/Madrid|16
EU|IT|Italy|25|Lombardy|Milan|20121|45.4642|9.19|Europe/Rome|14
EU|IE|Ireland|L|Leinster|Dublin|D02|53.3498|-6.2603|Europe/Dublin|18
EU|RU|Russia|MOW|Moscow|Moscow|101000|55.7558|37.6173|Europe/Moscow|25
EU|UA|Ukraine|30|Kyiv City|Kyiv|01001|50.4501|30.5234|Europe/Kyiv|8
EU|CH|Switzerland|ZH|Zurich|Zurich|8001|47.3769|8.5417|Europe/Zurich|9
AS|JP|Japan|13|Tokyo|Tokyo|100-0001|35.6762|139.6503|Asia/Tokyo|45
AS|CN|China|BJ|Beijing|Beijing|100000|39.9042|116.4074|Asia/Shanghai|50
AS|CN|China|GD|Guangdong|Shenzhen|518000|22.5431|114.0579|Asia/Shanghai|25
AS|SG|Singapore|||Singapore|018956|1.2897|103.8501|Asia/Singapore|30
AS|IN|India|MH|Maharashtra|Mumbai|400001|19.076|72.8777|Asia/Kolkata|30
AS|IN|India|KA|Karnataka|Bengaluru|560001|12.9716|77.5946|Asia/Kolkata|22
AS|KR|South Korea|11|Seoul|Seoul|04524|37.5665|126.978|Asia/Seoul|20
AS|HK|Hong Kong|||Hong Kong||22.3193|114.1694|Asia/Hong_Kong|15
AS|VN|Vietnam|SG|Ho Chi Minh|Ho Chi Minh City|700000|10.8231|106.6297|Asia/Ho_Chi_Minh|10
AS|ID|Indonesia|JK|Jakarta|Jakarta|10110|-6.2088|106.8456|Asia/Jakarta|12
AS|TR|Türkiye|34|Istanbul|Istanbul|34000|41.0082|28.9784|Europe/Istanbul|12
AS|IL|Israel|TA|Tel Aviv|Tel Aviv|61000|32.0853|34.7818|Asia/Jerusalem|6
OC|AU|Australia|NSW|New South Wales|Sydney|2000|-33.8688|151.2093|Australia/Sydney|20
OC|NZ|New Zealand|AUK|Auckland|Auckland|1010|-36.8485|174.7633|Pacific/Auckland|5
SA|BR|Brazil|SP|São Paulo|São Paulo|01000-000|-23.5505|-46.6333|America/Sao_Paulo|30
SA|AR|Argentina|C|Buenos Aires|Buenos Aires|C1000|-34.6037|-58.3816|America/Argentina/Buenos_Aires|10
SA|CL|Chile|RM|Santiago Metropolitan|Santiago|8320000|-33.4489|-70.6693|America/Santiago|6
SA|CO|Colombia|DC|Bogota D.C.|Bogotá|110111|4.711|-74.0721|America/Bogota|7
AF|ZA|South Africa|GP|Gauteng|Johannesburg|2000|-26.2041|28.0473|Africa/Johannesburg|8
AF|NG|Nigeria|LA|Lagos|Lagos|100001|6.5244|3.3792|Africa/Lagos|8
AF|EG|Egypt|C|Cairo|Cairo|11511|30.0444|31.2357|Africa/Cairo|6
AF|KE|Kenya|30|Nairobi|Nairobi|00100|-1.2921|36.8219|Africa/Nairobi|5
"""
# Records that name a country and nothing more (the country's centre, no city).
COUNTRY_ONLY_TABLE = """
NA|US|United States|||||37.751|-97.822|America/Chicago|25
EU|DE|Germany|||||51.2993|9.491|Europe/Berlin|8
AS|IR|Iran|||||32.0|53.0|Asia/Tehran|4
AF|MA|Morocco|||||32.0|-5.0|Africa/Casablanca|3
AS|PK|Pakistan|||||30.0|70.0|Asia/Karachi|5
AS|BD|Bangladesh|||||24.0|90.0|Asia/Dhaka|4
SA|PE|Peru|||||-12.0|-76.0|America/Lima|3
"""


def _places(table: str) -> list[Place]:
    places = []
    for line in table.strip().splitlines():
        *texts, latitude, longitude, time_zone, weight = line.split("|")
        places.append(Place(*texts, float(latitude), float(longitude), time_zone, int(weight)))
    return places


PLACES = _places(PLACES_TABLE)
COUNTRY_ONLY = _places(COUNTRY_ONLY_TABLE)

DOMAINS = [
    "google.com", "www.google.com", "example.com", "github.com", "api.github.com", "cloudflare.com",
    "wikipedia.org", "en.wikipedia.org", "amazon.com", "aws.amazon.com", "microsoft.com", "bing.com",
    "apple.com", "icloud.com", "facebook.com", "instagram.com", "whatsapp.net", "netflix.com",
    "youtube.com", "yahoo.co.jp", "baidu.com", "qq.com", "yandex.ru", "vk.com", "bbc.co.uk",
    "spiegel.de", "lemonde.fr", "nu.nl", "svt.se", "rakuten.co.jp", "naver.com", "mercadolibre.com.ar",
    "globo.com", "python.org", "pypi.org", "djangoproject.com", "postgresql.org", "debian.org",
    "kernel.org", "mozilla.org", "openstreetmap.org", "maxmind.com", "db-ip.com", "bücher.example",
    "mail.example.net", "vpn.example.org", "cdn.example.net",
]  # fmt: skip
FAILURE_QUERIES = {
    "invalid_query": ["localhost", "not a name", "8.8.8", "010.8.8.8", "http://example.com/", "?"],
    "address_not_public": ["10.0.0.1", "192.168.1.1", "127.0.0.1", "::1", "fd00::1", "172.16.0.10"],
    "name_not_resolved": ["nope.example.com", "typo.exmaple.com", "old-host.example.org"],
    "address_not_found": ["198.18.0.1", "100.200.1.1", "2001:db9::1"],
    "dns_unavailable": ["slow.example.net"],
}
OUTCOME_WEIGHTS = {
    OUTCOME_OK: 880,
    "invalid_query": 35,
    "address_not_public": 40,
    "name_not_resolved": 25,
    "address_not_found": 15,
    "dns_unavailable": 5,
}
CHANNEL_WEIGHTS = {Channel.API: 55, Channel.WEB: 30, Channel.BATCH: 15}
# Relative traffic by hour of day (UTC): quiet at night in Europe, busy in the afternoon.
HOUR_WEIGHTS = [3, 2, 2, 2, 2, 3, 4, 6, 8, 9, 10, 10, 10, 11, 11, 11, 10, 9, 8, 7, 6, 5, 4, 3]
REQUESTER_NETWORKS = ["192.0.2.0", "198.51.100.0", "203.0.113.0", "2001:db8:1::", "2001:db8:2::"]
# Made up (documentation networks have no country), so that the dashboard has requester countries.
REQUESTER_COUNTRIES = dict(zip(REQUESTER_NETWORKS, ["US", "DE", "GB", "FR", "JP"], strict=True))
# DB-IP databases carry no time zone: their share of answers comes from the tz_world polygons.
TZ_WORLD_SHARE = 0.15


def _cumulative(weights) -> list[int]:
    return list(itertools.accumulate(weights))


def _random_address(rng: random.Random, index: int) -> str:
    """A public-looking address that stays the same for a given place index."""
    if rng.random() < 0.2:
        return str(ipaddress.IPv6Address((0x2A00 << 112) | (index << 96) | rng.getrandbits(64)))
    first = (index * 7) % 200 + 11  # 11..210, skipping 10/8, 127/8
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


class HistoryFaker:
    """Draws Lookup rows. Deterministic for a given seed and `now`."""

    def __init__(self, *, seed: int | None = None, days: int = 90, now: dt.datetime | None = None):
        self.rng = random.Random(seed)  # noqa: S311 (made-up data, not security)
        self.days = days
        self.now = now or timezone.now()
        self.places = PLACES + COUNTRY_ONLY
        self.place_weights = _cumulative(place.weight for place in self.places)
        self.outcomes = list(OUTCOME_WEIGHTS)
        self.outcome_weights = _cumulative(OUTCOME_WEIGHTS.values())
        self.channels = [channel.value for channel in CHANNEL_WEIGHTS]
        self.channel_weights = _cumulative(CHANNEL_WEIGHTS.values())
        # A long tail of addresses asked about: a few popular ones, most asked once or twice.
        self.address_pool = [
            (_random_address(self.rng, place_index), place_index)
            for place_index in range(len(self.places))
            for _ in range(60)
        ]
        self.day_weights = _cumulative(
            # Traffic grows over the period (day 0 is today), weekends are quieter, and today
            # has only had its hours so far.
            (1.5 - 0.5 * day / days)
            * (0.6 if (self.now - dt.timedelta(days=day)).weekday() >= 5 else 1.0)
            * (self._elapsed_today() / 86400 if day == 0 else 1.0)
            for day in range(days)
        )
        self.hour_weights = _cumulative(HOUR_WEIGHTS)

    def _elapsed_today(self) -> float:
        midnight = self.now.replace(hour=0, minute=0, second=0, microsecond=0)
        return max((self.now - midnight).total_seconds(), 1.0)

    def _times(self, count: int) -> Iterator[dt.datetime]:
        """`count` moments over the period, oldest first, as real traffic is written."""
        rng = self.rng
        per_day = collections.Counter(rng.choices(range(self.days), cum_weights=self.day_weights, k=count))
        for day in range(self.days - 1, -1, -1):
            midnight = (self.now - dt.timedelta(days=day)).replace(hour=0, minute=0, second=0, microsecond=0)
            if day == 0:  # today: only the part of the day that has passed
                elapsed = (self.now - midnight).total_seconds()
                offsets = [rng.random() * elapsed for _ in range(per_day[day])]
            else:
                hours = rng.choices(range(24), cum_weights=self.hour_weights, k=per_day[day])
                offsets = [hour * 3600 + rng.random() * 3600 for hour in hours]
            for offset in sorted(offsets):
                yield midnight + dt.timedelta(seconds=offset)

    def _query_and_place(self) -> tuple[str, str, int]:
        """(query, address geolocated, place index) for a successful lookup."""
        rng = self.rng
        if rng.random() < 0.35:
            # Domains follow a steep popularity curve.
            domain = DOMAINS[min(int(rng.paretovariate(1.2)) - 1, len(DOMAINS) - 1)]
            # Mostly served from "its" place, sometimes from another (CDNs, anycast).
            place_index = zlib.crc32(domain.encode()) % len(PLACES)
            if rng.random() < 0.2:
                place_index = rng.randrange(len(PLACES))
            return domain, _random_address(rng, place_index), place_index
        if rng.random() < 0.5:
            address, place_index = self.address_pool[int(rng.paretovariate(0.9)) % len(self.address_pool)]
            return address, address, place_index
        place_index = rng.choices(range(len(self.places)), cum_weights=self.place_weights)[0]
        address = _random_address(rng, place_index)
        return address, address, place_index

    def row(self, created_at: dt.datetime) -> dict[str, Any]:
        """One lookup's column values; the location as (longitude, latitude)."""
        rng = self.rng
        outcome = rng.choices(self.outcomes, cum_weights=self.outcome_weights)[0]
        row = {
            **EMPTY_ROW,
            "created_at": created_at,
            "channel": rng.choices(self.channels, cum_weights=self.channel_weights)[0],
            "outcome": outcome,
            "requester": rng.choice(REQUESTER_NETWORKS),
        }
        row["requester_country"] = REQUESTER_COUNTRIES[row["requester"]]
        if outcome != OUTCOME_OK:
            row["query"] = rng.choice(FAILURE_QUERIES[outcome])
            return row
        query, address, place_index = self._query_and_place()
        place = self.places[place_index]
        ipv6 = ":" in address
        row.update(
            query=query,
            addresses=[address],
            ip_address=address,
            network=str(ipaddress.ip_network(f"{address}/{48 if ipv6 else 24}", strict=False)),
            continent_code=place.continent,
            country_code=place.country_code,
            country_name=place.country_name,
            subdivision_code=place.subdivision_code,
            subdivision_name=place.subdivision_name,
            city=place.city,
            postal_code=place.postal_code,
            database_edition="GeoLite2-City",
            database_build_date=(created_at - dt.timedelta(days=created_at.weekday() + 3)).replace(
                hour=12, minute=0, second=0, microsecond=0
            ),
        )
        jitter = 0.05 if place.city else 0.0
        row["location"] = (
            round(place.longitude + rng.uniform(-jitter, jitter), 4),
            round(place.latitude + rng.uniform(-jitter, jitter), 4),
        )
        row["accuracy_radius"] = rng.choice((5, 10, 20, 50, 100)) if place.city else 1000
        if place.time_zone:
            from_polygons = rng.random() < TZ_WORLD_SHARE
            row["time_zone"] = place.time_zone
            row["time_zone_source"] = TimeZoneSource.MAXMIND.value
            if from_polygons:
                row["time_zone_source"] = TimeZoneSource.TZ_WORLD.value
                row["database_edition"] = "DBIP-City-Lite"
        return row

    def rows(self, count: int) -> Iterator[dict[str, Any]]:
        """`count` rows, oldest first (ids grow with time, as in a real history)."""
        for created_at in self._times(count):
            yield self.row(created_at)


EMPTY_ROW: dict[str, Any] = {
    "addresses": [],
    "ip_address": None,
    "network": "",
    "continent_code": "",
    "country_code": "",
    "country_name": "",
    "subdivision_code": "",
    "subdivision_name": "",
    "city": "",
    "postal_code": "",
    "location": None,
    "accuracy_radius": None,
    "time_zone": "",
    "time_zone_source": "",
    "database_edition": "",
    "database_build_date": None,
}


def seed_history(
    count: int,
    *,
    days: int = 90,
    batch_size: int = 5000,
    seed: int | None = None,
    now: dt.datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Insert `count` made-up lookups spread over the last `days` days; returns how many.

    Rows go in as the history writer's own rows do (one COPY line each, lookups.history), by
    `batch_size`: a million rows take minutes rather than the better part of an hour that
    building model instances for bulk_create costs.
    """
    faker = HistoryFaker(seed=seed, days=days, now=now)
    written = 0
    rows = faker.rows(count)
    while batch := list(itertools.islice(rows, batch_size)):
        store_lines(b"".join(encode_row(new_row(**row)) for row in batch))
        written += len(batch)
        if progress:
            progress(written)
    return written
