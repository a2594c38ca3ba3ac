-- The lookup copy of tz_world: every polygon cut by ST_Subdivide into pieces of at most 256
-- vertices, so that a point-in-polygon test reads one small piece instead of a whole country's
-- outline. `manage.py load_tz_world` builds it beside tz_world and marks it (COMMENT ON TABLE)
-- with the tz_world it was cut from; timezone_at uses it only while that mark matches, and
-- falls back to tz_world otherwise. Idempotent.
CREATE TABLE IF NOT EXISTS tz_world_subdivided (
    id serial PRIMARY KEY,
    gid integer NOT NULL,  -- the tz_world row the piece was cut from
    tzid varchar(30) NOT NULL,
    geom geometry(Polygon, 4326) NOT NULL
);
CREATE INDEX IF NOT EXISTS tz_world_subdivided_geom_idx ON tz_world_subdivided USING gist (geom);
