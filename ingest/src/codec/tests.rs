use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;

use super::*;

fn now() -> DateTime<Utc> {
    "2026-11-27T05:00:00Z".parse().unwrap()
}

fn dec(topic: &str, payload: &str) -> Result<Message, Reject> {
    decode(topic, payload.as_bytes(), &Limits::default(), now())
}

fn reason(topic: &str, payload: &str) -> RejectReason {
    dec(topic, payload).expect_err("should be rejected").reason
}

const T: &str = "sweepwatch/v1/humen/sw-001/fix";

#[test]
fn full_fix_decodes_with_all_fields() {
    let m = dec(
        T,
        r#"{"ts":"2026-11-27T05:00:00.250Z","lat":22.8143,"lon":113.6721,"speed":12.5,
            "heading":270,"acc":4.0,"work":true,"sos":false,"batt":87,"seq":12345,"extra":[1,2]}"#,
    )
    .unwrap();
    let Message::Fix { addr, fix } = m else {
        panic!("not a fix")
    };
    assert_eq!(addr.to_string(), "humen/sw-001");
    assert_eq!(
        fix.ts,
        "2026-11-27T05:00:00.250Z".parse::<DateTime<Utc>>().unwrap()
    );
    assert_eq!((fix.lat, fix.lon), (22.8143, 113.6721));
    assert_eq!(fix.speed, Some(12.5));
    assert_eq!(fix.heading, Some(270.0));
    assert_eq!(fix.acc, Some(4.0));
    assert_eq!(fix.work, Some(true));
    assert!(!fix.sos);
    assert_eq!(fix.batt, Some(87.0));
    assert_eq!(fix.seq, Some(12345));
}

#[test]
fn epoch_millis_and_minimal_fix() {
    let ms = now().timestamp_millis() - 1000;
    let Message::Fix { fix, .. } =
        dec(T, &format!(r#"{{"ts":{ms},"lat":1.5,"lon":2.5}}"#)).unwrap()
    else {
        panic!()
    };
    assert_eq!(fix.ts.timestamp_millis(), ms);
    assert_eq!(fix.speed, None);
    assert!(!fix.sos);
}

#[test]
fn every_reject_class() {
    let ok_ts = "2026-11-27T04:59:00Z";
    let cases: Vec<(&str, String, RejectReason)> = vec![
        ("bad/topic", "{}".into(), RejectReason::InvalidTopic),
        (T, "{not json".into(), RejectReason::InvalidJson),
        (T, r#"{"lat":1,"lon":2}"#.into(), RejectReason::InvalidJson),
        // `ts` of another type than text or an integer, or past i64: not JSON
        // of the contract; text or an integer naming no instant: a bad value.
        (
            T,
            r#"{"ts":1.5e12,"lat":1,"lon":2}"#.into(),
            RejectReason::InvalidJson,
        ),
        (
            T,
            r#"{"ts":true,"lat":1,"lon":2}"#.into(),
            RejectReason::InvalidJson,
        ),
        (
            T,
            r#"{"ts":null,"lat":1,"lon":2}"#.into(),
            RejectReason::InvalidJson,
        ),
        (
            T,
            r#"{"ts":18446744073709551615,"lat":1,"lon":2}"#.into(),
            RejectReason::InvalidJson,
        ),
        (
            T,
            r#"{"ts":"yesterday","lat":1,"lon":2}"#.into(),
            RejectReason::InvalidValue,
        ),
        (
            T,
            r#"{"ts":9223372036854775807,"lat":1,"lon":2}"#.into(),
            RejectReason::InvalidValue,
        ),
        (
            T,
            format!(r#"{{"ts":"{ok_ts}","lat":"22","lon":2}}"#),
            RejectReason::InvalidJson,
        ),
        (
            T,
            format!(r#"{{"ts":"{ok_ts}","lat":91,"lon":2}}"#),
            RejectReason::InvalidValue,
        ),
        (
            T,
            format!(r#"{{"ts":"{ok_ts}","lat":1,"lon":-180.5}}"#),
            RejectReason::InvalidValue,
        ),
        (
            T,
            format!(r#"{{"ts":"{ok_ts}","lat":1,"lon":2,"speed":-1}}"#),
            RejectReason::InvalidValue,
        ),
        (
            T,
            format!(r#"{{"ts":"{ok_ts}","lat":1,"lon":2,"batt":101}}"#),
            RejectReason::InvalidValue,
        ),
        (
            T,
            format!(r#"{{"ts":"{ok_ts}","lat":0,"lon":0}}"#),
            RejectReason::InvalidValue,
        ),
        (
            T,
            format!(r#"{{"ts":"{ok_ts}","lat":1e999,"lon":2}}"#),
            RejectReason::InvalidJson,
        ),
        (
            T,
            r#"{"ts":"yesterday","lat":1,"lon":2}"#.into(),
            RejectReason::InvalidValue,
        ),
        (
            T,
            format!(r#"{{"ts":"{ok_ts}","lat":1,"lon":2,"device":"sw-002"}}"#),
            RejectReason::DeviceMismatch,
        ),
        (
            T,
            r#"{"ts":"2026-11-27T05:05:01Z","lat":1,"lon":2}"#.into(),
            RejectReason::FutureTimestamp,
        ),
        (
            T,
            r#"{"ts":"2026-08-01T00:00:00Z","lat":1,"lon":2}"#.into(),
            RejectReason::StaleTimestamp,
        ),
        (
            T,
            format!(
                r#"{{"ts":"{ok_ts}","lat":1,"lon":2,"pad":"{}"}}"#,
                "x".repeat(70_000)
            ),
            RejectReason::Oversize,
        ),
        (
            "sweepwatch/v1/humen/sw-001/fixes",
            format!(
                "[{}]",
                vec![format!(r#"{{"ts":"{ok_ts}","lat":1,"lon":2}}"#); 1001].join(",")
            ),
            RejectReason::BacklogTooLarge,
        ),
        (
            "sweepwatch/v1/humen/sw-001/fixes",
            "{}".into(),
            RejectReason::InvalidJson,
        ),
        (
            "sweepwatch/v1/humen/sw-001/status",
            r#"{"on":1}"#.into(),
            RejectReason::InvalidJson,
        ),
        (
            "owntracks/li/phone",
            r#"{"_type":"card","name":"Li"}"#.into(),
            RejectReason::UnsupportedType,
        ),
        (
            "owntracks/li/phone",
            r#"{"_type":"location","lat":1,"lon":2}"#.into(),
            RejectReason::InvalidJson,
        ),
        (
            "sweepwatch/v1/humen/sw-001/status",
            r#"{"online":true,"note":"\u0000"}"#.into(),
            RejectReason::Unstorable,
        ),
    ];
    let mut seen = std::collections::HashSet::new();
    for (topic, payload, want) in cases {
        assert_eq!(
            reason(topic, &payload),
            want,
            "{topic} {}",
            &payload[..payload.len().min(80)]
        );
        seen.insert(want);
    }
    // Every MQTT class is exercised above (the JT/T 808 ones by the listener's
    // tests), and every class has a distinct, stable label.
    for r in RejectReason::ALL
        .into_iter()
        .filter(|r| !r.as_str().starts_with("jt808_"))
    {
        assert!(seen.contains(&r), "{r:?} not exercised");
    }
    let labels: std::collections::HashSet<_> =
        RejectReason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(labels.len(), RejectReason::ALL.len());
    assert_eq!(RejectReason::Unstorable.as_str(), "unstorable");
}

#[test]
fn device_field_equal_to_topic_is_fine() {
    assert!(
        dec(
            T,
            r#"{"ts":"2026-11-27T04:59:00Z","lat":1,"lon":2,"device":"sw-001"}"#
        )
        .is_ok()
    );
}

#[test]
fn future_and_age_edges() {
    let at = |d: TimeDelta| {
        format!(
            r#"{{"ts":{},"lat":1,"lon":2}}"#,
            (now() + d).timestamp_millis()
        )
    };
    assert!(dec(T, &at(TimeDelta::minutes(5))).is_ok());
    assert_eq!(
        reason(T, &at(TimeDelta::minutes(5) + TimeDelta::milliseconds(1))),
        RejectReason::FutureTimestamp
    );
    assert!(dec(T, &at(-TimeDelta::days(90))).is_ok());
    assert_eq!(
        reason(T, &at(-TimeDelta::days(90) - TimeDelta::milliseconds(1))),
        RejectReason::StaleTimestamp
    );
}

#[test]
fn backlog_keeps_valid_fixes_and_reports_bad_elements() {
    let m = dec(
        "sweepwatch/v1/humen/sw-001/fixes",
        r#"[{"ts":"2026-11-27T04:00:00Z","lat":1,"lon":2},
            {"ts":"2026-11-27T04:00:01Z","lat":100,"lon":2},
            {"ts":"2026-11-27T04:00:02Z","lat":1.1,"lon":2}]"#,
    )
    .unwrap();
    let Message::Backlog { fixes, rejects, .. } = m else {
        panic!()
    };
    assert_eq!(fixes.len(), 2);
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0].index, 1);
    assert_eq!(rejects[0].reject.reason, RejectReason::InvalidValue);
    assert!(
        std::str::from_utf8(&rejects[0].raw)
            .unwrap()
            .contains("100")
    );
}

#[test]
fn status_and_cleared_status() {
    let m = dec(
        "sweepwatch/v1/humen/sw-001/status",
        r#"{"online":false,"reason":"lwt"}"#,
    )
    .unwrap();
    assert!(matches!(m, Message::Status { online: false, .. }));
    let m = dec("sweepwatch/v1/humen/sw-001/status", "").unwrap();
    assert!(matches!(m, Message::StatusCleared { .. }));
}

#[test]
fn owntracks_location() {
    let tst = now().timestamp() - 30;
    let m = dec(
        "owntracks/li/phone",
        &format!(r#"{{"_type":"location","lat":22.81,"lon":113.67,"tst":{tst},"vel":4,"cog":90,"acc":8,"batt":55,"tid":"LI","conn":"m"}}"#),
    )
    .unwrap();
    let Message::OwnTracks { user, device, fix } = m else {
        panic!()
    };
    assert_eq!((user.as_str(), device.as_str()), ("li", "phone"));
    assert_eq!(fix.ts.timestamp(), tst);
    assert_eq!(
        (fix.speed, fix.heading, fix.acc, fix.batt),
        (Some(4.0), Some(90.0), Some(8.0), Some(55.0))
    );
}

fn wire(f: &Fix) -> String {
    let mut v = serde_json::json!({"ts": f.ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true), "lat": f.lat, "lon": f.lon, "sos": f.sos});
    let o = v.as_object_mut().unwrap();
    if let Some(x) = f.speed {
        o.insert("speed".into(), x.into());
    }
    if let Some(x) = f.heading {
        o.insert("heading".into(), x.into());
    }
    if let Some(x) = f.acc {
        o.insert("acc".into(), x.into());
    }
    if let Some(x) = f.work {
        o.insert("work".into(), x.into());
    }
    if let Some(x) = f.batt {
        o.insert("batt".into(), x.into());
    }
    if let Some(x) = f.seq {
        o.insert("seq".into(), x.into());
    }
    v.to_string()
}

fn arb_fix() -> impl Strategy<Value = Fix> {
    (
        -86_400_000i64..300_000,
        (-90.0f64..=90.0, -180.0f64..=180.0)
            .prop_filter("not 0,0", |(a, b)| *a != 0.0 || *b != 0.0),
        proptest::option::of(0.0f64..500.0),
        proptest::option::of(0.0f64..=360.0),
        proptest::option::of(0.0f64..1000.0),
        proptest::option::of(any::<bool>()),
        any::<bool>(),
        proptest::option::of(0.0f64..=100.0),
        proptest::option::of(0i64..i64::MAX),
    )
        .prop_map(
            |(dt, (lat, lon), speed, heading, acc, work, sos, batt, seq)| Fix {
                ts: now() + TimeDelta::milliseconds(dt),
                lat,
                lon,
                speed,
                heading,
                acc,
                work,
                sos,
                batt,
                seq,
            },
        )
}

proptest! {
    #[test]
    fn fix_round_trips(f in arb_fix()) {
        let Message::Fix { fix, .. } = dec(T, &wire(&f)).unwrap() else { panic!() };
        prop_assert_eq!(fix, f);
    }

    #[test]
    fn backlog_round_trips(fs in proptest::collection::vec(arb_fix(), 0..20)) {
        let payload = format!("[{}]", fs.iter().map(wire).collect::<Vec<_>>().join(","));
        let Message::Backlog { fixes, rejects, .. } = dec("sweepwatch/v1/humen/sw-001/fixes", &payload).unwrap() else { panic!() };
        prop_assert!(rejects.is_empty());
        prop_assert_eq!(fixes, fs);
    }

    #[test]
    fn arbitrary_bytes_never_panic(topic in "[a-z0-9/+#._-]{0,60}", payload in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&topic, &payload, &Limits::default(), now());
        let _ = decode(T, &payload, &Limits::default(), now());
        let _ = decode("sweepwatch/v1/humen/sw-001/fixes", &payload, &Limits::default(), now());
        let _ = decode("owntracks/u/d", &payload, &Limits::default(), now());
    }

    #[test]
    fn arbitrary_json_shaped_text_never_panics(payload in r#"[\[\]{}",:0-9a-z.eE+-]{0,200}"#) {
        let _ = decode(T, payload.as_bytes(), &Limits::default(), now());
        let _ = decode("sweepwatch/v1/humen/sw-001/status", payload.as_bytes(), &Limits::default(), now());
    }
}

/// DESIGN.md: a `.../fix` up to 64 KiB, a `.../fixes` backlog up to 256 KiB
/// (1,000 full fixes are about 130 KB).
#[test]
fn backlogs_may_be_256_kib_single_messages_64() {
    let one = r#"{"ts":"2026-11-27T04:59:00.250Z","lat":22.8143,"lon":113.6721,"speed":12.5,"heading":270,"acc":4.0,"work":true,"sos":false,"batt":87,"seq":12345}"#;
    let full = format!("[{}]", vec![one; 1000].join(","));
    assert!(
        full.len() > 64 * 1024 && full.len() < 256 * 1024,
        "{}",
        full.len()
    );
    match dec("sweepwatch/v1/humen/sw-001/fixes", &full).unwrap() {
        Message::Backlog { fixes, rejects, .. } => {
            assert_eq!((fixes.len(), rejects.len()), (1000, 0))
        }
        other => panic!("{other:?}"),
    }
    let pad = " ".repeat(257 * 1024);
    let over = format!("[{one}{pad}]");
    assert_eq!(
        reason("sweepwatch/v1/humen/sw-001/fixes", &over),
        RejectReason::Oversize
    );
    let fix_over = format!("{{\"ts\":1,\"lat\":1,\"lon\":1{}}}", " ".repeat(65 * 1024));
    assert_eq!(reason(T, &fix_over), RejectReason::Oversize);
}

#[test]
fn a_status_is_an_object() {
    let s = "sweepwatch/v1/humen/sw-001/status";
    assert!(dec(s, r#"{"online":true}"#).is_ok());
    assert_eq!(reason(s, "[true]"), RejectReason::InvalidJson);
    assert_eq!(reason(s, "true"), RejectReason::InvalidJson);
}
