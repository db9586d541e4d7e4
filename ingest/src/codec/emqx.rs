//! EMQX's JT/T 808 gateway as an input: the JSON it publishes on its up-link
//! topic (`up_topic`, by default `jt808/${clientid}/${phone}/up`), taken as
//! the built-in listener takes the same reports.
//!
//! EMQX (`apps/emqx_gateway_jt808`, `emqx_jt808_frame.erl`) parses each frame
//! into `{"header": {...}, "body": {...}}`:
//!
//! - `header`: `msg_id` (integer; 512 is 0x0200, 1796 is 0x0704), `phone`
//!   (the BCD digits as a string, leading zeros kept: `"013800138000"`),
//!   `msg_sn`, `encrypt`, `len`, and `proto_ver` for JT/T 808-2019;
//! - 512, a location report: `alarm`, `status`, `latitude`, `longitude`,
//!   `altitude`, `speed`, `direction` as the terminal's integers (1e-6
//!   degree, 1/10 km/h, unsigned with the south/west status bits), `time` the
//!   BCD digits `"YYMMDDhhmmss"` (GMT+8), and `extra` (a map) when there are
//!   additional items;
//! - 1796, a batch: `type` (0 regular, 1 blind area), `length`, and
//!   `location`, a list of reports as above.
//!
//! Each report becomes a [`jt808::LocationReport`] again and goes through the
//! listener's conversion and the contract's validation (GMT+8, south/west,
//! `sos` from alarm bit 0, status bit 1 "positioned", the time window, what
//! the store can hold). The work bit needs the device's kind, so `work` is
//! read by the writer once it has found the device; for that the additional
//! items EMQX keeps as numbers or bytes are turned back into items (see
//! [`extras`]). Other `msg_id`s are refused as `jt808_unsupported` (EMQX has
//! answered them already; they are kept in `rejected_messages`).

use base64::Engine as _;
use chrono::{DateTime, Utc};
use jt808::{AdditionalInfo, BcdTime, LocationReport, Phone};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::{ElementReject, Limits, Message, Reject, RejectReason, Relay};
use crate::jt808::report;

/// `msg_id` of a location report (0x0200).
pub const MSG_LOCATION: u32 = 0x0200;
/// `msg_id` of a batch location upload (0x0704).
pub const MSG_BATCH: u32 = 0x0704;

#[derive(Deserialize)]
struct Wire<'a> {
    header: WireHeader,
    #[serde(borrow)]
    body: &'a RawValue,
}

#[derive(Deserialize)]
struct WireHeader {
    msg_id: u32,
    phone: WirePhone,
}

/// EMQX writes the phone as a string; its documentation's examples show a
/// number. Both are taken.
#[derive(Deserialize)]
#[serde(untagged)]
enum WirePhone {
    Text(String),
    Number(u64),
}

#[derive(Deserialize)]
struct WireLocation {
    alarm: u32,
    status: u32,
    latitude: u32,
    longitude: u32,
    altitude: u16,
    speed: u16,
    direction: u16,
    time: String,
    extra: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
struct WireBatch<'a> {
    #[serde(borrow)]
    location: Vec<&'a RawValue>,
}

/// Decodes one message of EMQX's JT/T 808 up-link topic. Never panics.
pub fn decode(payload: &[u8], limits: &Limits, now: DateTime<Utc>) -> Result<Message, Reject> {
    if payload.len() > limits.max_backlog_payload {
        return Err(oversize(payload.len(), limits.max_backlog_payload));
    }
    let wire: Wire<'_> = serde_json::from_slice(payload).map_err(|e| Reject::json(&e))?;
    let phone = match &wire.header.phone {
        WirePhone::Text(s) => Phone::new(s),
        WirePhone::Number(n) => Phone::new(&n.to_string()),
    }
    .map_err(|e| Reject::new(RejectReason::InvalidValue, format!("header.phone: {e}")))?;
    let phone = phone.as_str().to_owned();
    match wire.header.msg_id {
        MSG_LOCATION => {
            if payload.len() > limits.max_payload {
                return Err(oversize(payload.len(), limits.max_payload));
            }
            let r = location(wire.body.get().as_bytes())?;
            let fix = report::fix(&r, None, limits, now)?;
            Ok(relay(phone, false, vec![fix], vec![r], Vec::new()))
        }
        MSG_BATCH => decode_batch(phone, wire.body, limits, now),
        other => Err(Reject::new(
            RejectReason::Jt808Unsupported,
            format!(
                "EMQX relayed JT/T 808 message 0x{other:04X} (msg_id {other}): only location \
                 reports (512) and batches (1796) are taken"
            ),
        )),
    }
}

fn decode_batch(
    phone: String,
    body: &RawValue,
    limits: &Limits,
    now: DateTime<Utc>,
) -> Result<Message, Reject> {
    let batch: WireBatch<'_> = serde_json::from_str(body.get()).map_err(|e| Reject::json(&e))?;
    if batch.location.len() > limits.max_backlog {
        return Err(Reject::new(
            RejectReason::BacklogTooLarge,
            format!(
                "batch of {} reports, the limit is {}",
                batch.location.len(),
                limits.max_backlog
            ),
        ));
    }
    let mut fixes = Vec::with_capacity(batch.location.len());
    let mut reports = Vec::with_capacity(batch.location.len());
    let mut rejects = Vec::new();
    for (index, raw) in batch.location.into_iter().enumerate() {
        let parsed = location(raw.get().as_bytes())
            .and_then(|r| report::fix(&r, None, limits, now).map(|f| (f, r)));
        match parsed {
            Ok((f, r)) => {
                fixes.push(f);
                reports.push(r);
            }
            Err(reject) => rejects.push(ElementReject {
                index,
                raw: raw.get().as_bytes().to_vec(),
                reject,
            }),
        }
    }
    Ok(relay(phone, true, fixes, reports, rejects))
}

fn relay(
    phone: String,
    batch: bool,
    fixes: Vec<super::Fix>,
    reports: Vec<LocationReport>,
    rejects: Vec<ElementReject>,
) -> Message {
    Message::Jt808Relay(Box::new(Relay {
        phone,
        batch,
        fixes,
        reports,
        rejects,
    }))
}

fn oversize(len: usize, max: usize) -> Reject {
    Reject::new(
        RejectReason::Oversize,
        format!("payload is {len} bytes, the limit is {max}"),
    )
}

/// One report of EMQX's JSON as the terminal sent it.
fn location(json: &[u8]) -> Result<LocationReport, Reject> {
    let w: WireLocation = serde_json::from_slice(json).map_err(|e| Reject::json(&e))?;
    let time = bcd_time(&w.time).ok_or_else(|| {
        Reject::new(
            RejectReason::InvalidValue,
            format!("time {:?} is not 12 BCD digits YYMMDDhhmmss", w.time),
        )
    })?;
    Ok(LocationReport {
        alarm: w.alarm,
        status: w.status,
        lat: w.latitude,
        lon: w.longitude,
        altitude: w.altitude,
        speed: w.speed,
        direction: w.direction,
        time,
        extras: w.extra.as_ref().map(extras).unwrap_or_default(),
    })
}

/// `"YYMMDDhhmmss"` as the six BCD bytes it was read from.
fn bcd_time(digits: &str) -> Option<BcdTime> {
    let d = digits.as_bytes();
    if d.len() != 12 || !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut out = [0u8; 6];
    for (slot, pair) in out.iter_mut().zip(d.chunks(2)) {
        *slot = ((pair[0] - b'0') << 4) | (pair[1] - b'0');
    }
    Some(BcdTime(out))
}

/// The additional items EMQX keeps whole, as items again: the numbers it
/// names (`mileage` 0x01, `fuel_meter` 0x02, `speed` 0x03, `alarm_id` 0x04,
/// `carriage_temp` 0x06, `rssi` 0x30, `gnss_sat_num` 0x31, `analog` 0x2B),
/// the items it does not know (their decimal id as the key, base64 bytes) and
/// the vendor items in `custome` (the same, 0xE1 to 0xFF). It keeps only some
/// bits of 0x25 (`signal`) and 0x2A (`io_status`), so those are not rebuilt:
/// a work bit configured there reads as absent. Anything malformed is left
/// out (it only ever feeds the work bit).
pub fn extras(extra: &Map<String, Value>) -> Vec<AdditionalInfo> {
    let mut out = Vec::new();
    let num = |key: &str| extra.get(key).and_then(Value::as_i64);
    let named: [(&str, u8, usize); 7] = [
        ("mileage", 0x01, 4),
        ("fuel_meter", 0x02, 2),
        ("speed", 0x03, 2),
        ("alarm_id", 0x04, 2),
        ("carriage_temp", 0x06, 2),
        ("rssi", 0x30, 1),
        ("gnss_sat_num", 0x31, 1),
    ];
    for (key, id, width) in named {
        let fits = |v: i64| match id {
            0x06 => i16::try_from(v).is_ok(),
            _ => u64::try_from(v).is_ok_and(|u| u < 1u64 << (8 * width)),
        };
        if let Some(v) = num(key).filter(|v| fits(*v)) {
            let bytes = v.to_be_bytes();
            out.push(AdditionalInfo {
                id,
                value: bytes[8 - width..].to_vec(),
            });
        }
    }
    if let Some(a) = extra.get("analog").and_then(Value::as_object) {
        let word = |k: &str| {
            a.get(k)
                .and_then(Value::as_u64)
                .and_then(|v| u16::try_from(v).ok())
        };
        if let (Some(ad0), Some(ad1)) = (word("ad0"), word("ad1")) {
            let mut value = ad1.to_be_bytes().to_vec();
            value.extend_from_slice(&ad0.to_be_bytes());
            out.push(AdditionalInfo { id: 0x2B, value });
        }
    }
    let mut raw = |map: &Map<String, Value>| {
        for (k, v) in map {
            let id = k.parse::<u8>().ok();
            let bytes = v
                .as_str()
                .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok());
            if let (Some(id), Some(value)) = (id, bytes)
                && value.len() <= 255
            {
                out.push(AdditionalInfo { id, value });
            }
        }
    };
    raw(extra);
    if let Some(custom) = extra.get("custome").and_then(Value::as_object) {
        raw(custom);
    }
    out
}

#[cfg(test)]
#[path = "tests_emqx.rs"]
mod tests;
