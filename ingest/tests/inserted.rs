//! `store::insert_batch` says which fixes were new without asking for every
//! inserted row: an all-new batch is learnt from the row count; a batch with
//! fixes already stored, or carrying one fix twice, is rolled back to its
//! savepoint and inserted again asking for the rows. Against a database of
//! this test's own (127.0.0.1:5432, dropped at the end). Also: a checkpoint
//! bigger than one statement is written whole.

use chrono::{DateTime, TimeDelta, Utc};
use store::{Batch, FixRow, Inserted};

mod common;

async fn pool(db: &testkit::TestDb) -> store::Pool {
    common::migrated_pool(db, 2).await
}

fn row(device_id: i32, ts: DateTime<Utc>, lat: f64) -> FixRow {
    FixRow {
        device_id,
        ts,
        lat,
        lon: 113.67,
        speed: None,
        heading: None,
        acc: None,
        work: None,
        sos: false,
        batt: None,
        seq: None,
        dist_m: None,
        dt_s: None,
        received_at: Utc::now(),
    }
}

async fn insert(pool: &store::Pool, fixes: Vec<FixRow>) -> Inserted {
    let mut client = pool.get().await.unwrap();
    let tx = client.transaction().await.unwrap();
    let batch = Batch {
        fixes,
        ..Batch::default()
    };
    let outcome = store::insert_batch(&tx, &batch).await.unwrap();
    tx.commit().await.unwrap();
    outcome.inserted
}

#[tokio::test]
async fn new_fixes_are_all_inserted_and_duplicates_are_told_apart() {
    let db = testkit::TestDb::create_with_prefix("swtest_inserted_").await;
    let pool = pool(&db).await;
    // Whole milliseconds, as the decoder makes them (PostgreSQL keeps microseconds).
    let t0 = chrono::SubsecRound::trunc_subsecs(Utc::now(), 3) - TimeDelta::minutes(10);
    let at = |s: i64| t0 + TimeDelta::seconds(s);

    let first = insert(
        &pool,
        vec![
            row(1, at(0), 22.80),
            row(1, at(1), 22.81),
            row(2, at(0), 22.82),
        ],
    )
    .await;
    assert!(matches!(first, Inserted::All), "{first:?}");

    // Two already stored (one with other values: the stored one stays), one
    // new fix sent twice in the batch, one new fix once.
    let mut second = insert(
        &pool,
        vec![
            row(1, at(0), 22.80),
            row(2, at(0), 22.99),
            row(1, at(2), 22.83),
            row(1, at(2), 22.83),
            row(2, at(1), 22.84),
        ],
    )
    .await;
    let Inserted::Only(set) = &second else {
        panic!("duplicates were there: {second:?}");
    };
    assert_eq!(set.len(), 2, "{set:?}");
    assert!(!second.contains(&(1, at(0))));
    assert!(!second.contains(&(2, at(0))));
    assert!(second.contains(&(2, at(1))));
    assert!(second.take(&(1, at(2))), "the first copy was inserted");
    assert!(
        !second.take(&(1, at(2))),
        "the second copy is the duplicate"
    );

    // Each fix once; the rolled-back attempt left nothing behind.
    assert_eq!(db.count("SELECT count(*) FROM fixes").await, 5);
    assert_eq!(
        db.count("SELECT count(*) FROM fixes WHERE device_id = 2 AND lat = 22.82")
            .await,
        1
    );

    // A batch wholly of stored fixes inserts nothing.
    let third = insert(&pool, vec![row(1, at(0), 22.80), row(2, at(1), 22.84)]).await;
    assert!(
        matches!(&third, Inserted::Only(s) if s.is_empty()),
        "{third:?}"
    );
    assert_eq!(db.count("SELECT count(*) FROM fixes").await, 5);
    drop(pool);
}

/// A checkpoint of more devices than one statement takes (2,500) is stored
/// whole, each device's snapshot as given, in the caller's transaction.
#[tokio::test]
async fn a_checkpoint_of_many_devices_is_stored_whole() {
    let db = testkit::TestDb::create_with_prefix("swtest_checkpoint_").await;
    let pool = pool(&db).await;
    let cp = store::effects::Checkpoint {
        received_upto: Some(Utc::now()),
        orgs: vec![("humen".into(), Some(Utc::now()))],
        devices: (1..=6_001)
            .map(|i: i32| (i, i.to_be_bytes().repeat(50)))
            .collect(),
        coverage: Vec::new(),
    };
    let mut client = pool.get().await.unwrap();
    let tx = client.transaction().await.unwrap();
    store::effects::write_checkpoint(&tx, &cp).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(db.count("SELECT count(*) FROM device_state").await, 6_001);
    assert_eq!(
        db.count(
            "SELECT count(*) FROM device_state
             WHERE length(snapshot) = 200 AND substring(snapshot FROM 1 FOR 4) = int4send(device_id)"
        )
        .await,
        6_001
    );
    drop(client);
    drop(pool);
}
