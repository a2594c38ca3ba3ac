-- tz_world_zone_at(longitude, latitude, subdivided, nearest_metres, uninhabited): the zone at a
-- point, as timezones/selectors.py documents it, in one round trip:
--   1. the zone of the lowest gid whose polygon holds the point (tz_world_subdivided when
--      `subdivided`, else tz_world);
--   2. else the nearest zone within `nearest_metres`, measured on the sphere (lowest gid on a tie);
--   3. else NULL.
-- Zones named `uninhabited` (efele's tz_world) are never an answer.
--
-- Why a function: PL/pgSQL keeps each query's plan for the session, so a lookup is not planned
-- again (planning a PostGIS query costs more than running it: 0.12 of 0.2 ms). The generic
-- plan is forced because PostgreSQL would otherwise keep planning it for each point (the generic
-- estimate looks worse than a custom one, though it is the same index scan); the setting
-- applies inside this function only. A plan follows the tables when the loader replaces them.
--
-- Created by migration timezones 0002. CREATE OR REPLACE: change this file only together with a
-- new migration that runs it again.
CREATE OR REPLACE FUNCTION tz_world_zone_at(
    longitude float8, latitude float8, subdivided boolean, nearest_metres float8, uninhabited text
) RETURNS text
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    point geometry := ST_SetSRID(ST_MakePoint(longitude, latitude), 4326);
    -- The bounding box the nearest zone must touch: dy degrees of latitude (the shortest
    -- degree, at the equator, so never too few), and the degrees of longitude that a circle of
    -- that radius spans at this latitude; all of them when it reaches a pole, since the nearest
    -- zone may then lie across it.
    dy float8 := nearest_metres / 110574.0;
    spread float8 := sin(radians(dy)) / cos(radians(latitude));
    dx float8 := CASE WHEN abs(latitude) + dy < 90.0 AND spread < 1.0
                      THEN degrees(asin(spread)) ELSE 180.0 END;
    zone text;
BEGIN
    IF subdivided THEN
        SELECT tzid INTO zone FROM tz_world_subdivided
        WHERE ST_Intersects(geom, point) AND tzid <> uninhabited ORDER BY gid LIMIT 1;
    ELSE
        SELECT tzid INTO zone FROM tz_world
        WHERE ST_Intersects(geom, point) AND tzid <> uninhabited ORDER BY gid LIMIT 1;
    END IF;
    IF FOUND THEN
        RETURN zone;
    END IF;
    -- The bounding-box test uses the GiST index; the distance itself is measured on the sphere.
    IF subdivided THEN
        SELECT tzid INTO zone FROM tz_world_subdivided
        WHERE geom && ST_Expand(point, dx, dy) AND tzid <> uninhabited
          AND ST_DWithin(geom::geography, point::geography, nearest_metres)
        ORDER BY ST_Distance(geom::geography, point::geography), gid LIMIT 1;
    ELSE
        SELECT tzid INTO zone FROM tz_world
        WHERE geom && ST_Expand(point, dx, dy) AND tzid <> uninhabited
          AND ST_DWithin(geom::geography, point::geography, nearest_metres)
        ORDER BY ST_Distance(geom::geography, point::geography), gid LIMIT 1;
    END IF;
    RETURN zone;
END
$$;
