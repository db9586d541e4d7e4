//! The decoder refuses what the store cannot hold: edge cases one by one, then
//! hostile generators (see `hostile`) with the storable invariant checked on
//! everything accepted. `tests/storable.rs` stores the same in PostgreSQL.

use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;
use serde_json::Value;

use super::hostile::{self, FIX, FIXES, OWNTRACKS, STATUS, now};
use super::*;

fn dec(topic: &str, payload: &str) -> Result<Message, Reject> {
    decode(topic, payload.as_bytes(), &Limits::default(), now())
}

fn refused(topic: &str, payload: &str) -> Reject {
    dec(topic, payload).expect_err("should be refused")
}

/// Limits that let any timestamp through the window, so only the store's
/// bounds are left.
fn open_window() -> Limits {
    Limits {
        max_future: TimeDelta::MAX,
        max_age: TimeDelta::MAX,
        ..Limits::default()
    }
}

/// The invariant, written again without the codec's code: what the writer
/// stores from a message fits PostgreSQL's columns.
fn independently_storable(m: &Message) -> bool {
    fn fix_ok(f: &Fix) -> bool {
        f.ts >= "-4713-11-24T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
            && f.lat.is_finite()
            && f.lon.is_finite()
            && [f.speed, f.heading, f.acc, f.batt]
                .iter()
                .flatten()
                .all(|x| (*x as f32).is_finite())
    }
    match m {
        Message::Fix { fix, .. } | Message::OwnTracks { fix, .. } => fix_ok(fix),
        Message::Backlog { fixes, rejects, .. } => {
            fixes.iter().all(fix_ok) && rejects.iter().all(|e| !e.reject.detail.contains('\0'))
        }
        Message::Status { status, .. } => !holds_nul(status),
        Message::StatusCleared { .. } => true,
        Message::Jt808Relay(r) => {
            r.fixes.iter().all(fix_ok) && r.rejects.iter().all(|e| !e.reject.detail.contains('\0'))
        }
    }
}

fn holds_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(holds_nul),
        Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// Decodes with both limits and checks the invariant on the outcome.
fn check(topic: &str, payload: &[u8]) -> Result<(), TestCaseError> {
    for limits in [Limits::default(), open_window()] {
        match decode(topic, payload, &limits, now()) {
            Ok(m) => {
                prop_assert!(m.check_storable().is_ok(), "{m:?}");
                prop_assert!(independently_storable(&m), "{m:?}");
            }
            Err(r) => {
                prop_assert!(!r.detail.contains('\0'), "{r:?}");
                prop_assert!(r.check_storable().is_ok());
            }
        }
    }
    Ok(())
}

#[test]
fn status_with_nul_is_unstorable() {
    // The poison message of the issue: jsonb refuses it (22P05).
    let r = refused(STATUS, r#"{"online":true,"note":"\u0000"}"#);
    assert_eq!(r.reason, RejectReason::Unstorable);
    assert!(r.detail.contains(r#"$["note"]"#), "{}", r.detail);
    for (payload, path) in [
        (r#"{"online":true,"\u0000":1}"#, r#"$ (key "\0")"#),
        (
            r#"{"online":true,"a":[1,{"b":"x\u0000y"}]}"#,
            r#"$["a"][1]["b"]"#,
        ),
        (
            r#"{"online":true,"a":{"b\u0000":null}}"#,
            r#"$["a"] (key "b\0")"#,
        ),
        (r#"{"online":true,"a":"\\\u0000"}"#, r#"$["a"]"#),
        (
            r#"{"online":true,"a":[[[["\u0000"]]]]}"#,
            r#"$["a"][0][0][0][0]"#,
        ),
    ] {
        let r = refused(STATUS, payload);
        assert_eq!(r.reason, RejectReason::Unstorable, "{payload}");
        assert!(r.detail.contains(path), "{payload}: {}", r.detail);
        assert!(!r.detail.contains('\0'));
    }
}

#[test]
fn an_escaped_backslash_before_u0000_is_text() {
    // `\\u0000` is a backslash and "u0000": jsonb stores it.
    let Message::Status { status, .. } =
        dec(STATUS, r#"{"online":true,"path":"C:\\u0000"}"#).unwrap()
    else {
        panic!()
    };
    assert_eq!(status["path"], "C:\\u0000");
}

#[test]
fn nul_where_nothing_is_stored_is_fine() {
    // An unknown member of a fix is not stored, so its NUL harms nothing.
    let m = dec(
        T,
        r#"{"ts":"2026-11-27T04:59:00Z","lat":1,"lon":2,"x":"\u0000"}"#,
    );
    assert!(m.unwrap().check_storable().is_ok());
}

const T: &str = FIX;

#[test]
fn lone_surrogates_are_invalid_json() {
    for s in [r"\ud800", r"\udc00", r"\ud800\u0000", r"\udbff\ud800"] {
        let status = format!(r#"{{"online":true,"note":"{s}"}}"#);
        assert_eq!(
            refused(STATUS, &status).reason,
            RejectReason::InvalidJson,
            "{s}"
        );
        let key = format!(r#"{{"online":true,"{s}":1}}"#);
        assert_eq!(
            refused(STATUS, &key).reason,
            RejectReason::InvalidJson,
            "{s}"
        );
        let fix = format!(r#"{{"ts":"2026-11-27T04:59:00Z","lat":1,"lon":2,"device":"{s}"}}"#);
        assert_eq!(refused(T, &fix).reason, RejectReason::InvalidJson, "{s}");
    }
    let ok = dec(
        STATUS,
        r#"{"online":true,"note":"\ud83d\ude00 \udbff\udfff"}"#,
    )
    .unwrap();
    assert!(ok.check_storable().is_ok());
}

#[test]
fn numbers_past_f64_are_invalid_json_and_big_integers_become_floats() {
    for n in ["1e400", "-1e400", "1e131072"] {
        let status = format!(r#"{{"online":true,"n":{n}}}"#);
        assert_eq!(
            refused(STATUS, &status).reason,
            RejectReason::InvalidJson,
            "{n}"
        );
    }
    // Past i64/u64 serde_json keeps an f64, which jsonb's numeric holds.
    for n in [
        "18446744073709551616",
        "-9223372036854775809",
        "123456789012345678901234567890123456789",
        "1.7976931348623157e308",
        "5e-324",
        "1e-400",
    ] {
        let status = format!(r#"{{"online":true,"n":{n}}}"#);
        let Message::Status { status, .. } = dec(STATUS, &status).unwrap() else {
            panic!()
        };
        assert!(status["n"].as_f64().unwrap().is_finite(), "{n}");
    }
}

#[test]
fn seq_outside_int8_is_refused() {
    let fix = |seq: &str| format!(r#"{{"ts":"2026-11-27T04:59:00Z","lat":1,"lon":2,"seq":{seq}}}"#);
    for seq in [
        "18446744073709551616",
        "9223372036854775808",
        "-9223372036854775809",
        "1e400",
        "1.5",
    ] {
        assert_eq!(
            refused(T, &fix(seq)).reason,
            RejectReason::InvalidJson,
            "{seq}"
        );
    }
    assert_eq!(refused(T, &fix("-1")).reason, RejectReason::InvalidValue);
    let Message::Fix { fix, .. } = dec(T, &fix("9223372036854775807")).unwrap() else {
        panic!()
    };
    assert_eq!(fix.seq, Some(i64::MAX));
}

#[test]
fn float4_columns_are_range_checked_before_the_cast() {
    let fix =
        |f: &str, v: &str| format!(r#"{{"ts":"2026-11-27T04:59:00Z","lat":1,"lon":2,"{f}":{v}}}"#);
    for f in ["speed", "heading", "acc", "batt"] {
        for v in ["3.5e38", "1e39", "1.7976931348623157e308"] {
            assert_eq!(
                refused(T, &fix(f, v)).reason,
                RejectReason::InvalidValue,
                "{f} {v}"
            );
        }
        // Tiny values round to 0 in a float4: stored as 0.
        assert!(dec(T, &fix(f, "1e-300")).unwrap().check_storable().is_ok());
    }
}

#[test]
fn nesting_stops_at_serde_jsons_limit_far_below_jsonbs() {
    // serde_json parses 127 levels (its recursion limit is 128; the status
    // object counts as one); PostgreSQL's jsonb takes over 10,000 with the
    // default max_stack_depth of 2 MB.
    let nested = |levels: usize| {
        format!(
            r#"{{"online":true,"a":{}"\u0000"{}}}"#,
            "[".repeat(levels - 1),
            "]".repeat(levels - 1)
        )
    };
    assert_eq!(
        refused(STATUS, &nested(127)).reason,
        RejectReason::Unstorable
    );
    assert_eq!(
        refused(STATUS, &nested(128)).reason,
        RejectReason::InvalidJson
    );
    let deepest = format!(
        r#"{{"online":true,"a":{}1{}}}"#,
        "[".repeat(126),
        "]".repeat(126)
    );
    assert!(dec(STATUS, &deepest).is_ok());
}

#[test]
fn timestamps_before_postgres_begins_are_unstorable() {
    let at = |ms: i64| format!(r#"{{"ts":{ms},"lat":1,"lon":2}}"#);
    let first_ms = storable::PG_MIN_TIMESTAMP_MICROS / 1000;
    let open = open_window();
    let ok = decode(T, at(first_ms).as_bytes(), &open, now()).unwrap();
    assert!(ok.check_storable().is_ok());
    for ms in [first_ms - 1, -8_210_298_412_800_000] {
        let r = decode(T, at(ms).as_bytes(), &open, now()).unwrap_err();
        assert_eq!(r.reason, RejectReason::Unstorable, "{ms}");
    }
    // chrono's latest instant is before PostgreSQL's.
    assert!(decode(T, at(8_210_266_876_799_999).as_bytes(), &open, now()).is_ok());
    // A window wider than chrono's range no longer overflows.
    let wide = limits_for_retention(u32::MAX);
    assert!(decode(T, at(first_ms - 1).as_bytes(), &wide, now()).is_err());
}

#[test]
fn details_never_hold_nul() {
    let cases = [
        (
            T,
            r#"{"ts":"2026-11-27T04:59:00Z","lat":1,"lon":2,"device":"\u0000"}"#,
        ),
        (OWNTRACKS, r#"{"_type":"\u0000"}"#),
        (STATUS, r#"{"online":"\u0000"}"#),
        (STATUS, r#"{"online":true,"\u0000":"\u0000"}"#),
        (T, r#"{"ts":"\u0000","lat":1,"lon":2}"#),
        ("sweepwatch/v1/humen/sw\u{0}/fix", "{}"),
        ("\u{0}", "{}"),
    ];
    for (topic, payload) in cases {
        let r = refused(topic, payload);
        assert!(!r.detail.contains('\0'), "{topic:?} {payload}: {r:?}");
    }
    assert_eq!(
        Reject::new(RejectReason::InvalidValue, "a\0b").detail,
        "a\\0b"
    );
    let Message::Backlog { rejects, .. } = dec(
        FIXES,
        r#"[{"ts":"2026-11-27T04:59:00Z","lat":1,"lon":2,"device":"\u0000"}]"#,
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(rejects[0].reject.reason, RejectReason::DeviceMismatch);
    assert!(!rejects[0].reject.detail.contains('\0'));
}

#[test]
fn the_prefilter_sees_every_nul_escape() {
    assert!(storable::may_hold_nul(br#""\u0000""#));
    assert!(storable::may_hold_nul(br#""\\u0000""#)); // a false alarm, settled by the walk
    assert!(storable::may_hold_nul(br#"\\\u0000"#));
    assert!(!storable::may_hold_nul(br#""\u000a\u000"#));
    assert!(!storable::may_hold_nul(br#"{"a":"\u0001","b":"u0000\\"}"#));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn hostile_messages_never_panic_and_what_is_accepted_is_storable(
        (topic, payload) in hostile::message(true)
    ) {
        check(&topic, &payload)?;
    }

    /// A status is refused as unstorable exactly when, parsed, it holds a NUL.
    #[test]
    fn status_is_unstorable_exactly_when_it_holds_nul(payload in hostile::status_payload()) {
        let result = dec(STATUS, &payload);
        let parsed: Option<Value> = serde_json::from_str(&payload).ok();
        if let Some(v) = parsed.filter(|v| v.get("online").is_some_and(Value::is_boolean)) {
            if holds_nul(&v) {
                prop_assert_eq!(result.unwrap_err().reason, RejectReason::Unstorable);
            } else {
                prop_assert!(result.is_ok(), "{:?}", result);
            }
        } else {
            prop_assert!(result.is_err());
        }
    }

    #[test]
    fn random_unicode_and_bytes_on_every_topic(
        text in any::<String>(),
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        for topic in [FIX, FIXES, STATUS, OWNTRACKS, text.as_str()] {
            check(topic, text.as_bytes())?;
            check(topic, &bytes)?;
        }
    }
}
