//! Reading and writing message fields: big-endian numbers, fixed and free GBK text.

use crate::error::{EncodeError, MessageError};

/// A cursor over a message body that reports short bodies as [`MessageError::Truncated`].
pub(crate) struct Reader<'a> {
    body: &'a [u8],
    pos: usize,
    msg_id: u16,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(msg_id: u16, body: &'a [u8]) -> Reader<'a> {
        Reader {
            body,
            pos: 0,
            msg_id,
        }
    }

    pub(crate) fn msg_id(&self) -> u16 {
        self.msg_id
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], MessageError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.body.len())
            .ok_or(MessageError::Truncated {
                msg_id: self.msg_id,
                offset: self.pos,
                needed: n,
                len: self.body.len(),
            })?;
        let bytes = &self.body[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, MessageError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, MessageError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, MessageError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos == self.body.len()
    }

    /// Everything not yet read.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let rest = &self.body[self.pos..];
        self.pos = self.body.len();
        rest
    }

    /// Ends the body: bytes left over are an error.
    pub(crate) fn finish(self) -> Result<(), MessageError> {
        match self.body.len() - self.pos {
            0 => Ok(()),
            extra => Err(MessageError::TrailingBytes {
                msg_id: self.msg_id,
                extra,
            }),
        }
    }

    /// Text in the standard's GBK: padding NULs at either end are dropped (terminals pad
    /// fixed fields on the right, some on the left, and end STRINGs with a NUL); a NUL in
    /// the middle is refused, since the store cannot hold it. Bytes that are not GBK become
    /// U+FFFD rather than costing the terminal its registration.
    pub(crate) fn text(&self, field: &'static str, bytes: &[u8]) -> Result<String, MessageError> {
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        let end = bytes.iter().rposition(|b| *b != 0).map_or(start, |i| i + 1);
        let trimmed = &bytes[start..end];
        if trimmed.contains(&0) {
            return Err(MessageError::NulInText {
                msg_id: self.msg_id,
                field,
            });
        }
        let (text, _, _) = encoding_rs::GBK.decode(trimmed);
        // A GBK decoder never yields NUL for non-NUL bytes; the check keeps that promise
        // independent of the decoder.
        if text.contains('\0') {
            return Err(MessageError::NulInText {
                msg_id: self.msg_id,
                field,
            });
        }
        Ok(text.into_owned())
    }

    /// Reads a fixed-width text field.
    pub(crate) fn fixed_text(
        &mut self,
        field: &'static str,
        width: usize,
    ) -> Result<String, MessageError> {
        let bytes = self.take(width)?;
        self.text(field, bytes)
    }
}

/// `text` in GBK, refused if it holds a NUL or a character GBK lacks.
pub(crate) fn gbk(field: &'static str, text: &str) -> Result<Vec<u8>, EncodeError> {
    if text.contains('\0') {
        return Err(EncodeError::NulInText { field });
    }
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(text);
    if unmappable {
        // encoding_rs writes an HTML numeric reference for what GBK lacks; a terminal
        // would store that literally, so refuse instead.
        return Err(EncodeError::NotGbk { field });
    }
    Ok(bytes.into_owned())
}

/// Appends `text` in GBK, right-padded with NULs to `width` bytes.
pub(crate) fn put_fixed_text(
    out: &mut Vec<u8>,
    field: &'static str,
    text: &str,
    width: usize,
) -> Result<(), EncodeError> {
    let bytes = gbk(field, text)?;
    if bytes.len() > width {
        return Err(EncodeError::TooLong {
            field,
            len: bytes.len(),
            max: width,
        });
    }
    out.extend_from_slice(&bytes);
    out.resize(out.len() + width - bytes.len(), 0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: &[u8]) -> Result<String, MessageError> {
        Reader::new(0x0100, &[]).text("plate", bytes)
    }

    #[test]
    fn gbk_text_with_padding_decodes() {
        // 粤B12345 in GBK, padded as the fixed fields are.
        let plate = [0xD4, 0xC1, b'B', b'1', b'2', b'3', b'4', b'5'];
        assert_eq!(text(&plate).unwrap(), "粤B12345");
        assert_eq!(
            text(&[&plate[..], &[0, 0, 0]].concat()).unwrap(),
            "粤B12345"
        );
        assert_eq!(
            text(&[&[0, 0][..], &plate[..]].concat()).unwrap(),
            "粤B12345"
        );
        assert_eq!(text(&[0; 7]).unwrap(), "");
        assert_eq!(gbk("plate", "粤B12345").unwrap(), plate);
    }

    #[test]
    fn a_nul_inside_text_is_refused() {
        assert_eq!(
            text(b"AB\0CD"),
            Err(MessageError::NulInText {
                msg_id: 0x0100,
                field: "plate"
            })
        );
        assert_eq!(
            gbk("plate", "A\0"),
            Err(EncodeError::NulInText { field: "plate" })
        );
    }

    #[test]
    fn bytes_that_are_not_gbk_become_replacement_characters() {
        assert_eq!(text(&[b'A', 0x81, 0x20]).unwrap(), "A\u{FFFD} ");
    }

    #[test]
    fn characters_gbk_lacks_are_refused_on_encoding() {
        assert_eq!(
            gbk("plate", "🚛"),
            Err(EncodeError::NotGbk { field: "plate" })
        );
        let mut out = Vec::new();
        assert!(put_fixed_text(&mut out, "model", "ABCDEF", 5).is_err());
        put_fixed_text(&mut out, "model", "ABC", 5).unwrap();
        assert_eq!(out, b"ABC\0\0");
    }

    #[test]
    fn reads_past_the_end_are_truncated_errors() {
        let mut r = Reader::new(0x0200, &[1, 2, 3]);
        assert_eq!(r.u16().unwrap(), 0x0102);
        assert_eq!(
            r.u32(),
            Err(MessageError::Truncated {
                msg_id: 0x0200,
                offset: 2,
                needed: 4,
                len: 3
            })
        );
        assert_eq!(r.u8().unwrap(), 3);
        assert!(r.finish().is_ok());
        let r = Reader::new(0x0200, &[1]);
        assert_eq!(
            r.finish(),
            Err(MessageError::TrailingBytes {
                msg_id: 0x0200,
                extra: 1
            })
        );
    }
}
