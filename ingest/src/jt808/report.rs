//! Location reports (0x0200) and batches (0x0704) as the pipeline's messages
//! (pure): each report through [`jt808::LocationReport::to_fix`] and then the
//! same validation as an MQTT fix, so a JT/T 808 position and a JSON one are
//! held to one contract.

use chrono::{DateTime, Utc};
use jt808::{LocationReport, WorkBit};

use crate::codec::{self, DeviceAddr, ElementReject, Fix, Limits, Message, Reject, RejectReason};

/// One report as a contract fix.
pub(crate) fn fix(
    report: &LocationReport,
    work: Option<WorkBit>,
    limits: &Limits,
    now: DateTime<Utc>,
) -> Result<Fix, Reject> {
    let f = report
        .to_fix(work)
        .map_err(|e| Reject::new(RejectReason::InvalidValue, e.to_string()))?;
    if !f.positioned {
        // Status bit 1 clear: the terminal repeats its last known position
        // (or 0,0); storing it as a fix would show a vehicle parked where it
        // lost the sky.
        return Err(Reject::new(
            RejectReason::InvalidValue,
            "not positioned (status bit 1 clear): no GPS fix",
        ));
    }
    codec::validate_fix(
        Fix {
            ts: f.ts,
            lat: f.lat,
            lon: f.lon,
            speed: Some(f.speed_kmh),
            heading: Some(f.heading),
            acc: None,
            work: f.work,
            sos: f.sos,
            batt: None,
            seq: None,
        },
        limits,
        now,
    )
}

/// A 0x0200 report as a message: a fix, or the reason it is not one.
pub(crate) fn single(
    addr: DeviceAddr,
    report: &LocationReport,
    work: Option<WorkBit>,
    limits: &Limits,
    now: DateTime<Utc>,
) -> Result<Message, Reject> {
    fix(report, work, limits, now).map(|fix| Message::Fix { addr, fix })
}

/// A 0x0704 batch as a backlog: the valid reports as fixes, the others kept
/// apart as element rejects (with the report re-encoded as its raw bytes), so
/// one bad report costs only itself. Over the backlog limit it is refused whole,
/// like an MQTT backlog.
pub(crate) fn batch(
    addr: DeviceAddr,
    reports: &[LocationReport],
    work: Option<WorkBit>,
    limits: &Limits,
    now: DateTime<Utc>,
) -> Result<Message, Reject> {
    if reports.len() > limits.max_backlog {
        return Err(Reject::new(
            RejectReason::BacklogTooLarge,
            format!(
                "batch of {} reports, the limit is {}",
                reports.len(),
                limits.max_backlog
            ),
        ));
    }
    let mut fixes = Vec::with_capacity(reports.len());
    let mut rejects = Vec::new();
    for (index, report) in reports.iter().enumerate() {
        match fix(report, work, limits, now) {
            Ok(f) => fixes.push(f),
            Err(reject) => rejects.push(ElementReject {
                index,
                raw: raw_report(report),
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

/// The report's body bytes, for the rejects table.
fn raw_report(report: &LocationReport) -> Vec<u8> {
    jt808::Message::Location(report.clone())
        .encode_body(jt808::Version::V2013)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use jt808::{BcdTime, STATUS_ACC, STATUS_POSITIONED, STATUS_SOUTH};

    fn addr() -> DeviceAddr {
        DeviceAddr {
            org: codec::OrgId::parse("jt808").unwrap(),
            device: codec::DeviceName::parse("jt808-13800138000").unwrap(),
        }
    }

    fn report(at: DateTime<Utc>, status: u32) -> LocationReport {
        LocationReport {
            alarm: 1,
            status,
            lat: 22_814_300,
            lon: 113_672_100,
            altitude: 5,
            speed: 125,
            direction: 270,
            time: BcdTime::from_utc(at).unwrap(),
            extras: vec![],
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 5, 0, 0).unwrap()
    }

    #[test]
    fn a_report_becomes_the_fix_an_mqtt_device_would_send() {
        let r = report(now(), STATUS_POSITIONED | STATUS_ACC | STATUS_SOUTH);
        let Ok(Message::Fix { fix, .. }) =
            single(addr(), &r, Some(WorkBit::ACC), &Limits::default(), now())
        else {
            panic!("not a fix")
        };
        assert_eq!(fix.ts, now());
        assert_eq!((fix.lat, fix.lon), (-22.8143, 113.6721));
        assert_eq!(fix.speed, Some(12.5));
        assert_eq!(fix.heading, Some(270.0));
        assert_eq!(fix.work, Some(true));
        assert!(fix.sos);
        let no_work = single(addr(), &r, None, &Limits::default(), now()).unwrap();
        assert!(matches!(no_work, Message::Fix { fix, .. } if fix.work.is_none()));
    }

    #[test]
    fn reports_without_a_position_or_in_the_future_are_refused() {
        let unpositioned = report(now(), 0);
        let e = single(addr(), &unpositioned, None, &Limits::default(), now()).unwrap_err();
        assert_eq!(e.reason, RejectReason::InvalidValue);
        let ahead = report(now() + chrono::TimeDelta::hours(1), STATUS_POSITIONED);
        let e = single(addr(), &ahead, None, &Limits::default(), now()).unwrap_err();
        assert_eq!(e.reason, RejectReason::FutureTimestamp);
    }

    #[test]
    fn a_bad_report_in_a_batch_costs_only_itself() {
        let good = report(now(), STATUS_POSITIONED);
        let bad = report(now(), 0);
        let Ok(Message::Backlog { fixes, rejects, .. }) = batch(
            addr(),
            &[good.clone(), bad, good],
            None,
            &Limits::default(),
            now(),
        ) else {
            panic!("not a backlog")
        };
        assert_eq!(fixes.len(), 2);
        assert_eq!(rejects.len(), 1);
        assert_eq!(rejects[0].index, 1);
        assert_eq!(rejects[0].raw.len(), 28, "the report's bytes are kept");
    }

    #[test]
    fn a_batch_over_the_backlog_limit_is_refused_whole() {
        let limits = Limits {
            max_backlog: 2,
            ..Limits::default()
        };
        let r = report(now(), STATUS_POSITIONED);
        let e = batch(addr(), &[r.clone(), r.clone(), r], None, &limits, now()).unwrap_err();
        assert_eq!(e.reason, RejectReason::BacklogTooLarge);
    }
}
