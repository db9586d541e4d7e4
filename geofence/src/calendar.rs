//! A shift with a small cache of its instances around the last instant asked
//! about, so the hot path does not convert time zones on every fix.

use crate::shift::{Shift, ShiftInstance};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Cache span either side of the instant that missed (ms): two days.
const SPAN_MS: i64 = 2 * 86_400_000;

#[derive(Debug)]
pub(crate) struct Calendar {
    pub shift: Shift,
    lo_ms: i64,
    hi_ms: i64,
    /// (start ms, end ms, instance)
    cache: Vec<(i64, i64, Arc<ShiftInstance>)>,
}

impl Calendar {
    pub fn new(shift: Shift) -> Self {
        Calendar {
            shift,
            lo_ms: 0,
            hi_ms: 0,
            cache: Vec::new(),
        }
    }

    /// Make sure the cache covers `t_ms`.
    pub fn ensure(&mut self, t_ms: i64) {
        if t_ms >= self.lo_ms && t_ms < self.hi_ms {
            return;
        }
        let lo = t_ms.saturating_sub(SPAN_MS);
        let hi = t_ms.saturating_add(SPAN_MS);
        let (Some(from), Some(to)) = (
            DateTime::<Utc>::from_timestamp_millis(lo),
            DateTime::<Utc>::from_timestamp_millis(hi),
        ) else {
            self.cache.clear();
            return;
        };
        self.cache = self
            .shift
            .instances_overlapping(from, to)
            .into_iter()
            .map(|i| {
                (
                    i.start.timestamp_millis(),
                    i.end.timestamp_millis(),
                    Arc::new(i),
                )
            })
            .collect();
        (self.lo_ms, self.hi_ms) = (lo, hi);
    }

    /// The instance containing `t_ms` (call [`Calendar::ensure`] first).
    pub fn find(&self, t_ms: i64) -> Option<&Arc<ShiftInstance>> {
        if t_ms < self.lo_ms || t_ms >= self.hi_ms {
            return None;
        }
        self.cache
            .iter()
            .rev()
            .find(|(s, e, _)| *s <= t_ms && t_ms < *e)
            .map(|(_, _, i)| i)
    }
}
