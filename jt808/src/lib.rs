//! JT/T 808, the terminal protocol of China's road transport vehicles ("部标"), as a pure
//! codec: no IO, no async, no clock. A TCP listener owns the sockets and feeds this crate
//! bytes; what comes back is values.
//!
//! Data flows through it in this order:
//!
//! 1. [`Splitter`] cuts the byte stream at the `0x7E` flags and [`frame`] checks each run:
//!    escaping ([`escape`]), the XOR check code, the [`Header`] of either edition (2013:
//!    BCD[6] phone; 2019: version flag, version byte, BCD[10] phone) and the body length.
//!    A run that is not a frame comes out as a [`BadFrame`] with its raw bytes and a reason.
//! 2. [`Reassembler`] joins split packages into one frame (bounded in count and size).
//! 3. [`Message::decode`] turns a frame's body into a [`Message`]: registration, auth,
//!    heartbeat, logout, general responses, location report, batch upload, or `Unknown`.
//! 4. [`LocationReport::to_fix`] turns a report into a [`LocationFix`]: degrees, km/h, UTC,
//!    `sos` and a configurable [`WorkBit`].
//!
//! The way back is [`encode`] (or [`encode_packages`] for a split message) for every
//! message above, platform responses (0x8001, 0x8100) and terminal messages alike, in both
//! editions: the listener answers with them, the simulator and tests speak as terminals.

pub mod bcd;
mod encode;
pub mod error;
pub mod escape;
mod fix;
pub mod frame;
pub mod header;
pub mod message;
mod reassembly;
mod splitter;

pub use bcd::BcdTime;
pub use encode::{encode, encode_packages};
pub use error::{BadFrame, EncodeError, FrameError, MessageError};
pub use fix::{
    ALARM_EMERGENCY, FixError, LocationFix, STATUS_ACC, STATUS_POSITIONED, STATUS_SOUTH,
    STATUS_WEST, WorkBit,
};
pub use frame::{Frame, decode_frame};
pub use header::{Header, MAX_BODY_LEN, Package, Phone, Version};
pub use message::{
    AdditionalInfo, Authentication, BatchKind, Extra, GeneralResponse, LocationBatch,
    LocationReport, Message, Registration, RegistrationResponse, RegistrationResult,
    ResponseResult, TerminalIdentity,
};
pub use reassembly::{DEFAULT_MAX_MESSAGE_LEN, DEFAULT_MAX_PENDING, Reassembler, ReassemblyError};
pub use splitter::{MAX_FRAME_LEN, Splitter};
