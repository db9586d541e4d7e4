//! Shift calendars: midnight crossing, DST (Europe/Berlin and Asia/Shanghai),
//! exceptions, monthly clean-city day.

use crate::helpers::id;
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::{Asia::Shanghai, Europe::Berlin, Tz};
use geofence::*;
use proptest::prelude::*;

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}
fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}
fn local(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}
fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}
const WEEK: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

fn night(tz: Tz, days: &[Weekday]) -> Shift {
    Shift::new(id("shift-night"), "night wash", tz)
        .with_weekly(WeeklyWindow {
            days: days.to_vec(),
            start: hm(22, 0),
            end: hm(5, 0),
        })
        .unwrap()
}

#[test]
fn night_shift_belongs_to_the_day_it_started() {
    let s = night(Shanghai, &WEEK[..5]);
    // Tuesday 2026-11-24 02:00 local is Monday's instance
    let i = s.instance_at(local(Shanghai, 2026, 11, 24, 2, 0)).unwrap();
    assert_eq!(i.local_date, date(2026, 11, 23));
    assert_eq!(i.start, utc(2026, 11, 23, 14, 0));
    assert_eq!(i.end, utc(2026, 11, 23, 21, 0));
    // Saturday 04:59 is Friday's; Saturday 05:00 is nothing; Saturday 23:00 is nothing
    assert_eq!(
        s.instance_at(local(Shanghai, 2026, 11, 28, 4, 59))
            .unwrap()
            .local_date,
        date(2026, 11, 27)
    );
    assert!(s.instance_at(local(Shanghai, 2026, 11, 28, 5, 0)).is_none());
    assert!(
        s.instance_at(local(Shanghai, 2026, 11, 28, 23, 0))
            .is_none()
    );
    // Monday 21:59:59 is nothing (Sunday has no shift)
    assert!(
        s.instance_at(local(Shanghai, 2026, 11, 23, 21, 59))
            .is_none()
    );
}

#[test]
fn berlin_dst_changes_the_length_of_night_shifts() {
    let s = night(Berlin, &WEEK);
    // spring forward, night of 28 -> 29 March 2026: 6 hours
    let i = s.instance_on(date(2026, 3, 28)).unwrap();
    assert_eq!(
        (i.start, i.end),
        (utc(2026, 3, 28, 21, 0), utc(2026, 3, 29, 3, 0))
    );
    // fall back, night of 24 -> 25 October 2026: 8 hours
    let i = s.instance_on(date(2026, 10, 24)).unwrap();
    assert_eq!(
        (i.start, i.end),
        (utc(2026, 10, 24, 20, 0), utc(2026, 10, 25, 4, 0))
    );
    // an ordinary night: 7 hours
    let i = s.instance_on(date(2026, 6, 10)).unwrap();
    assert_eq!(i.end - i.start, chrono::Duration::hours(7));
    // the instant after the spring jump is still in Saturday's instance
    assert_eq!(
        s.instance_at(utc(2026, 3, 29, 1, 30)).unwrap().local_date,
        date(2026, 3, 28)
    );
}

#[test]
fn berlin_skipped_and_repeated_local_times() {
    let w = |start, end| WeeklyWindow {
        days: vec![Weekday::Sun],
        start,
        end,
    };
    let s = Shift::new(id("early"), "early", Berlin)
        .with_weekly(w(hm(2, 30), hm(6, 0)))
        .unwrap();
    // 02:30 does not exist on 29 March: read with the winter offset -> 01:30 UTC
    assert_eq!(
        s.instance_on(date(2026, 3, 29)).unwrap().start,
        utc(2026, 3, 29, 1, 30)
    );
    // 02:30 happens twice on 25 October: the first one (summer time) -> 00:30 UTC
    assert_eq!(
        s.instance_on(date(2026, 10, 25)).unwrap().start,
        utc(2026, 10, 25, 0, 30)
    );
    assert_eq!(
        s.instance_on(date(2026, 10, 25)).unwrap().end,
        utc(2026, 10, 25, 5, 0)
    );
}

#[test]
fn shanghai_has_no_dst() {
    let s = night(Shanghai, &WEEK);
    for d in [date(2026, 3, 28), date(2026, 10, 24), date(2026, 6, 10)] {
        let i = s.instance_on(d).unwrap();
        assert_eq!(i.end - i.start, chrono::Duration::hours(7));
    }
}

#[test]
fn exceptions_and_the_monthly_clean_city_day() {
    let s = night(Shanghai, &WEEK[..5])
        .with_day_off(date(2026, 11, 27))
        .with_extra(DatedWindow {
            date: date(2026, 11, 29),
            start: hm(6, 0),
            end: hm(12, 0),
        })
        .with_monthly(MonthlyExtra {
            day: MonthDay::LastWeekday {
                weekday: Weekday::Sat,
            },
            start: hm(7, 0),
            end: hm(11, 0),
        })
        .unwrap();
    assert!(s.instance_on(date(2026, 11, 27)).is_none(), "holiday off");
    let extra = s.instance_on(date(2026, 11, 29)).unwrap();
    assert_eq!(extra.start, local(Shanghai, 2026, 11, 29, 6, 0));
    // last Saturday of November 2026 is the 28th
    let clean = s.instance_on(date(2026, 11, 28)).unwrap();
    assert_eq!(clean.end, local(Shanghai, 2026, 11, 28, 11, 0));
    assert!(s.instance_on(date(2026, 11, 21)).is_none());
    // listing a week
    let list = s.instances_overlapping(
        local(Shanghai, 2026, 11, 23, 0, 0),
        local(Shanghai, 2026, 11, 30, 0, 0),
    );
    let dates: Vec<u32> = list.iter().map(|i| i.local_date.day()).collect();
    assert_eq!(dates, vec![23, 24, 25, 26, 28, 29]);
}

#[test]
fn month_day_rules() {
    assert_eq!(MonthDay::DayOfMonth { day: 31 }.date_in(2026, 2), None);
    assert_eq!(
        MonthDay::DayOfMonth { day: 15 }.date_in(2026, 2),
        Some(date(2026, 2, 15))
    );
    assert_eq!(
        MonthDay::NthWeekday {
            n: 5,
            weekday: Weekday::Mon
        }
        .date_in(2026, 2),
        None
    );
    assert_eq!(
        MonthDay::NthWeekday {
            n: 1,
            weekday: Weekday::Sun
        }
        .date_in(2026, 11),
        Some(date(2026, 11, 1))
    );
    assert_eq!(
        MonthDay::LastWeekday {
            weekday: Weekday::Sat
        }
        .date_in(2026, 10),
        Some(date(2026, 10, 31))
    );
    let bad = Shift::new(id("x"), "x", Shanghai).with_monthly(MonthlyExtra {
        day: MonthDay::DayOfMonth { day: 0 },
        start: hm(7, 0),
        end: hm(8, 0),
    });
    assert!(bad.is_err());
    assert!(
        Shift::new(id("x"), "x", Shanghai)
            .with_weekly(WeeklyWindow {
                days: vec![],
                start: hm(1, 0),
                end: hm(2, 0)
            })
            .is_err()
    );
}

#[test]
fn shift_serde_round_trip() {
    let s = night(Berlin, &WEEK[..2]).with_day_off(date(2026, 12, 25));
    let json = serde_json::to_string(&s).unwrap();
    let back: Shift = serde_json::from_str(&json).unwrap();
    assert_eq!(s, back);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn instance_at_is_consistent(
        secs in 0i64..(366 * 86_400),
        sh in 0u32..24, sm in 0u32..60, eh in 0u32..24, em in 0u32..60,
        berlin in any::<bool>(),
    ) {
        let tz = if berlin { Berlin } else { Shanghai };
        let s = Shift::new(id("p"), "p", tz)
            .with_weekly(WeeklyWindow { days: WEEK[..5].to_vec(), start: hm(sh, sm), end: hm(eh, em) })
            .unwrap();
        let t = utc(2026, 1, 1, 0, 0) + chrono::Duration::seconds(secs);
        let at = s.instance_at(t);
        let listed = s.instances_overlapping(t, t + chrono::Duration::milliseconds(1));
        prop_assert_eq!(at.is_some(), listed.iter().any(|i| i.contains(t)));
        if let Some(i) = at {
            prop_assert!(i.contains(t));
            prop_assert!(i.end > i.start);
            prop_assert!(i.end - i.start <= chrono::Duration::hours(25));
            prop_assert!(WEEK[..5].contains(&i.local_date.weekday()));
        }
    }
}
