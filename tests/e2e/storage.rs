//! The schema: migrations apply once, on plain PostgreSQL or TimescaleDB.

use std::process::Command;

use crate::helpers::db::TestDb;

fn migrate(url: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sweepwatch"))
        .arg("migrate")
        .env("SWEEPWATCH_DATABASE_URL", url)
        .env("SWEEPWATCH_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "migrate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn migrations_apply_once_and_match_the_server() {
    let db = TestDb::create().await;
    let first = migrate(&db.url);
    assert!(first.contains("7 applied now"), "{first}");
    let second = migrate(&db.url);
    assert!(second.contains("0 applied now"), "{second}");

    let client = db.client().await;
    let timescale: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
                AND current_setting('shared_preload_libraries') LIKE '%timescaledb%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let recorded: bool = client
        .query_one("SELECT bool_and(timescale) FROM schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(recorded, timescale);
    if timescale {
        // TimescaleDB: a compressed hypertable with retention, and the continuous aggregate.
        let hyper: i64 = client
            .query_one("SELECT count(*) FROM timescaledb_information.hypertables WHERE hypertable_name = 'fixes'", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(hyper, 1);
        let jobs: i64 = client
            .query_one(
                "SELECT count(*) FROM timescaledb_information.jobs
                 WHERE proc_name IN ('policy_retention', 'policy_compression', 'policy_refresh_continuous_aggregate')",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(jobs, 3);
        assert!(second.contains("TimescaleDB"));
    } else {
        let brin: i64 = client
            .query_one("SELECT count(*) FROM pg_indexes WHERE tablename = 'fixes' AND indexdef LIKE '%USING brin (ts)%'", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(brin, 1);
        assert!(second.contains("plain PostgreSQL"));
    }
    // The same hourly view exists on both.
    client
        .query(
            "SELECT device_id, hour, fixes, distance_m, working_s FROM fixes_hourly",
            &[],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn migrate_creates_a_missing_database() {
    let name = crate::helpers::unique("swtest_new_");
    let url = format!("{}/{name}", crate::helpers::db::SERVER);
    let out = migrate(&url);
    assert!(out.contains("7 applied now"), "{out}");
    // Clean up through the same helper as every other test database.
    drop(TestDb { url, name });
}

/// `store::Constraint` tells refused writes apart by the names the schema
/// gives its constraints: each of those names must exist after migrating,
/// or a refusal would be answered as the client's fault with the wrong field.
#[tokio::test]
async fn every_constraint_store_names_exists_in_the_schema() {
    let db = TestDb::create().await;
    migrate(&db.url);
    let client = db.client().await;
    for (constraint, name) in store::Constraint::NAMED {
        let found: bool = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = $1)
                     OR EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = $1 AND schemaname = 'public')",
                &[&name],
            )
            .await
            .unwrap()
            .get(0);
        assert!(
            found,
            "{constraint:?}: no constraint or unique index {name:?}"
        );
    }
}

/// The directory's version (what `/positions` and the stream ask before
/// reusing the device directory they keep) moves with every write that may
/// change the directory, in that write's transaction, and not with a
/// device's status or its JT/T 808 authentication code.
#[tokio::test]
async fn the_directory_version_moves_with_the_directory_only() {
    let db = TestDb::create().await;
    migrate(&db.url);
    let mut client = db.client().await;
    async fn version(c: &tokio_postgres::Client) -> i64 {
        c.query_one("SELECT version FROM directory_version", &[])
            .await
            .unwrap()
            .get(0)
    }
    let changes = [
        "INSERT INTO orgs (id, name) VALUES ('o', 'O')",
        "UPDATE orgs SET rules = '{\"kinds\": {}}' WHERE id = 'o'",
        "INSERT INTO devices (org, name, kind) VALUES ('o', 'd1', 'sweeper')",
        "UPDATE devices SET label = 'Sweeper 1' WHERE name = 'd1'",
        "UPDATE devices SET kind = 'washer' WHERE name = 'd1'",
        "INSERT INTO areas (org, id, name, kind, district, feature) VALUES ('o', 'a', 'A', 'beat', 'North', '{}')",
        "UPDATE areas SET district = 'South' WHERE id = 'a'",
        "INSERT INTO shifts (org, id, name, definition) VALUES ('o', 's', 'S', '{}');
         INSERT INTO assignments (org, device_id, area_id, shift_id, valid_from)
         SELECT 'o', id, 'a', 's', now() FROM devices WHERE name = 'd1'",
        "DELETE FROM assignments",
        "DELETE FROM devices WHERE name = 'd1'",
    ];
    let mut v = version(&client).await;
    for sql in changes {
        // Inside the writing transaction the new version is there; outside it
        // only once committed.
        let tx = client.transaction().await.unwrap();
        tx.batch_execute(sql).await.unwrap();
        let inside: i64 = tx
            .query_one("SELECT version FROM directory_version", &[])
            .await
            .unwrap()
            .get(0);
        assert!(inside > v, "{sql}: {inside} after {v}");
        tx.commit().await.unwrap();
        assert_eq!(version(&client).await, inside, "{sql}");
        v = inside;
    }
    client
        .batch_execute("INSERT INTO devices (org, name, kind) VALUES ('o', 'd2', 'worker')")
        .await
        .unwrap();
    let v = version(&client).await;
    for sql in [
        "UPDATE devices SET online = true, status = '{}', status_at = now() WHERE name = 'd2'",
        "UPDATE devices SET jt808_auth_code = 'x' WHERE name = 'd2'",
        "INSERT INTO fixes (device_id, ts, lat, lon, received_at)
         SELECT id, now(), 1, 1, now() FROM devices WHERE name = 'd2'",
    ] {
        client.batch_execute(sql).await.unwrap();
        assert_eq!(version(&client).await, v, "{sql} is not a directory change");
    }
}
