//! The domain's time windows, in one place: when a fix counts as live, and
//! when coverage of a shift instance is final. Everything that stores or
//! reads coverage state (the engine host, restart, the database's
//! housekeeping) takes them from here; SQL gets them as parameters.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

/// A fix received within this of its own timestamp is live: its org's clock
/// is then the wall clock, not its newest fix's time (a replayed shift).
pub const LIVE_WITHIN: TimeDelta = TimeDelta::minutes(2);

/// Coverage of a shift instance is final this long (of the org's clock)
/// after the instance ended (DESIGN.md, Domain): fixes of that instance
/// arriving later are stored but no longer change its coverage.
pub const COVERAGE_FINAL_AFTER: TimeDelta = TimeDelta::hours(24);

/// The longest a shift instance lasts: a window ends at most a day after it
/// starts (`end <= start` is the next day), one hour more on the night a
/// daylight-saving clock falls back.
pub const LONGEST_SHIFT_INSTANCE: TimeDelta = TimeDelta::hours(25);

/// The furthest west of UTC a local date runs (UTC−12): a local date's last
/// instant is at most this long after the end of the UTC date of that name.
const WESTMOST_UTC_OFFSET: TimeDelta = TimeDelta::hours(12);

/// Coverage state is kept for shift instances whose local start date is not
/// older than the UTC date of the org's clock minus this: a shift instance
/// that started on local date D (at most D's last instant), lasted at most
/// [`LONGEST_SHIFT_INSTANCE`] and became final [`COVERAGE_FINAL_AFTER`] later,
/// in any time zone. Older state can only be final: nothing reads it again.
pub const COVERAGE_STATE_WINDOW: TimeDelta = TimeDelta::days(1)
    .checked_add(&WESTMOST_UTC_OFFSET)
    .expect("small")
    .checked_add(&LONGEST_SHIFT_INSTANCE)
    .expect("small")
    .checked_add(&COVERAGE_FINAL_AFTER)
    .expect("small");

/// The oldest shift date whose coverage may still change when the org's clock
/// reads `clock` (the SQL of restart and housekeeping computes the same from
/// [`COVERAGE_STATE_WINDOW`] as `((clock - window) AT TIME ZONE 'UTC')::date`).
pub fn oldest_open_shift_date(clock: DateTime<Utc>) -> NaiveDate {
    (clock - COVERAGE_STATE_WINDOW).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Shift, ShiftId, WeeklyWindow};
    use chrono::{Datelike, Duration, NaiveTime, TimeZone, Weekday};

    /// The domain rule, in every kind of time zone: coverage state is never
    /// let go before its instance is final, and is let go within five days of its date.
    #[test]
    fn coverage_state_outlives_every_instance_until_it_is_final() {
        let every_day = vec![
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
            Weekday::Sat,
            Weekday::Sun,
        ];
        let late = NaiveTime::from_hms_opt(23, 59, 0).unwrap();
        for tz in [
            chrono_tz::Etc::GMTPlus12,
            chrono_tz::Pacific::Pago_Pago,
            chrono_tz::America::Los_Angeles,
            chrono_tz::Europe::Berlin,
            chrono_tz::Asia::Shanghai,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::Pacific::Kiritimati,
        ] {
            // The latest-starting, longest shift there is: 23:59 to 23:59 the next day.
            let shift = Shift::new(ShiftId::new("s").unwrap(), "s", tz)
                .with_weekly(WeeklyWindow {
                    days: every_day.clone(),
                    start: late,
                    end: late,
                })
                .unwrap();
            let mut date = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
            while date.year() == 2026 {
                let inst = shift.instance_on(date).unwrap();
                assert!(inst.end - inst.start <= LONGEST_SHIFT_INSTANCE);
                let final_at = inst.end + COVERAGE_FINAL_AFTER;
                let just_before = final_at - Duration::milliseconds(1);
                assert!(
                    oldest_open_shift_date(just_before) <= date,
                    "{tz}: {date}'s coverage state let go before it is final"
                );
                let days_later =
                    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap()) + Duration::days(5);
                assert!(
                    oldest_open_shift_date(days_later) > date,
                    "{tz}: {date} kept too long"
                );
                date = date.succ_opt().unwrap();
            }
        }
    }
}
