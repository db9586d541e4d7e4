//! What PostgreSQL can hold, as checks over decoded values. Everything the
//! decoder accepts passes them (it runs the parts its own checks do not already
//! imply), so a message the store would refuse becomes a reject (`unstorable`)
//! at the door instead of a batch the writer cannot commit.
//!
//! What reaches the database from an accepted message, and what it refuses
//! (each verified against PostgreSQL 15, see `tests/storable.rs`):
//!
//! - a fix: `float8` lat/lon, `float4` speed/heading/acc/batt, `int8` seq,
//!   `timestamptz` ts. Non-finite numbers are refused by the contract already;
//!   the `as f32` cast must stay finite; `timestamptz` ends at 4714-11-24 BC
//!   (22008 `timestamp out of range`), which chrono can go past.
//! - a status: the whole JSON document in `jsonb`. jsonb refuses the escape
//!   `\u0000` in any string or key (22P05 `unsupported Unicode escape
//!   sequence`). Everything else serde_json lets through is fine: it refuses
//!   lone surrogates and numbers beyond f64 itself, keeps big integers as f64,
//!   and parses at most 127 levels deep, where jsonb takes over 10,000.
//! - a reject: its detail in `text` (no NUL: 22021). The topic is the writer's
//!   to make storable: an MQTT topic is any UTF-8 string, U+0000 included.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{ElementReject, Fix, Message, Reject, RejectReason};

/// The earliest `timestamptz` PostgreSQL stores, 4714-11-24 00:00:00 UTC BC,
/// in microseconds since the Unix epoch. Its latest (294276 AD) is past the
/// last instant chrono represents, so needs no check.
pub const PG_MIN_TIMESTAMP_MICROS: i64 = -210_866_803_200_000_000;

/// [`PG_MIN_TIMESTAMP_MICROS`] as a time (a comparison, not a conversion, per fix).
pub const PG_MIN_TIMESTAMP: DateTime<Utc> =
    match DateTime::from_timestamp_micros(PG_MIN_TIMESTAMP_MICROS) {
        Some(t) => t,
        None => panic!("chrono represents 4714 BC"),
    };

/// Refuses a time PostgreSQL cannot store as a `timestamptz`.
#[inline]
pub fn check_timestamp(ts: DateTime<Utc>) -> Result<(), Reject> {
    if ts >= PG_MIN_TIMESTAMP {
        return Ok(());
    }
    Err(unstorable(format!(
        "ts {ts} is before the earliest timestamp PostgreSQL stores (4714-11-24 BC)"
    )))
}

impl Fix {
    /// Whether every column of this fix fits PostgreSQL's types, as the writer
    /// stores them (`float4` for speed, heading, acc and batt).
    pub fn check_storable(&self) -> Result<(), Reject> {
        check_timestamp(self.ts)?;
        for (field, v) in [("lat", self.lat), ("lon", self.lon)] {
            if !v.is_finite() {
                return Err(unstorable(format!("{field} is not a finite number")));
            }
        }
        for (field, v) in [
            ("speed", self.speed),
            ("heading", self.heading),
            ("acc", self.acc),
            ("batt", self.batt),
        ] {
            if let Some(x) = v
                && !(x as f32).is_finite()
            {
                return Err(unstorable(format!(
                    "{field} {x} does not fit a 4-byte float"
                )));
            }
        }
        Ok(())
    }
}

/// Refuses a JSON document that holds U+0000 in a string or a key, which jsonb
/// cannot store. The detail says where: a path such as `$["sensors"][2]`.
pub fn check_json(v: &Value) -> Result<(), Reject> {
    match nul_path(v) {
        None => Ok(()),
        Some(path) => Err(unstorable(format!(
            "status JSON holds a NUL character (\\u0000) at {path}, which PostgreSQL jsonb cannot store"
        ))),
    }
}

/// Whether a JSON text may hold U+0000 once parsed. The only way to write it
/// is the escape `\u0000` (a raw NUL byte is invalid JSON), so a payload
/// without those six bytes needs no closer look. A match may be a false alarm
/// (`"\\u0000"` is a backslash and five characters); [`check_json`] decides.
pub fn may_hold_nul(json: &[u8]) -> bool {
    const ESCAPE: &[u8] = b"\\u0000";
    // Most payloads hold no backslash at all: `contains` is a memchr.
    if !json.contains(&b'\\') {
        return false;
    }
    let mut rest = json;
    while let Some(i) = rest.iter().position(|&b| b == b'\\') {
        if rest[i..].starts_with(ESCAPE) {
            return true;
        }
        rest = &rest[i + 1..];
    }
    false
}

/// The path to the first string or key holding U+0000, if any. serde_json
/// parses at most 127 levels deep, so the recursion is bounded.
fn nul_path(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if s.contains('\0') => Some("$".to_owned()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_path(item).map(|rest| format!("$[{i}]{}", &rest[1..]))),
        Value::Object(map) => map.iter().find_map(|(k, item)| {
            if k.contains('\0') {
                return Some(format!("$ (key {k:?})"));
            }
            nul_path(item).map(|rest| format!("$[{k:?}]{}", &rest[1..]))
        }),
        _ => None,
    }
}

impl Message {
    /// The storable invariant: every value of this message that reaches the
    /// database fits its column. The decoder guarantees it for every message it
    /// accepts; tests and the fuzz target check that guarantee.
    pub fn check_storable(&self) -> Result<(), Reject> {
        match self {
            Message::Fix { fix, .. } | Message::OwnTracks { fix, .. } => fix.check_storable(),
            Message::Backlog { fixes, rejects, .. } => {
                fixes.iter().try_for_each(Fix::check_storable)?;
                rejects
                    .iter()
                    .try_for_each(|ElementReject { reject, .. }| reject.check_storable())
            }
            Message::Status { status, .. } => check_json(status),
            Message::StatusCleared { .. } => Ok(()),
            Message::Jt808Relay(r) => {
                r.fixes.iter().try_for_each(Fix::check_storable)?;
                r.rejects
                    .iter()
                    .try_for_each(|ElementReject { reject, .. }| reject.check_storable())
            }
        }
    }
}

impl Reject {
    /// Whether this reject's detail can be stored as `text` (the writer stores
    /// it with the topic and the raw payload, which is `bytea`).
    pub fn check_storable(&self) -> Result<(), Reject> {
        if self.detail.contains('\0') {
            return Err(unstorable(format!(
                "reject detail holds a NUL character: {:?}",
                self.detail
            )));
        }
        Ok(())
    }
}

fn unstorable(detail: String) -> Reject {
    Reject::new(RejectReason::Unstorable, detail)
}
