//! Scoring alerts against the ground truth: a pure function.
//!
//! **Matching.** A trouble is hit by an alert of its kind, of the same device (for
//! `coverage_at_risk`: of the same route and shift instance), opened within the
//! rule's debounce plus one fix interval of the planted start:
//! `0 <= opened_at - anchor <= debounce + fix_interval`. The anchor is the
//! planted start (`from`), except for `late_start` (the shift instance's start)
//! and `coverage_at_risk` (the instance's end minus `coverage_at_risk_before_s`).
//! The open-time error is `opened_at - (anchor + debounce)`. The debounce of each
//! kind comes from the org's rules resolved for the device's kind (see
//! [`debounce_s`]). Troubles are matched in time order, each to the earliest alert
//! that fits: one case per trouble, so a second alert fitting the same trouble is
//! a false alert (a duplicate), not a second hit.
//!
//! **Scope.** Only alerts of devices (and routes) of the run, opened within its span,
//! count; the rest are reported as ignored. A trouble due after the run ended
//! (`anchor + debounce > end`) is not scored.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use geofence::{AlertKind, AreaId, DeviceKey, DeviceKind, RuleParams};
use serde::Serialize;

use super::truth::{Planted, Truth};

/// An alert as the dispatcher sees it: a stored case (or one folded in-process
/// with [`geofence::Cases`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObservedAlert {
    /// The device (`None` for route alerts).
    pub device: Option<String>,
    pub kind: AlertKind,
    pub opened_at: DateTime<Utc>,
    pub cleared_at: Option<DateTime<Utc>>,
    /// The area concerned (the route, for a route alert).
    pub area_id: Option<String>,
    pub shift_id: Option<String>,
    pub shift_date: Option<NaiveDate>,
    /// How often a recurrence re-opened the case.
    pub reopen_count: u32,
}

/// The figures of one kind (or of all, with `kind` `None`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindScore {
    pub kind: Option<AlertKind>,
    /// Troubles scored.
    pub planted: usize,
    /// Alerts in scope.
    pub alerts: usize,
    pub hits: usize,
    pub false_alerts: usize,
    pub missed: usize,
    /// Hits over alerts (`None` without alerts).
    pub precision: Option<f64>,
    /// Hits over troubles (`None` without troubles).
    pub recall: Option<f64>,
    /// Mean and largest absolute open-time error of the hits, seconds.
    pub error_mean_s: Option<f64>,
    pub error_max_s: Option<f64>,
}

/// A hit: the trouble and the alert that raised it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub trouble: Planted,
    pub alert: ObservedAlert,
    pub error_s: f64,
}

/// An alert that no trouble explains, and what it overlaps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FalseAlert {
    pub alert: ObservedAlert,
    /// Why it may have been raised: planted conditions it overlaps, or the hit
    /// it duplicates.
    pub explanation: Vec<String>,
}

/// A trouble no alert raised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Missed {
    pub trouble: Planted,
    /// When the alert was due (anchor + debounce), and the window.
    pub due: DateTime<Utc>,
    pub explanation: String,
}

/// The score of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    pub org: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub seed: u64,
    pub devices: usize,
    /// One row per kind that was planted or raised, then `all`.
    pub kinds: Vec<KindScore>,
    pub total: KindScore,
    pub hits: Vec<Hit>,
    pub false_alerts: Vec<FalseAlert>,
    pub missed: Vec<Missed>,
    /// Alerts of devices or routes not in the run.
    pub ignored_other: usize,
    /// Alerts opened outside the run's span.
    pub ignored_outside: usize,
    /// Troubles due after the run ended.
    pub not_due: Vec<Planted>,
}

/// Seconds from the anchor to when the rule opens: the kind's debounce for a
/// device of `params`' kind.
pub fn debounce_s(kind: AlertKind, p: &RuleParams) -> i64 {
    match kind {
        AlertKind::Idle => p.idle_after_s + p.break_allowance_s,
        AlertKind::OffArea => p.off_area_after_s,
        AlertKind::Offline => p.offline_after_s,
        AlertKind::LateStart => p.late_start_after_s,
        AlertKind::SpeedingAtWork => p.speeding_after_s,
        AlertKind::OffShiftWork => p.off_shift_work_after_s,
        AlertKind::Sos => 0,
        AlertKind::WorkOffRoute => p.work_off_route_after_s,
        AlertKind::CoverageAtRisk => 0,
    }
}

/// When a trouble's alert is due: (anchor, debounce, slack), seconds.
struct Expect {
    anchor: DateTime<Utc>,
    debounce: TimeDelta,
    slack: TimeDelta,
}

impl Expect {
    fn of(truth: &Truth, p: &Planted) -> Option<Self> {
        let kind = p.kind?;
        let dev_kind = p
            .device
            .as_deref()
            .and_then(|d| truth.kind_of(d))
            .unwrap_or(DeviceKind::Unknown);
        let rules = &truth.run.rules;
        let params = match (kind, &p.route) {
            (AlertKind::CoverageAtRisk, Some(r)) => {
                rules.resolve_route(&AreaId::new(r.clone()).ok()?)
            }
            _ => {
                let key = DeviceKey::new(p.device.clone().unwrap_or_else(|| "-".into())).ok()?;
                rules.resolve(dev_kind, None, &key)
            }
        };
        let anchor = match (kind, &p.shift) {
            (AlertKind::LateStart, Some(s)) => s.start,
            (AlertKind::CoverageAtRisk, Some(s)) => {
                s.end - TimeDelta::seconds(params.coverage_at_risk_before_s)
            }
            _ => p.from,
        };
        let slack = truth.run.fix_interval_s.of(dev_kind);
        Some(Self {
            anchor,
            debounce: TimeDelta::seconds(debounce_s(kind, &params)),
            slack: TimeDelta::milliseconds((slack * 1000.0).round() as i64),
        })
    }

    fn due(&self) -> DateTime<Utc> {
        self.anchor + self.debounce
    }

    fn fits(&self, opened: DateTime<Utc>) -> bool {
        let d = opened - self.anchor;
        d >= TimeDelta::zero() && d <= self.debounce + self.slack
    }
}

fn same_subject(p: &Planted, a: &ObservedAlert) -> bool {
    if Some(a.kind) != p.kind {
        return false;
    }
    match a.kind {
        AlertKind::CoverageAtRisk => {
            a.area_id.is_some()
                && a.area_id == p.route
                && p.shift.as_ref().is_none_or(|s| {
                    a.shift_id.as_ref().is_none_or(|id| *id == s.id)
                        && a.shift_date.is_none_or(|d| d == s.date)
                })
        }
        _ => a.device.is_some() && a.device == p.device,
    }
}

/// Scores `alerts` against `truth` (see the module docs).
#[expect(
    clippy::too_many_lines,
    reason = "one scoring pass: match each alert to a trouble, then each trouble to its alerts, then the per-kind tallies; the three loops share the matching tables"
)]
pub fn score(truth: &Truth, alerts: &[ObservedAlert]) -> Score {
    let run = &truth.run;
    let mut ignored_other = 0;
    let mut ignored_outside = 0;
    let mut scoped: Vec<&ObservedAlert> = Vec::new();
    for a in alerts {
        let ours = match (&a.device, a.kind) {
            (_, AlertKind::CoverageAtRisk) => a
                .area_id
                .as_ref()
                .is_some_and(|r| run.routes.iter().any(|x| x == r)),
            (Some(d), _) => run.devices.iter().any(|x| &x.id == d),
            (None, _) => false,
        };
        if !ours {
            ignored_other += 1;
        } else if a.opened_at < run.start || a.opened_at > run.end {
            ignored_outside += 1;
        } else {
            scoped.push(a);
        }
    }
    scoped.sort_by_key(|a| a.opened_at);

    let mut troubles: Vec<(&Planted, Expect)> = Vec::new();
    let mut not_due = Vec::new();
    for p in &truth.troubles {
        match Expect::of(truth, p) {
            Some(e) if e.due() <= run.end => troubles.push((p, e)),
            _ => not_due.push(p.clone()),
        }
    }
    troubles.sort_by_key(|(_, e)| e.anchor);

    let mut used = vec![false; scoped.len()];
    let mut hits = Vec::new();
    let mut missed = Vec::new();
    for (p, e) in &troubles {
        let found = scoped
            .iter()
            .enumerate()
            .find(|(i, a)| !used[*i] && same_subject(p, a) && e.fits(a.opened_at));
        match found {
            Some((i, a)) => {
                used[i] = true;
                hits.push(Hit {
                    trouble: (*p).clone(),
                    alert: (*a).clone(),
                    error_s: (a.opened_at - e.due()).as_seconds_f64(),
                });
            }
            None => missed.push(Missed {
                trouble: (*p).clone(),
                due: e.due(),
                explanation: explain_miss(p, e, &scoped),
            }),
        }
    }
    let false_alerts: Vec<FalseAlert> = scoped
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(a, _)| FalseAlert {
            alert: (*a).clone(),
            explanation: explain_false(truth, a, &hits),
        })
        .collect();

    let mut kinds = Vec::new();
    for k in AlertKind::ALL {
        let row = tally(
            Some(k),
            troubles.iter().filter(|(p, _)| p.kind == Some(k)).count(),
            &hits,
            &false_alerts,
            &missed,
        );
        if row.planted + row.alerts > 0 {
            kinds.push(row);
        }
    }
    let total = tally(None, troubles.len(), &hits, &false_alerts, &missed);
    Score {
        org: run.org.clone(),
        start: run.start,
        end: run.end,
        seed: run.seed,
        devices: run.devices.len(),
        kinds,
        total,
        hits,
        false_alerts,
        missed,
        ignored_other,
        ignored_outside,
        not_due,
    }
}

fn tally(
    kind: Option<AlertKind>,
    planted: usize,
    hits: &[Hit],
    false_alerts: &[FalseAlert],
    missed: &[Missed],
) -> KindScore {
    let of = |k: AlertKind| kind.is_none_or(|x| x == k);
    let h: Vec<f64> = hits
        .iter()
        .filter(|h| of(h.alert.kind))
        .map(|h| h.error_s)
        .collect();
    let f = false_alerts.iter().filter(|f| of(f.alert.kind)).count();
    let m = missed
        .iter()
        .filter(|m| m.trouble.kind.is_some_and(of))
        .count();
    let ratio = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
    KindScore {
        kind,
        planted,
        alerts: h.len() + f,
        hits: h.len(),
        false_alerts: f,
        missed: m,
        precision: ratio(h.len(), h.len() + f),
        recall: ratio(h.len(), planted),
        error_mean_s: (!h.is_empty()).then(|| h.iter().sum::<f64>() / h.len() as f64),
        error_max_s: h.iter().map(|e| e.abs()).reduce(f64::max),
    }
}

fn hms(t: DateTime<Utc>) -> String {
    t.format("%H:%M:%S").to_string()
}

fn subject(p: &Planted) -> String {
    match (&p.route, &p.device) {
        (Some(r), Some(d)) => format!("{r} ({d})"),
        (Some(r), None) => r.clone(),
        (None, Some(d)) => d.clone(),
        (None, None) => "-".into(),
    }
}

fn explain_miss(p: &Planted, e: &Expect, alerts: &[&ObservedAlert]) -> String {
    let kind = p.kind.map_or("-", AlertKind::as_str);
    let window = format!(
        "window {}..{}",
        hms(e.anchor),
        hms(e.anchor + e.debounce + e.slack)
    );
    let nearest = alerts
        .iter()
        .filter(|a| same_subject(p, a))
        .min_by_key(|a| (a.opened_at - e.due()).num_milliseconds().abs());
    match nearest {
        Some(a) => format!(
            "nearest {kind} of {} opened {} ({:+.0} s from due; {window})",
            subject(p),
            hms(a.opened_at),
            (a.opened_at - e.due()).as_seconds_f64()
        ),
        None => format!("no {kind} alert of {} ({window})", subject(p)),
    }
}

/// How long after a planted condition an alert may still be its doing.
const AFTERMATH: TimeDelta = TimeDelta::minutes(2);

fn explain_false(truth: &Truth, a: &ObservedAlert, hits: &[Hit]) -> Vec<String> {
    let mut out = Vec::new();
    let end = a.cleared_at.unwrap_or(a.opened_at).max(a.opened_at);
    let overlaps = |p: &Planted| {
        let who = match a.kind {
            AlertKind::CoverageAtRisk => p.route.is_some() && p.route == a.area_id,
            _ => p.device.is_some() && p.device == a.device,
        };
        who && p.from <= end && a.opened_at <= p.to + AFTERMATH
    };
    for h in hits {
        if h.alert.kind == a.kind && h.alert.device == a.device && h.alert.area_id == a.area_id {
            let t = &h.trouble;
            if overlaps(t) {
                out.push(format!(
                    "duplicate of the {} case opened {} for trouble {}",
                    a.kind.as_str(),
                    hms(h.alert.opened_at),
                    t.behaviour
                ));
            }
        }
    }
    for (what, list) in [
        ("trouble", &truth.troubles),
        ("non-trouble", &truth.non_troubles),
    ] {
        for p in list.iter().filter(|p| overlaps(p)) {
            let note = if p.note.is_empty() {
                String::new()
            } else {
                format!(", {}", p.note)
            };
            out.push(format!(
                "overlaps {what} {} of {} ({}-{}{note})",
                p.behaviour,
                subject(p),
                hms(p.from),
                hms(p.to)
            ));
        }
    }
    if out.is_empty() {
        out.push("no planted condition overlaps it".into());
    }
    out
}

impl Score {
    /// Whether the overall figures meet the thresholds (a figure without a
    /// denominator meets any threshold); the reason if not.
    pub fn check(&self, min_precision: Option<f64>, min_recall: Option<f64>) -> Result<(), String> {
        let mut why = Vec::new();
        if let (Some(min), Some(p)) = (min_precision, self.total.precision)
            && p < min
        {
            why.push(format!("precision {p:.3} < {min}"));
        }
        if let (Some(min), Some(r)) = (min_recall, self.total.recall)
            && r < min
        {
            why.push(format!("recall {r:.3} < {min}"));
        }
        if why.is_empty() {
            Ok(())
        } else {
            Err(why.join(", "))
        }
    }
}
