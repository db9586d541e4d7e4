-- sweepwatch schema, version 1: devices, fixes, rejected messages.
-- Runs on plain PostgreSQL (>= 15). TimescaleDB-only parts live in the
-- *.timescale.sql file of the same version; the *.plain.sql file is the
-- stand-in used when the extension is not there.

CREATE TABLE devices (
    id           integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org          text        NOT NULL,
    name         text        NOT NULL,               -- the {device} segment of its topics
    kind         text        NOT NULL DEFAULT 'unknown'
                 CHECK (kind IN ('sweeper', 'washer', 'collector', 'worker', 'unknown')),
    label        text,
    owntracks_id text UNIQUE,                        -- 'user/device' of an OwnTracks phone mapped to it
    online       boolean,                            -- last retained status
    status       jsonb,
    status_at    timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org, name)
);

-- One row per GPS fix. (device_id, ts) is the identity of a fix: a redelivered
-- or re-sent fix is stored once. No foreign key to devices: the writer
-- registers devices before it writes their fixes, and a per-row FK check
-- would cost ingest throughput on every insert.
CREATE TABLE fixes (
    device_id   integer          NOT NULL,
    ts          timestamptz      NOT NULL,
    lat         double precision NOT NULL,
    lon         double precision NOT NULL,
    speed       real,             -- km/h
    heading     real,             -- degrees
    acc         real,             -- metres
    work        boolean,
    sos         boolean          NOT NULL DEFAULT false,
    batt        real,             -- percent
    seq         bigint,
    dist_m      real,             -- metres from the device's previous fix (in-order fixes only)
    dt_s        real,             -- seconds since the device's previous fix (in-order fixes only)
    received_at timestamptz      NOT NULL,
    PRIMARY KEY (device_id, ts)
);

-- Every message refused at the door, kept byte for byte.
CREATE TABLE rejected_messages (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic       text        NOT NULL,
    payload     bytea       NOT NULL,
    reason      text        NOT NULL,
    detail      text        NOT NULL,
    received_at timestamptz NOT NULL
);
CREATE INDEX rejected_messages_received_at ON rejected_messages (received_at);
