//! EMQX's JT/T 808 JSON. The payloads are shaped as EMQX's own test suite
//! expects its gateway to publish them: `apps/emqx_gateway_jt808/test/
//! emqx_jt808_SUITE.erl` (emqx/emqx at 50e0438), `location_report/0`
//! (lines 401-455), `location_report_28bytes/0` (lines 457-482) and the 0x0200
//! test (lines 1622-1635: the header with `phone` as the string
//! `"000123456789"`); the body fields are those `parse_location_report/2`
//! writes in `src/emqx_jt808_frame.erl` (lines 552-570), the batch those of
//! `parse_message_body(?MC_BULK_LOCATION_REPORT, ...)` (lines 443-451).

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use proptest::prelude::*;

use super::{MSG_BATCH, decode};
use crate::codec::hostile::{self, Json};
use crate::codec::{Limits, Message, Reject, RejectReason, Relay};

/// EMQX's suite reports from 2017: a window that takes them.
fn open() -> Limits {
    Limits {
        max_future: TimeDelta::MAX,
        max_age: TimeDelta::MAX,
        ..Limits::default()
    }
}

fn now() -> DateTime<Utc> {
    hostile::now()
}

/// `location_report/0` of EMQX's suite, as its gateway publishes it.
const SUITE_REPORT: &str = r#"{
  "header": {"encrypt": 0, "len": 63, "msg_id": 512, "msg_sn": 1, "phone": "000123456789"},
  "body": {
    "alarm": 2, "status": 3, "latitude": 1000, "longitude": 1001, "altitude": 2000,
    "speed": 135, "direction": 32, "time": "171022111553",
    "extra": {
      "mileage": 12379, "fuel_meter": 972, "speed": 29, "alarm_id": 18,
      "overspeed_alarm": {"type": 2, "id": 29},
      "in_out_alarm": {"type": 8, "id": 23, "direction": 89},
      "path_time_alarm": {"id": 45, "time": 21, "result": 1}
    }
  }
}"#;

fn relay(m: Message) -> Relay {
    match m {
        Message::Jt808Relay(r) => *r,
        other => panic!("not a relay: {other:?}"),
    }
}

fn refused(payload: &str, limits: &Limits) -> Reject {
    decode(payload.as_bytes(), limits, now()).expect_err(payload)
}

/// A report as EMQX writes it, in 2026 (inside the default window).
fn report(lat: u32, status: u32, time: &str) -> String {
    format!(
        r#"{{"alarm":1,"status":{status},"latitude":{lat},"longitude":113672100,"altitude":5,"speed":125,"direction":270,"time":"{time}"}}"#
    )
}

fn batch(reports: &[String]) -> String {
    format!(
        r#"{{"header":{{"msg_id":1796,"encrypt":0,"len":99,"phone":"013800138000","msg_sn":7}},"body":{{"type":1,"length":{},"location":[{}]}}}}"#,
        reports.len(),
        reports.join(",")
    )
}

#[test]
fn emqx_suite_report_becomes_the_listeners_fix() {
    let r = relay(decode(SUITE_REPORT.as_bytes(), &open(), now()).unwrap());
    assert_eq!(
        r.phone, "123456789",
        "leading zeros dropped, as the listener does"
    );
    assert!(!r.batch);
    let fix = &r.fixes[0];
    // 171022111553 is Beijing time: 03:15:53 UTC.
    assert_eq!(
        fix.ts,
        Utc.with_ymd_and_hms(2017, 10, 22, 3, 15, 53).unwrap()
    );
    assert_eq!((fix.lat, fix.lon), (0.001, 0.001001));
    assert_eq!((fix.speed, fix.heading), (Some(13.5), Some(32.0)));
    assert!(!fix.sos, "alarm 2 is not the emergency bit");
    assert_eq!(fix.work, None, "read by the writer once the kind is known");
    // The same report as the listener reads it from the terminal's bytes.
    let report = &r.reports[0];
    assert_eq!((report.alarm, report.status), (2, 3));
    let ids: Vec<(u8, Vec<u8>)> = report
        .extras
        .iter()
        .map(|e| (e.id, e.value.clone()))
        .collect();
    assert!(ids.contains(&(0x01, 12379u32.to_be_bytes().to_vec())));
    assert!(ids.contains(&(0x02, 972u16.to_be_bytes().to_vec())));
    assert!(ids.contains(&(0x03, 29u16.to_be_bytes().to_vec())));
    assert!(ids.contains(&(0x04, 18u16.to_be_bytes().to_vec())));
}

#[test]
fn emqx_suite_28_byte_report_and_a_numeric_phone() {
    let body = r#"{"alarm":2,"status":3,"latitude":1000,"longitude":1001,"altitude":2000,"speed":135,"direction":32,"time":"171022111553"}"#;
    // EMQX's data exchange guide shows the phone as a number.
    let payload = format!(
        r#"{{"header":{{"encrypt":0,"len":28,"msg_id":512,"msg_sn":1,"phone":13900000000}},"body":{body}}}"#
    );
    let r = relay(decode(payload.as_bytes(), &open(), now()).unwrap());
    assert_eq!(r.phone, "13900000000");
    assert!(r.reports[0].extras.is_empty());
}

#[test]
fn south_west_sos_and_2019_headers() {
    // Status: positioned | south | west; alarm bit 0; a 2019 header (20-digit phone).
    let payload = r#"{"header":{"msg_id":512,"encrypt":0,"len":28,"proto_ver":1,"phone":"00000000013800138000","msg_sn":9},
        "body":{"alarm":1,"status":14,"latitude":22814300,"longitude":113672100,"altitude":5,"speed":0,"direction":0,"time":"261127130000"}}"#;
    let r = relay(decode(payload.as_bytes(), &Limits::default(), now()).unwrap());
    assert_eq!(r.phone, "13800138000");
    let f = &r.fixes[0];
    assert_eq!((f.lat, f.lon), (-22.8143, -113.6721));
    assert!(f.sos);
    assert_eq!(f.ts, now(), "13:00 in Beijing is 05:00 UTC");
}

#[test]
fn a_batch_keeps_its_good_reports_and_its_bad_ones_apart() {
    let good = report(22_814_300, 2, "261127125900");
    let unpositioned = report(22_814_300, 0, "261127125900");
    let bad_time = report(22_814_300, 2, "26112712590A");
    let too_far = report(91_000_000, 2, "261127125900");
    let payload = batch(&[good.clone(), unpositioned, bad_time, too_far, good]);
    let r = relay(decode(payload.as_bytes(), &Limits::default(), now()).unwrap());
    assert!(r.batch);
    assert_eq!(r.fixes.len(), 2);
    assert_eq!(r.reports.len(), 2);
    let indexes: Vec<usize> = r.rejects.iter().map(|e| e.index).collect();
    assert_eq!(indexes, vec![1, 2, 3]);
    assert!(
        r.rejects
            .iter()
            .all(|e| e.reject.reason == RejectReason::InvalidValue)
    );
    assert!(
        r.rejects[1].raw.starts_with(b"{\"alarm\""),
        "the element's JSON is kept"
    );
}

#[test]
fn a_batch_over_the_backlog_limit_is_refused_whole() {
    let limits = Limits {
        max_backlog: 3,
        ..Limits::default()
    };
    let good = report(22_814_300, 2, "261127125900");
    let r = refused(&batch(&vec![good; 4]), &limits);
    assert_eq!(r.reason, RejectReason::BacklogTooLarge);
    assert_eq!(MSG_BATCH, 1796);
}

#[test]
fn other_messages_are_kept_as_unsupported() {
    // 0x0102 authentication, as EMQX would publish a message it relays.
    let auth = r#"{"header":{"msg_id":258,"encrypt":0,"len":6,"phone":"000123456789","msg_sn":2},"body":{"code":"abcdef"}}"#;
    let r = refused(auth, &open());
    assert_eq!(r.reason, RejectReason::Jt808Unsupported);
    assert!(r.detail.contains("0x0102"), "{}", r.detail);
    // A message EMQX does not know: `unknown_id` and base64 data.
    let unknown = r#"{"header":{"msg_id":61441,"encrypt":0,"len":2,"phone":"1","msg_sn":2},"body":{"unknown_id":true,"data":"AAE="}}"#;
    assert_eq!(
        refused(unknown, &open()).reason,
        RejectReason::Jt808Unsupported
    );
}

#[test]
fn what_is_not_emqx_json_is_refused_with_a_reason() {
    let ok_body = report(22_814_300, 2, "261127125900");
    let with = |header: &str, body: &str| format!(r#"{{"header":{header},"body":{body}}}"#);
    let h = r#"{"msg_id":512,"phone":"13800138000"}"#;
    for (payload, reason) in [
        ("", RejectReason::InvalidJson),
        ("[]", RejectReason::InvalidJson),
        (r#"{"header":{"msg_id":512}}"#, RejectReason::InvalidJson),
        (
            &with(r#"{"msg_id":512,"phone":"13a"}"#, &ok_body),
            RejectReason::InvalidValue,
        ),
        (
            &with(r#"{"msg_id":512,"phone":"1\u0000"}"#, &ok_body),
            RejectReason::InvalidValue,
        ),
        (
            &with(
                r#"{"msg_id":512,"phone":"123456789012345678901"}"#,
                &ok_body,
            ),
            RejectReason::InvalidValue,
        ),
        (
            &with(r#"{"msg_id":-1,"phone":"1"}"#, &ok_body),
            RejectReason::InvalidJson,
        ),
        (
            &with(h, &ok_body.replace("22814300", "4294967296")),
            RejectReason::InvalidJson,
        ),
        (
            &with(h, &ok_body.replace("22814300", "-1")),
            RejectReason::InvalidJson,
        ),
        (
            &with(h, &ok_body.replace("22814300", "22.8")),
            RejectReason::InvalidJson,
        ),
        (
            &with(h, &ok_body.replace("\"speed\":125", "\"speed\":65536")),
            RejectReason::InvalidJson,
        ),
        (
            &with(h, &ok_body.replace("261127125900", "2611271259\u{0}0")),
            RejectReason::InvalidJson,
        ),
        (
            &with(h, &ok_body.replace("261127125900", "2611271259\\u00000")),
            RejectReason::InvalidValue,
        ),
        (
            &with(h, &ok_body.replace("261127125900", "261327125900")),
            RejectReason::InvalidValue,
        ),
        (
            &with(h, &ok_body.replace("261127125900", "２６1127125900")),
            RejectReason::InvalidValue,
        ),
        (
            &with(h, &ok_body.replace("261127125900", "991127125900")),
            RejectReason::FutureTimestamp,
        ),
        (
            &with(h, &ok_body.replace("261127125900", "001127125900")),
            RejectReason::StaleTimestamp,
        ),
        (
            &with(
                h,
                &ok_body.replace("\"direction\":270", "\"direction\":360"),
            ),
            RejectReason::InvalidValue,
        ),
    ] {
        let r = refused(payload, &Limits::default());
        assert_eq!(r.reason, reason, "{payload}: {r}");
        assert!(!r.detail.contains('\0'));
    }
}

#[test]
fn oversize_payloads_are_refused_before_parsing() {
    let limits = Limits::default();
    let big = format!(
        r#"{{"header":{{"msg_id":512,"phone":"1"}},"body":{},"pad":"{}"}}"#,
        report(22_814_300, 2, "261127125900"),
        "x".repeat(limits.max_payload)
    );
    assert_eq!(refused(&big, &limits).reason, RejectReason::Oversize);
    let huge = " ".repeat(limits.max_backlog_payload + 1);
    assert_eq!(refused(&huge, &limits).reason, RejectReason::Oversize);
}

#[test]
fn vendor_and_unknown_items_come_back_for_the_work_bit() {
    let extra: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
        r#"{"analog":{"ad0":1,"ad1":2},"rssi":20,"gnss_sat_num":7,"carriage_temp":-5,
            "37":"AAAACA==","custome":{"225":"AQ==","300":"AQ==","226":"not base64!"},
            "mileage":4294967296,"speed":-1}"#,
    )
    .unwrap();
    let items = super::extras(&extra);
    let get = |id: u8| items.iter().find(|e| e.id == id).map(|e| e.value.clone());
    assert_eq!(get(0x2B), Some(vec![0, 2, 0, 1]), "AD1 high word, AD0 low");
    assert_eq!(get(0x30), Some(vec![20]));
    assert_eq!(get(0x31), Some(vec![7]));
    assert_eq!(get(0x06), Some((-5i16).to_be_bytes().to_vec()));
    assert_eq!(get(37), Some(vec![0, 0, 0, 8]), "an id EMQX left raw");
    assert_eq!(get(225), Some(vec![1]), "a vendor item");
    assert_eq!(get(226), None, "bad base64 is left out");
    assert_eq!(get(0x01), None, "a mileage past 32 bits is left out");
    assert_eq!(get(0x03), None, "a negative speed is left out");
    let work = jt808::WorkBit::Extra { id: 225, bit: 0 };
    let r = jt808::LocationReport {
        alarm: 0,
        status: 2,
        lat: 1,
        lon: 1,
        altitude: 0,
        speed: 0,
        direction: 0,
        time: jt808::BcdTime([0x26, 0x11, 0x27, 0x13, 0, 0]),
        extras: items,
    };
    assert_eq!(work.read(&r), Some(true));
}

/// A body shaped like EMQX's, with hostile values in every field.
fn hostile_body() -> impl Strategy<Value = Json> {
    let field = |name: &'static str| {
        prop_oneof![
            4 => (0u32..=u32::MAX).prop_map(|n| Json::Num(n.to_string())),
            1 => hostile::number().prop_map(Json::Num),
            1 => hostile::json(),
        ]
        .prop_map(move |v| (name.to_owned(), v))
    };
    let time = prop_oneof![
        3 => "[0-9]{12}".prop_map(Json::Str),
        1 => hostile::text().prop_map(Json::Str),
    ];
    (
        [
            field("alarm"),
            field("status"),
            field("latitude"),
            field("longitude"),
            field("altitude"),
            field("speed"),
            field("direction"),
        ],
        time,
        proptest::option::of(hostile::json()),
    )
        .prop_map(|(fields, time, extra)| {
            let mut obj: Vec<(String, Json)> = fields.into_iter().collect();
            obj.push(("time".into(), time));
            if let Some(e) = extra {
                obj.push(("extra".into(), e));
            }
            Json::Obj(obj)
        })
}

fn hostile_payload() -> impl Strategy<Value = String> {
    let phone = prop_oneof![
        3 => "[0-9]{1,20}".prop_map(Json::Str),
        1 => hostile::text().prop_map(Json::Str),
        1 => hostile::number().prop_map(Json::Num),
    ];
    let msg_id = prop_oneof![
        Just("512".to_owned()),
        Just("1796".to_owned()),
        hostile::number()
    ];
    let body = prop_oneof![
        2 => hostile_body(),
        1 => proptest::collection::vec(hostile_body(), 0..5).prop_map(|l| Json::Obj(vec![
            ("type".into(), Json::Num("1".into())),
            ("location".into(), Json::Arr(l)),
        ])),
        1 => hostile::json(),
    ];
    (phone, msg_id, body).prop_map(|(phone, msg_id, body)| {
        Json::Obj(vec![
            (
                "header".into(),
                Json::Obj(vec![
                    ("msg_id".into(), Json::Num(msg_id)),
                    ("phone".into(), phone),
                ]),
            ),
            ("body".into(), body),
        ])
        .render()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whatever EMQX-shaped JSON arrives, decoding does not panic, and what
    /// it accepts the store can hold.
    #[test]
    fn hostile_emqx_json_is_refused_or_storable(payload in hostile_payload()) {
        for limits in [Limits::default(), open()] {
            match decode(payload.as_bytes(), &limits, now()) {
                Ok(m) => {
                    prop_assert!(m.check_storable().is_ok(), "{m:?}");
                    let r = relay(m);
                    prop_assert_eq!(r.fixes.len(), r.reports.len());
                    prop_assert!(r.phone.bytes().all(|b| b.is_ascii_digit()));
                }
                Err(r) => prop_assert!(r.check_storable().is_ok(), "{r:?}"),
            }
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes, &Limits::default(), now());
    }
}
