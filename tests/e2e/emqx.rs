//! EMQX's JT/T 808 gateway as an input, end to end: its JSON, shaped as
//! `emqx_jt808_frame.erl` writes it, published by `mosquitto_pub` (a client we
//! did not write) on its default up-link topic `jt808/{clientid}/{phone}/up`
//! to the project's Mosquitto; a real `sweepwatch serve` with
//! `[mqtt] emqx_jt808_topic` stores each position once, on the device mapped
//! to the phone, and keeps what is not a position as a reject. (EMQX itself
//! is not installed here: no registry this project reaches packages it.)

use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::helpers::broker::Broker;
use crate::helpers::db::TestDb;
use crate::helpers::service::Service;
use crate::helpers::{eventually, unique};

const CONFIG: &str = r#"
[mqtt]
emqx_jt808_topic = "jt808/+/+/up"
[jt808]
org = "humen"
kind = "sweeper"
[jt808.work]
sweeper = { source = "status", bit = 0 }
"#;

/// `YYMMDDhhmmss` in Beijing time, as EMQX writes the BCD time.
fn bcd(at: DateTime<Utc>) -> String {
    (at + TimeDelta::hours(8))
        .format("%y%m%d%H%M%S")
        .to_string()
}

fn location(at: DateTime<Utc>, status: u32, alarm: u32) -> String {
    format!(
        r#"{{"alarm":{alarm},"status":{status},"latitude":22814300,"longitude":113672100,"altitude":5,"speed":125,"direction":270,"time":"{}","extra":{{"mileage":12379,"rssi":20}}}}"#,
        bcd(at)
    )
}

fn message(msg_id: u32, phone: &str, sn: u16, body: &str) -> String {
    format!(
        r#"{{"header":{{"encrypt":0,"len":40,"msg_id":{msg_id},"msg_sn":{sn},"phone":"{phone}"}},"body":{body}}}"#
    )
}

fn publish(broker: &Broker, topic: &str, payload: &str) {
    let out = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-q", "1"])
        .args(["-i", &unique("emqx-"), "-t", topic, "-m", payload])
        .output()
        .expect("run mosquitto_pub (apt-get install mosquitto-clients)");
    assert!(out.status.success(), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emqx_jt808_json_is_stored_once_on_the_phones_device_and_the_rest_kept_as_rejects() {
    let broker = Broker::start();
    let db = TestDb::create().await;
    let dir = std::env::temp_dir().join(unique("emqxcfg-"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sweepwatch.toml");
    std::fs::write(&file, CONFIG).unwrap();
    let svc = Service::start(
        &db.url,
        &broker.url(),
        &unique("emqx-"),
        &[("SWEEPWATCH_CONFIG", file.to_str().unwrap())],
    )
    .await;
    // A truck mapped to its terminal's phone beforehand.
    db.client()
        .await
        .execute(
            "INSERT INTO devices (org, name, kind, jt808_phone) VALUES ('humen', 'truck-7', 'collector', '13900000001')",
            &[],
        )
        .await
        .unwrap();

    let t0 = DateTime::from_timestamp(Utc::now().timestamp() - 3600, 0).unwrap();
    let at = |s: i64| t0 + TimeDelta::seconds(s);
    let new_phone = "013800138000";
    let up = |phone: &str| format!("jt808/{phone}/{phone}/up");
    // ACC on and positioned (3), an SOS (alarm bit 0).
    let first = message(512, new_phone, 1, &location(at(0), 3, 1));
    publish(&broker, &up(new_phone), &first);
    // EMQX delivers at least once: the same report again is stored once.
    publish(&broker, &up(new_phone), &first);
    publish(
        &broker,
        &up("013900000001"),
        &message(512, "013900000001", 1, &location(at(0), 2, 0)),
    );
    // A blind-area batch: two positions and one without a fix.
    let batch = format!(
        r#"{{"type":1,"length":3,"location":[{},{},{}]}}"#,
        location(at(1), 2, 0),
        location(at(2), 0, 0),
        location(at(3), 3, 0)
    );
    publish(
        &broker,
        &up(new_phone),
        &message(1796, new_phone, 2, &batch),
    );
    // Not positions: an authentication EMQX relays, and a broken payload.
    publish(
        &broker,
        &up(new_phone),
        &message(258, new_phone, 3, r#"{"code":"abc"}"#),
    );
    publish(&broker, &up(new_phone), r#"{"header":{"msg_id":512"#);

    let (db_ref, rejected, stored) = (
        &db,
        "SELECT count(*) FROM rejected_messages",
        "SELECT count(*) FROM fixes",
    );
    eventually(
        Duration::from_secs(30),
        "the rejects are kept",
        || async move { (db_ref.count(rejected).await >= 3).then_some(()) },
    )
    .await;
    eventually(
        Duration::from_secs(30),
        "the positions are stored",
        || async move { (db_ref.count(stored).await >= 4).then_some(()) },
    )
    .await;
    // Nothing more arrives (the duplicate is not a second row).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(db.count(stored).await, 4);
    assert_eq!(db.count(rejected).await, 3);

    let rows = db
        .client()
        .await
        .query(
            "SELECT d.org, d.name, d.kind, f.ts, f.work, f.sos, f.lat, f.lon, f.speed
             FROM fixes f JOIN devices d ON d.id = f.device_id ORDER BY d.name, f.ts",
            &[],
        )
        .await
        .unwrap();
    type Row = (String, String, DateTime<Utc>, Option<bool>, bool);
    let got: Vec<Row> = rows
        .iter()
        .map(|r| (r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
        .collect();
    let name = "jt808-13800138000".to_owned();
    let (sweeper, collector) = ("sweeper".to_owned(), "collector".to_owned());
    assert_eq!(
        got,
        vec![
            (name.clone(), sweeper.clone(), at(0), Some(true), true),
            (name.clone(), sweeper.clone(), at(1), Some(false), false),
            (name, sweeper, at(3), Some(true), false),
            ("truck-7".into(), collector, at(0), None, false),
        ]
    );
    let (lat, lon, speed): (f64, f64, Option<f32>) =
        (rows[0].get(6), rows[0].get(7), rows[0].get(8));
    assert_eq!((lat, lon, speed), (22.8143, 113.6721, Some(12.5)));
    let phones = db
        .count("SELECT count(*) FROM devices WHERE org = 'humen' AND jt808_phone = '13800138000'")
        .await;
    assert_eq!(phones, 1, "registered by phone, as the listener does");

    let rejects: Vec<(String, String, String)> = db
        .client()
        .await
        .query(
            "SELECT topic, reason, detail FROM rejected_messages ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let reasons: Vec<&str> = rejects.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(
        reasons,
        vec!["invalid_value", "jt808_unsupported", "invalid_json"],
        "{rejects:?}"
    );
    assert!(rejects.iter().all(|r| r.0 == up(new_phone)));
    assert!(rejects[0].2.contains("element 1"), "{}", rejects[0].2);
    drop(svc);
    let _ = std::fs::remove_dir_all(dir);
}
