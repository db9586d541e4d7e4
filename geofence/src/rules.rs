//! The per-device rule state machine, one function per input (a fix in time
//! order, or a tick). Pure: the engine resolves areas, shifts and parameters
//! into a context, these functions update [`DeviceState`] and emit transitions.

use crate::alert::{AlertKind, AlertTransition, Change};
use crate::device::{Anchor, DeviceState};
use crate::engine_place::Placement;
use crate::fix::{DeviceKind, Fix};
use crate::geodesy::local_distance_m;
use crate::ids::{AreaId, DeviceKey};
use crate::rules_config::RuleParams;
use crate::shift::ShiftInstance;
use crate::timers::end_bound;
use chrono::{DateTime, Utc};

/// A shift instance shared between the calendar cache and device states.
pub(crate) type Inst = std::sync::Arc<ShiftInstance>;

/// The assignment the device is working under right now.
pub(crate) struct Active<'a> {
    pub inst: &'a Inst,
    pub area: &'a AreaId,
}

/// Everything the rules need to know about one in-order fix.
pub(crate) struct FixCtx<'a> {
    pub device: &'a DeviceKey,
    pub fix: &'a Fix,
    pub params: &'a RuleParams,
    pub active: Option<Active<'a>>,
    /// Inside (one of) the active assigned area(s).
    pub inside: bool,
    /// Where the device is relative to its working area.
    pub placement: Placement,
    pub in_rest_zone: bool,
    pub speed_kmh: f64,
    pub has_assignments: bool,
}

pub(crate) fn ts(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Builds transitions for one device at one position.
pub(crate) struct Emitter<'a> {
    pub device: &'a DeviceKey,
    pub lat: f64,
    pub lon: f64,
    /// An open within this time of the same kind's last clear is a recurrence.
    pub reopen_within_ms: i64,
    pub out: &'a mut Vec<AlertTransition>,
}

impl Emitter<'_> {
    #[allow(clippy::too_many_arguments)]
    pub fn emit(
        &mut self,
        st: &mut DeviceState,
        kind: AlertKind,
        change: Change,
        at_ms: i64,
        area: Option<&AreaId>,
        inst: Option<&Inst>,
        message: String,
    ) {
        st.set_open(kind, change == Change::Open && kind != AlertKind::Sos);
        let slot = kind as usize;
        let mut recurrence = false;
        if slot < st.cleared_s.len() {
            match change {
                Change::Clear => {
                    st.cleared_s[slot] = (at_ms / 1000).clamp(1, u32::MAX as i64) as u32
                }
                Change::Open => {
                    let cleared = i64::from(st.cleared_s[slot]) * 1000;
                    recurrence = kind != AlertKind::Sos
                        && cleared > 0
                        && at_ms - cleared <= self.reopen_within_ms;
                }
            }
        }
        self.out.push(AlertTransition {
            device: self.device.clone(),
            kind,
            change,
            at: ts(at_ms),
            lat: self.lat,
            lon: self.lon,
            area: area.cloned(),
            shift_instance: inst.map(|i| ShiftInstance::clone(i)),
            message,
            recurrence,
        });
    }
}

/// The dwell message: a welfare check for street cleaners, plain for vehicles.
pub(crate) fn idle_message(kind: DeviceKind, minutes: i64) -> String {
    if kind == DeviceKind::Worker {
        format!(
            "Welfare check: no movement for {minutes} min outside a rest zone. Please check on \
             the cleaner (heat, a fall, an SOS they could not press). This is not a penalty."
        )
    } else {
        format!("Stationary for {minutes} min during the shift while not working")
    }
}

fn close_dwell(st: &mut DeviceState, p: &RuleParams, now_ms: i64) {
    if let Some(a) = st.anchor.take() {
        let dwell_s = (now_ms - a.ts_ms) / 1000;
        let remaining = (p.break_allowance_s - st.allowance_used_s).max(0);
        st.allowance_used_s += dwell_s.min(remaining);
    }
}

/// Evaluate the rules for a fix that is not older than the device's newest.
pub(crate) fn on_fix(st: &mut DeviceState, c: &FixCtx<'_>, out: &mut Vec<AlertTransition>) {
    let t = c.fix.ts.timestamp_millis();
    let p = c.params;
    let mut em = Emitter {
        device: c.device,
        lat: c.fix.lat,
        lon: c.fix.lon,
        reopen_within_ms: p.reopen_within_s * 1000,
        out,
    };
    let inst = c.active.as_ref().map(|a| a.inst);
    if st.is_open(AlertKind::Offline) {
        let b = st.bound.clone();
        em.emit(
            st,
            AlertKind::Offline,
            Change::Clear,
            t,
            None,
            b.as_ref(),
            "fix received".into(),
        );
    }
    if st.bound.is_some() && st.bound.as_ref() != inst {
        let end = st
            .bound
            .as_ref()
            .map_or(t, |b| b.end.timestamp_millis().min(t));
        end_bound(st, &mut em, end);
    }
    if c.fix.sos && !st.last_sos {
        st.last_sos_open_ms = Some(t);
        em.emit(
            st,
            AlertKind::Sos,
            Change::Open,
            t,
            None,
            inst,
            "SOS pressed".into(),
        );
    }
    st.last_sos = c.fix.sos;
    let working = st.kind.has_work_sensor() && c.fix.work == Some(true);
    if let Some(a) = &c.active {
        st.bound = Some(a.inst.clone());
        late_start(st, c, a, &mut em, t);
        off_area(st, c, a, &mut em, t);
        // A vehicle working (broom down, pump on, PTO running) is not idle. A
        // cleaner's `work` only says the uniform is on duty: standing still on
        // duty is exactly the welfare case the idle check is for.
        let busy = working && st.kind != DeviceKind::Worker;
        idle(st, c, a, busy, &mut em, t);
        work_off_route(st, c, a, working, &mut em, t);
    } else {
        st.anchor = None;
        st.anchor_stray = None;
        st.outside_since_ms = None;
        st.beyond_since_ms = None;
        st.work_off_since_ms = None;
    }
    speeding(st, c, working, &mut em, t);
    off_shift(st, c, working, &mut em, t);
}

fn late_start(st: &mut DeviceState, c: &FixCtx<'_>, a: &Active<'_>, em: &mut Emitter<'_>, t: i64) {
    if st.late.as_ref().is_none_or(|(i, _)| i != a.inst) {
        st.late = Some((a.inst.clone(), false));
    }
    let arrived = st.late.as_ref().is_some_and(|(_, arr)| *arr);
    if c.inside {
        if !arrived {
            st.late = Some((a.inst.clone(), true));
            if st.is_open(AlertKind::LateStart) {
                em.emit(
                    st,
                    AlertKind::LateStart,
                    Change::Clear,
                    t,
                    Some(a.area),
                    Some(a.inst),
                    "arrived in the area".into(),
                );
            }
        }
        return;
    }
    let deadline = a.inst.start.timestamp_millis() + c.params.late_start_after_s * 1000;
    if !arrived && t >= deadline && !st.is_open(AlertKind::LateStart) {
        let msg = format!(
            "not in the area {} min after shift start",
            c.params.late_start_after_s / 60
        );
        em.emit(
            st,
            AlertKind::LateStart,
            Change::Open,
            deadline,
            Some(a.area),
            Some(a.inst),
            msg,
        );
    }
}

/// `off_area`: beyond the working area (its assigned areas and the ways
/// between them, see `engine_place`) by more than `off_area_distance_m` for
/// `off_area_after_s`, or outside every assigned area for longer than
/// `off_area_transit_max_s`. Not before the device first arrived in its area
/// in this instance: until then it is a `late_start`, one conversation.
fn off_area(st: &mut DeviceState, c: &FixCtx<'_>, a: &Active<'_>, em: &mut Emitter<'_>, t: i64) {
    let p = c.params;
    let pl = &c.placement;
    let arrived = st.late.as_ref().is_some_and(|(_, arr)| *arr);
    let home = pl.in_assigned || (pl.in_rest && st.kind == DeviceKind::Worker);
    if home || !arrived {
        st.outside_since_ms = None;
        st.beyond_since_ms = None;
        if home && st.is_open(AlertKind::OffArea) {
            let why = if pl.in_assigned {
                "back inside the area"
            } else {
                "in a rest zone"
            };
            em.emit(
                st,
                AlertKind::OffArea,
                Change::Clear,
                t,
                Some(a.area),
                Some(a.inst),
                why.into(),
            );
        }
        return;
    }
    let outside = *st.outside_since_ms.get_or_insert(t);
    if pl.beyond_m > p.off_area_distance_m {
        st.beyond_since_ms.get_or_insert(t);
    } else {
        st.beyond_since_ms = None;
    }
    if st.is_open(AlertKind::OffArea) {
        return;
    }
    let msg = if st
        .beyond_since_ms
        .is_some_and(|b| t - b >= p.off_area_after_s * 1000)
    {
        format!(
            "{:.0} m beyond the working area for {} s",
            pl.beyond_m,
            (t - st.beyond_since_ms.unwrap_or(t)) / 1000
        )
    } else if t - outside >= p.off_area_transit_max_s * 1000 {
        format!(
            "outside every assigned area for {} min",
            (t - outside) / 60_000
        )
    } else {
        return;
    };
    em.emit(
        st,
        AlertKind::OffArea,
        Change::Open,
        t,
        Some(a.area),
        Some(a.inst),
        msg,
    );
}

/// `work_off_route`: a vehicle working (broom down, pump on) outside every
/// assigned area of its shift for `work_off_route_after_s`. Street cleaners'
/// `work` only means "on duty", so it does not apply to them.
fn work_off_route(
    st: &mut DeviceState,
    c: &FixCtx<'_>,
    a: &Active<'_>,
    working: bool,
    em: &mut Emitter<'_>,
    t: i64,
) {
    let off = working && st.kind != DeviceKind::Worker && !c.placement.in_assigned;
    if !off {
        st.work_off_since_ms = None;
        if st.is_open(AlertKind::WorkOffRoute) {
            let why = if working {
                "working on an assigned area again"
            } else {
                "work stopped"
            };
            em.emit(
                st,
                AlertKind::WorkOffRoute,
                Change::Clear,
                t,
                Some(a.area),
                Some(a.inst),
                why.into(),
            );
        }
        return;
    }
    let since = *st.work_off_since_ms.get_or_insert(t);
    if t - since >= c.params.work_off_route_after_s * 1000 && !st.is_open(AlertKind::WorkOffRoute) {
        let msg = format!(
            "working outside the assigned routes and zones for {} s",
            (t - since) / 1000
        );
        em.emit(
            st,
            AlertKind::WorkOffRoute,
            Change::Open,
            t,
            Some(a.area),
            Some(a.inst),
            msg,
        );
    }
}

fn idle(
    st: &mut DeviceState,
    c: &FixCtx<'_>,
    a: &Active<'_>,
    working: bool,
    em: &mut Emitter<'_>,
    t: i64,
) {
    let p = c.params;
    let (lon, lat) = (c.fix.lon, c.fix.lat);
    let here = Some(a.area);
    if working || c.in_rest_zone {
        st.anchor_stray = None;
        close_dwell(st, p, t);
        if st.is_open(AlertKind::Idle) {
            let why = if working {
                "working again"
            } else {
                "in a rest zone"
            };
            em.emit(
                st,
                AlertKind::Idle,
                Change::Clear,
                t,
                here,
                Some(a.inst),
                why.into(),
            );
        }
        return;
    }
    let Some(anchor) = st.anchor else {
        st.anchor = Some(Anchor::at(t, lon, lat));
        return;
    };
    // A fix says where the device is to within its reported accuracy: only
    // beyond the radius by more than that is it evidence of having moved.
    let tolerance = c.fix.acc_m.unwrap_or(0.0).clamp(0.0, 50.0);
    if local_distance_m(anchor.lon, anchor.lat, lon, lat) > p.idle_radius_m + tolerance {
        // One fix beyond the radius is as likely GPS noise as a step: the
        // dwell ends only when a second one in a row says so, and then from
        // the first (a cleaner standing still under noisy sky keeps her dwell).
        let Some(stray) = st.anchor_stray else {
            st.anchor_stray = Some(Anchor::at(t, lon, lat));
            return;
        };
        st.anchor_stray = None;
        close_dwell(st, p, stray.ts_ms);
        st.anchor = Some(stray);
        if st.is_open(AlertKind::Idle) {
            em.emit(
                st,
                AlertKind::Idle,
                Change::Clear,
                stray.ts_ms,
                here,
                Some(a.inst),
                "moved on".into(),
            );
        }
        return;
    }
    st.anchor_stray = None;
    if let Some(a) = st.anchor.as_mut() {
        a.add(lon, lat);
    }
    let remaining = (p.break_allowance_s - st.allowance_used_s).max(0);
    let dwell_ms = t - anchor.ts_ms;
    // Away from its working area, a stop is part of the off_area case the
    // dispatcher already has; before it first arrived in this instance, part
    // of the late_start one: one conversation, not two.
    let arrived = st.late.as_ref().is_some_and(|(_, arr)| *arr);
    if dwell_ms >= (p.idle_after_s + remaining) * 1000
        && arrived
        && !st.is_open(AlertKind::Idle)
        && !st.is_open(AlertKind::OffArea)
    {
        let msg = idle_message(st.kind, dwell_ms / 60_000);
        em.emit(
            st,
            AlertKind::Idle,
            Change::Open,
            t,
            here,
            Some(a.inst),
            msg,
        );
    }
}

fn speeding(st: &mut DeviceState, c: &FixCtx<'_>, working: bool, em: &mut Emitter<'_>, t: i64) {
    let inst = c.active.as_ref().map(|a| a.inst);
    let area = c.active.as_ref().map(|a| a.area);
    if working && c.speed_kmh > c.params.work_speed_max_kmh {
        let since = *st.speeding_since_ms.get_or_insert(t);
        if t - since >= c.params.speeding_after_s * 1000 && !st.is_open(AlertKind::SpeedingAtWork) {
            let msg = format!(
                "working at {:.0} km/h, above {:.0} km/h",
                c.speed_kmh, c.params.work_speed_max_kmh
            );
            em.emit(
                st,
                AlertKind::SpeedingAtWork,
                Change::Open,
                t,
                area,
                inst,
                msg,
            );
        }
    } else {
        st.speeding_since_ms = None;
        if st.is_open(AlertKind::SpeedingAtWork) {
            em.emit(
                st,
                AlertKind::SpeedingAtWork,
                Change::Clear,
                t,
                area,
                inst,
                "speed back in the working band".into(),
            );
        }
    }
}

fn off_shift(st: &mut DeviceState, c: &FixCtx<'_>, working: bool, em: &mut Emitter<'_>, t: i64) {
    if working && c.has_assignments && c.active.is_none() {
        let since = *st.off_shift_since_ms.get_or_insert(t);
        if t - since >= c.params.off_shift_work_after_s * 1000
            && !st.is_open(AlertKind::OffShiftWork)
        {
            em.emit(
                st,
                AlertKind::OffShiftWork,
                Change::Open,
                t,
                None,
                None,
                "working outside every assigned shift".into(),
            );
        }
    } else {
        st.off_shift_since_ms = None;
        if st.is_open(AlertKind::OffShiftWork) {
            let why = if working {
                "shift started"
            } else {
                "work stopped"
            };
            em.emit(
                st,
                AlertKind::OffShiftWork,
                Change::Clear,
                t,
                None,
                None,
                why.into(),
            );
        }
    }
}
