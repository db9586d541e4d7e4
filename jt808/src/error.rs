//! The errors of each layer: a frame that is not a frame, a body that is not its message,
//! a message that cannot be put on the wire.

use crate::bcd::BcdError;
use crate::escape::EscapeError;

/// Why bytes between two flags are not a frame. Each names the cause a reject row shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("bad escape: {0}")]
    BadEscape(#[from] EscapeError),
    #[error("header truncated: {len} bytes where {needed} are needed")]
    TruncatedHeader { len: usize, needed: usize },
    #[error("bad check code: computed 0x{computed:02X}, frame says 0x{received:02X}")]
    BadCheckCode { computed: u8, received: u8 },
    #[error("body length mismatch: the header declares {declared} bytes, the frame has {actual}")]
    BodyLengthMismatch { declared: usize, actual: usize },
    #[error("frame too long: over {max} bytes without a closing 0x7E")]
    TooLong { max: usize },
    #[error("bad phone number: {0}")]
    BadPhone(BcdError),
    #[error("not delimited by 0x7E flags")]
    NoFlags,
    #[error("{len} bytes before the first 0x7E flag")]
    Garbage { len: usize },
}

/// A frame the splitter could not decode, with the bytes as they came (flags included when
/// there were any; cut at the frame size bound) for the rejects table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct BadFrame {
    pub raw: Vec<u8>,
    pub error: FrameError,
}

/// Why a frame's body is not the message its id names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error(
        "message 0x{msg_id:04X}: body truncated, {needed} bytes needed at offset {offset}, {len} in the body"
    )]
    Truncated {
        msg_id: u16,
        offset: usize,
        needed: usize,
        len: usize,
    },
    #[error("message 0x{msg_id:04X}: {extra} bytes after the last field")]
    TrailingBytes { msg_id: u16, extra: usize },
    #[error("message 0x{msg_id:04X}: field {field} holds a NUL character")]
    NulInText { msg_id: u16, field: &'static str },
    #[error("message 0x{msg_id:04X}: field {field} has the impossible value {value}")]
    BadValue {
        msg_id: u16,
        field: &'static str,
        value: u64,
    },
    #[error("message 0x{msg_id:04X}: body is encrypted (encryption bits {encryption:03b})")]
    Encrypted { msg_id: u16, encryption: u8 },
    #[error("message 0x{msg_id:04X}: package {index} of {total}; reassemble the message first")]
    Fragment { msg_id: u16, total: u16, index: u16 },
}

/// Why a message cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("body of {len} bytes exceeds the 1023 bytes of one frame; split it into packages")]
    BodyTooLong { len: usize },
    #[error("phone {phone} has more than the {digits} digits of this edition")]
    PhoneTooLong { phone: String, digits: usize },
    #[error("encryption bits 0x{0:02X} do not fit in 3 bits")]
    BadEncryption(u8),
    #[error("header is for message 0x{header:04X} but the message is 0x{message:04X}")]
    MsgIdMismatch { header: u16, message: u16 },
    #[error("field {field} is {len} bytes, at most {max} fit")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("field {field} holds a NUL character")]
    NulInText { field: &'static str },
    #[error("field {field} holds a character GBK cannot encode")]
    NotGbk { field: &'static str },
    #[error("field {field}: {reason}")]
    NotAllowed {
        field: &'static str,
        reason: &'static str,
    },
    #[error("a split message needs packages of at least 1 byte and at most 1023, not {0}")]
    BadPackageSize(usize),
    #[error("a split message of {0} packages exceeds the 65535 a header can count")]
    TooManyPackages(usize),
}
