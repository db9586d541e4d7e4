-- sweepwatch schema, version 5: tenancy (issue 14).
-- API tokens an administrator creates and revokes without a restart (the
-- configuration file's tokens stay in the file), and the audit log of every
-- change to tokens and to org configuration.

-- A token is stored by the SHA-256 of its secret only; the secret is shown
-- once, when it is created. A revoked token keeps its row (who revoked it,
-- when), so a name may be reused once the old token is revoked.
CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text        NOT NULL,             -- the actor recorded on what it does
    role         text        NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    orgs         text[]      NOT NULL DEFAULT '{}', -- the orgs it may see; empty: every org
    sha256       text        NOT NULL UNIQUE,       -- lower-case hex SHA-256 of the secret
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text        NOT NULL,
    last_used_at timestamptz,                       -- written at most once a minute
    revoked_at   timestamptz,
    revoked_by   text
);
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

-- Who changed what, when, in which orgs: written in the transaction of the
-- change itself, so a change that rolls back leaves no entry and a committed
-- change always has one.
CREATE TABLE audit_log (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     timestamptz NOT NULL DEFAULT now(),
    actor  text        NOT NULL,             -- token name, or 'sweepwatch import'
    action text        NOT NULL,             -- device.create, area.update, token.revoke, org.import, ...
    object text        NOT NULL,             -- device/12, area/humen/route-a, token/desk-2, ...
    orgs   text[]      NOT NULL DEFAULT '{}', -- the orgs it concerns; empty: none in particular (a city-wide token)
    detail jsonb                              -- the object as stored (never a token's secret or hash)
);
CREATE INDEX audit_log_at ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_orgs ON audit_log USING gin (orgs);
