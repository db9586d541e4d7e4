//! Versioned migrations. Each version has SQL for every PostgreSQL and, where it
//! matters, a TimescaleDB part with a plain-PostgreSQL stand-in. The choice is
//! made once, when the first migration runs, and recorded in
//! `schema_migrations`, so later versions follow the same path.

use serde::Deserialize;
use tokio_postgres::Client;
use tracing::info;

use crate::StoreError;

struct Migration {
    version: i32,
    name: &'static str,
    common: &'static str,
    timescale: &'static str,
    plain: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        common: include_str!("../migrations/0001_init.sql"),
        timescale: include_str!("../migrations/0001_init.timescale.sql"),
        plain: include_str!("../migrations/0001_init.plain.sql"),
    },
    Migration {
        version: 2,
        name: "engine",
        common: include_str!("../migrations/0002_engine.sql"),
        timescale: "",
        plain: "",
    },
    Migration {
        version: 3,
        name: "api",
        common: include_str!("../migrations/0003_api.sql"),
        timescale: "",
        plain: "",
    },
    Migration {
        version: 4,
        name: "alert_cases",
        common: include_str!("../migrations/0004_alert_cases.sql"),
        timescale: "",
        plain: "",
    },
    Migration {
        version: 5,
        name: "tenancy",
        common: include_str!("../migrations/0005_tenancy.sql"),
        timescale: "",
        plain: "",
    },
    Migration {
        version: 6,
        name: "jt808",
        common: include_str!("../migrations/0006_jt808.sql"),
        timescale: "",
        plain: "",
    },
    Migration {
        version: 7,
        name: "directory_version",
        common: include_str!("../migrations/0007_directory_version.sql"),
        timescale: "",
        plain: "",
    },
];

/// Whether to use TimescaleDB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Timescale {
    /// Use it when the extension is installed and preloaded.
    #[default]
    Auto,
    /// Require it; fail when it is missing.
    On,
    /// Never use it.
    Off,
}

#[derive(Debug, Clone)]
pub struct MigrateOptions {
    pub timescale: Timescale,
    /// How long fixes are kept, days. Applied as a TimescaleDB retention policy
    /// (plain PostgreSQL: by `sweepwatch serve`'s periodic clean-up).
    pub retention_days: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    pub applied: Vec<i32>,
    pub version: i32,
    pub timescale: bool,
}

/// Key of the advisory lock serialising migrations across processes.
const LOCK_KEY: i64 = 0x5357_4d49_4752; // "SWMIGR"

/// Applies every migration not applied yet, each in its own transaction.
pub async fn migrate(
    client: &mut Client,
    opts: &MigrateOptions,
) -> Result<MigrationReport, StoreError> {
    let mut applied = Vec::new();
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version    integer PRIMARY KEY,
            name       text        NOT NULL,
            timescale  boolean     NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    let recorded: Option<bool> = tx
        .query_opt(
            "SELECT timescale FROM schema_migrations ORDER BY version LIMIT 1",
            &[],
        )
        .await?
        .map(|r| r.get(0));
    let timescale = match recorded {
        Some(t) => t,
        None => decide_timescale(&tx, opts.timescale).await?,
    };
    let done: Vec<i32> = tx
        .query("SELECT version FROM schema_migrations", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for m in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
        tx.batch_execute(m.common).await?;
        tx.batch_execute(if timescale { m.timescale } else { m.plain })
            .await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, timescale) VALUES ($1, $2, $3)",
            &[&m.version, &m.name, &timescale],
        )
        .await?;
        info!(
            version = m.version,
            name = m.name,
            timescale,
            "applied migration"
        );
        applied.push(m.version);
    }
    if timescale {
        set_retention_policy(&tx, opts.retention_days).await?;
    }
    tx.commit().await?;
    let version = MIGRATIONS.last().map_or(0, |m| m.version);
    Ok(MigrationReport {
        applied,
        version,
        timescale,
    })
}

async fn decide_timescale(
    tx: &tokio_postgres::Transaction<'_>,
    want: Timescale,
) -> Result<bool, StoreError> {
    if want == Timescale::Off {
        return Ok(false);
    }
    // Installable *and* preloaded: CREATE EXTENSION fails without the preload.
    let available: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
                AND current_setting('shared_preload_libraries') LIKE '%timescaledb%'",
            &[],
        )
        .await?
        .get(0);
    match (want, available) {
        (Timescale::On, false) => Err(StoreError::TimescaleMissing),
        (_, available) => Ok(available),
    }
}

/// TimescaleDB only: replaces the retention policy on `fixes` with `days`.
async fn set_retention_policy(
    tx: &tokio_postgres::Transaction<'_>,
    days: u32,
) -> Result<(), StoreError> {
    let days = i32::try_from(days).unwrap_or(i32::MAX);
    tx.execute(
        "SELECT remove_retention_policy('fixes', if_exists => true)",
        &[],
    )
    .await?;
    tx.execute(
        "SELECT add_retention_policy('fixes', make_interval(days => $1))",
        &[&days],
    )
    .await?;
    Ok(())
}

/// Plain PostgreSQL only: deletes fixes older than the retention window, at most
/// `limit` rows per call (so a long backlog of expired rows does not hold one
/// huge transaction). Returns how many rows were deleted.
pub async fn delete_expired_fixes(
    client: &Client,
    days: u32,
    limit: i64,
) -> Result<u64, StoreError> {
    let days = i32::try_from(days).unwrap_or(i32::MAX);
    let n = client
        .execute(
            "DELETE FROM fixes WHERE ctid = ANY (ARRAY(
                SELECT ctid FROM fixes WHERE ts < now() - make_interval(days => $1) LIMIT $2))",
            &[&days, &limit],
        )
        .await?;
    Ok(n)
}

/// Deletes engine coverage checkpoints that a restart would not read: shift
/// instances older than their org's clock (the engine watermark) allows,
/// whose coverage is final (`geofence::windows::oldest_open_shift_date`).
/// Event time, not the wall clock: a replay of last month keeps its state.
/// The `coverage` rows themselves are kept.
pub async fn delete_final_coverage_state(client: &Client) -> Result<u64, StoreError> {
    let window = geofence::windows::COVERAGE_STATE_WINDOW.as_seconds_f64();
    let n = client
        .execute(
            "DELETE FROM coverage_state s USING engine_checkpoints c
             WHERE c.org = s.org
               AND s.shift_date < ((c.watermark - make_interval(secs => $1)) AT TIME ZONE 'UTC')::date",
            &[&window],
        )
        .await?;
    Ok(n)
}
