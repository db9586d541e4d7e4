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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::decode_frame;
    use crate::header::{Phone, Version};

    fn header(msg_id: u16) -> Header {
        Header::new(msg_id, Version::V2013, Phone::new("1").unwrap(), 65535)
    }

    #[test]
    fn the_header_must_name_the_message() {
        assert_eq!(
            encode(&header(0x0200), &Message::Heartbeat),
            Err(EncodeError::MsgIdMismatch {
                header: 0x0200,
                message: 0x0002
            })
        );
        let mut split = header(0x0002);
        split.package = Some(Package { total: 1, index: 1 });
        assert!(encode(&split, &Message::Heartbeat).is_err());
    }

    #[test]
    fn packages_count_serials_up_and_small_bodies_go_unsplit() {
        let message = Message::Unknown {
            msg_id: 0x0900,
            body: (0..=255).collect(),
        };
        let parts = encode_packages(&header(0x0900), &message, 100).unwrap();
        let frames: Vec<_> = parts.iter().map(|p| decode_frame(p).unwrap()).collect();
        let serials: Vec<_> = frames.iter().map(|f| f.header.serial).collect();
        assert_eq!(serials, [65535, 0, 1]);
        let packages: Vec<_> = frames.iter().map(|f| f.header.package.unwrap()).collect();
        assert_eq!(packages[2], Package { total: 3, index: 3 });
        assert_eq!(frames[2].body.len(), 56);

        let parts = encode_packages(&header(0x0900), &message, 256).unwrap();
        assert_eq!(decode_frame(&parts[0]).unwrap().header.package, None);
        for size in [0, 1024] {
            assert_eq!(
                encode_packages(&header(0x0900), &message, size),
                Err(EncodeError::BadPackageSize(size))
            );
        }
    }

    #[test]
    fn a_body_over_one_frame_needs_packages() {
        let message = Message::Unknown {
            msg_id: 0x0900,
            body: vec![0; 1024],
        };
        assert_eq!(
            encode(&header(0x0900), &message),
            Err(EncodeError::BodyTooLong { len: 1024 })
        );
        assert_eq!(
            encode_packages(&header(0x0900), &message, 1023)
                .unwrap()
                .len(),
            2
        );
    }
}
