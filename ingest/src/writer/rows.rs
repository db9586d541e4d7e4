//! From decoded messages to the rows of one transaction (pure).
//!
//! Every row built here can be stored: the decoder refuses what the store
//! cannot hold, and a reject row (topic and detail are text; PostgreSQL's text
//! cannot hold U+0000) is made storable by construction.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use store::{Batch, FixRow, RejectRow, StatusRow};

use crate::codec::{Fix, Message, Reject, RejectReason};
use crate::pipeline::Item;

/// Per-device memory of the last in-order fix, for `dist_m`/`dt_s`.
#[derive(Clone, Copy)]
pub(crate) struct LastFix {
    pub ts: DateTime<Utc>,
    pub lat: f64,
    pub lon: f64,
    pub received_at: DateTime<Utc>,
}

/// How a message that PostgreSQL refused is kept instead.
#[derive(Debug, Clone)]
pub(crate) enum Fallback {
    /// Stored as a reject (`unstorable`) with the database's message.
    Reject { detail: String },
    /// Its fixes are stored, but the engines do not evaluate them (what they
    /// derived from it could not be written).
    SkipEngine,
}

/// The rows of some messages of a batch.
pub(crate) struct Rows {
    pub batch: Batch,
    /// For each fix row, the index of its message.
    pub owner: Vec<usize>,
    /// The devices' last fixes after these rows; applied only once committed.
    pub last: HashMap<i32, LastFix>,
}

/// Builds the rows of `items[range]`. `device_of` gives each message's device
/// id; `last` is the writer's memory of each device's last fix.
pub(crate) fn build(
    items: &[Item],
    range: std::ops::Range<usize>,
    device_of: impl Fn(usize) -> Option<i32>,
    fallback: &HashMap<usize, Fallback>,
    last: &HashMap<i32, LastFix>,
) -> Rows {
    let mut rows = Rows {
        batch: Batch::default(),
        owner: Vec::new(),
        last: HashMap::new(),
    };
    for idx in range {
        let item = &items[idx];
        if let Some(Fallback::Reject { detail }) = fallback.get(&idx) {
            let r = Reject::new(RejectReason::Unstorable, detail.clone());
            rows.batch
                .rejects
                .push(reject_row(item, &item.payload, &r, None));
            continue;
        }
        let device_id = device_of(idx);
        match (&item.decoded, device_id) {
            (Err(r), _) => rows
                .batch
                .rejects
                .push(reject_row(item, &item.payload, r, None)),
            (Ok(Message::Fix { fix, .. } | Message::OwnTracks { fix, .. }), Some(id)) => {
                let row = fix_row(id, fix, item.received_at, last, &mut rows.last);
                rows.batch.fixes.push(row);
                rows.owner.push(idx);
            }
            (Ok(Message::Backlog { fixes, rejects, .. }), Some(id)) => {
                // A backlog's order means nothing; evaluate it in time order.
                let mut sorted: Vec<&Fix> = fixes.iter().collect();
                sorted.sort_by_key(|f| f.ts);
                for fix in sorted {
                    let row = fix_row(id, fix, item.received_at, last, &mut rows.last);
                    rows.batch.fixes.push(row);
                    rows.owner.push(idx);
                }
                for e in rejects {
                    rows.batch
                        .rejects
                        .push(reject_row(item, &e.raw, &e.reject, Some(e.index)));
                }
            }
            (Ok(Message::Status { online, status, .. }), Some(id)) => {
                rows.batch.statuses.push(StatusRow {
                    device_id: id,
                    online: *online,
                    status: status.clone(),
                    received_at: item.received_at,
                })
            }
            (Ok(Message::StatusCleared { .. }), _) => {}
            // Registration gives every key an id or fails; should it not, the
            // message is still kept, as a reject. (A relay is resolved before.)
            (Ok(Message::Jt808Relay(_)), _) | (Ok(_), None) => rows.batch.rejects.push(reject_row(
                item,
                &item.payload,
                &Reject::new(RejectReason::InvalidTopic, "device could not be registered"),
                None,
            )),
        }
    }
    rows
}

fn fix_row(
    device_id: i32,
    fix: &Fix,
    received_at: DateTime<Utc>,
    committed: &HashMap<i32, LastFix>,
    pending: &mut HashMap<i32, LastFix>,
) -> FixRow {
    let prev = pending
        .get(&device_id)
        .or_else(|| committed.get(&device_id))
        .copied();
    let (dist_m, dt_s) = match prev {
        Some(p) if fix.ts > p.ts => (
            Some(geofence::geodesy::haversine_m(p.lat, p.lon, fix.lat, fix.lon) as f32),
            Some((fix.ts - p.ts).as_seconds_f64() as f32),
        ),
        _ => (None, None),
    };
    if prev.is_none_or(|p| fix.ts > p.ts) {
        pending.insert(
            device_id,
            LastFix {
                ts: fix.ts,
                lat: fix.lat,
                lon: fix.lon,
                received_at,
            },
        );
    }
    FixRow {
        device_id,
        ts: fix.ts,
        lat: fix.lat,
        lon: fix.lon,
        speed: fix.speed.map(|x| x as f32),
        heading: fix.heading.map(|x| x as f32),
        acc: fix.acc.map(|x| x as f32),
        work: fix.work,
        sos: fix.sos,
        batt: fix.batt.map(|x| x as f32),
        seq: fix.seq,
        dist_m,
        dt_s,
        received_at,
    }
}

/// A reject row that PostgreSQL can always store: the payload is `bytea`
/// (any bytes); the topic and detail are text, which cannot hold U+0000, so
/// it is shown as U+FFFD and the detail says so.
pub(crate) fn reject_row(
    item: &Item,
    payload: &[u8],
    r: &Reject,
    element: Option<usize>,
) -> RejectRow {
    let mut detail = match element {
        Some(i) => format!("backlog element {i}: {}", r.detail),
        None => r.detail.clone(),
    };
    let topic = if item.topic.contains('\0') {
        detail.push_str(" (the topic contains U+0000, stored as U+FFFD)");
        item.topic.replace('\0', "\u{FFFD}")
    } else {
        item.topic.clone()
    };
    RejectRow {
        topic,
        payload: payload.to_vec(),
        reason: r.reason.as_str(),
        detail: detail.replace('\0', "\u{FFFD}"),
        received_at: item.received_at,
    }
}

/// The `sweepwatch_mqtt_messages_total` result of a committed message.
pub(crate) fn result_label(
    item: &Item,
    stored_any: bool,
    fallback: Option<&Fallback>,
) -> &'static str {
    match (&item.decoded, fallback) {
        (_, Some(Fallback::Reject { .. })) | (Err(_), _) => "rejected",
        (Ok(Message::Fix { .. } | Message::OwnTracks { .. }), _) if !stored_any => "duplicate",
        (Ok(Message::Backlog { fixes, .. }), _) if fixes.is_empty() => "rejected",
        (Ok(Message::Backlog { .. }), _) if !stored_any => "duplicate",
        _ => "accepted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(topic: &str) -> Item {
        Item {
            topic: topic.into(),
            payload: bytes::Bytes::from_static(b"{}"),
            received_at: Utc::now(),
            decoded: Err(Reject::new(RejectReason::InvalidTopic, "x")),
            committed: None,
        }
    }

    #[test]
    fn reject_rows_never_carry_nul_in_text() {
        let it = item("sweepwatch/v1/a\0b/dev/fix");
        let r = reject_row(
            &it,
            b"\0raw\0",
            &Reject::new(RejectReason::InvalidTopic, "bad\0"),
            None,
        );
        assert!(!r.topic.contains('\0') && !r.detail.contains('\0'));
        assert_eq!(r.topic, "sweepwatch/v1/a\u{FFFD}b/dev/fix");
        assert_eq!(r.payload, b"\0raw\0", "the payload is kept byte for byte");
        assert!(r.detail.contains("U+0000"));
    }

    #[test]
    fn a_refused_message_becomes_an_unstorable_reject() {
        let items = vec![item("t")];
        let fallback = HashMap::from([(
            0,
            Fallback::Reject {
                detail: "SQLSTATE 22P05: nope".into(),
            },
        )]);
        let rows = build(&items, 0..1, |_| Some(1), &fallback, &HashMap::new());
        assert_eq!(rows.batch.rejects.len(), 1);
        assert_eq!(rows.batch.rejects[0].reason, "unstorable");
        assert_eq!(rows.batch.rejects[0].detail, "SQLSTATE 22P05: nope");
    }
}
