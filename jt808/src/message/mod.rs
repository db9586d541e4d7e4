//! Message bodies: decoding a frame's body into a [`Message`] by its id, and back.

mod location;
mod session;
mod wire;

pub use location::{
    AdditionalInfo, BASIC_INFO_LEN, BatchKind, Extra, LocationBatch, LocationReport,
};
pub use session::{
    Authentication, GeneralResponse, Registration, RegistrationResponse, RegistrationResult,
    ResponseResult, TerminalIdentity,
};

use crate::error::{EncodeError, MessageError};
use crate::frame::Frame;
use crate::header::Version;
use wire::Reader;

/// Message ids (消息 ID) this codec knows.
pub mod id {
    pub const TERMINAL_RESPONSE: u16 = 0x0001;
    pub const HEARTBEAT: u16 = 0x0002;
    pub const LOGOUT: u16 = 0x0003;
    pub const REGISTRATION: u16 = 0x0100;
    pub const AUTHENTICATION: u16 = 0x0102;
    pub const LOCATION_REPORT: u16 = 0x0200;
    pub const LOCATION_BATCH: u16 = 0x0704;
    pub const PLATFORM_RESPONSE: u16 = 0x8001;
    pub const REGISTRATION_RESPONSE: u16 = 0x8100;
}

/// A message, decoded by its id. Terminal messages first, then the platform's answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// 0x0001.
    TerminalResponse(GeneralResponse),
    /// 0x0002 (empty body).
    Heartbeat,
    /// 0x0003 (empty body).
    Logout,
    /// 0x0100.
    Registration(Registration),
    /// 0x0102.
    Authentication(Authentication),
    /// 0x0200.
    Location(LocationReport),
    /// 0x0704.
    LocationBatch(LocationBatch),
    /// 0x8001.
    PlatformResponse(GeneralResponse),
    /// 0x8100.
    RegistrationResponse(RegistrationResponse),
    /// Any other id, body kept as it came. Its id is never one of the above.
    Unknown { msg_id: u16, body: Vec<u8> },
}

impl Message {
    /// The id this message goes under.
    pub fn msg_id(&self) -> u16 {
        match self {
            Message::TerminalResponse(_) => id::TERMINAL_RESPONSE,
            Message::Heartbeat => id::HEARTBEAT,
            Message::Logout => id::LOGOUT,
            Message::Registration(_) => id::REGISTRATION,
            Message::Authentication(_) => id::AUTHENTICATION,
            Message::Location(_) => id::LOCATION_REPORT,
            Message::LocationBatch(_) => id::LOCATION_BATCH,
            Message::PlatformResponse(_) => id::PLATFORM_RESPONSE,
            Message::RegistrationResponse(_) => id::REGISTRATION_RESPONSE,
            Message::Unknown { msg_id, .. } => *msg_id,
        }
    }

    /// Decodes a complete (unsplit or reassembled), unencrypted frame's body.
    pub fn decode(frame: &Frame) -> Result<Message, MessageError> {
        let header = &frame.header;
        if let Some(p) = header.package {
            return Err(MessageError::Fragment {
                msg_id: header.msg_id,
                total: p.total,
                index: p.index,
            });
        }
        if header.encryption != 0 {
            return Err(MessageError::Encrypted {
                msg_id: header.msg_id,
                encryption: header.encryption,
            });
        }
        Message::decode_body(header.msg_id, header.version, &frame.body)
    }

    /// Decodes the body of message `msg_id` as the given edition lays it out.
    pub fn decode_body(
        msg_id: u16,
        version: Version,
        body: &[u8],
    ) -> Result<Message, MessageError> {
        let mut r = Reader::new(msg_id, body);
        let message = match msg_id {
            id::TERMINAL_RESPONSE => {
                Message::TerminalResponse(GeneralResponse::decode(&mut r, false)?)
            }
            id::HEARTBEAT => Message::Heartbeat,
            id::LOGOUT => Message::Logout,
            id::REGISTRATION => Message::Registration(Registration::decode(&mut r, version)?),
            id::AUTHENTICATION => Message::Authentication(Authentication::decode(&mut r, version)?),
            id::LOCATION_REPORT => Message::Location(LocationReport::decode(&mut r)?),
            id::LOCATION_BATCH => Message::LocationBatch(LocationBatch::decode(&mut r)?),
            id::PLATFORM_RESPONSE => {
                Message::PlatformResponse(GeneralResponse::decode(&mut r, true)?)
            }
            id::REGISTRATION_RESPONSE => {
                Message::RegistrationResponse(RegistrationResponse::decode(&mut r)?)
            }
            _ => Message::Unknown {
                msg_id,
                body: r.rest().to_vec(),
            },
        };
        r.finish()?;
        Ok(message)
    }

    /// The body of this message as the given edition lays it out.
    pub fn encode_body(&self, version: Version) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        match self {
            Message::TerminalResponse(m) => m.encode(&mut out, false)?,
            Message::Heartbeat | Message::Logout => {}
            Message::Registration(m) => m.encode(&mut out, version)?,
            Message::Authentication(m) => m.encode(&mut out, version)?,
            Message::Location(m) => m.encode(&mut out)?,
            Message::LocationBatch(m) => m.encode(&mut out)?,
            Message::PlatformResponse(m) => m.encode(&mut out, true)?,
            Message::RegistrationResponse(m) => m.encode(&mut out)?,
            Message::Unknown { msg_id, body } => {
                if is_known(*msg_id) {
                    return Err(EncodeError::NotAllowed {
                        field: "msg_id",
                        reason: "a known id is encoded from its own variant",
                    });
                }
                out.extend_from_slice(body);
            }
        }
        Ok(out)
    }
}

/// Whether this codec decodes `msg_id` into its own variant.
pub fn is_known(msg_id: u16) -> bool {
    matches!(
        msg_id,
        id::TERMINAL_RESPONSE
            | id::HEARTBEAT
            | id::LOGOUT
            | id::REGISTRATION
            | id::AUTHENTICATION
            | id::LOCATION_REPORT
            | id::LOCATION_BATCH
            | id::PLATFORM_RESPONSE
            | id::REGISTRATION_RESPONSE
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(msg_id: u16, body: &[u8]) -> Result<Message, MessageError> {
        Message::decode_body(msg_id, Version::V2013, body)
    }

    #[test]
    fn impossible_numbers_are_refused() {
        let bad = |msg_id, field, value| {
            Err(MessageError::BadValue {
                msg_id,
                field,
                value,
            })
        };
        // Alarm acknowledgement (4) is the platform's result, not a terminal's.
        let response = [0, 1, 0, 2, 4];
        assert_eq!(
            decode(id::TERMINAL_RESPONSE, &response),
            bad(id::TERMINAL_RESPONSE, "result", 4)
        );
        assert!(decode(id::PLATFORM_RESPONSE, &response).is_ok());
        assert_eq!(
            decode(id::PLATFORM_RESPONSE, &[0, 1, 0, 2, 5]),
            bad(id::PLATFORM_RESPONSE, "result", 5)
        );
        assert_eq!(
            decode(id::REGISTRATION_RESPONSE, &[0, 1, 5]),
            bad(id::REGISTRATION_RESPONSE, "result", 5)
        );
        assert_eq!(
            decode(id::LOCATION_BATCH, &[0, 0, 2]),
            bad(id::LOCATION_BATCH, "type", 2)
        );
    }

    #[test]
    fn counts_and_lengths_must_agree_with_the_body() {
        // A batch announcing two reports and holding none.
        assert!(matches!(
            decode(id::LOCATION_BATCH, &[0, 2, 1]),
            Err(MessageError::Truncated { .. })
        ));
        // An additional item announcing 4 bytes and holding 1.
        let mut report = vec![0; 28];
        report.extend_from_slice(&[0x01, 4, 0]);
        assert!(matches!(
            decode(id::LOCATION_REPORT, &report),
            Err(MessageError::Truncated { offset: 30, .. })
        ));
        // An item of a batch longer than it says.
        let mut batch = vec![0, 1, 0, 0, 28];
        batch.extend_from_slice(&[0; 29]);
        assert_eq!(
            decode(id::LOCATION_BATCH, &batch),
            Err(MessageError::TrailingBytes {
                msg_id: id::LOCATION_BATCH,
                extra: 1
            })
        );
        assert_eq!(
            decode(id::HEARTBEAT, &[0]),
            Err(MessageError::TrailingBytes {
                msg_id: id::HEARTBEAT,
                extra: 1
            })
        );
    }

    #[test]
    fn fragments_and_encrypted_bodies_are_not_decoded() {
        use crate::header::{Header, Package, Phone};
        let mut frame = Frame {
            header: Header::new(id::HEARTBEAT, Version::V2013, Phone::new("1").unwrap(), 1),
            body: vec![],
        };
        frame.header.encryption = 1;
        assert!(matches!(
            Message::decode(&frame),
            Err(MessageError::Encrypted { .. })
        ));
        frame.header.package = Some(Package { total: 2, index: 1 });
        assert!(matches!(
            Message::decode(&frame),
            Err(MessageError::Fragment { .. })
        ));
    }

    #[test]
    fn unknown_ids_keep_their_body_and_known_ids_cannot_pose_as_unknown() {
        assert_eq!(
            decode(0x0900, &[0x7E, 0]),
            Ok(Message::Unknown {
                msg_id: 0x0900,
                body: vec![0x7E, 0]
            })
        );
        let posing = Message::Unknown {
            msg_id: id::LOCATION_REPORT,
            body: vec![],
        };
        assert!(posing.encode_body(Version::V2013).is_err());
    }

    #[test]
    fn inconsistent_messages_are_not_encoded() {
        let auth_2019 = Message::Authentication(Authentication {
            code: "x".into(),
            identity: Some(TerminalIdentity {
                imei: "1".into(),
                software_version: "1".into(),
            }),
        });
        assert!(auth_2019.encode_body(Version::V2013).is_err());
        assert!(auth_2019.encode_body(Version::V2019_1).is_ok());
        let refused_with_code = Message::RegistrationResponse(RegistrationResponse {
            serial: 1,
            result: RegistrationResult::NoSuchTerminal,
            auth_code: "x".into(),
        });
        assert!(refused_with_code.encode_body(Version::V2013).is_err());
        let terminal_alarm_ack = Message::TerminalResponse(GeneralResponse {
            serial: 1,
            msg_id: 2,
            result: ResponseResult::AlarmAck,
        });
        assert!(terminal_alarm_ack.encode_body(Version::V2013).is_err());
    }
}
