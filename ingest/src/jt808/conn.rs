//! One terminal connection: the IO shell around the codec and [`Session`].
//! Reads only while the connection's answers in flight and the pipeline allow
//! it; writes each report's answer when its commit is announced, in order.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use chrono::Utc;
use jt808::{
    BadFrame, Frame, GeneralResponse, Header, Message as Jt, Reassembler, RegistrationResponse,
    RegistrationResult, ResponseResult, Splitter,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::Shared;
use super::metrics::{answer_label, frame_reason};
use super::session::{Action, Authenticated, GarbageLimit, Session};
use crate::codec::{DeviceAddr, DeviceName, OrgId, Reject, RejectReason};

/// Bytes read from the socket at a time: a few reports, or two full frames.
const READ_BYTES: usize = 4096;
/// Split messages open at once per connection: terminals send one at a time;
/// one more covers a resend overlapping it.
const MAX_SPLIT_MESSAGES: usize = 2;
/// A terminal that does not read its answers for this long is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Registration and authentication wait this long for the database, then
/// go unanswered (the terminal asks again).
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// An answer that waits for its item's commit.
struct Due {
    reply: Header,
    answer: GeneralResponse,
    committed: oneshot::Receiver<()>,
    since: Instant,
    report: bool,
}

struct Conn<'a> {
    shared: &'a Shared,
    peer: SocketAddr,
    wr: OwnedWriteHalf,
    session: Session,
    reassembler: Reassembler,
    due: VecDeque<Due>,
    serial: u16,
    /// Set by a logout or by garbage: read no more, close once answers are out.
    closing: Option<&'static str>,
}

/// Serves one connection until it ends; returns why (a metric label).
pub(super) async fn serve(stream: TcpStream, peer: SocketAddr, shared: &Shared) -> &'static str {
    let (mut rd, wr) = stream.into_split();
    let cfg = &shared.cfg;
    let mut c = Conn {
        shared,
        peer,
        wr,
        session: Session::default(),
        reassembler: Reassembler::new(MAX_SPLIT_MESSAGES, cfg.max_message_bytes),
        due: VecDeque::new(),
        serial: 0,
        closing: None,
    };
    let mut splitter = Splitter::new();
    let mut buf = vec![0u8; READ_BYTES];
    let mut may_have_frames = false;
    let mut reading = shared.pipeline.reading();
    let in_flight = cfg.max_in_flight.max(1);
    let idle = Duration::from_secs(cfg.idle_timeout_secs.max(1));
    let mut idle_at = Instant::now() + idle;
    loop {
        let flow_open = *reading.borrow_and_update();
        // Frames already received, while the bounds allow.
        while may_have_frames && c.closing.is_none() && flow_open && c.due.len() < in_flight {
            match splitter.next_frame() {
                None => may_have_frames = false,
                Some(item) => {
                    if let Err(reason) = c.handle(item).await {
                        return reason;
                    }
                }
            }
        }
        if let Some(reason) = c.closing
            && c.due.is_empty()
        {
            let _ = c.wr.shutdown().await;
            return reason;
        }
        let can_read =
            c.closing.is_none() && !may_have_frames && flow_open && c.due.len() < in_flight;
        if !can_read {
            // Idle means a silent terminal, not one we are not listening to.
            idle_at = Instant::now() + idle;
        }
        tokio::select! {
            biased;
            r = async { (&mut c.due.front_mut().expect("not empty").committed).await },
                if !c.due.is_empty() =>
            {
                let due = c.due.pop_front().expect("not empty");
                if r.is_err() {
                    // The writer dropped it uncommitted (shutdown): nothing
                    // more will be answered on this connection.
                    return "shutdown";
                }
                if due.report {
                    shared.metrics.jt808.ack_seconds.observe(due.since.elapsed().as_secs_f64());
                }
                if let Err(reason) = c.answer(&due.reply, due.answer).await {
                    return reason;
                }
            }
            _ = shared.stop.cancelled() => return "shutdown",
            n = rd.read(&mut buf), if can_read => match n {
                Ok(0) => return "closed",
                Ok(n) => {
                    splitter.push(&buf[..n]);
                    may_have_frames = true;
                    idle_at = Instant::now() + idle;
                }
                Err(e) => {
                    debug!(peer = %peer, error = %e, "JT/T 808 read failed");
                    return "error";
                }
            },
            _ = reading.changed(), if !flow_open => {}
            _ = tokio::time::sleep_until(idle_at), if can_read => return "idle",
        }
    }
}

impl Conn<'_> {
    /// One frame (or bad frame) from the splitter. `Err` ends the connection.
    async fn handle(&mut self, item: Result<Frame, BadFrame>) -> Result<(), &'static str> {
        let frame = match item {
            Ok(f) => f,
            Err(bad) => {
                self.bad_frame(bad);
                return Ok(());
            }
        };
        self.session.good_frame();
        let frame = match self.reassembler.push(frame) {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(()),
            Err(e) => {
                self.reject("reassembly", "frame".into(), Vec::new(), e.to_string());
                return Ok(());
            }
        };
        let decoded = Jt::decode(&frame);
        let action = self
            .session
            .decide(&frame, decoded, &self.shared.limits, Utc::now());
        let h = &frame.header;
        let general = |result| GeneralResponse {
            serial: h.serial,
            msg_id: h.msg_id,
            result,
        };
        match action {
            Action::Nothing => Ok(()),
            Action::Answer(result) => self.answer(h, general(result)).await,
            Action::AnswerAndClose => {
                self.closing = Some("logout");
                self.answer(h, general(ResponseResult::Ok)).await
            }
            Action::Register => self.register(h).await,
            Action::Authenticate(code) => self.authenticate(h, &code).await,
            Action::Submit { decoded, result } => {
                let report = decoded.is_ok();
                let payload = if report {
                    frame.body.clone()
                } else {
                    if let Err(r) = &decoded {
                        let label = match r.reason {
                            RejectReason::Jt808BadMessage => Some("bad_message"),
                            _ => None,
                        };
                        if let Some(l) = label {
                            self.shared
                                .metrics
                                .jt808
                                .bad_frames
                                .with_label_values(&[l])
                                .inc();
                        }
                    }
                    frame.encode().unwrap_or_else(|_| frame.body.clone())
                };
                let (tx, rx) = oneshot::channel();
                self.shared
                    .pipeline
                    .submit(topic(h), payload.into(), decoded, Some(tx));
                self.due.push_back(Due {
                    reply: h.clone(),
                    answer: general(result),
                    committed: rx,
                    since: Instant::now(),
                    report,
                });
                Ok(())
            }
        }
    }

    fn bad_frame(&mut self, bad: BadFrame) {
        let limit = GarbageLimit {
            frames: self.shared.cfg.max_bad_frames.max(1),
            bytes: self.shared.cfg.max_bad_frames.max(1) * jt808::MAX_FRAME_LEN,
        };
        let len = bad.raw.len();
        let reason = frame_reason(&bad.error);
        self.reject(reason, "frame".into(), bad.raw, bad.error.to_string());
        if self.session.bad_frame(len, limit) {
            warn!(peer = %self.peer, "JT/T 808 connection sends only garbage; closing it");
            self.closing = Some("garbage");
        }
    }

    /// Keeps what is not a message in `rejected_messages`; nothing is answered.
    fn reject(&mut self, label: &'static str, what: String, raw: Vec<u8>, detail: String) {
        let m = &self.shared.metrics.jt808;
        m.bad_frames.with_label_values(&[label]).inc();
        let reason = if label == "reassembly" {
            RejectReason::Jt808BadMessage
        } else {
            RejectReason::Jt808BadFrame
        };
        self.shared.pipeline.submit(
            format!("jt808/{}/{what}", self.peer.ip()),
            raw.into(),
            Err(Reject::new(reason, detail)),
            None,
        );
    }

    async fn register(&mut self, h: &Header) -> Result<(), &'static str> {
        let cfg = &self.shared.cfg;
        let phone = h.phone.as_str();
        let looked_up = tokio::time::timeout(LOOKUP_TIMEOUT, async {
            let client = self.shared.pool.get().await?;
            store::jt808::register(
                &client,
                phone,
                &cfg.org,
                &format!("jt808-{phone}"),
                &cfg.kind,
            )
            .await
        })
        .await;
        let terminal = match looked_up {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => {
                warn!(phone, error = %e.describe(), "JT/T 808 registration failed; the terminal will ask again");
                return Ok(());
            }
            Err(_) => {
                warn!(
                    phone,
                    "JT/T 808 registration timed out; the terminal will ask again"
                );
                return Ok(());
            }
        };
        let response = Jt::RegistrationResponse(RegistrationResponse {
            serial: h.serial,
            result: RegistrationResult::Success,
            auth_code: terminal.auth_code,
        });
        self.shared
            .metrics
            .jt808
            .answers
            .with_label_values(&["registered"])
            .inc();
        self.write(h, &response).await
    }

    async fn authenticate(&mut self, h: &Header, code: &str) -> Result<(), &'static str> {
        let phone = h.phone.as_str();
        let looked_up = tokio::time::timeout(LOOKUP_TIMEOUT, async {
            let client = self.shared.pool.get().await?;
            store::jt808::authenticate(&client, phone, code).await
        })
        .await;
        let result = match looked_up {
            Ok(Ok(Some(t))) => match (OrgId::parse(&t.org), DeviceName::parse(&t.name)) {
                (Some(org), Some(device)) => {
                    let cfg = &self.shared.cfg;
                    let work = cfg
                        .work_by_phone
                        .get(phone)
                        .or_else(|| cfg.work.get(&t.kind))
                        .copied();
                    self.session.terminal = Some(Authenticated {
                        phone: h.phone.clone(),
                        addr: DeviceAddr { org, device },
                        work,
                    });
                    ResponseResult::Ok
                }
                _ => {
                    warn!(phone, org = %t.org, name = %t.name, "JT/T 808 terminal's device has no valid org/name");
                    ResponseResult::Failure
                }
            },
            Ok(Ok(None)) => ResponseResult::Failure,
            Ok(Err(e)) => {
                warn!(phone, error = %e.describe(), "JT/T 808 authentication failed; the terminal will ask again");
                return Ok(());
            }
            Err(_) => return Ok(()),
        };
        let general = GeneralResponse {
            serial: h.serial,
            msg_id: h.msg_id,
            result,
        };
        self.answer(h, general).await
    }

    /// A platform general response (0x8001).
    async fn answer(&mut self, h: &Header, answer: GeneralResponse) -> Result<(), &'static str> {
        self.shared
            .metrics
            .jt808
            .answers
            .with_label_values(&[answer_label(answer.result)])
            .inc();
        self.write(h, &Jt::PlatformResponse(answer)).await
    }

    async fn write(&mut self, to: &Header, message: &Jt) -> Result<(), &'static str> {
        self.serial = self.serial.wrapping_add(1);
        let wire = match jt808::encode(&to.reply(message.msg_id(), self.serial), message) {
            Ok(w) => w,
            Err(e) => {
                warn!(peer = %self.peer, error = %e, "JT/T 808 answer could not be encoded");
                return Ok(());
            }
        };
        match tokio::time::timeout(WRITE_TIMEOUT, self.wr.write_all(&wire)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err("error"),
        }
    }
}

/// How a terminal's message is named in the rejects table: `jt808/{phone}/{id}`.
fn topic(h: &Header) -> String {
    format!("jt808/{}/{:04x}", h.phone, h.msg_id)
}
