//! One fix on the wire (`.../fix`, each element of `.../fixes`, and OwnTracks
//! locations), and its validation into a [`Fix`].

use chrono::{DateTime, SubsecRound as _, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Limits, Reject, RejectReason, storable};

/// A validated fix: finite numbers in range, a timestamp inside the accepted window.
#[derive(Debug, Clone, PartialEq)]
pub struct Fix {
    pub ts: DateTime<Utc>,
    pub lat: f64,
    pub lon: f64,
    /// km/h
    pub speed: Option<f64>,
    /// degrees clockwise from north
    pub heading: Option<f64>,
    /// horizontal accuracy, metres
    pub acc: Option<f64>,
    /// broom down / pump on / uniform on duty
    pub work: Option<bool>,
    pub sos: bool,
    /// percent
    pub batt: Option<f64>,
    /// device counter
    pub seq: Option<i64>,
}

/// `ts` is RFC 3339 or integer epoch milliseconds; `None` when it is one of
/// those but names no instant (refused as an invalid value). Read in one pass
/// without buffering: an untagged enum buffered every fix's text and built and
/// formatted an error for it (the integer variant tried first) before taking it.
struct WireTs(Option<DateTime<Utc>>);

impl<'de> Deserialize<'de> for WireTs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = WireTs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("RFC 3339 text or integer epoch milliseconds")
            }
            fn visit_i64<E: serde::de::Error>(self, ms: i64) -> Result<WireTs, E> {
                Ok(WireTs(DateTime::from_timestamp_millis(ms)))
            }
            fn visit_u64<E: serde::de::Error>(self, ms: u64) -> Result<WireTs, E> {
                let ms = i64::try_from(ms)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(ms), &self))?;
                self.visit_i64(ms)
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<WireTs, E> {
                Ok(WireTs(
                    DateTime::parse_from_rfc3339(s).ok().map(|t| t.to_utc()),
                ))
            }
        }
        d.deserialize_any(Visit)
    }
}

#[derive(Deserialize)]
struct WireFix {
    ts: WireTs,
    lat: f64,
    lon: f64,
    speed: Option<f64>,
    heading: Option<f64>,
    acc: Option<f64>,
    work: Option<bool>,
    sos: Option<bool>,
    batt: Option<f64>,
    seq: Option<i64>,
    device: Option<String>,
}

/// OwnTracks `_type:"location"`: `tst` epoch seconds, `vel` km/h, `cog` degrees.
#[derive(Deserialize)]
struct WireOwnTracks {
    #[serde(rename = "_type")]
    kind: String,
    lat: Option<f64>,
    lon: Option<f64>,
    tst: Option<i64>,
    vel: Option<f64>,
    cog: Option<f64>,
    acc: Option<f64>,
    batt: Option<f64>,
}

/// Parses and validates one contract fix from JSON.
pub(super) fn parse_fix(
    json: &[u8],
    topic_device: &str,
    limits: &Limits,
    now: DateTime<Utc>,
) -> Result<Fix, Reject> {
    let wire: WireFix = serde_json::from_slice(json).map_err(|e| Reject::json(&e))?;
    if let Some(d) = &wire.device
        && d != topic_device
    {
        return Err(Reject::new(
            RejectReason::DeviceMismatch,
            format!("payload device {d:?} differs from topic device {topic_device:?}"),
        ));
    }
    let ts = wire
        .ts
        .0
        .ok_or_else(|| Reject::new(RejectReason::InvalidValue, "ts is not RFC 3339 or epoch ms"))?;
    let fix = Fix {
        ts,
        lat: wire.lat,
        lon: wire.lon,
        speed: wire.speed,
        heading: wire.heading,
        acc: wire.acc,
        work: wire.work,
        sos: wire.sos.unwrap_or(false),
        batt: wire.batt,
        seq: wire.seq,
    };
    validate(fix, limits, now)
}

/// Parses an element of a backlog array (already split out as raw JSON).
pub(super) fn parse_fix_raw(
    raw: &RawValue,
    topic_device: &str,
    limits: &Limits,
    now: DateTime<Utc>,
) -> Result<Fix, Reject> {
    parse_fix(raw.get().as_bytes(), topic_device, limits, now)
}

/// Parses an OwnTracks message; anything but `_type:"location"` is refused.
pub(super) fn parse_owntracks(
    json: &[u8],
    limits: &Limits,
    now: DateTime<Utc>,
) -> Result<Fix, Reject> {
    let wire: WireOwnTracks = serde_json::from_slice(json).map_err(|e| Reject::json(&e))?;
    if wire.kind != "location" {
        return Err(Reject::new(
            RejectReason::UnsupportedType,
            format!("OwnTracks _type {:?} is not \"location\"", wire.kind),
        ));
    }
    let missing = |f: &str| Reject::new(RejectReason::InvalidJson, format!("missing field `{f}`"));
    let tst = wire.tst.ok_or_else(|| missing("tst"))?;
    let ts = DateTime::from_timestamp(tst, 0)
        .ok_or_else(|| Reject::new(RejectReason::InvalidValue, "tst out of range"))?;
    let fix = Fix {
        ts,
        lat: wire.lat.ok_or_else(|| missing("lat"))?,
        lon: wire.lon.ok_or_else(|| missing("lon"))?,
        speed: wire.vel,
        heading: wire.cog,
        acc: wire.acc,
        work: None,
        sos: false,
        batt: wire.batt,
        seq: None,
    };
    validate(fix, limits, now)
}

/// Checks a fix against the contract (ranges, 0,0, the time window, what the
/// store can hold); fixes from any source go through this.
pub fn validate(mut fix: Fix, limits: &Limits, now: DateTime<Utc>) -> Result<Fix, Reject> {
    // The database keeps microseconds; so do we, so a fix reads back equal.
    fix.ts = fix.ts.trunc_subsecs(6);
    check("lat", Some(fix.lat), -90.0, 90.0)?;
    check("lon", Some(fix.lon), -180.0, 180.0)?;
    check("speed", fix.speed, 0.0, 500.0)?;
    check("heading", fix.heading, 0.0, 360.0)?;
    check("acc", fix.acc, 0.0, 100_000.0)?;
    check("batt", fix.batt, 0.0, 100.0)?;
    if fix.lat == 0.0 && fix.lon == 0.0 {
        return Err(Reject::new(
            RejectReason::InvalidValue,
            "lat/lon 0,0 (a receiver without a fix)",
        ));
    }
    if let Some(seq) = fix.seq
        && seq < 0
    {
        return Err(Reject::new(RejectReason::InvalidValue, "seq is negative"));
    }
    // Checked: limits past chrono's range (a retention of millions of days)
    // leave that side of the window open rather than panic; the storable
    // check below still bounds the timestamp.
    if now
        .checked_add_signed(limits.max_future)
        .is_some_and(|latest| fix.ts > latest)
    {
        return Err(Reject::new(
            RejectReason::FutureTimestamp,
            format!(
                "ts {} is more than {}s ahead of {}",
                fix.ts,
                limits.max_future.num_seconds(),
                now
            ),
        ));
    }
    if now
        .checked_sub_signed(limits.max_age)
        .is_some_and(|earliest| fix.ts < earliest)
    {
        return Err(Reject::new(
            RejectReason::StaleTimestamp,
            format!(
                "ts {} is older than the retention window ({} days)",
                fix.ts,
                limits.max_age.num_days()
            ),
        ));
    }
    // The contract's ranges above keep every number finite, as float8 and as
    // float4: of the store's bounds only the timestamp's is left to check
    // (`Fix::check_storable` is the whole invariant, for tests and fuzzing).
    storable::check_timestamp(fix.ts)?;
    debug_assert_eq!(fix.check_storable(), Ok(()));
    Ok(fix)
}

#[inline]
fn check(field: &str, v: Option<f64>, min: f64, max: f64) -> Result<(), Reject> {
    match v {
        Some(x) if !x.is_finite() => Err(Reject::new(
            RejectReason::InvalidValue,
            format!("{field} is not a finite number"),
        )),
        Some(x) if !(min..=max).contains(&x) => Err(Reject::new(
            RejectReason::InvalidValue,
            format!("{field} {x} outside [{min}, {max}]"),
        )),
        _ => Ok(()),
    }
}

/// The default acceptance window: 5 minutes ahead, `retention_days` back.
pub fn limits_for_retention(retention_days: u32) -> Limits {
    Limits {
        max_future: TimeDelta::minutes(5),
        max_age: TimeDelta::days(i64::from(retention_days)),
        ..Limits::default()
    }
}
