-- sweepwatch schema, version 3: what the HTTP API adds.
-- Stretches of a route an operator marked as justifiably missed (parked cars,
-- road works), per shift instance, with a note. Reported apart from missed.
CREATE TABLE coverage_justifications (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org        text             NOT NULL,
    route_id   text             NOT NULL,
    shift_id   text             NOT NULL,
    shift_date date             NOT NULL,
    from_m     double precision NOT NULL,
    to_m       double precision NOT NULL,
    note       text             NOT NULL,
    actor      text             NOT NULL,
    created_at timestamptz      NOT NULL DEFAULT now(),
    CHECK (from_m >= 0 AND to_m > from_m)
);
CREATE INDEX coverage_justifications_instance
    ON coverage_justifications (org, route_id, shift_id, shift_date);

-- Alert list filters (the newest-first index is alerts_opened_at).
CREATE INDEX alerts_device_opened ON alerts (device_id, opened_at DESC);
CREATE INDEX alerts_shift_date ON alerts (shift_date);
