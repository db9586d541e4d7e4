//! A PostgreSQL database of the test's own (the server at 127.0.0.1:5432,
//! trust auth), dropped at the end: when the [`TestDb`] is dropped, also on a
//! panic (`DROP DATABASE … WITH (FORCE)`, so the service's connections do not
//! keep it). A process killed outright leaves its databases behind; they are
//! named `swtest_<pid>x…` (benchmarks: their own prefix) and can be dropped
//! by hand.

use tokio_postgres::{Client, NoTls};

use crate::unique;

pub const SERVER: &str = "postgres://postgres@127.0.0.1:5432";

pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn create() -> Self {
        Self::create_with_prefix("swtest_").await
    }

    /// A database named `prefix` and a unique suffix (see [`unique`]).
    pub async fn create_with_prefix(prefix: &str) -> Self {
        let name = unique(prefix);
        let admin = connect(&format!("{SERVER}/postgres")).await;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        Self {
            url: format!("{SERVER}/{name}"),
            name,
        }
    }

    pub async fn client(&self) -> Client {
        connect(&self.url).await
    }

    /// Runs a `SELECT count(*)`-like query; -1 while the table does not exist yet.
    pub async fn count(&self, sql: &str) -> i64 {
        self.client()
            .await
            .query_one(sql, &[])
            .await
            .map(|r| r.get::<_, i64>(0))
            .unwrap_or(-1)
    }
}

pub async fn connect(url: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("connect to PostgreSQL on 127.0.0.1:5432");
    tokio::spawn(conn);
    client
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime; use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok((client, conn)) =
                    tokio_postgres::connect(&format!("{SERVER}/postgres"), NoTls).await
                {
                    tokio::spawn(conn);
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn exists(name: &str) -> bool {
        connect(&format!("{SERVER}/postgres"))
            .await
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
            .await
            .unwrap()
            .is_some()
    }

    #[tokio::test]
    async fn a_database_of_its_own_is_there_until_dropped() {
        let db = TestDb::create().await;
        let name = db.name.clone();
        assert!(exists(&name).await);
        db.client()
            .await
            .batch_execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2)")
            .await
            .unwrap();
        assert_eq!(db.count("SELECT count(*) FROM t").await, 2);
        assert_eq!(db.count("SELECT count(*) FROM missing").await, -1);
        // An open connection does not keep it (WITH (FORCE)).
        let _open = db.client().await;
        drop(db);
        assert!(!exists(&name).await);
    }
}
