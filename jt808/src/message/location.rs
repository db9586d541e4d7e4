//! Location report (0x0200) and batch location upload (0x0704).

use super::wire::Reader;
use crate::bcd::BcdTime;
use crate::error::{EncodeError, MessageError};

/// Length of the basic information that starts every location report.
pub const BASIC_INFO_LEN: usize = 28;

/// One additional information item (附加信息项) of a location report, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdditionalInfo {
    pub id: u8,
    /// At most 255 bytes.
    pub value: Vec<u8>,
}

/// The additional information items this codec interprets (JT/T 808 table 27).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extra {
    /// 0x01: odometer, 1/10 km.
    Mileage(u32),
    /// 0x02: fuel, 1/10 L.
    Fuel(u16),
    /// 0x03: speed from the tachograph, 1/10 km/h.
    RecorderSpeed(u16),
    /// 0x04: id of an alarm event that needs manual confirmation.
    AlarmEventId(u16),
    /// 0x25: extended vehicle signal status bits.
    VehicleSignals(u32),
    /// 0x2A: IO status bits.
    IoStatus(u16),
    /// 0x2B: analog inputs (AD0 in the low word, AD1 in the high word).
    Analog(u32),
    /// 0x30: wireless network signal strength.
    SignalStrength(u8),
    /// 0x31: number of GNSS satellites in view.
    Satellites(u8),
}

impl AdditionalInfo {
    /// The item interpreted, when its id is known and its length is the standard's.
    pub fn decoded(&self) -> Option<Extra> {
        let v = &self.value;
        let u16_of = || Some(u16::from_be_bytes(v.as_slice().try_into().ok()?));
        let u32_of = || Some(u32::from_be_bytes(v.as_slice().try_into().ok()?));
        let u8_of = || (v.len() == 1).then(|| v[0]);
        match self.id {
            0x01 => u32_of().map(Extra::Mileage),
            0x02 => u16_of().map(Extra::Fuel),
            0x03 => u16_of().map(Extra::RecorderSpeed),
            0x04 => u16_of().map(Extra::AlarmEventId),
            0x25 => u32_of().map(Extra::VehicleSignals),
            0x2A => u16_of().map(Extra::IoStatus),
            0x2B => u32_of().map(Extra::Analog),
            0x30 => u8_of().map(Extra::SignalStrength),
            0x31 => u8_of().map(Extra::Satellites),
            _ => None,
        }
    }

    /// The value as a big-endian unsigned number, when it is 1 to 4 bytes long.
    pub fn as_u32(&self) -> Option<u32> {
        (1..=4).contains(&self.value.len()).then(|| {
            self.value
                .iter()
                .fold(0u32, |acc, b| (acc << 8) | u32::from(*b))
        })
    }
}

/// Location report (0x0200): the basic information, numbers as the terminal sent them, and
/// its additional items. [`LocationReport::to_fix`] turns it into degrees, km/h and UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationReport {
    /// Alarm flags; bit 0 is the emergency alarm.
    pub alarm: u32,
    /// Status bits; 0 ACC on, 1 positioned, 2 south, 3 west.
    pub status: u32,
    /// Latitude, 1e-6 degrees, without sign (status bit 2 says south).
    pub lat: u32,
    /// Longitude, 1e-6 degrees, without sign (status bit 3 says west).
    pub lon: u32,
    /// Altitude, metres.
    pub altitude: u16,
    /// Speed, 1/10 km/h.
    pub speed: u16,
    /// Direction, degrees from north, 0–359.
    pub direction: u16,
    /// GPS time, BCD in GMT+8.
    pub time: BcdTime,
    pub extras: Vec<AdditionalInfo>,
}

impl LocationReport {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, MessageError> {
        let alarm = r.u32()?;
        let status = r.u32()?;
        let lat = r.u32()?;
        let lon = r.u32()?;
        let altitude = r.u16()?;
        let speed = r.u16()?;
        let direction = r.u16()?;
        let time = BcdTime(r.take(6)?.try_into().expect("took 6 bytes"));
        let mut extras = Vec::new();
        while !r.is_empty() {
            let id = r.u8()?;
            let len = usize::from(r.u8()?);
            extras.push(AdditionalInfo {
                id,
                value: r.take(len)?.to_vec(),
            });
        }
        Ok(LocationReport {
            alarm,
            status,
            lat,
            lon,
            altitude,
            speed,
            direction,
            time,
            extras,
        })
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        for word in [self.alarm, self.status, self.lat, self.lon] {
            out.extend_from_slice(&word.to_be_bytes());
        }
        for half in [self.altitude, self.speed, self.direction] {
            out.extend_from_slice(&half.to_be_bytes());
        }
        out.extend_from_slice(&self.time.0);
        for extra in &self.extras {
            let len = u8::try_from(extra.value.len()).map_err(|_| EncodeError::TooLong {
                field: "extras.value",
                len: extra.value.len(),
                max: 255,
            })?;
            out.push(extra.id);
            out.push(len);
            out.extend_from_slice(&extra.value);
        }
        Ok(())
    }

    /// The first additional item with this id.
    pub fn extra(&self, id: u8) -> Option<&AdditionalInfo> {
        self.extras.iter().find(|e| e.id == id)
    }
}

/// What a batch upload carries (0x0704's type byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BatchKind {
    /// 0: regular batch reporting.
    Normal,
    /// 1: blind-area backlog, reports stored while the terminal had no network.
    BlindArea,
}

/// Batch location upload (0x0704).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationBatch {
    pub kind: BatchKind,
    pub reports: Vec<LocationReport>,
}

impl LocationBatch {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, MessageError> {
        let count = r.u16()?;
        let kind = match r.u8()? {
            0 => BatchKind::Normal,
            1 => BatchKind::BlindArea,
            other => {
                return Err(MessageError::BadValue {
                    msg_id: r.msg_id(),
                    field: "type",
                    value: other.into(),
                });
            }
        };
        // Each item is at least its length word and the basic information.
        let mut reports = Vec::with_capacity(usize::from(count).min(1024));
        for _ in 0..count {
            let len = usize::from(r.u16()?);
            let mut item = Reader::new(r.msg_id(), r.take(len)?);
            reports.push(LocationReport::decode(&mut item)?);
        }
        Ok(LocationBatch { kind, reports })
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let count = u16::try_from(self.reports.len()).map_err(|_| EncodeError::TooLong {
            field: "reports",
            len: self.reports.len(),
            max: usize::from(u16::MAX),
        })?;
        out.extend_from_slice(&count.to_be_bytes());
        out.push(match self.kind {
            BatchKind::Normal => 0,
            BatchKind::BlindArea => 1,
        });
        let mut item = Vec::new();
        for report in &self.reports {
            item.clear();
            report.encode(&mut item)?;
            let len = u16::try_from(item.len()).map_err(|_| EncodeError::TooLong {
                field: "reports.len",
                len: item.len(),
                max: usize::from(u16::MAX),
            })?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&item);
        }
        Ok(())
    }
}
