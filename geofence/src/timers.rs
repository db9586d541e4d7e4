//! Timer-driven rules (`Engine::tick`): offline, late start, and closing the
//! shift-bound alerts (idle, off_area, offline, late_start) when a shift
//! instance ends.

use crate::alert::{AlertKind, Change};
use crate::device::DeviceState;
use crate::rules::{Active, Emitter};
use crate::rules_config::RuleParams;

/// Close the shift-bound alerts of a finished instance at `at_ms`.
pub(crate) fn end_bound(st: &mut DeviceState, em: &mut Emitter<'_>, at_ms: i64) {
    let Some(inst) = st.bound.take() else { return };
    for kind in [
        AlertKind::Idle,
        AlertKind::OffArea,
        AlertKind::Offline,
        AlertKind::LateStart,
        AlertKind::WorkOffRoute,
    ] {
        if st.is_open(kind) {
            let msg = format!("{}: shift instance ended", kind.as_str());
            em.emit(st, kind, Change::Clear, at_ms, None, Some(&inst), msg);
        }
        // The end of a shift is not the condition clearing: the next shift's
        // first alert of this kind is a new case.
        st.cleared_s[kind as usize] = 0;
    }
    st.anchor = None;
    st.anchor_stray = None;
    st.outside_since_ms = None;
    st.beyond_since_ms = None;
    st.work_off_since_ms = None;
    st.allowance_used_s = 0;
}

/// Timer-driven rules at `now`: offline, late start, and the end of a shift.
/// `active` is the device's active assignment at `now`, if any.
pub(crate) fn on_tick(
    st: &mut DeviceState,
    active: Option<Active<'_>>,
    params: &RuleParams,
    now_ms: i64,
    em: &mut Emitter<'_>,
) {
    let inst = active.as_ref().map(|a| a.inst);
    if let Some(b) = &st.bound
        && inst != Some(b)
        && now_ms >= b.end.timestamp_millis()
    {
        let end = b.end.timestamp_millis();
        end_bound(st, em, end);
    }
    let Some(a) = active else { return };
    let start = a.inst.start.timestamp_millis();
    let last = st.newest().map_or(i64::MIN, |p| p.ts_ms);
    let deadline = last.max(start) + params.offline_after_s * 1000;
    // A device that has not reported once in this instance is a late start
    // (raised at start + late_start_after_s): one case, not also `offline`.
    let reported = last >= start;
    if reported && deadline <= now_ms && !st.is_open(AlertKind::Offline) {
        st.bound = Some(a.inst.clone());
        let msg = format!(
            "no fix for {} min during the shift",
            params.offline_after_s / 60
        );
        em.emit(
            st,
            AlertKind::Offline,
            Change::Open,
            deadline,
            Some(a.area),
            Some(a.inst),
            msg,
        );
    }
    if st.late.as_ref().is_none_or(|(i, _)| i != a.inst) {
        st.late = Some((a.inst.clone(), false));
    }
    let arrived = st.late.as_ref().is_some_and(|(_, arr)| *arr);
    let late_deadline = start + params.late_start_after_s * 1000;
    if !arrived && late_deadline <= now_ms && !st.is_open(AlertKind::LateStart) {
        st.bound = Some(a.inst.clone());
        let msg = format!(
            "not in the area {} min after shift start",
            params.late_start_after_s / 60
        );
        em.emit(
            st,
            AlertKind::LateStart,
            Change::Open,
            late_deadline,
            Some(a.area),
            Some(a.inst),
            msg,
        );
    }
}
