//! The byte-level layer of a frame: the `0x7E` flag, escaping and the XOR check code.
//!
//! On the wire a frame is `0x7E`, the escaped (header, body, check code), `0x7E`. The check
//! code is the XOR of every header and body byte; it is computed before escaping and
//! escaped with the rest (JT/T 808 §4.4.3–4.4.4).

/// The flag that opens and closes every frame.
pub const FLAG: u8 = 0x7E;
/// The escape byte: `0x7D 0x01` stands for `0x7D`, `0x7D 0x02` for `0x7E`.
pub const ESCAPE: u8 = 0x7D;

/// Why escaped bytes could not be restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EscapeError {
    /// `0x7D` followed by something other than `0x01` or `0x02`.
    #[error("escape byte 0x7D at offset {offset} followed by 0x{next:02X}, not 0x01 or 0x02")]
    BadSequence { offset: usize, next: u8 },
    /// `0x7D` as the last byte, with nothing after it.
    #[error("escape byte 0x7D at the end of the frame (offset {offset})")]
    Dangling { offset: usize },
}

/// XOR of all bytes: the standard's check code.
pub fn check_code(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |acc, b| acc ^ b)
}

/// Appends `raw` to `out` with `0x7E` and `0x7D` escaped.
pub fn escape_into(raw: &[u8], out: &mut Vec<u8>) {
    for &b in raw {
        match b {
            FLAG => out.extend_from_slice(&[ESCAPE, 0x02]),
            ESCAPE => out.extend_from_slice(&[ESCAPE, 0x01]),
            _ => out.push(b),
        }
    }
}

/// `raw` with `0x7E` and `0x7D` escaped.
pub fn escape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 16 + 2);
    escape_into(raw, &mut out);
    out
}

/// Restores escaped bytes. A `0x7E` inside is not expected (the splitter cuts there) and is
/// kept as it is; the header and check code checks catch such a frame.
pub fn unescape(escaped: &[u8]) -> Result<Vec<u8>, EscapeError> {
    let mut out = Vec::with_capacity(escaped.len());
    let mut i = 0;
    while i < escaped.len() {
        let b = escaped[i];
        if b != ESCAPE {
            out.push(b);
            i += 1;
            continue;
        }
        match escaped.get(i + 1) {
            Some(0x01) => out.push(ESCAPE),
            Some(0x02) => out.push(FLAG),
            Some(&next) => return Err(EscapeError::BadSequence { offset: i, next }),
            None => return Err(EscapeError::Dangling { offset: i }),
        }
        i += 2;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The standard's own example (JT/T 808-2013 §4.4.4, repeated in 2019): the bytes
    /// `30 7E 08 7D 55` are sent as `30 7D 02 08 7D 01 55`.
    #[test]
    fn standard_escape_example() {
        let raw = [0x30, 0x7E, 0x08, 0x7D, 0x55];
        let wire = [0x30, 0x7D, 0x02, 0x08, 0x7D, 0x01, 0x55];
        assert_eq!(escape(&raw), wire);
        assert_eq!(unescape(&wire).unwrap(), raw);
    }

    #[test]
    fn bad_escapes_are_reported_with_their_offset() {
        assert_eq!(
            unescape(&[0x01, 0x7D, 0x03]),
            Err(EscapeError::BadSequence {
                offset: 1,
                next: 0x03
            })
        );
        assert_eq!(
            unescape(&[0x01, 0x02, 0x7D]),
            Err(EscapeError::Dangling { offset: 2 })
        );
        // An escaped escape is not the start of another escape.
        assert_eq!(unescape(&[0x7D, 0x01, 0x02]).unwrap(), [0x7D, 0x02]);
    }

    #[test]
    fn check_code_is_xor() {
        assert_eq!(check_code(&[]), 0);
        assert_eq!(check_code(&[0x01, 0x02, 0x04]), 0x07);
        assert_eq!(check_code(&[0xFF, 0xFF]), 0);
    }
}
