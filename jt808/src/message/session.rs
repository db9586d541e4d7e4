//! The session messages: registration, authentication and the general responses.

use super::wire::{Reader, gbk, put_fixed_text};
use crate::error::{EncodeError, MessageError};
use crate::header::Version;

/// Result of a general response (0x0001 from a terminal, 0x8001 from the platform).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseResult {
    /// 0: success / acknowledged.
    Ok,
    /// 1: failure; the terminal resends.
    Failure,
    /// 2: the message was wrong.
    BadMessage,
    /// 3: not supported.
    NotSupported,
    /// 4: alarm handling acknowledged (platform only).
    AlarmAck,
}

impl ResponseResult {
    fn code(self) -> u8 {
        match self {
            ResponseResult::Ok => 0,
            ResponseResult::Failure => 1,
            ResponseResult::BadMessage => 2,
            ResponseResult::NotSupported => 3,
            ResponseResult::AlarmAck => 4,
        }
    }

    fn from_code(code: u8, from_platform: bool) -> Option<ResponseResult> {
        Some(match code {
            0 => ResponseResult::Ok,
            1 => ResponseResult::Failure,
            2 => ResponseResult::BadMessage,
            3 => ResponseResult::NotSupported,
            4 if from_platform => ResponseResult::AlarmAck,
            _ => return None,
        })
    }
}

/// A general response: which message (by its sender's serial and id) and the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneralResponse {
    pub serial: u16,
    pub msg_id: u16,
    pub result: ResponseResult,
}

impl GeneralResponse {
    pub(crate) fn decode(r: &mut Reader<'_>, from_platform: bool) -> Result<Self, MessageError> {
        let serial = r.u16()?;
        let msg_id = r.u16()?;
        let code = r.u8()?;
        let result =
            ResponseResult::from_code(code, from_platform).ok_or(MessageError::BadValue {
                msg_id: r.msg_id(),
                field: "result",
                value: code.into(),
            })?;
        Ok(GeneralResponse {
            serial,
            msg_id,
            result,
        })
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>, from_platform: bool) -> Result<(), EncodeError> {
        if !from_platform && self.result == ResponseResult::AlarmAck {
            return Err(EncodeError::NotAllowed {
                field: "result",
                reason: "alarm acknowledgement is a platform's result",
            });
        }
        out.extend_from_slice(&self.serial.to_be_bytes());
        out.extend_from_slice(&self.msg_id.to_be_bytes());
        out.push(self.result.code());
        Ok(())
    }
}

/// Widths of the registration's fixed text fields in each edition.
struct RegistrationWidths {
    manufacturer: usize,
    model: usize,
    terminal_id: usize,
}

fn registration_widths(version: Version) -> RegistrationWidths {
    match version {
        Version::V2013 => RegistrationWidths {
            manufacturer: 5,
            model: 20,
            terminal_id: 7,
        },
        Version::V2019 { .. } => RegistrationWidths {
            manufacturer: 11,
            model: 30,
            terminal_id: 30,
        },
    }
}

/// Terminal registration (0x0100).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// Province code (GB/T 2260 first two digits).
    pub province: u16,
    /// City or county code (GB/T 2260 last four digits).
    pub city: u16,
    pub manufacturer: String,
    pub model: String,
    pub terminal_id: String,
    /// Plate colour (JT/T 415); 0 when the vehicle has no plate yet.
    pub plate_color: u8,
    /// The plate, or the VIN when `plate_color` is 0.
    pub plate: String,
}

impl Registration {
    pub(crate) fn decode(r: &mut Reader<'_>, version: Version) -> Result<Self, MessageError> {
        let w = registration_widths(version);
        let province = r.u16()?;
        let city = r.u16()?;
        let manufacturer = r.fixed_text("manufacturer", w.manufacturer)?;
        let model = r.fixed_text("model", w.model)?;
        let terminal_id = r.fixed_text("terminal_id", w.terminal_id)?;
        let plate_color = r.u8()?;
        let rest = r.rest();
        let plate = r.text("plate", rest)?;
        Ok(Registration {
            province,
            city,
            manufacturer,
            model,
            terminal_id,
            plate_color,
            plate,
        })
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        let w = registration_widths(version);
        out.extend_from_slice(&self.province.to_be_bytes());
        out.extend_from_slice(&self.city.to_be_bytes());
        put_fixed_text(out, "manufacturer", &self.manufacturer, w.manufacturer)?;
        put_fixed_text(out, "model", &self.model, w.model)?;
        put_fixed_text(out, "terminal_id", &self.terminal_id, w.terminal_id)?;
        out.push(self.plate_color);
        out.extend_from_slice(&gbk("plate", &self.plate)?);
        Ok(())
    }
}

/// What a 2019 terminal adds to its authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalIdentity {
    /// BYTE[15].
    pub imei: String,
    /// BYTE[20].
    pub software_version: String,
}

/// Terminal authentication (0x0102): the code the platform gave in its 0x8100.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authentication {
    pub code: String,
    /// Present exactly in the 2019 edition.
    pub identity: Option<TerminalIdentity>,
}

impl Authentication {
    pub(crate) fn decode(r: &mut Reader<'_>, version: Version) -> Result<Self, MessageError> {
        match version {
            Version::V2013 => {
                let rest = r.rest();
                let code = r.text("code", rest)?;
                Ok(Authentication {
                    code,
                    identity: None,
                })
            }
            Version::V2019 { .. } => {
                let len = usize::from(r.u8()?);
                let code = r.fixed_text("code", len)?;
                let imei = r.fixed_text("imei", 15)?;
                let software_version = r.fixed_text("software_version", 20)?;
                Ok(Authentication {
                    code,
                    identity: Some(TerminalIdentity {
                        imei,
                        software_version,
                    }),
                })
            }
        }
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>, version: Version) -> Result<(), EncodeError> {
        let code = gbk("code", &self.code)?;
        match (version, &self.identity) {
            (Version::V2013, None) => out.extend_from_slice(&code),
            (Version::V2019 { .. }, Some(identity)) => {
                let len = u8::try_from(code.len()).map_err(|_| EncodeError::TooLong {
                    field: "code",
                    len: code.len(),
                    max: 255,
                })?;
                out.push(len);
                out.extend_from_slice(&code);
                put_fixed_text(out, "imei", &identity.imei, 15)?;
                put_fixed_text(out, "software_version", &identity.software_version, 20)?;
            }
            (_, _) => {
                return Err(EncodeError::NotAllowed {
                    field: "identity",
                    reason: "present in the 2019 edition and only there",
                });
            }
        }
        Ok(())
    }
}

/// Result of a registration (0x8100).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegistrationResult {
    /// 0: registered; the response carries the authentication code.
    Success,
    /// 1: the vehicle is already registered.
    VehicleRegistered,
    /// 2: no such vehicle in the database.
    NoSuchVehicle,
    /// 3: the terminal is already registered.
    TerminalRegistered,
    /// 4: no such terminal in the database.
    NoSuchTerminal,
}

impl RegistrationResult {
    const ALL: [RegistrationResult; 5] = [
        RegistrationResult::Success,
        RegistrationResult::VehicleRegistered,
        RegistrationResult::NoSuchVehicle,
        RegistrationResult::TerminalRegistered,
        RegistrationResult::NoSuchTerminal,
    ];

    fn code(self) -> u8 {
        Self::ALL.iter().position(|r| *r == self).expect("listed") as u8
    }
}

/// Registration response (0x8100).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationResponse {
    /// Serial of the terminal's 0x0100.
    pub serial: u16,
    pub result: RegistrationResult,
    /// The authentication code; sent only on success (empty otherwise).
    pub auth_code: String,
}

impl RegistrationResponse {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, MessageError> {
        let serial = r.u16()?;
        let code = r.u8()?;
        let result =
            *RegistrationResult::ALL
                .get(usize::from(code))
                .ok_or(MessageError::BadValue {
                    msg_id: r.msg_id(),
                    field: "result",
                    value: code.into(),
                })?;
        let rest = r.rest();
        let auth_code = r.text("auth_code", rest)?;
        Ok(RegistrationResponse {
            serial,
            result,
            auth_code,
        })
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if self.result != RegistrationResult::Success && !self.auth_code.is_empty() {
            return Err(EncodeError::NotAllowed {
                field: "auth_code",
                reason: "sent only with a successful registration",
            });
        }
        out.extend_from_slice(&self.serial.to_be_bytes());
        out.push(self.result.code());
        out.extend_from_slice(&gbk("auth_code", &self.auth_code)?);
        Ok(())
    }
}
