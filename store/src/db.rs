//! Connections: a pool for the service, and helpers for set-up.

use std::time::Duration;

use deadpool_postgres::{Config, ManagerConfig, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use crate::StoreError;

pub type Pool = deadpool_postgres::Pool;

/// A pool of at most `max_size` connections to `url` (`postgres://...`).
/// Connections are made lazily, so this succeeds while the database is down.
pub fn connect_pool(url: &str, max_size: usize) -> Result<Pool, StoreError> {
    let mut cfg = Config::new();
    cfg.url = Some(url.to_owned());
    cfg.manager = Some(ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    });
    let mut pool_cfg = deadpool_postgres::PoolConfig::new(max_size);
    // Waiting longer than this for a connection means the database is in trouble;
    // callers retry with their own back-off.
    pool_cfg.timeouts.wait = Some(Duration::from_secs(5));
    pool_cfg.timeouts.create = Some(Duration::from_secs(5));
    pool_cfg.timeouts.recycle = Some(Duration::from_secs(5));
    cfg.pool = Some(pool_cfg);
    cfg.create_pool(Some(Runtime::Tokio1), NoTls)
        .map_err(|e| StoreError::Url(e.to_string()))
}

/// Answers whether the database takes a query right now.
pub async fn ping(pool: &Pool) -> Result<(), StoreError> {
    let client = pool.get().await?;
    client.simple_query("SELECT 1").await?;
    Ok(())
}

/// Creates the database named in `url` if it does not exist, connecting to the
/// `postgres` maintenance database of the same server. Returns whether it was created.
pub async fn create_database_if_missing(url: &str) -> Result<bool, StoreError> {
    let cfg: tokio_postgres::Config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| StoreError::Url(e.to_string()))?;
    let name = cfg
        .get_dbname()
        .ok_or_else(|| StoreError::Url("no database name in the URL".into()))?
        .to_owned();
    let mut admin = cfg.clone();
    admin.dbname("postgres");
    let (client, conn) = admin.connect(NoTls).await?;
    let conn = tokio::spawn(conn);
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
    drop(client);
    let _ = conn.await;
    Ok(!exists)
}

/// Drops the database named in `url` (disconnecting its sessions) and creates
/// it again, empty. For the demo.
pub async fn recreate_database(url: &str) -> Result<(), StoreError> {
    let cfg: tokio_postgres::Config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| StoreError::Url(e.to_string()))?;
    let name = cfg
        .get_dbname()
        .ok_or_else(|| StoreError::Url("no database name in the URL".into()))?
        .to_owned();
    let mut admin = cfg.clone();
    admin.dbname("postgres");
    let (client, conn) = admin.connect(NoTls).await?;
    let conn = tokio::spawn(conn);
    client
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(&name)
        ))
        .await?;
    client
        .batch_execute(&format!("CREATE DATABASE {}", quote_ident(&name)))
        .await?;
    drop(client);
    let _ = conn.await;
    Ok(())
}

/// Quotes an SQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
