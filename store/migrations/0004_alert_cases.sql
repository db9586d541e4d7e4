-- sweepwatch schema, version 4: alerts a dispatcher can trust (issue 13).
-- Two new kinds: work_off_route (a vehicle working outside its assigned
-- areas) and coverage_at_risk (a route behind with little of its shift left:
-- an alert about a route, so it has no device). A condition recurring on a
-- device soon after it cleared re-opens that case instead of opening another;
-- reopen_count says how often.
ALTER TABLE alerts DROP CONSTRAINT alerts_kind_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_kind_check CHECK (kind IN
    ('idle', 'off_area', 'offline', 'late_start', 'speeding_at_work', 'off_shift_work', 'sos',
     'work_off_route', 'coverage_at_risk'));
ALTER TABLE alerts ALTER COLUMN device_id DROP NOT NULL;
ALTER TABLE alerts ADD CONSTRAINT alerts_subject_check
    CHECK ((kind = 'coverage_at_risk') = (device_id IS NULL));
ALTER TABLE alerts ADD COLUMN reopen_count integer NOT NULL DEFAULT 0;
-- coverage_at_risk: the route's covered share when raised (and when cleared).
ALTER TABLE alerts ADD COLUMN covered_fraction double precision;
-- Raised at most once per route and shift instance.
CREATE UNIQUE INDEX alerts_route_instance ON alerts (org, area_id, shift_id, shift_date)
    WHERE kind = 'coverage_at_risk';
