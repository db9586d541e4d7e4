//! Message payloads: contract-v1 fixes and backlogs, OwnTracks locations, status, and
//! the deliberately malformed messages. Written by hand (fixed field order, fixed
//! precision) so the same run gives the same bytes.

use chrono::{DateTime, Utc};

/// Largest backlog payload we publish: under the contract's 64 KiB with room to spare.
pub const MAX_BACKLOG_BYTES: usize = 60 * 1024;
/// The contract's limit on fixes in one backlog.
pub const MAX_BACKLOG_FIXES: usize = 1000;

/// One fix as the device reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct FixData {
    pub ts: DateTime<Utc>,
    pub lat: f64,
    pub lon: f64,
    pub kmh: f64,
    pub heading: f64,
    pub acc: f64,
    pub work: bool,
    pub sos: bool,
    pub batt: u32,
    pub seq: u64,
}

pub fn rfc3339_ms(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// `{"ts":...,"lat":...,...}` as in DESIGN.md.
pub fn fix_json(f: &FixData) -> String {
    format!(
        r#"{{"ts":"{}","lat":{:.6},"lon":{:.6},"speed":{:.1},"heading":{:.0},"acc":{:.1},"work":{},"sos":{},"batt":{},"seq":{}}}"#,
        rfc3339_ms(f.ts),
        f.lat,
        f.lon,
        f.kmh,
        f.heading.rem_euclid(360.0).min(359.0),
        f.acc,
        f.work,
        f.sos,
        f.batt,
        f.seq
    )
}

/// An OwnTracks `_type:"location"` message (`tst` epoch seconds, `vel` km/h, `cog`).
pub fn owntracks_json(f: &FixData, tid: &str) -> String {
    format!(
        r#"{{"_type":"location","tid":"{}","tst":{},"lat":{:.6},"lon":{:.6},"acc":{:.0},"vel":{:.0},"cog":{:.0},"batt":{},"conn":"m"}}"#,
        tid,
        f.ts.timestamp(),
        f.lat,
        f.lon,
        f.acc,
        f.kmh,
        f.heading.rem_euclid(360.0).min(359.0),
        f.batt
    )
}

pub fn status_json(online: bool) -> String {
    format!(r#"{{"online":{online}}}"#)
}

/// Buffered fix JSON objects as backlog arrays: newest first (out of order, as a device
/// flushing its store tends to send them), each at most `max_fixes` fixes and
/// [`MAX_BACKLOG_BYTES`].
pub fn backlog_chunks(buffered: &[String], max_fixes: usize) -> Vec<String> {
    let max_fixes = max_fixes.clamp(1, MAX_BACKLOG_FIXES);
    let mut out = Vec::new();
    let mut cur = String::from("[");
    let mut n = 0;
    for fix in buffered.iter().rev() {
        if n > 0 && (n >= max_fixes || cur.len() + fix.len() + 2 > MAX_BACKLOG_BYTES) {
            cur.push(']');
            out.push(std::mem::replace(&mut cur, String::from("[")));
            n = 0;
        }
        if n > 0 {
            cur.push(',');
        }
        cur.push_str(fix);
        n += 1;
    }
    if n > 0 {
        cur.push(']');
        out.push(cur);
    }
    out
}

/// How many kinds of malformed message [`malformed`] makes.
pub const MALFORMED_VARIANTS: usize = 6;

/// A bad message of kind `variant % MALFORMED_VARIANTS`, based on a good fix; each is one
/// the service must reject (and keep), never crash on.
pub fn malformed(variant: usize, f: &FixData) -> Vec<u8> {
    let ts = rfc3339_ms(f.ts);
    let text = match variant % MALFORMED_VARIANTS {
        // cut off mid-object
        0 => format!(r#"{{"ts":"{ts}","lat":{:.6},"lon"#, f.lat),
        // latitude out of range
        1 => format!(r#"{{"ts":"{ts}","lat":123.456789,"lon":{:.6}}}"#, f.lon),
        // no timestamp
        2 => format!(r#"{{"lat":{:.6},"lon":{:.6},"speed":5}}"#, f.lat, f.lon),
        // not JSON at all
        3 => "GPS,FIX,ERR*7F".to_owned(),
        // wrong types
        4 => format!(r#"{{"ts":"{ts}","lat":"north","lon":{:.6}}}"#, f.lon),
        // battery out of range, negative sequence
        _ => format!(
            r#"{{"ts":"{ts}","lat":{:.6},"lon":{:.6},"batt":180,"seq":-4}}"#,
            f.lat, f.lon
        ),
    };
    text.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fix(seq: u64) -> FixData {
        FixData {
            ts: DateTime::from_timestamp_millis(1_790_000_000_250).unwrap(),
            lat: 22.8143,
            lon: 113.6721,
            kmh: 12.5,
            heading: 270.0,
            acc: 4.0,
            work: true,
            sos: false,
            batt: 87,
            seq,
        }
    }

    #[test]
    fn fix_and_owntracks_are_json_with_the_contract_fields() {
        let v: serde_json::Value = serde_json::from_str(&fix_json(&fix(3))).unwrap();
        assert_eq!(v["ts"], "2026-09-21T14:13:20.250Z");
        assert_eq!(
            (v["lat"].as_f64(), v["work"].as_bool()),
            (Some(22.8143), Some(true))
        );
        let v: serde_json::Value = serde_json::from_str(&owntracks_json(&fix(3), "WK")).unwrap();
        assert_eq!(
            (v["_type"].as_str(), v["tst"].as_i64()),
            (Some("location"), Some(1_790_000_000))
        );
    }

    #[test]
    fn backlogs_are_newest_first_and_bounded() {
        let fixes: Vec<String> = (0..2500).map(|i| fix_json(&fix(i))).collect();
        let chunks = backlog_chunks(&fixes, 1000);
        let mut seqs = Vec::new();
        for c in &chunks {
            assert!(c.len() <= MAX_BACKLOG_BYTES);
            let arr: Vec<serde_json::Value> = serde_json::from_str(c).unwrap();
            assert!(arr.len() <= 1000);
            seqs.extend(arr.iter().map(|v| v["seq"].as_u64().unwrap()));
        }
        assert_eq!(seqs, (0..2500).rev().collect::<Vec<_>>());
    }

    #[test]
    fn malformed_messages_are_not_valid_fixes() {
        for v in 0..MALFORMED_VARIANTS {
            let bytes = malformed(v, &fix(1));
            let ok = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .filter(|j| {
                    j["ts"].is_string()
                        && j["lat"].as_f64().is_some_and(|x| x.abs() <= 90.0)
                        && j["lon"].is_number()
                        && j.get("batt").is_none()
                });
            assert!(ok.is_none(), "variant {v} looks valid");
        }
    }
}
