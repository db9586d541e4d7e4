//! The message header, both editions of the standard.
//!
//! ```text
//! 2013: msg id WORD | attributes WORD | phone BCD[6]  | serial WORD | [total WORD, index WORD]
//! 2019: msg id WORD | attributes WORD | version BYTE | phone BCD[10] | serial WORD | [total, index]
//! attributes: bits 0-9 body length, 10-12 encryption, 13 split package, 14 version flag (2019)
//! ```

use crate::bcd::{self, BcdError};
use crate::error::{EncodeError, FrameError};

/// The largest body one frame can carry: the attributes' 10-bit length.
pub const MAX_BODY_LEN: usize = 0x3FF;
/// The longest header: 2019 with the split-package fields.
pub const MAX_HEADER_LEN: usize = 21;

const LEN_MASK: u16 = 0x03FF;
const ENCRYPTION_SHIFT: u16 = 10;
const SPLIT_BIT: u16 = 1 << 13;
const VERSION_BIT: u16 = 1 << 14;

/// Which edition of the standard a frame follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// JT/T 808-2013 (and 2011): BCD[6] phone, no version byte.
    V2013,
    /// JT/T 808-2019: version flag set, a protocol version byte (1 for the 2019 edition),
    /// BCD[10] phone.
    V2019 { protocol: u8 },
}

impl Version {
    /// The 2019 edition as its first revision names itself.
    pub const V2019_1: Version = Version::V2019 { protocol: 1 };

    /// Number of BCD bytes of the phone number.
    fn phone_bytes(self) -> usize {
        match self {
            Version::V2013 => 6,
            Version::V2019 { .. } => 10,
        }
    }
}

/// A terminal's phone number (终端手机号), the terminal's identity on the platform: up to 20
/// decimal digits, kept without leading zeros so the same terminal has one number whatever
/// edition it speaks (the standard pads on the left with zeros).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone(String);

impl Phone {
    /// Validates 1 to 20 decimal digits; leading zeros are dropped (but `"0"` stays).
    pub fn new(digits: &str) -> Result<Phone, BcdError> {
        let ok = (1..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
        if !ok {
            return Err(BcdError::BadDigits(digits.to_owned(), 20));
        }
        let trimmed = digits.trim_start_matches('0');
        Ok(Phone(
            if trimmed.is_empty() { "0" } else { trimmed }.to_owned(),
        ))
    }

    /// The digits, without leading zeros.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn decode(bytes: &[u8]) -> Result<Phone, BcdError> {
        Phone::new(&bcd::decode(bytes)?)
    }

    fn encode(&self, version: Version, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let width = version.phone_bytes() * 2;
        if self.0.len() > width {
            return Err(EncodeError::PhoneTooLong {
                phone: self.0.clone(),
                digits: width,
            });
        }
        let padded = format!("{:0>width$}", self.0);
        let mut bytes = [0u8; 10];
        let bytes = &mut bytes[..version.phone_bytes()];
        bcd::encode(&padded, bytes).expect("validated digits of the right width");
        out.extend_from_slice(bytes);
        Ok(())
    }
}

impl std::fmt::Display for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Position of a split package within its message: `index` counts from 1 to `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Package {
    pub total: u16,
    pub index: u16,
}

/// A decoded message header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub msg_id: u16,
    pub version: Version,
    /// The 3 encryption bits: 0 is plain, bit 0 (attribute bit 10) is RSA.
    pub encryption: u8,
    pub phone: Phone,
    /// The sender's message serial number (流水号); responses name it.
    pub serial: u16,
    /// Set when the message is one package of a split message.
    pub package: Option<Package>,
}

impl Header {
    /// A plain, unsplit header.
    pub fn new(msg_id: u16, version: Version, phone: Phone, serial: u16) -> Header {
        Header {
            msg_id,
            version,
            encryption: 0,
            phone,
            serial,
            package: None,
        }
    }

    /// The header of a reply to this header's sender: same edition and phone, plain, unsplit.
    pub fn reply(&self, msg_id: u16, serial: u16) -> Header {
        Header::new(msg_id, self.version, self.phone.clone(), serial)
    }

    /// Parses a header from the start of an unescaped frame; returns it, its length and the
    /// body length its attributes declare.
    pub(crate) fn decode(bytes: &[u8]) -> Result<(Header, usize, usize), FrameError> {
        let truncated = |needed| FrameError::TruncatedHeader {
            len: bytes.len(),
            needed,
        };
        let word = |at: usize| u16::from_be_bytes([bytes[at], bytes[at + 1]]);
        if bytes.len() < 4 {
            return Err(truncated(4));
        }
        let msg_id = word(0);
        let attributes = word(2);
        let (version, phone_at) = if attributes & VERSION_BIT != 0 {
            let protocol = *bytes.get(4).ok_or(truncated(5))?;
            (Version::V2019 { protocol }, 5)
        } else {
            (Version::V2013, 4)
        };
        let serial_at = phone_at + version.phone_bytes();
        let split = attributes & SPLIT_BIT != 0;
        let len = serial_at + 2 + if split { 4 } else { 0 };
        if bytes.len() < len {
            return Err(truncated(len));
        }
        let phone = Phone::decode(&bytes[phone_at..serial_at]).map_err(FrameError::BadPhone)?;
        let package = split.then(|| Package {
            total: word(serial_at + 2),
            index: word(serial_at + 4),
        });
        let header = Header {
            msg_id,
            version,
            encryption: ((attributes >> ENCRYPTION_SHIFT) & 0b111) as u8,
            phone,
            serial: word(serial_at),
            package,
        };
        Ok((header, len, usize::from(attributes & LEN_MASK)))
    }

    /// Appends the header for a body of `body_len` bytes.
    pub(crate) fn encode(&self, body_len: usize, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if body_len > MAX_BODY_LEN {
            return Err(EncodeError::BodyTooLong { len: body_len });
        }
        if self.encryption > 0b111 {
            return Err(EncodeError::BadEncryption(self.encryption));
        }
        let mut attributes = body_len as u16 | (u16::from(self.encryption) << ENCRYPTION_SHIFT);
        if self.package.is_some() {
            attributes |= SPLIT_BIT;
        }
        if matches!(self.version, Version::V2019 { .. }) {
            attributes |= VERSION_BIT;
        }
        out.extend_from_slice(&self.msg_id.to_be_bytes());
        out.extend_from_slice(&attributes.to_be_bytes());
        if let Version::V2019 { protocol } = self.version {
            out.push(protocol);
        }
        self.phone.encode(self.version, out)?;
        out.extend_from_slice(&self.serial.to_be_bytes());
        if let Some(package) = self.package {
            out.extend_from_slice(&package.total.to_be_bytes());
            out.extend_from_slice(&package.index.to_be_bytes());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone(s: &str) -> Phone {
        Phone::new(s).unwrap()
    }

    #[test]
    fn phones_drop_leading_zeros_and_refuse_non_digits() {
        assert_eq!(phone("013511221122").as_str(), "13511221122");
        assert_eq!(phone("00000000013511221122"), phone("13511221122"));
        assert_eq!(phone("000").as_str(), "0");
        assert!(Phone::new("").is_err());
        assert!(Phone::new("123456789012345678901").is_err());
        assert!(Phone::new("1351122112a").is_err());
        assert!(Phone::new("+8613511221122").is_err());
    }

    #[test]
    fn headers_of_both_editions_round_trip() {
        for version in [Version::V2013, Version::V2019_1] {
            for package in [None, Some(Package { total: 3, index: 2 })] {
                let header = Header {
                    msg_id: 0x0200,
                    version,
                    encryption: 1,
                    phone: phone("13912344329"),
                    serial: 0xBEEF,
                    package,
                };
                let mut out = Vec::new();
                header.encode(1023, &mut out).unwrap();
                let (decoded, len, body_len) = Header::decode(&out).unwrap();
                assert_eq!((decoded, len, body_len), (header, out.len(), 1023));
            }
        }
    }

    #[test]
    fn attribute_bits_are_where_the_standard_puts_them() {
        let mut header = Header::new(0x0100, Version::V2013, phone("1"), 7);
        header.encryption = 0b101;
        header.package = Some(Package { total: 2, index: 1 });
        let mut out = Vec::new();
        header.encode(0x155, &mut out).unwrap();
        // length 0x155 | encryption 0b101 << 10 | split bit 13.
        assert_eq!(&out[..4], &[0x01, 0x00, 0x35, 0x55]);
        assert_eq!(&out[4..10], &[0, 0, 0, 0, 0, 1]);
        let mut out = Vec::new();
        Header::new(0x0002, Version::V2019 { protocol: 9 }, phone("1"), 0)
            .encode(0, &mut out)
            .unwrap();
        assert_eq!(&out[..5], &[0x00, 0x02, 0x40, 0x00, 9]);
    }

    #[test]
    fn a_2013_phone_has_twelve_digits_at_most() {
        let header = Header::new(2, Version::V2013, phone("1234567890123"), 0);
        assert!(matches!(
            header.encode(0, &mut Vec::new()),
            Err(EncodeError::PhoneTooLong { digits: 12, .. })
        ));
        let header = Header::new(2, Version::V2019_1, phone("1234567890123"), 0);
        assert!(header.encode(0, &mut Vec::new()).is_ok());
    }

    #[test]
    fn short_headers_are_truncated_not_panics() {
        let mut full = Vec::new();
        let mut header = Header::new(0x0200, Version::V2019_1, phone("5"), 1);
        header.package = Some(Package { total: 1, index: 1 });
        header.encode(0, &mut full).unwrap();
        for cut in 0..full.len() {
            assert!(matches!(
                Header::decode(&full[..cut]),
                Err(FrameError::TruncatedHeader { .. })
            ));
        }
    }

    #[test]
    fn bodies_over_ten_bits_do_not_fit_a_header() {
        let header = Header::new(0x0200, Version::V2013, phone("5"), 1);
        assert_eq!(
            header.encode(1024, &mut Vec::new()),
            Err(EncodeError::BodyTooLong { len: 1024 })
        );
    }
}
