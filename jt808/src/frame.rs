//! One frame: an unescaped, checked header and its body.

use crate::error::{EncodeError, FrameError};
use crate::escape::{self, FLAG};
use crate::header::Header;

/// A frame whose escaping, check code, header and body length are valid. The body is not
/// yet interpreted (see [`crate::Message::decode`]); a split package holds one fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub header: Header,
    pub body: Vec<u8>,
}

/// Decodes one frame as it is on the wire, `0x7E` flags included.
pub fn decode_frame(wire: &[u8]) -> Result<Frame, FrameError> {
    match wire {
        [FLAG, inner @ .., FLAG] if !inner.contains(&FLAG) => decode_escaped(inner),
        _ => Err(FrameError::NoFlags),
    }
}

/// Decodes the escaped bytes between two flags.
pub(crate) fn decode_escaped(escaped: &[u8]) -> Result<Frame, FrameError> {
    let mut bytes = escape::unescape(escaped)?;
    let Some(&received) = bytes.last() else {
        return Err(FrameError::TruncatedHeader { len: 0, needed: 4 });
    };
    bytes.pop();
    let computed = escape::check_code(&bytes);
    if computed != received {
        return Err(FrameError::BadCheckCode { computed, received });
    }
    let (header, header_len, declared) = Header::decode(&bytes)?;
    let actual = bytes.len() - header_len;
    if actual != declared {
        return Err(FrameError::BodyLengthMismatch { declared, actual });
    }
    bytes.drain(..header_len);
    Ok(Frame {
        header,
        body: bytes,
    })
}

impl Frame {
    /// The frame as it goes on the wire: flags, escaped header, body and check code.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut raw = Vec::with_capacity(self.body.len() + 24);
        self.header.encode(self.body.len(), &mut raw)?;
        raw.extend_from_slice(&self.body);
        raw.push(escape::check_code(&raw));
        let mut wire = Vec::with_capacity(raw.len() + raw.len() / 8 + 2);
        wire.push(FLAG);
        escape::escape_into(&raw, &mut wire);
        wire.push(FLAG);
        Ok(wire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::{Phone, Version};

    fn frame(body: &[u8]) -> Frame {
        Frame {
            header: Header::new(0x0200, Version::V2013, Phone::new("42").unwrap(), 9),
            body: body.to_vec(),
        }
    }

    #[test]
    fn a_frame_round_trips_with_flag_bytes_in_its_body() {
        let f = frame(&[0x7E, 0x7D, 0x01, 0x02, 0x7E]);
        let wire = f.encode().unwrap();
        assert_eq!(wire.iter().filter(|b| **b == FLAG).count(), 2);
        assert_eq!(decode_frame(&wire).unwrap(), f);
    }

    #[test]
    fn each_defect_has_its_reason() {
        let wire = frame(&[1, 2, 3]).encode().unwrap();
        let inner = &wire[1..wire.len() - 1];

        let mut flipped = inner.to_vec();
        flipped[13] ^= 0x40;
        assert!(matches!(
            decode_escaped(&flipped),
            Err(FrameError::BadCheckCode { .. })
        ));

        let mut bad_escape = inner.to_vec();
        bad_escape.splice(13..13, [0x7D, 0x03]);
        assert!(matches!(
            decode_escaped(&bad_escape),
            Err(FrameError::BadEscape(_))
        ));

        // One body byte less, with a check code that matches what is left.
        let mut short = escape::unescape(inner).unwrap();
        short.truncate(short.len() - 2);
        short.push(escape::check_code(&short));
        assert_eq!(
            decode_escaped(&escape::escape(&short)),
            Err(FrameError::BodyLengthMismatch {
                declared: 3,
                actual: 2
            })
        );

        let tiny = [0x00, 0x02, 0x00, 0x02];
        assert!(matches!(
            decode_escaped(&tiny),
            Err(FrameError::TruncatedHeader { len: 3, .. })
        ));
        assert!(matches!(
            decode_escaped(&[]),
            Err(FrameError::TruncatedHeader { len: 0, .. })
        ));
    }

    #[test]
    fn a_phone_that_is_not_bcd_is_refused() {
        let mut raw = Vec::new();
        frame(&[]).header.encode(0, &mut raw).unwrap();
        raw[9] = 0x4A;
        raw.push(escape::check_code(&raw));
        let wire = [&[FLAG][..], &escape::escape(&raw), &[FLAG]].concat();
        assert!(matches!(
            decode_frame(&wire),
            Err(FrameError::BadPhone(crate::bcd::BcdError::BadByte {
                offset: 5,
                byte: 0x4A
            }))
        ));
    }

    #[test]
    fn decode_frame_wants_exactly_one_delimited_frame() {
        let wire = frame(&[]).encode().unwrap();
        assert!(decode_frame(&wire).is_ok());
        assert_eq!(decode_frame(&wire[1..]), Err(FrameError::NoFlags));
        assert_eq!(
            decode_frame(&wire[..wire.len() - 1]),
            Err(FrameError::NoFlags)
        );
        assert_eq!(decode_frame(&[FLAG]), Err(FrameError::NoFlags));
        let mut two = wire.clone();
        two.extend_from_slice(&wire);
        assert_eq!(decode_frame(&two), Err(FrameError::NoFlags));
    }
}
