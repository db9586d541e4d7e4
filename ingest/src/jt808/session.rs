//! What one connection does with each frame, as a pure function of the frame,
//! its decoded body and the session's state: answer at once, look the
//! terminal up, or hand the message to the pipeline and answer once it is
//! committed. No IO, no clock (`now` is a parameter); `conn.rs` is its shell.

use chrono::{DateTime, Utc};
use jt808::{Frame, Message as Jt, MessageError, Phone, ResponseResult, WorkBit};

use super::report;
use crate::codec::{DeviceAddr, Limits, Message, Reject, RejectReason};

/// A terminal that authenticated on this connection.
#[derive(Debug, Clone)]
pub(crate) struct Authenticated {
    pub phone: Phone,
    pub addr: DeviceAddr,
    pub work: Option<WorkBit>,
}

/// What to do with a frame.
#[derive(Debug)]
pub(crate) enum Action {
    /// Answer with a platform general response (0x8001) now: it depends on
    /// no commit.
    Answer(ResponseResult),
    /// Find or register the terminal, then answer 0x8100 with its code.
    Register,
    /// Check this authentication code, then answer 0x8001.
    Authenticate(String),
    /// Queue into the pipeline (`topic` names it in the rejects table);
    /// answer `result` only once it is committed.
    Submit {
        decoded: Result<Message, Reject>,
        result: ResponseResult,
    },
    /// Answer 0x8001 ok, then stop reading and close once every answer due
    /// has been written (a logout).
    AnswerAndClose,
    /// Nothing to store or answer (a terminal's answer to the platform).
    Nothing,
}

/// The state of one connection's session.
#[derive(Debug, Default)]
pub(crate) struct Session {
    pub terminal: Option<Authenticated>,
    /// Bad frames and their bytes since the last good frame.
    bad_frames: usize,
    bad_bytes: usize,
}

/// How much garbage a connection may send before it is closed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GarbageLimit {
    pub frames: usize,
    pub bytes: usize,
}

impl Session {
    /// A frame that is not one arrived; `true` when the connection has sent
    /// nothing but garbage for longer than `limit` allows and must be closed.
    pub fn bad_frame(&mut self, len: usize, limit: GarbageLimit) -> bool {
        self.bad_frames += 1;
        self.bad_bytes += len;
        self.bad_frames >= limit.frames || self.bad_bytes >= limit.bytes
    }

    /// A frame with a valid check code arrived: the garbage count restarts.
    pub fn good_frame(&mut self) {
        self.bad_frames = 0;
        self.bad_bytes = 0;
    }

    pub fn decide(
        &self,
        frame: &Frame,
        message: Result<Jt, MessageError>,
        limits: &Limits,
        now: DateTime<Utc>,
    ) -> Action {
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                return Action::Submit {
                    decoded: Err(Reject::new(RejectReason::Jt808BadMessage, e.to_string())),
                    result: ResponseResult::BadMessage,
                };
            }
        };
        match message {
            Jt::Heartbeat => Action::Answer(ResponseResult::Ok),
            Jt::Logout => Action::AnswerAndClose,
            Jt::Registration(_) => Action::Register,
            Jt::Authentication(a) => Action::Authenticate(a.code),
            Jt::TerminalResponse(_) => Action::Nothing,
            Jt::Location(r) => match self.reporter(frame) {
                Some(t) => Action::Submit {
                    decoded: report::single(t.addr.clone(), &r, t.work, limits, now),
                    result: ResponseResult::Ok,
                },
                None => Action::Answer(ResponseResult::Failure),
            },
            Jt::LocationBatch(b) => match self.reporter(frame) {
                Some(t) => Action::Submit {
                    decoded: report::batch(t.addr.clone(), &b.reports, t.work, limits, now),
                    result: ResponseResult::Ok,
                },
                None => Action::Answer(ResponseResult::Failure),
            },
            other => Action::Submit {
                decoded: Err(Reject::new(
                    RejectReason::Jt808Unsupported,
                    format!("message 0x{:04X} is not supported", other.msg_id()),
                )),
                result: ResponseResult::NotSupported,
            },
        }
    }

    /// The authenticated terminal, if the frame comes from it. Positions of a
    /// terminal that did not authenticate on this connection (or of another
    /// phone) are refused with a failure: the terminal keeps them and resends
    /// after authenticating.
    fn reporter(&self, frame: &Frame) -> Option<&Authenticated> {
        self.terminal
            .as_ref()
            .filter(|t| t.phone == frame.header.phone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{DeviceName, OrgId};
    use chrono::TimeZone;
    use jt808::{BcdTime, Header, LocationReport, STATUS_POSITIONED, Version};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 5, 0, 0).unwrap()
    }

    fn frame(msg_id: u16, phone: &str) -> Frame {
        Frame {
            header: Header::new(msg_id, Version::V2013, Phone::new(phone).unwrap(), 7),
            body: vec![],
        }
    }

    fn location() -> Jt {
        Jt::Location(LocationReport {
            alarm: 0,
            status: STATUS_POSITIONED,
            lat: 22_814_300,
            lon: 113_672_100,
            altitude: 0,
            speed: 0,
            direction: 0,
            time: BcdTime::from_utc(now()).unwrap(),
            extras: vec![],
        })
    }

    fn authenticated(phone: &str) -> Session {
        Session {
            terminal: Some(Authenticated {
                phone: Phone::new(phone).unwrap(),
                addr: DeviceAddr {
                    org: OrgId::parse("jt808").unwrap(),
                    device: DeviceName::parse("jt808-1").unwrap(),
                },
                work: None,
            }),
            ..Session::default()
        }
    }

    #[test]
    fn reports_before_authentication_are_refused_with_a_failure() {
        let s = Session::default();
        let a = s.decide(
            &frame(0x0200, "1"),
            Ok(location()),
            &Limits::default(),
            now(),
        );
        assert!(matches!(a, Action::Answer(ResponseResult::Failure)));
    }

    #[test]
    fn reports_of_the_authenticated_phone_are_submitted_and_answered_after_commit() {
        let s = authenticated("1");
        let a = s.decide(
            &frame(0x0200, "1"),
            Ok(location()),
            &Limits::default(),
            now(),
        );
        assert!(matches!(
            a,
            Action::Submit {
                decoded: Ok(Message::Fix { .. }),
                result: ResponseResult::Ok
            }
        ));
        let other = s.decide(
            &frame(0x0200, "2"),
            Ok(location()),
            &Limits::default(),
            now(),
        );
        assert!(matches!(other, Action::Answer(ResponseResult::Failure)));
    }

    #[test]
    fn session_messages_unknown_ids_and_bad_bodies() {
        let s = Session::default();
        let l = Limits::default();
        let f = frame(0x0002, "1");
        assert!(matches!(
            s.decide(&f, Ok(Jt::Heartbeat), &l, now()),
            Action::Answer(ResponseResult::Ok)
        ));
        assert!(matches!(
            s.decide(&f, Ok(Jt::Logout), &l, now()),
            Action::AnswerAndClose
        ));
        let unknown = Jt::Unknown {
            msg_id: 0x0900,
            body: vec![1],
        };
        match s.decide(&f, Ok(unknown), &l, now()) {
            Action::Submit {
                decoded: Err(r),
                result: ResponseResult::NotSupported,
            } => assert_eq!(r.reason, RejectReason::Jt808Unsupported),
            other => panic!("{other:?}"),
        }
        let bad = MessageError::TrailingBytes {
            msg_id: 0x0200,
            extra: 3,
        };
        match s.decide(&f, Err(bad), &l, now()) {
            Action::Submit {
                decoded: Err(r),
                result: ResponseResult::BadMessage,
            } => assert_eq!(r.reason, RejectReason::Jt808BadMessage),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_closes_the_connection_past_its_limit_and_a_good_frame_forgives() {
        let limit = GarbageLimit {
            frames: 3,
            bytes: 1000,
        };
        let mut s = Session::default();
        assert!(!s.bad_frame(10, limit));
        assert!(!s.bad_frame(10, limit));
        s.good_frame();
        assert!(!s.bad_frame(10, limit));
        assert!(!s.bad_frame(10, limit));
        assert!(s.bad_frame(10, limit), "the third in a row is one too many");
        let mut s = Session::default();
        assert!(s.bad_frame(1000, limit), "bytes count too");
    }
}
