-- Plain PostgreSQL stand-in for the TimescaleDB part: a BRIN index for time
-- range scans (fixes arrive roughly in time order, so BRIN stays small), and
-- fixes_hourly as an ordinary view with the same columns as the continuous
-- aggregate. Retention is a periodic DELETE run by `sweepwatch serve`.
CREATE INDEX fixes_ts_brin ON fixes USING brin (ts);

CREATE VIEW fixes_hourly AS
SELECT device_id,
       date_trunc('hour', ts)               AS hour,
       count(*)                             AS fixes,
       sum(dist_m)                          AS distance_m,
       sum(CASE WHEN work THEN dt_s END)    AS working_s
FROM fixes
GROUP BY device_id, date_trunc('hour', ts);
