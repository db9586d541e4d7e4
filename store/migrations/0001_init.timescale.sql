-- TimescaleDB: fixes as a hypertable, compressed by device, with an hourly
-- continuous aggregate. The retention policy is set from configuration at
-- every migrate (see store::migrate), not here.
CREATE EXTENSION IF NOT EXISTS timescaledb;
SELECT create_hypertable('fixes', 'ts', chunk_time_interval => INTERVAL '1 day', migrate_data => true);
ALTER TABLE fixes SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'device_id',
    timescaledb.compress_orderby = 'ts DESC'
);
SELECT add_compression_policy('fixes', INTERVAL '7 days', if_not_exists => true);

CREATE MATERIALIZED VIEW fixes_hourly WITH (timescaledb.continuous) AS
SELECT device_id,
       time_bucket(INTERVAL '1 hour', ts)   AS hour,
       count(*)                             AS fixes,
       sum(dist_m)                          AS distance_m,
       sum(CASE WHEN work THEN dt_s END)    AS working_s
FROM fixes
GROUP BY device_id, time_bucket(INTERVAL '1 hour', ts)
WITH NO DATA;
SELECT add_continuous_aggregate_policy('fixes_hourly',
    start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '30 minutes');
