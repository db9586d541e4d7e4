//! Shift calendars in the org's IANA time zone.
//!
//! A shift has weekly windows (days of week, local start and end; an end at or
//! before the start crosses midnight and belongs to the day it started), dated
//! extra windows, dated days off, and monthly recurring extras (the clean-city
//! day). A *shift instance* is the shift plus the local date it started on; when
//! several windows start on one date they form one instance spanning them all.
//! Local times are resolved in the zone: an ambiguous time (autumn) takes its
//! first occurrence, a skipped time (spring) is read with the offset in force
//! before the jump, so 02:30 on a spring-forward night in Berlin is 01:30 UTC.

use crate::error::GeofenceError;
use crate::ids::ShiftId;
use chrono::{
    DateTime, Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// A weekly window: on these days, from `start` to `end` local time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeeklyWindow {
    /// Days of week the window starts on.
    pub days: Vec<Weekday>,
    /// Local start time.
    pub start: NaiveTime,
    /// Local end time; `end <= start` means the next day.
    pub end: NaiveTime,
}

/// A one-off extra window on a local date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatedWindow {
    /// Local date the window starts on.
    pub date: NaiveDate,
    /// Local start time.
    pub start: NaiveTime,
    /// Local end time; `end <= start` means the next day.
    pub end: NaiveTime,
}

/// Which day of each month a monthly extra falls on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum MonthDay {
    /// Day N of the month (1..=31); months without that day have none.
    DayOfMonth {
        /// the day number
        day: u32,
    },
    /// The n-th (1..=5) given weekday of the month.
    NthWeekday {
        /// 1 for first, 2 for second, ...
        n: u32,
        /// the weekday
        weekday: Weekday,
    },
    /// The last given weekday of the month, e.g. last Saturday.
    LastWeekday {
        /// the weekday
        weekday: Weekday,
    },
}

impl MonthDay {
    /// The date this rule picks in a month, if any.
    pub fn date_in(self, year: i32, month: u32) -> Option<NaiveDate> {
        match self {
            MonthDay::DayOfMonth { day } => NaiveDate::from_ymd_opt(year, month, day),
            MonthDay::NthWeekday { n, weekday } => {
                NaiveDate::from_weekday_of_month_opt(year, month, weekday, n as u8)
            }
            MonthDay::LastWeekday { weekday } => (1..=5)
                .rev()
                .find_map(|n| NaiveDate::from_weekday_of_month_opt(year, month, weekday, n)),
        }
    }
}

/// A monthly recurring extra window (the monthly clean-city day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthlyExtra {
    /// Which day of the month.
    pub day: MonthDay,
    /// Local start time.
    pub start: NaiveTime,
    /// Local end time; `end <= start` means the next day.
    pub end: NaiveTime,
}

/// A named shift in a time zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shift {
    id: ShiftId,
    /// Display name.
    pub name: String,
    tz: Tz,
    weekly: Vec<WeeklyWindow>,
    extras: Vec<DatedWindow>,
    days_off: Vec<NaiveDate>,
    monthly: Vec<MonthlyExtra>,
}

/// Identifies a shift instance: the shift and the local date it started on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ShiftInstanceKey {
    /// The shift.
    pub shift: ShiftId,
    /// Local date the instance started on.
    pub local_date: NaiveDate,
}

/// One concrete occurrence of a shift.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShiftInstance {
    /// The shift.
    pub shift_id: ShiftId,
    /// Local date it started on.
    pub local_date: NaiveDate,
    /// Start instant.
    pub start: DateTime<Utc>,
    /// End instant (exclusive).
    pub end: DateTime<Utc>,
}

impl ShiftInstance {
    /// The instance's key.
    pub fn key(&self) -> ShiftInstanceKey {
        ShiftInstanceKey {
            shift: self.shift_id.clone(),
            local_date: self.local_date,
        }
    }
    /// Whether `t` is within `[start, end)`.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }
}

/// Resolve a local date-time in `tz` to UTC (see the module docs for DST rules).
pub fn local_to_utc(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local).earliest() {
        Some(t) => t.with_timezone(&Utc),
        None => {
            // skipped by a forward jump: use the offset in force a few hours before
            let before = local - chrono::Duration::hours(4);
            let off = tz.offset_from_utc_datetime(&before).fix();
            (local - off).and_utc()
        }
    }
}

impl Shift {
    /// An empty shift (no windows yet) in a time zone.
    pub fn new(id: ShiftId, name: impl Into<String>, tz: Tz) -> Self {
        Shift {
            id,
            name: name.into(),
            tz,
            weekly: Vec::new(),
            extras: Vec::new(),
            days_off: Vec::new(),
            monthly: Vec::new(),
        }
    }

    fn invalid(&self, reason: &str) -> GeofenceError {
        GeofenceError::InvalidShift {
            id: self.id.to_string(),
            reason: reason.to_string(),
        }
    }

    /// Add a weekly window; refuses an empty day set.
    pub fn with_weekly(mut self, w: WeeklyWindow) -> Result<Self, GeofenceError> {
        if w.days.is_empty() {
            return Err(self.invalid("a weekly window needs at least one day"));
        }
        self.weekly.push(w);
        Ok(self)
    }

    /// Add a dated extra window.
    pub fn with_extra(mut self, w: DatedWindow) -> Self {
        self.extras.push(w);
        self
    }

    /// Add a day off: no weekly or monthly instance starts on that local date.
    pub fn with_day_off(mut self, date: NaiveDate) -> Self {
        self.days_off.push(date);
        self
    }

    /// Add a monthly recurring extra; refuses impossible days.
    pub fn with_monthly(mut self, m: MonthlyExtra) -> Result<Self, GeofenceError> {
        let ok = match m.day {
            MonthDay::DayOfMonth { day } => (1..=31).contains(&day),
            MonthDay::NthWeekday { n, .. } => (1..=5).contains(&n),
            MonthDay::LastWeekday { .. } => true,
        };
        if !ok {
            return Err(self.invalid("monthly day out of range"));
        }
        self.monthly.push(m);
        Ok(self)
    }

    /// The shift id.
    pub fn id(&self) -> &ShiftId {
        &self.id
    }
    /// The shift's time zone.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// The instance starting on a local date, if the shift runs that day.
    pub fn instance_on(&self, date: NaiveDate) -> Option<ShiftInstance> {
        let day_off = self.days_off.contains(&date);
        let mut span: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
        let mut add = |start: NaiveTime, end: NaiveTime| {
            let end_date = if end <= start {
                date.checked_add_days(Days::new(1))
            } else {
                Some(date)
            };
            let Some(end_date) = end_date else { return };
            let s = local_to_utc(self.tz, date.and_time(start));
            let e = local_to_utc(self.tz, end_date.and_time(end));
            if e > s {
                span = Some(match span {
                    None => (s, e),
                    Some((a, b)) => (a.min(s), b.max(e)),
                });
            }
        };
        if !day_off {
            for w in self
                .weekly
                .iter()
                .filter(|w| w.days.contains(&date.weekday()))
            {
                add(w.start, w.end);
            }
            for m in &self.monthly {
                if m.day.date_in(date.year(), date.month()) == Some(date) {
                    add(m.start, m.end);
                }
            }
        }
        for w in self.extras.iter().filter(|w| w.date == date) {
            add(w.start, w.end);
        }
        span.map(|(start, end)| ShiftInstance {
            shift_id: self.id.clone(),
            local_date: date,
            start,
            end,
        })
    }

    /// All instances overlapping `[from, to)`, in start order.
    pub fn instances_overlapping(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<ShiftInstance> {
        let mut out = Vec::new();
        if to <= from {
            return out;
        }
        let first = from.with_timezone(&self.tz).date_naive();
        let last = to.with_timezone(&self.tz).date_naive();
        // a window may start up to two local days before it is seen (end crosses midnight, DST)
        let mut d = first.checked_sub_days(Days::new(2)).unwrap_or(first);
        while d <= last {
            if let Some(i) = self.instance_on(d)
                && i.start < to
                && i.end > from
            {
                out.push(i);
            }
            match d.succ_opt() {
                Some(n) => d = n,
                None => break,
            }
        }
        out
    }

    /// The instance containing `t`, if any (the latest-starting one if several).
    pub fn instance_at(&self, t: DateTime<Utc>) -> Option<ShiftInstance> {
        let end = t + chrono::Duration::milliseconds(1);
        self.instances_overlapping(t, end)
            .into_iter()
            .rfind(|i| i.contains(t))
    }
}
