"""Template context every page needs: the installed database and its required attribution."""

from lookups.core.geoip import attribution_for, city_reader
from lookups.errors import DatabaseUnavailable


def data_source(request):
    try:
        info = city_reader().info()
    except DatabaseUnavailable:
        return {"geoip_database": None, "geoip_attribution": None}
    return {"geoip_database": info, "geoip_attribution": attribution_for(info.edition)}
