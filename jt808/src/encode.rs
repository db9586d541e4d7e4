//! Putting messages on the wire: one frame, or a split message's packages.

use crate::error::EncodeError;
use crate::frame::Frame;
use crate::header::{Header, MAX_BODY_LEN, Package};
use crate::message::Message;

/// Encodes `message` as one frame under `header` (whose `msg_id` must be the message's and
/// whose `package` must be `None`): flags, escaped header, body and check code.
pub fn encode(header: &Header, message: &Message) -> Result<Vec<u8>, EncodeError> {
    check_msg_id(header, message)?;
    if header.package.is_some() {
        return Err(EncodeError::NotAllowed {
            field: "package",
            reason: "use encode_packages for a split message",
        });
    }
    Frame {
        header: header.clone(),
        body: message.encode_body(header.version)?,
    }
    .encode()
}

/// Encodes `message` as packages of at most `package_len` body bytes each, with serials
/// counting up from `header.serial`; a body that fits one package is sent unsplit.
pub fn encode_packages(
    header: &Header,
    message: &Message,
    package_len: usize,
) -> Result<Vec<Vec<u8>>, EncodeError> {
    check_msg_id(header, message)?;
    if !(1..=MAX_BODY_LEN).contains(&package_len) {
        return Err(EncodeError::BadPackageSize(package_len));
    }
    let body = message.encode_body(header.version)?;
    if body.len() <= package_len {
        let mut single = header.clone();
        single.package = None;
        return Ok(vec![
            Frame {
                header: single,
                body,
            }
            .encode()?,
        ]);
    }
    let chunks: Vec<&[u8]> = body.chunks(package_len).collect();
    let total =
        u16::try_from(chunks.len()).map_err(|_| EncodeError::TooManyPackages(chunks.len()))?;
    (1..=total)
        .zip(chunks)
        .map(|(index, chunk)| {
            let mut part = header.clone();
            part.serial = header.serial.wrapping_add(index - 1);
            part.package = Some(Package { total, index });
            Frame {
                header: part,
                body: chunk.to_vec(),
            }
            .encode()
        })
        .collect()
}

fn check_msg_id(header: &Header, message: &Message) -> Result<(), EncodeError> {
    if header.msg_id == message.msg_id() {
        Ok(())
    } else {
        Err(EncodeError::MsgIdMismatch {
            header: header.msg_id,
            message: message.msg_id(),
        })
    }
}
