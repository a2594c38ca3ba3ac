-- The tz_world table, as `shp2pgsql -I -s 4326 tz_world.shp tz_world` makes it from efele's
-- tz_world shapefile: a serial key, the IANA zone name and a MultiPolygon in WGS 84, with a
-- GiST index. A database prepared that way works unchanged. Idempotent.
CREATE TABLE IF NOT EXISTS tz_world (
    gid serial PRIMARY KEY,
    tzid varchar(30),
    geom geometry(MultiPolygon, 4326)
);
CREATE INDEX IF NOT EXISTS tz_world_geom_idx ON tz_world USING gist (geom);
