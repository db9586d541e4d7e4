//! `ingest::codec::decode` on arbitrary (topic, payload) pairs: it never
//! panics, an accepted message holds nothing PostgreSQL cannot store, and a
//! reject's detail is storable text. See README.md for the input format.

#![no_main]

use chrono::{DateTime, TimeDelta};
use ingest::codec::{Fix, Limits, Message, decode};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const NOW_MS: i64 = 1_795_755_600_000; // 2026-11-27T05:00:00Z
/// The earliest timestamptz, 4714-11-24 00:00:00 UTC BC, in µs since 1970.
const PG_MIN_MICROS: i64 = -210_866_803_200_000_000;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (topic, payload): (String, &[u8]) = match selector.to_ascii_lowercase() {
        b'f' => ("sweepwatch/v1/humen/sw-001/fix".into(), rest),
        b'b' => ("sweepwatch/v1/humen/sw-001/fixes".into(), rest),
        b's' => ("sweepwatch/v1/humen/sw-001/status".into(), rest),
        b'o' => ("owntracks/li/phone".into(), rest),
        // Any other first byte: the topic runs to the first newline.
        _ => {
            let (topic, payload) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &[][..]),
            };
            (String::from_utf8_lossy(topic).into_owned(), payload)
        }
    };
    // An upper-case selector opens the time window: only the store's bounds
    // are left to refuse a timestamp.
    let limits = if selector.is_ascii_uppercase() {
        Limits {
            max_future: TimeDelta::MAX,
            max_age: TimeDelta::MAX,
            ..Limits::default()
        }
    } else {
        Limits::default()
    };
    let now = DateTime::from_timestamp_millis(NOW_MS).unwrap();
    match decode(&topic, payload, &limits, now) {
        Ok(m) => {
            if let Err(r) = m.check_storable() {
                panic!("accepted but unstorable ({r}): {m:?}");
            }
            assert!(storable(&m), "accepted but unstorable: {m:?}");
        }
        Err(r) => {
            assert!(!r.detail.contains('\0'), "NUL in a detail: {r:?}");
        }
    }
});

/// The invariant again, written apart from the codec's own check.
fn storable(m: &Message) -> bool {
    match m {
        Message::Fix { fix, .. } | Message::OwnTracks { fix, .. } => fix_storable(fix),
        Message::Backlog { fixes, rejects, .. } => {
            fixes.iter().all(fix_storable)
                && rejects.iter().all(|e| !e.reject.detail.contains('\0'))
        }
        Message::Status { status, .. } => !holds_nul(status) && numbers_finite(status),
        Message::StatusCleared { .. } => true,
    }
}

fn fix_storable(f: &Fix) -> bool {
    f.ts.timestamp_micros() >= PG_MIN_MICROS
        && f.lat.is_finite()
        && f.lon.is_finite()
        && [f.speed, f.heading, f.acc, f.batt]
            .iter()
            .flatten()
            .all(|x| (*x as f32).is_finite())
}

fn holds_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(holds_nul),
        Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

fn numbers_finite(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.as_f64().is_some_and(f64::is_finite),
        Value::Array(a) => a.iter().all(numbers_finite),
        Value::Object(o) => o.values().all(numbers_finite),
        _ => true,
    }
}
