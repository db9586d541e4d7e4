//! BCD (8421 code) numbers: the terminal's phone number and the GPS time.

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};

/// A nibble that is not a decimal digit, or a string that is not all digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BcdError {
    #[error("byte 0x{byte:02X} at offset {offset} is not two BCD digits")]
    BadByte { offset: usize, byte: u8 },
    #[error("{0:?} is not {1} decimal digits")]
    BadDigits(String, usize),
}

/// Decodes BCD bytes into their decimal digits, two a byte, high nibble first.
pub fn decode(bytes: &[u8]) -> Result<String, BcdError> {
    let mut out = String::with_capacity(bytes.len() * 2);
    for (offset, &byte) in bytes.iter().enumerate() {
        let (hi, lo) = (byte >> 4, byte & 0x0F);
        if hi > 9 || lo > 9 {
            return Err(BcdError::BadByte { offset, byte });
        }
        out.push(char::from(b'0' + hi));
        out.push(char::from(b'0' + lo));
    }
    Ok(out)
}

/// Encodes exactly `2 * out.len()` decimal digits.
pub fn encode(digits: &str, out: &mut [u8]) -> Result<(), BcdError> {
    let bytes = digits.as_bytes();
    if bytes.len() != out.len() * 2 || !bytes.iter().all(u8::is_ascii_digit) {
        return Err(BcdError::BadDigits(digits.to_owned(), out.len() * 2));
    }
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *slot = ((pair[0] - b'0') << 4) | (pair[1] - b'0');
    }
    Ok(())
}

/// Value of one BCD byte, 0..=99.
fn byte_value(byte: u8) -> Option<u32> {
    let (hi, lo) = (byte >> 4, byte & 0x0F);
    (hi <= 9 && lo <= 9).then_some(u32::from(hi) * 10 + u32::from(lo))
}

/// Why a BCD time is not a time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("time {0:02X?} is not BCD")]
    NotBcd([u8; 6]),
    #[error("time {0:02X?} is not a calendar date and time")]
    NoSuchTime([u8; 6]),
}

/// The standard's time: BCD[6] `YYMMDDhhmmss` in GMT+8 (Beijing time), years 2000–2099.
/// Kept as the six bytes the terminal sent, so a report round-trips exactly; validated only
/// when turned into an instant ([`BcdTime::to_utc`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BcdTime(pub [u8; 6]);

/// GMT+8, the standard's time zone.
fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("8 hours is a valid offset")
}

impl BcdTime {
    /// The instant this time names, or an error for non-BCD bytes or an impossible date.
    pub fn to_utc(self) -> Result<DateTime<Utc>, TimeError> {
        let mut v = [0u32; 6];
        for (slot, &byte) in v.iter_mut().zip(self.0.iter()) {
            *slot = byte_value(byte).ok_or(TimeError::NotBcd(self.0))?;
        }
        let [yy, mo, dd, hh, mi, ss] = v;
        let year = 2000 + i32::try_from(yy).expect("two digits fit an i32");
        let local = NaiveDate::from_ymd_opt(year, mo, dd)
            .and_then(|d| d.and_hms_opt(hh, mi, ss))
            .ok_or(TimeError::NoSuchTime(self.0))?;
        let zoned = beijing()
            .from_local_datetime(&local)
            .single()
            .ok_or(TimeError::NoSuchTime(self.0))?;
        Ok(zoned.with_timezone(&Utc))
    }

    /// The BCD time of an instant, in GMT+8; `None` outside 2000–2099 (Beijing time).
    pub fn from_utc(at: DateTime<Utc>) -> Option<BcdTime> {
        use chrono::{Datelike, Timelike};
        let local = at.with_timezone(&beijing());
        let year = u32::try_from(local.year() - 2000)
            .ok()
            .filter(|y| *y <= 99)?;
        let fields = [
            year,
            local.month(),
            local.day(),
            local.hour(),
            local.minute(),
            local.second(),
        ];
        let mut out = [0u8; 6];
        for (slot, value) in out.iter_mut().zip(fields) {
            let value = u8::try_from(value).expect("calendar fields are below 100");
            *slot = ((value / 10) << 4) | (value % 10);
        }
        Some(BcdTime(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_digits_round_trip() {
        let mut out = [0u8; 6];
        encode("013511221122", &mut out).unwrap();
        assert_eq!(out, [0x01, 0x35, 0x11, 0x22, 0x11, 0x22]);
        assert_eq!(decode(&out).unwrap(), "013511221122");
    }

    #[test]
    fn non_decimal_nibbles_and_wrong_lengths_are_refused() {
        assert_eq!(
            decode(&[0x12, 0x3A]),
            Err(BcdError::BadByte {
                offset: 1,
                byte: 0x3A
            })
        );
        assert_eq!(
            decode(&[0xF1]).unwrap_err(),
            BcdError::BadByte {
                offset: 0,
                byte: 0xF1
            }
        );
        assert!(encode("12345", &mut [0u8; 3]).is_err());
        assert!(encode("12345a", &mut [0u8; 3]).is_err());
        assert!(encode("１２３４５６", &mut [0u8; 3]).is_err());
    }

    #[test]
    fn time_is_beijing_time() {
        // 2014-07-23 17:20:15 in GMT+8 is 09:20:15 UTC.
        let t = BcdTime([0x14, 0x07, 0x23, 0x17, 0x20, 0x15]);
        assert_eq!(
            t.to_utc().unwrap().to_rfc3339(),
            "2014-07-23T09:20:15+00:00"
        );
        assert_eq!(BcdTime::from_utc(t.to_utc().unwrap()), Some(t));
        // Shortly after midnight in Beijing is the previous day in UTC.
        let t = BcdTime([0x25, 0x01, 0x01, 0x03, 0x00, 0x00]);
        assert_eq!(
            t.to_utc().unwrap().to_rfc3339(),
            "2024-12-31T19:00:00+00:00"
        );
    }

    #[test]
    fn impossible_times_are_refused() {
        for bad in [
            [0x14, 0x13, 0x01, 0x00, 0x00, 0x00], // month 13
            [0x23, 0x02, 0x29, 0x00, 0x00, 0x00], // 29 February 2023
            [0x14, 0x07, 0x23, 0x24, 0x00, 0x00], // hour 24
            [0x14, 0x07, 0x23, 0x00, 0x60, 0x00], // minute 60
            [0x00, 0x00, 0x00, 0x00, 0x00, 0x00], // what terminals send without a time
        ] {
            assert_eq!(BcdTime(bad).to_utc(), Err(TimeError::NoSuchTime(bad)));
        }
        let not_bcd = [0x14, 0x07, 0x2A, 0x00, 0x00, 0x00];
        assert_eq!(BcdTime(not_bcd).to_utc(), Err(TimeError::NotBcd(not_bcd)));
    }

    #[test]
    fn times_outside_the_century_have_no_bcd() {
        let at = DateTime::parse_from_rfc3339("2100-01-01T00:00:00+08:00").unwrap();
        assert_eq!(BcdTime::from_utc(at.with_timezone(&Utc)), None);
        let at = DateTime::parse_from_rfc3339("1999-12-31T23:59:59+08:00").unwrap();
        assert_eq!(BcdTime::from_utc(at.with_timezone(&Utc)), None);
    }
}
