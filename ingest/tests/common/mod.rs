//! What the ingest crate's integration tests share: a pool on a migrated
//! database of the test's own.

/// A pool of `size` connections on `db`, migrated as `serve` migrates.
pub async fn migrated_pool(db: &testkit::TestDb, size: usize) -> store::Pool {
    let target: store::DbTarget = db.url.parse().unwrap();
    let pool = store::connect_pool(&target, size).unwrap();
    let mut client = pool.get().await.expect("connect to the test database");
    let opts = store::MigrateOptions {
        timescale: store::Timescale::Auto,
        retention_days: 90,
    };
    store::migrate(&mut client, &opts).await.expect("migrate");
    drop(client);
    pool
}
