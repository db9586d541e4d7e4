//! What the decoder accepts, PostgreSQL stores; and so every reject. Hostile
//! messages (the codec's own generators, `src/codec/hostile.rs`) are decoded,
//! made into rows as the writer makes them, and written with
//! `store::insert_batch` into a database of this test's own on the local
//! server (127.0.0.1:5432, user `postgres`), dropped at the end.
//!
//! Beside the property, the edges one by one: the values PostgreSQL refuses
//! (so the decoder must), and the closest ones it still takes.

mod common;
#[path = "../src/codec/hostile.rs"]
#[allow(dead_code)]
mod hostile;

use chrono::{DateTime, TimeDelta, Utc};
use ingest::codec::{self, Fix, Limits, Message, Reject, RejectReason, decode};
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use store::{Batch, DeviceKey, DeviceRegistry, FixRow, RejectRow, StatusRow, StoreError};

/// A database of the test's own (the test kit's, dropped on drop), migrated.
struct TestDb {
    pool: store::Pool,
    // Declared after the pool: dropped after its connections.
    _db: testkit::TestDb,
}

impl TestDb {
    async fn create() -> Self {
        let db = testkit::TestDb::create_with_prefix("swtest_storable_").await;
        let pool = common::migrated_pool(&db, 1).await;
        Self { pool, _db: db }
    }
}

/// The writer's rows for one message (`ingest/src/writer.rs`, `build`,
/// `fix_row` and `reject_row`), for a device registered as the writer would.
struct Rows {
    registry: DeviceRegistry,
}

impl Rows {
    async fn batch(
        &mut self,
        client: &tokio_postgres::Client,
        topic: &str,
        payload: &[u8],
        decoded: &Result<Message, Reject>,
        received_at: DateTime<Utc>,
    ) -> Result<Batch, StoreError> {
        let mut batch = Batch::default();
        let reject = |payload: &[u8], r: &Reject, element: Option<usize>| RejectRow {
            topic: topic.to_owned(),
            payload: payload.to_vec(),
            reason: r.reason.as_str(),
            detail: match element {
                Some(i) => format!("backlog element {i}: {}", r.detail),
                None => r.detail.clone(),
            },
            received_at,
        };
        let message = match decoded {
            Err(r) => {
                batch.rejects.push(reject(payload, r, None));
                return Ok(batch);
            }
            Ok(Message::StatusCleared { .. }) => return Ok(batch),
            Ok(m) => m,
        };
        let key = match message {
            Message::Fix { addr, .. }
            | Message::Backlog { addr, .. }
            | Message::Status { addr, .. }
            | Message::StatusCleared { addr } => DeviceKey::Topic {
                org: addr.org.as_str().to_owned(),
                name: addr.device.as_str().to_owned(),
            },
            Message::Jt808Relay(_) => unreachable!("codec::decode makes no JT/T 808 relays"),
            Message::OwnTracks { user, device, .. } => DeviceKey::OwnTracks {
                user: user.as_str().to_owned(),
                device: device.as_str().to_owned(),
                default_org: "owntracks".to_owned(),
            },
        };
        self.registry.resolve(client, &[&key]).await?;
        let id = self.registry.get(&key).expect("resolved");
        match message {
            Message::Fix { fix, .. } | Message::OwnTracks { fix, .. } => {
                batch.fixes.push(fix_row(id, fix, None, received_at));
            }
            Message::Backlog { fixes, rejects, .. } => {
                let mut sorted: Vec<&Fix> = fixes.iter().collect();
                sorted.sort_by_key(|f| f.ts);
                let mut prev = None;
                for fix in sorted {
                    batch.fixes.push(fix_row(id, fix, prev, received_at));
                    prev = Some(fix);
                }
                for e in rejects {
                    batch.rejects.push(reject(&e.raw, &e.reject, Some(e.index)));
                }
            }
            Message::Status { online, status, .. } => batch.statuses.push(StatusRow {
                device_id: id,
                online: *online,
                status: status.clone(),
                received_at,
            }),
            Message::StatusCleared { .. } | Message::Jt808Relay(_) => {}
        }
        Ok(batch)
    }
}

/// As the writer's `fix_row`: float4 columns by `as f32`; distance and time
/// from the previous fix of the device when this one is later.
fn fix_row(device_id: i32, fix: &Fix, prev: Option<&Fix>, received_at: DateTime<Utc>) -> FixRow {
    let (dist_m, dt_s) = match prev {
        Some(p) if fix.ts > p.ts => (
            Some(geofence::geodesy::haversine_m(p.lat, p.lon, fix.lat, fix.lon) as f32),
            Some((fix.ts - p.ts).as_seconds_f64() as f32),
        ),
        _ => (None, None),
    };
    FixRow {
        device_id,
        ts: fix.ts,
        lat: fix.lat,
        lon: fix.lon,
        speed: fix.speed.map(|x| x as f32),
        heading: fix.heading.map(|x| x as f32),
        acc: fix.acc.map(|x| x as f32),
        work: fix.work,
        sos: fix.sos,
        batt: fix.batt.map(|x| x as f32),
        seq: fix.seq,
        dist_m,
        dt_s,
        received_at,
    }
}

/// Registers the device and builds the rows of one decoded message.
async fn rows_for(
    db: &TestDb,
    rows: &mut Rows,
    topic: &str,
    payload: &[u8],
    decoded: &Result<Message, Reject>,
) -> Result<Batch, StoreError> {
    let client = db.pool.get().await?;
    rows.batch(&client, topic, payload, decoded, hostile::now())
        .await
}

/// Writes a batch in a transaction and rolls it back: each case stands alone.
async fn store(db: &TestDb, batch: &Batch) -> Result<(), StoreError> {
    let mut client = db.pool.get().await?;
    let tx = client.transaction().await?;
    store::insert_batch(&tx, batch).await?;
    tx.rollback().await?;
    Ok(())
}

fn sqlstate(e: &StoreError) -> Option<&str> {
    match e {
        StoreError::Db(e) => e.code().map(|c| c.code()),
        _ => None,
    }
}

/// Limits that let any timestamp through the window: only the store's bounds
/// are left.
fn open_window() -> Limits {
    Limits {
        max_future: TimeDelta::MAX,
        max_age: TimeDelta::MAX,
        ..Limits::default()
    }
}

#[test]
fn postgres_stores_every_message_the_decoder_accepts_and_every_reject() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDb::create());
    let mut runner = TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    });
    // Topics without U+0000: a reject's topic is stored as text, which cannot
    // hold it; the writer makes such topics storable, not the decoder (see
    // `a_topic_holding_nul_is_no_text`).
    let strategy = (hostile::message(false), proptest::bool::ANY);
    let result = runner.run(&strategy, |((topic, payload), open)| {
        let limits = if open {
            open_window()
        } else {
            Limits::default()
        };
        let decoded = decode(&topic, &payload, &limits, hostile::now());
        rt.block_on(async {
            // A registry per case (`resolve` is idempotent): the closure is `Fn`.
            let mut rows = Rows {
                registry: DeviceRegistry::default(),
            };
            let batch = rows_for(&db, &mut rows, &topic, &payload, &decoded)
                .await
                .map_err(|e| TestCaseError::fail(format!("registering: {e:?}")))?;
            store(&db, &batch).await.map_err(|e| {
                TestCaseError::fail(format!(
                    "PostgreSQL refused {decoded:?} ({:?}): {e:?}",
                    e.source_chain()
                ))
            })
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The values PostgreSQL refuses, and the decoder with them; then the closest
/// ones it stores.
#[tokio::test]
async fn the_edges_one_by_one() {
    let db = TestDb::create().await;
    let mut rows = Rows {
        registry: DeviceRegistry::default(),
    };
    let now = hostile::now();

    // The poison message of the issue: jsonb refuses \u0000 (22P05).
    let poison = br#"{"online":true,"note":"\u0000"}"#;
    let r = decode(hostile::STATUS, poison, &Limits::default(), now).unwrap_err();
    assert_eq!(r.reason, RejectReason::Unstorable);
    let status: serde_json::Value = serde_json::from_slice(poison).unwrap();
    let addr = codec::DeviceAddr {
        org: codec::OrgId::parse("humen").unwrap(),
        device: codec::DeviceName::parse("sw-001").unwrap(),
    };
    let unchecked = Message::Status {
        addr: addr.clone(),
        online: true,
        status,
    };
    let batch = rows_for(&db, &mut rows, hostile::STATUS, poison, &Ok(unchecked)).await;
    let e = store(&db, &batch.unwrap()).await.unwrap_err();
    assert_eq!(sqlstate(&e), Some("22P05"), "{e:?}");

    // A timestamp before 4714-11-24 BC: timestamptz refuses it (22008).
    let first_ms = codec::storable::PG_MIN_TIMESTAMP_MICROS / 1000;
    let at = |ms: i64| format!(r#"{{"ts":{ms},"lat":1,"lon":2}}"#);
    let r = decode(
        hostile::FIX,
        at(first_ms - 1).as_bytes(),
        &open_window(),
        now,
    )
    .unwrap_err();
    assert_eq!(r.reason, RejectReason::Unstorable);
    let fix = Fix {
        ts: DateTime::from_timestamp_millis(first_ms - 1).unwrap(),
        lat: 1.0,
        lon: 2.0,
        speed: None,
        heading: None,
        acc: None,
        work: None,
        sos: false,
        batt: None,
        seq: None,
    };
    let unchecked = Message::Fix { addr, fix };
    let batch = rows_for(&db, &mut rows, hostile::FIX, b"", &Ok(unchecked)).await;
    let e = store(&db, &batch.unwrap()).await.unwrap_err();
    assert_eq!(sqlstate(&e), Some("22008"), "{e:?}");

    // The closest values that are stored.
    let deep = format!(
        r#"{{"online":true,"deep":{}1{}}}"#,
        "[".repeat(126),
        "]".repeat(126)
    );
    let (default, open) = (Limits::default(), open_window());
    let fine: Vec<(&str, String, &Limits)> = vec![
        (hostile::STATUS, deep, &default),
        (
            hostile::STATUS,
            r#"{"online":true,"n":[18446744073709551616,-9223372036854775809,1.7976931348623157e308,5e-324,-0,1e-400],"s":"C:\\u0000 \ud83d\ude00 \udbff\udfff \ufffe\uffff \u0001 \u2028","\u007f":{}}"#.into(),
            &default,
        ),
        (hostile::FIX, at(first_ms), &open),
        (
            hostile::FIX,
            r#"{"ts":"2026-11-27T04:59:00Z","lat":-90,"lon":180,"speed":500,"heading":360,"acc":100000,"batt":1e-300,"seq":9223372036854775807}"#.into(),
            &default,
        ),
    ];
    for (topic, payload, limits) in fine {
        let m = decode(topic, payload.as_bytes(), limits, now);
        assert!(m.is_ok(), "{payload}: {m:?}");
        let batch = rows_for(&db, &mut rows, topic, payload.as_bytes(), &m)
            .await
            .unwrap();
        store(&db, &batch)
            .await
            .unwrap_or_else(|e| panic!("{payload}: {e:?} {:?}", e.source_chain()));
    }
}

/// MQTT topics are UTF-8 strings, and U+0000 is one: a broker that passes it
/// on (Mosquitto drops the client instead) hands the writer a reject whose
/// topic `text` cannot hold (22021). The writer must make such a topic
/// storable; the decoder's detail already is.
#[tokio::test]
async fn a_topic_holding_nul_is_no_text() {
    let db = TestDb::create().await;
    let topic = "sweepwatch/v1/humen/sw\u{0}/fix";
    let r = decode(topic, b"{}", &Limits::default(), hostile::now()).unwrap_err();
    assert_eq!(r.reason, RejectReason::InvalidTopic);
    assert!(!r.detail.contains('\0'));
    let row = |topic: &str| RejectRow {
        topic: topic.to_owned(),
        payload: b"{}\0".to_vec(),
        reason: r.reason.as_str(),
        detail: r.detail.clone(),
        received_at: hostile::now(),
    };
    let refused = Batch {
        rejects: vec![row(topic)],
        ..Batch::default()
    };
    let e = store(&db, &refused).await.unwrap_err();
    assert_eq!(sqlstate(&e), Some("22021"), "{e:?}");
    let escaped = Batch {
        rejects: vec![row(&topic.replace('\0', "\\0"))],
        ..Batch::default()
    };
    store(&db, &escaped).await.unwrap();
}

trait SourceChain {
    fn source_chain(&self) -> Vec<String>;
}

impl SourceChain for StoreError {
    fn source_chain(&self) -> Vec<String> {
        let mut chain = Vec::new();
        let mut e: Option<&dyn std::error::Error> = std::error::Error::source(self);
        while let Some(s) = e {
            chain.push(s.to_string());
            e = s.source();
        }
        chain
    }
}
