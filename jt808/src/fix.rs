//! A location report as a fix: degrees, km/h, UTC, and the `sos` and `work` flags.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::bcd::TimeError;
use crate::message::LocationReport;

/// Alarm bit 0: emergency alarm, raised by the SOS switch.
pub const ALARM_EMERGENCY: u32 = 1 << 0;
/// Status bit 0: ACC (ignition) on.
pub const STATUS_ACC: u32 = 1 << 0;
/// Status bit 1: the position is a real fix (定位).
pub const STATUS_POSITIONED: u32 = 1 << 1;
/// Status bit 2: southern latitude.
pub const STATUS_SOUTH: u32 = 1 << 2;
/// Status bit 3: western longitude.
pub const STATUS_WEST: u32 = 1 << 3;

/// Where a device kind says "at work" (broom down, pump on): vendors wire the upper
/// equipment to different places, so this is configuration. In TOML:
/// `work = { source = "status", bit = 0 }` (ACC) or
/// `work = { source = "extra", id = 0x25, bit = 3 }` (a bit of an additional item).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WorkBitConfig", into = "WorkBitConfig")]
pub enum WorkBit {
    /// A bit (0–31) of the status word.
    Status { bit: u8 },
    /// A bit of an additional information item whose value is 1 to 4 bytes, read as a
    /// big-endian number (bit 0 is the lowest bit of the last byte).
    Extra { id: u8, bit: u8 },
}

impl WorkBit {
    /// ACC on, the most common wiring.
    pub const ACC: WorkBit = WorkBit::Status { bit: 0 };

    /// The bit in this report; `None` when the configured item is absent or too short.
    pub fn read(self, report: &LocationReport) -> Option<bool> {
        match self {
            WorkBit::Status { bit } => Some(report.status & (1 << bit) != 0),
            WorkBit::Extra { id, bit } => {
                let item = report.extra(id)?;
                let value = item.as_u32()?;
                (usize::from(bit) < item.value.len() * 8).then_some(value & (1 << bit) != 0)
            }
        }
    }
}

/// The serialized form of [`WorkBit`], checked on the way in.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case", deny_unknown_fields)]
enum WorkBitConfig {
    Status { bit: u8 },
    Extra { id: u8, bit: u8 },
}

impl TryFrom<WorkBitConfig> for WorkBit {
    type Error = String;

    fn try_from(config: WorkBitConfig) -> Result<Self, Self::Error> {
        let (work, bit) = match config {
            WorkBitConfig::Status { bit } => (WorkBit::Status { bit }, bit),
            WorkBitConfig::Extra { id, bit } => (WorkBit::Extra { id, bit }, bit),
        };
        if bit >= 32 {
            return Err(format!(
                "work bit {bit} is not a bit of a 32-bit word (0 to 31)"
            ));
        }
        Ok(work)
    }
}

impl From<WorkBit> for WorkBitConfig {
    fn from(work: WorkBit) -> Self {
        match work {
            WorkBit::Status { bit } => WorkBitConfig::Status { bit },
            WorkBit::Extra { id, bit } => WorkBitConfig::Extra { id, bit },
        }
    }
}

/// A location report in the units of a sweepwatch fix.
#[derive(Debug, Clone, PartialEq)]
pub struct LocationFix {
    /// GPS time, converted from GMT+8.
    pub ts: DateTime<Utc>,
    /// WGS84 degrees, south negative.
    pub lat: f64,
    /// WGS84 degrees, west negative.
    pub lon: f64,
    pub altitude_m: f64,
    pub speed_kmh: f64,
    /// Degrees from north, 0–359.
    pub heading: f64,
    /// Emergency alarm (alarm bit 0).
    pub sos: bool,
    /// The configured work bit; `None` when none is configured or the report lacks it.
    pub work: Option<bool>,
    /// Status bit 1: a real fix rather than the last known position.
    pub positioned: bool,
    /// The alarm and status words as sent, for what the fix does not name.
    pub alarm: u32,
    pub status: u32,
}

/// Why a report is not a fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FixError {
    #[error("GPS time: {0}")]
    Time(#[from] TimeError),
    #[error("latitude {0}e-6 degrees is beyond 90")]
    Latitude(u32),
    #[error("longitude {0}e-6 degrees is beyond 180")]
    Longitude(u32),
    #[error("direction {0} is not 0 to 359 degrees")]
    Direction(u16),
}

impl LocationReport {
    /// The report as a fix, reading `work` where the device kind has it wired.
    pub fn to_fix(&self, work: Option<WorkBit>) -> Result<LocationFix, FixError> {
        if self.lat > 90_000_000 {
            return Err(FixError::Latitude(self.lat));
        }
        if self.lon > 180_000_000 {
            return Err(FixError::Longitude(self.lon));
        }
        if self.direction > 359 {
            return Err(FixError::Direction(self.direction));
        }
        let ts = self.time.to_utc()?;
        let signed = |value: u32, negative: bool| {
            let degrees = f64::from(value) / 1e6;
            if negative { -degrees } else { degrees }
        };
        Ok(LocationFix {
            ts,
            lat: signed(self.lat, self.status & STATUS_SOUTH != 0),
            lon: signed(self.lon, self.status & STATUS_WEST != 0),
            altitude_m: f64::from(self.altitude),
            speed_kmh: f64::from(self.speed) / 10.0,
            heading: f64::from(self.direction),
            sos: self.alarm & ALARM_EMERGENCY != 0,
            work: work.and_then(|w| w.read(self)),
            positioned: self.status & STATUS_POSITIONED != 0,
            alarm: self.alarm,
            status: self.status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bcd::BcdTime;
    use crate::message::AdditionalInfo;

    fn report() -> LocationReport {
        LocationReport {
            alarm: 0,
            status: STATUS_POSITIONED,
            lat: 22_814_300,
            lon: 113_672_100,
            altitude: 12,
            speed: 125,
            direction: 270,
            time: BcdTime([0x26, 0x11, 0x27, 0x13, 0x00, 0x00]),
            extras: vec![AdditionalInfo {
                id: 0x25,
                value: vec![0, 0, 0, 0b1000],
            }],
        }
    }

    #[test]
    fn every_field_is_converted() {
        let fix = report().to_fix(Some(WorkBit::ACC)).unwrap();
        assert_eq!(fix.ts.to_rfc3339(), "2026-11-27T05:00:00+00:00");
        assert_eq!((fix.lat, fix.lon), (22.8143, 113.6721));
        assert_eq!(
            (fix.speed_kmh, fix.heading, fix.altitude_m),
            (12.5, 270.0, 12.0)
        );
        assert_eq!(
            (fix.sos, fix.work, fix.positioned),
            (false, Some(false), true)
        );
    }

    #[test]
    fn south_west_sos_and_not_positioned() {
        let mut r = report();
        r.status = STATUS_SOUTH | STATUS_WEST | STATUS_ACC;
        r.alarm = ALARM_EMERGENCY | 1 << 5;
        let fix = r.to_fix(Some(WorkBit::ACC)).unwrap();
        assert_eq!((fix.lat, fix.lon), (-22.8143, -113.6721));
        assert_eq!(
            (fix.sos, fix.work, fix.positioned),
            (true, Some(true), false)
        );
        assert_eq!(fix.alarm, 0b100001);
    }

    #[test]
    fn work_from_an_additional_item() {
        let r = report();
        assert_eq!(WorkBit::Extra { id: 0x25, bit: 3 }.read(&r), Some(true));
        assert_eq!(WorkBit::Extra { id: 0x25, bit: 2 }.read(&r), Some(false));
        assert_eq!(WorkBit::Extra { id: 0x25, bit: 31 }.read(&r), Some(false));
        // Absent item, or a bit beyond a short item: unknown, not false.
        assert_eq!(WorkBit::Extra { id: 0x2A, bit: 0 }.read(&r), None);
        let mut short = report();
        short.extras[0].value = vec![0xFF];
        assert_eq!(WorkBit::Extra { id: 0x25, bit: 8 }.read(&short), None);
        assert_eq!(WorkBit::Extra { id: 0x25, bit: 7 }.read(&short), Some(true));
        assert_eq!(r.to_fix(None).unwrap().work, None);
    }

    #[test]
    fn out_of_range_numbers_and_bad_times_are_refused() {
        let mut r = report();
        r.lat = 90_000_001;
        assert_eq!(r.to_fix(None), Err(FixError::Latitude(90_000_001)));
        let mut r = report();
        r.lon = 180_000_001;
        assert_eq!(r.to_fix(None), Err(FixError::Longitude(180_000_001)));
        let mut r = report();
        r.direction = 360;
        assert_eq!(r.to_fix(None), Err(FixError::Direction(360)));
        let mut r = report();
        r.time = BcdTime([0x26, 0x02, 0x30, 0, 0, 0]);
        assert!(matches!(
            r.to_fix(None),
            Err(FixError::Time(TimeError::NoSuchTime(_)))
        ));
        let mut r = report();
        r.time = BcdTime([0x26, 0x0A, 0x01, 0, 0, 0]);
        assert!(matches!(
            r.to_fix(None),
            Err(FixError::Time(TimeError::NotBcd(_)))
        ));
        // The bounds themselves are fine.
        let mut r = report();
        r.lat = 90_000_000;
        r.lon = 180_000_000;
        assert_eq!(r.to_fix(None).unwrap().lon, 180.0);
    }

    #[test]
    fn work_bit_configuration_from_toml_and_json() {
        #[derive(Deserialize)]
        struct Kind {
            work: WorkBit,
        }
        let kind: Kind = toml::from_str("work = { source = \"status\", bit = 0 }").unwrap();
        assert_eq!(kind.work, WorkBit::ACC);
        let kind: Kind =
            toml::from_str("work = { source = \"extra\", id = 0x25, bit = 3 }").unwrap();
        assert_eq!(kind.work, WorkBit::Extra { id: 0x25, bit: 3 });
        for bad in [
            "work = { source = \"status\", bit = 32 }",
            "work = { source = \"status\" }",
            "work = { source = \"io\", bit = 1 }",
            "work = { source = \"status\", bit = 1, id = 2 }",
            "work = { source = \"extra\", id = 256, bit = 1 }",
        ] {
            assert!(toml::from_str::<Kind>(bad).is_err(), "{bad} was accepted");
        }
        let json = serde_json::to_string(&WorkBit::Extra { id: 1, bit: 2 }).unwrap();
        assert_eq!(json, r#"{"source":"extra","id":1,"bit":2}"#);
        assert_eq!(
            serde_json::from_str::<WorkBit>(&json).unwrap(),
            WorkBit::Extra { id: 1, bit: 2 }
        );
    }
}
