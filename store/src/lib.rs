//! sweepwatch storage: PostgreSQL, with TimescaleDB where the extension is there.
//!
//! - [`migrate`]: versioned schema migrations, each a plain-PostgreSQL part plus a
//!   TimescaleDB part (or its plain stand-in), applied under an advisory lock so
//!   several instances can start at once.
//! - [`writer`]: the batched writer. One call writes a whole batch (fixes,
//!   rejected messages, device status) in one transaction with array-bound
//!   inserts; duplicates of a fix (same device and time) are skipped by the
//!   database and reported back, so the caller can count them.
//! - [`effects`]: what the engine derives (alerts, coverage, daily summaries,
//!   checkpoints), written in the same transaction as the fixes.
//! - [`recovery`]: what a restart reads back to rebuild the engines
//!   (checkpoints, snapshots, the fixes to replay).
//! - [`lease`]: the ingest lease (one active instance per MQTT client id).
//! - [`devices`]: the device registry (auto-registration on first fix).
//! - [`jt808`]: JT/T 808 terminals by phone number, registration and
//!   authentication codes.
//! - [`orgconfig`]: org configuration (imported scenarios) in and out.
//! - [`edit`]: the admins' edits of an org's configuration ([`ConfigEdit`]):
//!   one transaction that also bumps the org and writes the audit entry.
//! - [`operator`]: what operators write: alert acknowledgements and
//!   resolutions, justified stretches of routes.
//! - [`constraint`]: writes refused by a constraint ([`WriteError`]), told
//!   apart by the constraint's name.
//! - [`db`]: where to connect ([`DbTarget`]: the URL plus TLS with libpq's
//!   `sslmode` semantics), the connection pool and helpers (create a database,
//!   readiness ping).
//!
//! Data flows in from `ingest` (rows built from decoded MQTT messages) and
//! `api` (edits), and out to `api`, `ingest` and `live` (queries). Every SQL
//! statement of the workspace is here, behind a typed function; this crate
//! knows nothing about MQTT or HTTP.

pub mod constraint;
pub mod db;
pub mod devices;
pub mod edit;
pub mod effects;
pub mod jt808;
pub mod lease;
pub mod migrate;
pub mod operator;
pub mod orgconfig;
pub mod queries;
pub mod recovery;
pub mod writer;

pub use constraint::{Constraint, Violation, WriteError};
pub use db::{
    DbTarget, Pool, SslMode, TlsOptions, Transaction, connect_pool, create_database_if_missing,
};
pub use devices::{DeviceKey, DeviceRegistry};
pub use edit::{AuditEntry, ConfigEdit};
pub use migrate::{MigrateOptions, MigrationReport, Timescale, migrate};
pub use writer::{Batch, BatchOutcome, FixRow, Inserted, RejectRow, StatusRow, insert_batch};

/// Errors of the storage layer. Each message ends in its cause (the
/// server's words, the IO or TLS error): the causes are part of the
/// message, not a `source` chain, so a printed chain says them once.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}", db::error_text(.0))]
    Db(tokio_postgres::Error),
    #[error("could not connect to the database server: {}", db::error_text(.0))]
    Connect(tokio_postgres::Error),
    #[error("could not get a database connection: {}", db::pool_error_text(.0))]
    Pool(deadpool_postgres::PoolError),
    #[error("invalid database URL: {0}")]
    Url(String),
    #[error("database TLS: {0}")]
    Tls(String),
    #[error("TimescaleDB was required (timescaledb = \"on\") but the extension is not available")]
    TimescaleMissing,
    /// The server did not answer in time (the ingest lease's check).
    #[error("{0}")]
    Timeout(String),
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        StoreError::Db(e)
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StoreError::Pool(e)
    }
}

/// What a failed statement means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Retrying later may succeed: connection lost, timeouts, server shutting
    /// down or starting, serialization failures, too many connections, disk full.
    Transient,
    /// The data was refused (SQLSTATE classes 22 data exception, 23 integrity
    /// constraint, 54 program limit): retrying the same rows fails the same way.
    Data,
    /// Anything else (schema, privileges, configuration): neither the data's
    /// fault nor likely to pass on its own.
    Other,
}

impl StoreError {
    /// Transient, data, or other (see [`ErrorClass`]).
    pub fn class(&self) -> ErrorClass {
        if self.is_transient() {
            return ErrorClass::Transient;
        }
        match self {
            StoreError::Db(e) => match e.code().map(|c| c.code()) {
                Some(c) if c.starts_with("22") || c.starts_with("23") || c.starts_with("54") => {
                    ErrorClass::Data
                }
                _ => ErrorClass::Other,
            },
            _ => ErrorClass::Other,
        }
    }

    /// The database's own words: SQLSTATE, message, detail and hint, or the
    /// chain of causes when there is no database error.
    pub fn describe(&self) -> String {
        if let StoreError::Db(e) = self
            && let Some(db) = e.as_db_error()
        {
            let mut s = format!("SQLSTATE {}: {}", db.code().code(), db.message());
            if let Some(d) = db.detail() {
                s.push_str(&format!(" (detail: {d})"));
            }
            if let Some(h) = db.hint() {
                s.push_str(&format!(" (hint: {h})"));
            }
            if let Some(c) = db.constraint() {
                s.push_str(&format!(" (constraint: {c})"));
            }
            return s;
        }
        let mut s = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(e) = source {
            s.push_str(&format!(": {e}"));
            source = e.source();
        }
        s
    }

    /// Whether retrying the same operation later may succeed (connection lost,
    /// server shutting down, serialization failure), as opposed to a bug or a
    /// schema problem.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Pool(deadpool_postgres::PoolError::Backend(e)) | StoreError::Connect(e) => {
                db::connect_failure_is_transient(e)
            }
            StoreError::Pool(_) => true,
            StoreError::Db(e) => match e.code() {
                None => true, // IO / closed connection
                Some(code) => {
                    let c = code.code();
                    c.starts_with("08") // connection exception
                        || c.starts_with("57P") // admin/crash shutdown, cannot connect now
                        || c == "40001" // serialization failure
                        || c == "40P01" // deadlock
                        || c == "53300" // too many connections
                        || c == "53100" // disk full
                        || c == "53200" // out of memory
                        || c == "57014" // statement timeout / cancelled
                }
            },
            _ => false,
        }
    }
}
