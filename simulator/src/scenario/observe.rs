//! Ground truth read off a device's motion: each tick the device says which
//! conditions hold (from its true position, before GPS noise), and the observer
//! turns runs of ticks into planted troubles and non-troubles.
//!
//! A trouble that held for less than its rule's debounce did not happen as far as a
//! supervisor is concerned (a stop of 5 minutes is not `idle`): it is written as a
//! non-trouble, with a note saying so.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use geofence::{AlertKind, RuleParams};

use crate::quality::{InstanceRef, Planted, debounce_s};

/// A condition that holds at a tick.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cond {
    /// The alert it must raise (`None`: a non-trouble).
    pub kind: Option<AlertKind>,
    pub behaviour: &'static str,
    pub note: String,
}

impl Cond {
    pub fn trouble(kind: AlertKind, behaviour: &'static str) -> Self {
        Self {
            kind: Some(kind),
            behaviour,
            note: String::new(),
        }
    }

    pub fn non_trouble(behaviour: &'static str, note: impl Into<String>) -> Self {
        Self {
            kind: None,
            behaviour,
            note: note.into(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Span {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

/// What one device planted.
#[derive(Debug, Default)]
pub struct Observer {
    device: String,
    open: BTreeMap<Cond, Span>,
    pub troubles: Vec<Planted>,
    pub non_troubles: Vec<Planted>,
}

impl Observer {
    pub fn new(device: &str) -> Self {
        Self {
            device: device.to_owned(),
            ..Self::default()
        }
    }

    /// The conditions that hold at `t` (an empty list closes every open one).
    pub fn observe(&mut self, t: DateTime<Utc>, now: &[Cond], params: &RuleParams) {
        let ended: Vec<Cond> = self
            .open
            .keys()
            .filter(|c| !now.contains(c))
            .cloned()
            .collect();
        for c in ended {
            if let Some(s) = self.open.remove(&c) {
                self.emit(c, s, params);
            }
        }
        for c in now {
            self.open
                .entry(c.clone())
                .and_modify(|s| s.to = t)
                .or_insert(Span { from: t, to: t });
        }
    }

    /// Closes everything still open (the end of the run).
    pub fn finish(&mut self, params: &RuleParams) {
        for (c, s) in std::mem::take(&mut self.open) {
            self.emit(c, s, params);
        }
    }

    fn emit(&mut self, c: Cond, s: Span, params: &RuleParams) {
        let mut p = Planted {
            kind: c.kind,
            device: Some(self.device.clone()),
            route: None,
            shift: None,
            from: s.from,
            to: s.to,
            behaviour: c.behaviour.to_owned(),
            note: c.note,
        };
        match c.kind {
            Some(k) if (s.to - s.from).num_seconds() >= debounce_s(k, params) => {
                self.troubles.push(p)
            }
            Some(k) => {
                p.note = format!(
                    "held {} s, less than the {} s {} needs",
                    (s.to - s.from).num_seconds(),
                    debounce_s(k, params),
                    k.as_str()
                );
                p.kind = None;
                self.non_troubles.push(p);
            }
            None => self.non_troubles.push(p),
        }
    }

    /// A trouble recorded whole (SOS, silence, a late start, a skipped route).
    pub fn record(&mut self, p: Planted) {
        if p.kind.is_some() {
            self.troubles.push(p);
        } else {
            self.non_troubles.push(p);
        }
    }

    /// Records a condition with known span: a trouble if it lasted its debounce.
    pub fn record_span(
        &mut self,
        c: Cond,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        params: &RuleParams,
    ) {
        self.emit(c, Span { from, to }, params);
    }
}

/// A shift instance as the truth names it.
pub fn instance_ref(inst: &geofence::ShiftInstance) -> InstanceRef {
    InstanceRef {
        id: inst.shift_id.as_str().to_owned(),
        date: inst.local_date,
        start: inst.start,
        end: inst.end,
    }
}
