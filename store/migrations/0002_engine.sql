-- sweepwatch schema, version 2: what the dispatch centre acts on.
-- Org configuration (imported scenarios, edited through the API), alerts as
-- cases with their transitions, coverage per route and shift instance, daily
-- summaries per device, and the engine's checkpoints for restarts.

CREATE TABLE orgs (
    id         text PRIMARY KEY,
    name       text        NOT NULL,
    timezone   text        NOT NULL DEFAULT 'Asia/Shanghai',
    rules      jsonb       NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE areas (
    org      text  NOT NULL REFERENCES orgs ON DELETE CASCADE,
    id       text  NOT NULL,
    name     text  NOT NULL,
    kind     text  NOT NULL,   -- route, beat, park, transfer_station, rest_zone, zone
    district text,
    grid     text,
    chief    text,
    feature  jsonb NOT NULL,   -- the GeoJSON Feature, as imported
    PRIMARY KEY (org, id)
);

CREATE TABLE shifts (
    org        text  NOT NULL REFERENCES orgs ON DELETE CASCADE,
    id         text  NOT NULL,
    name       text  NOT NULL,
    definition jsonb NOT NULL, -- the scenario file's shift object
    PRIMARY KEY (org, id)
);

CREATE TABLE assignments (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org        text        NOT NULL,
    device_id  integer     NOT NULL REFERENCES devices ON DELETE CASCADE,
    area_id    text        NOT NULL,
    shift_id   text        NOT NULL,
    valid_from timestamptz NOT NULL,
    valid_to   timestamptz,
    FOREIGN KEY (org, area_id) REFERENCES areas ON DELETE CASCADE,
    FOREIGN KEY (org, shift_id) REFERENCES shifts ON DELETE CASCADE,
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);
CREATE INDEX assignments_device ON assignments (device_id);

-- An alert is a case: open -> acknowledged -> resolved. The engine opens it and
-- resolves it when the condition clears; operators acknowledge and resolve.
CREATE TABLE alerts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org             text             NOT NULL,
    device_id       integer          NOT NULL,
    kind            text             NOT NULL CHECK (kind IN
                    ('idle', 'off_area', 'offline', 'late_start', 'speeding_at_work', 'off_shift_work', 'sos')),
    state           text             NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
    opened_at       timestamptz      NOT NULL,
    lat             double precision NOT NULL,
    lon             double precision NOT NULL,
    area_id         text,
    district        text,
    grid            text,
    chief           text,
    shift_id        text,
    shift_date      date,
    message         text             NOT NULL,
    cleared_at      timestamptz,     -- when the engine saw the condition end
    acknowledged_at timestamptz,
    acknowledged_by text,
    resolved_at     timestamptz,
    resolved_by     text,
    resolution_note text,
    created_at      timestamptz      NOT NULL DEFAULT now()  -- wall clock, for "unacknowledged for N min"
);
-- At most one unresolved alert of a kind per device: an engine replaying after a
-- restart cannot open it twice.
CREATE UNIQUE INDEX alerts_one_active ON alerts (device_id, kind) WHERE state <> 'resolved';
CREATE INDEX alerts_opened_at ON alerts (opened_at DESC, id DESC);
CREATE INDEX alerts_state ON alerts (state) WHERE state <> 'resolved';

CREATE TABLE alert_transitions (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id bigint      NOT NULL REFERENCES alerts ON DELETE CASCADE,
    state    text        NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
    at       timestamptz NOT NULL,
    actor    text        NOT NULL,  -- 'engine' or the operator
    note     text
);
CREATE INDEX alert_transitions_alert ON alert_transitions (alert_id);

-- Coverage of a route in a shift instance, rewritten as passes arrive.
CREATE TABLE coverage (
    org         text             NOT NULL,
    route_id    text             NOT NULL,
    shift_id    text             NOT NULL,
    shift_date  date             NOT NULL,  -- local date the instance started on
    total_m     double precision NOT NULL,
    covered_m   double precision NOT NULL,
    complete_m  double precision NOT NULL,
    fraction    double precision NOT NULL,
    report      jsonb            NOT NULL,  -- geofence::CoverageReport
    updated_at  timestamptz      NOT NULL,
    PRIMARY KEY (org, route_id, shift_id, shift_date)
);

CREATE TABLE device_daily (
    device_id      integer          NOT NULL,
    date           date             NOT NULL,  -- local date in the org's time zone
    distance_m     double precision NOT NULL,
    working_s      double precision NOT NULL,
    transit_s      double precision NOT NULL,
    idle_s         double precision NOT NULL,
    deadhead_ratio double precision,
    PRIMARY KEY (device_id, date)
);

-- The engine's state, checkpointed every few seconds. On restart the engine
-- loads it and replays the fixes received after `received_upto`. Snapshots are
-- compact binary (postcard, first byte = encoding version): they are written
-- for thousands of devices at a time and read only by sweepwatch.
CREATE TABLE engine_checkpoints (
    org           text PRIMARY KEY,
    received_upto timestamptz NOT NULL,
    watermark     timestamptz,
    taken_at      timestamptz NOT NULL
);
CREATE TABLE device_state (
    device_id  integer PRIMARY KEY,
    snapshot   bytea       NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE TABLE coverage_state (
    org        text  NOT NULL,
    route_id   text  NOT NULL,
    shift_id   text  NOT NULL,
    shift_date date  NOT NULL,
    snapshot   bytea NOT NULL,
    PRIMARY KEY (org, route_id, shift_id, shift_date)
);

-- Replay after a restart reads fixes by arrival. received_at only grows, so a
-- BRIN index finds the tail for almost nothing on the insert path.
CREATE INDEX fixes_received_at_brin ON fixes USING brin (received_at);
