"""Two City builds whose differences the tests know exactly (lookups.updater.build_diff)."""

from mmdb_writer import MmdbF64

from lookups.tests.geoip_data import (
    AT_SEA_NO_TZ,
    BERLIN,
    COUNTRY_ONLY,
    LINKOPING_NO_TZ,
    LONDON,
    NETWORKS,
    REGISTERED_ONLY,
)

LONDINIUM = {**LONDON, "city": {"names": {"en": "Londinium"}}}
INDIA = {
    "continent": {"code": "AS", "names": {"en": "Asia"}},
    "country": {"iso_code": "IN", "names": {"en": "India"}},
}
# 222 km north of London, well beyond its 10 km radius.
LONDON_MOVED = {**LONDON, "location": {**LONDON["location"], "latitude": MmdbF64(53.5142)}}
# Other postal code: not a field the diff reports, so "retouched".
BERLIN_OTHER_POSTCODE = {**BERLIN, "postal": {"code": "10117"}}
# 5 degrees of latitude (about 556 km) within its 1,000 km radius: retouched, not moved.
AT_SEA_NEARBY = {**AT_SEA_NO_TZ, "location": {**AT_SEA_NO_TZ["location"], "latitude": MmdbF64(35.0)}}

OLD_BUILD = {
    **NETWORKS,
    "5.0.0.0/16": BERLIN,
    "3.3.3.0/24": LONDON,
    "6.0.0.0/23": LONDON,
}
NEW_BUILD = {
    "81.2.69.0/24": LONDINIUM,  # city changed
    "2a02:ec80::/29": BERLIN_OTHER_POSTCODE,  # retouched
    # 89.160.20.0/24 (Linköping) removed
    "2001:480::/32": AT_SEA_NEARBY,  # retouched
    "67.43.156.0/24": INDIA,  # country changed: Bhutan to India
    "1.1.1.0/24": REGISTERED_ONLY,  # the same
    "2.2.2.0/24": LONDON,  # added
    # The old /16 split: its first /24 now London, its second still Berlin, the rest gone.
    "5.0.0.0/24": LONDON,
    "5.0.1.0/24": BERLIN,
    "3.3.3.0/24": LONDON_MOVED,  # coordinates beyond the radius
    # The old /23 as two /24s with the same data: no change.
    "6.0.0.0/24": LONDON,
    "6.0.1.0/24": LONDON,
}
assert NETWORKS["89.160.20.0/24"] is LINKOPING_NO_TZ
assert NETWORKS["67.43.156.0/24"] is COUNTRY_ONLY

# 5.0.2.0 - 5.0.255.255 is /23 + /22 + /21 + /20 + /19 + /18 + /17.
REMOVED_REST_OF_SLASH_16 = 7
EXPECTED = {
    "networks_added": 1,
    "networks_removed": 1 + REMOVED_REST_OF_SLASH_16,
    "networks_changed": 4,
    "networks_retouched": 2,
    "fields": {"country": 2, "subdivision": 1, "city": 2, "coordinates": 2, "time_zone": 1, "asn": 0},
    "by_country": [
        {"from": "DE", "to": None, "networks": 7},
        {"from": "GB", "to": "GB", "networks": 2},
        {"from": None, "to": "GB", "networks": 1},
        {"from": "BT", "to": "IN", "networks": 1},
        {"from": "DE", "to": "GB", "networks": 1},
        {"from": "SE", "to": None, "networks": 1},
    ],
}
