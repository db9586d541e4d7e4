//! The MQTT contract, version 1, as a pure function: `(topic, bytes, now)` to a
//! typed [`Message`] or a typed [`Reject`]. No IO, no clock; `now` is a parameter.
//!
//! Every message accepted is also storable: the decoder refuses, as
//! [`RejectReason::Unstorable`], what PostgreSQL could not hold (see [`storable`]).

pub mod emqx;
mod fix;
pub mod storable;
mod topic;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

pub use emqx::decode as decode_emqx;
pub use fix::{Fix, limits_for_retention, validate as validate_fix};
pub use topic::{DeviceAddr, DeviceName, OrgId, Topic, subscription_filters};

/// One decoded message, ready for the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Fix {
        addr: DeviceAddr,
        fix: Fix,
    },
    /// A store-and-forward backlog. Elements that failed validation are kept
    /// apart (index, reason, raw element) so the valid ones are not lost.
    Backlog {
        addr: DeviceAddr,
        fixes: Vec<Fix>,
        rejects: Vec<ElementReject>,
    },
    Status {
        addr: DeviceAddr,
        online: bool,
        status: serde_json::Value,
    },
    /// An empty retained status (a cleared retained message): nothing to store.
    StatusCleared {
        addr: DeviceAddr,
    },
    OwnTracks {
        user: DeviceName,
        device: DeviceName,
        fix: Fix,
    },
    /// JT/T 808 positions relayed by EMQX's gateway ([`emqx`]): the device is
    /// the terminal whose `jt808_phone` is the relay's phone, which the
    /// writer finds (or registers, as the listener does) and then turns this
    /// into a [`Message::Fix`] or a [`Message::Backlog`].
    Jt808Relay(Box<Relay>),
}

/// Positions of one EMQX-relayed JT/T 808 message, validated, waiting for
/// their device.
#[derive(Debug, Clone, PartialEq)]
pub struct Relay {
    /// The terminal's phone number, without leading zeros.
    pub phone: String,
    /// A 0x0704 batch (a backlog) rather than one 0x0200 report.
    pub batch: bool,
    /// The valid positions, with `work` unset: it depends on the device's
    /// kind, known once the device is.
    pub fixes: Vec<Fix>,
    /// The report of each fix (same order), to read the work bit from.
    pub reports: Vec<jt808::LocationReport>,
    /// The elements of a batch that were refused.
    pub rejects: Vec<ElementReject>,
}

/// An element of a backlog that was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct ElementReject {
    pub index: usize,
    pub raw: Vec<u8>,
    pub reject: Reject,
}

/// Why a message was refused. The reason is a stable code (stored, and a metric
/// label); the detail is for humans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub reason: RejectReason,
    pub detail: String,
}

/// The reject classes of the contract. A closed set: it is a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    InvalidTopic,
    InvalidJson,
    InvalidValue,
    DeviceMismatch,
    FutureTimestamp,
    StaleTimestamp,
    Oversize,
    BacklogTooLarge,
    UnsupportedType,
    /// The database cannot store a value of the message (a NUL character in
    /// the status JSON, a timestamp before 4714 BC). The writer files messages
    /// PostgreSQL refuses under this reason too.
    Unstorable,
    /// JT/T 808: bytes between two flags that are not a frame (check code,
    /// escape, length, header), or bytes before the first flag.
    Jt808BadFrame,
    /// JT/T 808: a frame whose body is not the message its id names, or a
    /// split message that cannot be reassembled.
    Jt808BadMessage,
    /// JT/T 808: a message id the listener does not handle.
    Jt808Unsupported,
}

impl RejectReason {
    pub const ALL: [RejectReason; 13] = [
        Self::InvalidTopic,
        Self::InvalidJson,
        Self::InvalidValue,
        Self::DeviceMismatch,
        Self::FutureTimestamp,
        Self::StaleTimestamp,
        Self::Oversize,
        Self::BacklogTooLarge,
        Self::UnsupportedType,
        Self::Unstorable,
        Self::Jt808BadFrame,
        Self::Jt808BadMessage,
        Self::Jt808Unsupported,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidTopic => "invalid_topic",
            Self::InvalidJson => "invalid_json",
            Self::InvalidValue => "invalid_value",
            Self::DeviceMismatch => "device_mismatch",
            Self::FutureTimestamp => "future_timestamp",
            Self::StaleTimestamp => "stale_timestamp",
            Self::Oversize => "oversize",
            Self::BacklogTooLarge => "backlog_too_large",
            Self::UnsupportedType => "unsupported_type",
            Self::Unstorable => "unstorable",
            Self::Jt808BadFrame => "jt808_bad_frame",
            Self::Jt808BadMessage => "jt808_bad_message",
            Self::Jt808Unsupported => "jt808_unsupported",
        }
    }
}

impl Reject {
    /// A reject with a human detail. The detail is stored as `text`, which
    /// cannot hold NUL: details quote input with `{:?}`, which escapes it, and
    /// any NUL that slips through anyway is written as `\0` here.
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        let mut detail = detail.into();
        if detail.contains('\0') {
            detail = detail.replace('\0', "\\0");
        }
        Self { reason, detail }
    }

    fn json(e: &serde_json::Error) -> Self {
        Self::new(RejectReason::InvalidJson, e.to_string())
    }
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason.as_str(), self.detail)
    }
}

/// What the decoder accepts.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest payload of a single message, bytes (the contract: 64 KiB).
    pub max_payload: usize,
    /// Largest `.../fixes` backlog payload, bytes (the contract: 256 KiB; 1,000
    /// full fixes are about 130 KB).
    pub max_backlog_payload: usize,
    /// Most fixes in one backlog (the contract: 1,000).
    pub max_backlog: usize,
    /// How far ahead of `now` a fix may be (the contract: 5 minutes).
    pub max_future: TimeDelta,
    /// How far behind `now` a fix may be (the retention window).
    pub max_age: TimeDelta,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_payload: 64 * 1024,
            max_backlog_payload: 256 * 1024,
            max_backlog: 1000,
            max_future: TimeDelta::minutes(5),
            max_age: TimeDelta::days(90),
        }
    }
}

#[derive(Deserialize)]
struct WireStatus {
    online: bool,
}

/// Decodes one MQTT message. Never panics, whatever the bytes.
pub fn decode(
    topic: &str,
    payload: &[u8],
    limits: &Limits,
    now: DateTime<Utc>,
) -> Result<Message, Reject> {
    let parsed = Topic::parse(topic).map_err(|d| Reject::new(RejectReason::InvalidTopic, d))?;
    let max = match parsed {
        Topic::Fixes(_) => limits.max_backlog_payload,
        _ => limits.max_payload,
    };
    if payload.len() > max {
        return Err(Reject::new(
            RejectReason::Oversize,
            format!("payload is {} bytes, the limit is {max}", payload.len()),
        ));
    }
    match parsed {
        Topic::Fix(addr) => {
            let fix = fix::parse_fix(payload, addr.device.as_str(), limits, now)?;
            Ok(Message::Fix { addr, fix })
        }
        Topic::Fixes(addr) => decode_backlog(addr, payload, limits, now),
        Topic::Status(addr) if payload.is_empty() => Ok(Message::StatusCleared { addr }),
        Topic::Status(addr) => {
            let status: serde_json::Value =
                serde_json::from_slice(payload).map_err(|e| Reject::json(&e))?;
            if !status.is_object() {
                return Err(Reject::new(
                    RejectReason::InvalidJson,
                    "a status is a JSON object like {\"online\":true}",
                ));
            }
            let wire = WireStatus::deserialize(&status).map_err(|e| Reject::json(&e))?;
            // Only the escape `\u0000` writes a NUL: the walk is for the rare
            // payload that has one.
            if storable::may_hold_nul(payload) {
                storable::check_json(&status)?;
            }
            Ok(Message::Status {
                addr,
                online: wire.online,
                status,
            })
        }
        Topic::OwnTracks { user, device } => {
            let fix = fix::parse_owntracks(payload, limits, now)?;
            Ok(Message::OwnTracks { user, device, fix })
        }
    }
}

fn decode_backlog(
    addr: DeviceAddr,
    payload: &[u8],
    limits: &Limits,
    now: DateTime<Utc>,
) -> Result<Message, Reject> {
    let elements: Vec<&RawValue> = serde_json::from_slice(payload).map_err(|e| Reject::json(&e))?;
    if elements.len() > limits.max_backlog {
        return Err(Reject::new(
            RejectReason::BacklogTooLarge,
            format!(
                "backlog of {} fixes, the limit is {}",
                elements.len(),
                limits.max_backlog
            ),
        ));
    }
    let mut fixes = Vec::with_capacity(elements.len());
    let mut rejects = Vec::new();
    for (index, raw) in elements.into_iter().enumerate() {
        match fix::parse_fix_raw(raw, addr.device.as_str(), limits, now) {
            Ok(f) => fixes.push(f),
            Err(reject) => rejects.push(ElementReject {
                index,
                raw: raw.get().as_bytes().to_vec(),
                reject,
            }),
        }
    }
    Ok(Message::Backlog {
        addr,
        fixes,
        rejects,
    })
}

#[cfg(test)]
mod hostile;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_storable;
