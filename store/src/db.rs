//! Connections: a pool for the service, and helpers for set-up. Every
//! connection goes through a [`DbTarget`]: the connection string plus TLS
//! with libpq's `sslmode` semantics ([`tls`]).

mod target;
pub mod tls;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, QueueMode, RecyclingMethod, Runtime};

pub use target::{DbTarget, TlsOptions};
pub use tls::{HandshakeError, SslMode};

use crate::StoreError;

pub type Pool = deadpool_postgres::Pool;
/// A transaction on a pooled connection (what the writes of `effects` take).
pub type Transaction<'a> = deadpool_postgres::Transaction<'a>;

/// A pool of at most `max_size` connections to `target`.
/// Connections are made lazily, so this succeeds while the database is down.
///
/// The most recently returned connection is handed out first (LIFO, not
/// deadpool's default FIFO). Each tokio-postgres connection keeps the
/// buffers of the largest statement it ever sent (the client's encoding
/// buffer and the socket's write buffer never shrink), and the writer's
/// batches are by far the largest (tens of MB at 100,000 devices: every
/// dirty device's and route's engine snapshot). Round-robin handed them to
/// every connection of the pool in turn, so each kept its own copy of the
/// high-water mark (most of the 2.2 GiB of the city benchmark); LIFO keeps
/// them on the one or two connections the writer and the API take turns on.
pub fn connect_pool(target: &DbTarget, max_size: usize) -> Result<Pool, StoreError> {
    let manager = Manager::from_config(
        target.pg.clone(),
        target.connector.clone(),
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    // Waiting longer than this for a connection means the database is in trouble;
    // callers retry with their own back-off.
    let timeout = Some(Duration::from_secs(5));
    Pool::builder(manager)
        .max_size(max_size)
        .queue_mode(QueueMode::Lifo)
        .runtime(Runtime::Tokio1)
        .wait_timeout(timeout)
        .create_timeout(timeout)
        .recycle_timeout(timeout)
        .build()
        .map_err(|e| StoreError::Url(e.to_string()))
}

/// Answers whether the database takes a query right now.
pub async fn ping(pool: &Pool) -> Result<(), StoreError> {
    let client = pool.get().await?;
    client.simple_query("SELECT 1").await?;
    Ok(())
}

/// The `postgres` maintenance database of the target's server, and the
/// target's database name.
fn maintenance(target: &DbTarget) -> Result<(DbTarget, String), StoreError> {
    let name = target
        .dbname()
        .ok_or_else(|| StoreError::Url("no database name in the URL".into()))?
        .to_owned();
    Ok((target.with_dbname("postgres"), name))
}

/// Creates the database named in `target` if it does not exist, connecting to the
/// `postgres` maintenance database of the same server. Returns whether it was created.
pub async fn create_database_if_missing(target: &DbTarget) -> Result<bool, StoreError> {
    let (admin, name) = maintenance(target)?;
    let client = admin.connect().await?;
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_some();
    if !exists {
        let sql = format!("CREATE DATABASE {}", quote_ident(&name));
        if let Err(e) = client.batch_execute(&sql).await {
            // Another process may have created it meanwhile (42P04: duplicate_database).
            if e.code().map(|c| c.code()) != Some("42P04") {
                return Err(e.into());
            }
        }
    }
    Ok(!exists)
}

/// Drops the database named in `target` (disconnecting its sessions) and creates
/// it again, empty. For the demo.
pub async fn recreate_database(target: &DbTarget) -> Result<(), StoreError> {
    let (admin, name) = maintenance(target)?;
    let client = admin.connect().await?;
    client
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(&name)
        ))
        .await?;
    client
        .batch_execute(&format!("CREATE DATABASE {}", quote_ident(&name)))
        .await?;
    Ok(())
}

/// Quotes an SQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A tokio-postgres error in one line that ends in its cause: the server's
/// own words (`FATAL: … (SQLSTATE 28000)`), the IO error, or the TLS failure,
/// with what to do where that is known. tokio-postgres's own `Display` says
/// only the kind ("db error", "error performing TLS handshake").
pub fn error_text(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
        if let Some(d) = db.detail() {
            s.push_str(&format!("; detail: {d}"));
        }
        if let Some(h) = db.hint() {
            s.push_str(&format!("; hint: {h}"));
        }
        if db.code().code() == "28000" && db.message().ends_with("no encryption") {
            s.push_str(
                ". The server takes this connection only over TLS: use sslmode=require, \
                 verify-ca or verify-full (sslmode= in the URL, or database.sslmode)",
            );
        }
        return s;
    }
    let mut parts = vec![e.to_string()];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(handshake) = s.downcast_ref::<HandshakeError>() {
            // It says everything: where, how, why and what to do.
            return handshake.to_string();
        }
        let text = s.to_string();
        if text == "server does not support TLS" {
            parts.push(
                "the server does not support TLS (ssl = off), and sslmode requires it: \
                 turn ssl on at the server, or use sslmode=prefer or disable"
                    .into(),
            );
            break;
        }
        if !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// A pool error in one line that ends in its cause.
pub fn pool_error_text(e: &deadpool_postgres::PoolError) -> String {
    use deadpool_postgres::{PoolError, TimeoutType};
    match e {
        PoolError::Backend(e) => error_text(e),
        PoolError::Timeout(TimeoutType::Wait) => {
            "timed out waiting for a free connection (all are in use)".into()
        }
        PoolError::Timeout(TimeoutType::Create) => {
            "timed out connecting (no answer within 5 s)".into()
        }
        PoolError::Timeout(TimeoutType::Recycle) => "timed out checking a pooled connection".into(),
        other => other.to_string(),
    }
}

/// Whether a failure to connect may pass by itself, as every failure to
/// connect was taken to (the server down or starting, the network, a
/// password being rotated), unless it is a TLS set-up that cannot work: a
/// certificate that does not verify, TLS required and not offered, or
/// offered and refused (pg_hba.conf's `hostssl` against `sslmode=disable`).
pub(crate) fn connect_failure_is_transient(e: &tokio_postgres::Error) -> bool {
    if let Some(db) = e.as_db_error() {
        return !(db.code().code() == "28000" && db.message().ends_with("no encryption"));
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.downcast_ref::<HandshakeError>()
            .is_some_and(HandshakeError::is_permanent)
            || s.to_string() == "server does not support TLS"
        {
            return false;
        }
        source = s.source();
    }
    true
}
