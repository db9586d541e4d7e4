//! One terminal: its connection, its session, and the reports it has not had
//! answered yet (sent again on a new connection until they are).

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};
use jt808::{
    Authentication, BatchKind, Header, LocationBatch, LocationReport, Message, Phone, Registration,
    ResponseResult, Splitter, Version,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::{BATCH_REPORTS, Cmd, TerminalReport, WINDOW};
use crate::scenario::SimError;

/// How long a terminal waits for an answer before it takes the connection
/// for lost (the standard's reply timeout, T0x0002): longer than the
/// listener's 10 s look-up limit and a busy pipeline's pause.
const ANSWER_WAIT: Duration = Duration::from_secs(15);
/// Connection attempts (one a second) and unanswered questions before a
/// terminal gives up.
const TRIES: u32 = 20;

struct Conn {
    stream: TcpStream,
    splitter: Splitter,
    buf: Vec<u8>,
}

pub(super) struct Terminal {
    addr: String,
    phone: Phone,
    tunnel: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// The authentication code, once registered.
    code: Option<String>,
    serial: u16,
    conn: Option<Conn>,
    /// Sent and not yet answered, oldest first.
    pending: VecDeque<(u16, Message)>,
    /// Positions kept in the tunnel.
    blind: Vec<LocationReport>,
    report: TerminalReport,
}

impl Terminal {
    pub fn new(addr: String, phone: Phone, tunnel: Option<(DateTime<Utc>, DateTime<Utc>)>) -> Self {
        Self {
            addr,
            phone,
            tunnel,
            code: None,
            serial: 0,
            conn: None,
            pending: VecDeque::new(),
            blind: Vec::new(),
            report: TerminalReport {
                terminals: 1,
                ..TerminalReport::default()
            },
        }
    }

    /// Runs until `rx` closes, then sends what is kept, waits for every
    /// answer and logs out.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Cmd>) -> Result<TerminalReport, SimError> {
        self.connect().await?;
        loop {
            let (take, waiting) = (self.pending.len() < WINDOW, !self.pending.is_empty());
            tokio::select! {
                cmd = rx.recv(), if take => match cmd {
                    Some(c) => self.command(c).await?,
                    None => break,
                },
                m = self.next_message() => match m {
                    Some(m) => self.on_answer(m).await?,
                    None => self.reconnect().await?,
                },
                _ = tokio::time::sleep(ANSWER_WAIT), if waiting => self.reconnect().await?,
            }
        }
        self.flush_blind().await?;
        let mut tries = 0;
        while !self.pending.is_empty() {
            tries += 1;
            if tries > TRIES * 100 {
                return Err(self.error("reports never answered"));
            }
            self.await_one().await?;
        }
        let _ = self.write(Message::Logout).await;
        Ok(self.report)
    }

    async fn command(&mut self, cmd: Cmd) -> Result<(), SimError> {
        match cmd {
            Cmd::Fix(at, r) => {
                self.report.positions += 1;
                if self.tunnel.is_some_and(|(from, to)| at >= from && at < to) {
                    self.blind.push(r);
                    return Ok(());
                }
                self.flush_blind().await?;
                self.send(Message::Location(r)).await
            }
            Cmd::Batch(reports) => {
                self.report.positions += reports.len() as u64;
                self.send_batch(reports).await
            }
            Cmd::Heartbeat => {
                // A failed write shows as a closed connection on the next read.
                let _ = self.write(Message::Heartbeat).await;
                Ok(())
            }
            Cmd::Storm => self.reconnect().await,
        }
    }

    async fn flush_blind(&mut self) -> Result<(), SimError> {
        if self.blind.is_empty() {
            return Ok(());
        }
        let reports = std::mem::take(&mut self.blind);
        self.send_batch(reports).await
    }

    async fn send_batch(&mut self, reports: Vec<LocationReport>) -> Result<(), SimError> {
        for chunk in reports.chunks(BATCH_REPORTS) {
            self.report.batches += 1;
            let batch = Message::LocationBatch(LocationBatch {
                kind: BatchKind::BlindArea,
                reports: chunk.to_vec(),
            });
            self.send(batch).await?;
        }
        Ok(())
    }

    /// Sends a report to be answered, once there is room in the window.
    async fn send(&mut self, m: Message) -> Result<(), SimError> {
        while self.pending.len() >= WINDOW {
            self.await_one().await?;
        }
        match self.write(m.clone()).await {
            Ok(serial) => self.pending.push_back((serial, m)),
            Err(_) => {
                // Sent again with the others after reconnecting.
                self.pending.push_back((0, m));
                self.reconnect().await?;
            }
        }
        Ok(())
    }

    async fn await_one(&mut self) -> Result<(), SimError> {
        match tokio::time::timeout(ANSWER_WAIT, self.next_message()).await {
            Ok(Some(m)) => self.on_answer(m).await,
            _ => self.reconnect().await,
        }
    }

    async fn on_answer(&mut self, m: Message) -> Result<(), SimError> {
        let Message::PlatformResponse(r) = m else {
            return Ok(());
        };
        let Some(i) = self.pending.iter().position(|(s, _)| *s == r.serial) else {
            // A heartbeat's answer.
            return Ok(());
        };
        if r.result != ResponseResult::Ok {
            // Not taken (say, not authenticated on this connection): log in
            // again and send everything unanswered again.
            return self.reconnect().await;
        }
        self.pending.remove(i);
        self.report.answered += 1;
        Ok(())
    }

    /// Drops the connection, connects and logs in again, and sends again
    /// everything unanswered.
    async fn reconnect(&mut self) -> Result<(), SimError> {
        self.report.reconnects += 1;
        self.conn = None;
        self.connect().await?;
        let unanswered = std::mem::take(&mut self.pending);
        for (_, m) in unanswered {
            self.report.resent += 1;
            match self.write(m.clone()).await {
                Ok(serial) => self.pending.push_back((serial, m)),
                Err(_) => self.pending.push_back((0, m)),
            }
        }
        Ok(())
    }

    /// Connects (retrying once a second) and logs in.
    async fn connect(&mut self) -> Result<(), SimError> {
        for _ in 0..TRIES {
            if let Ok(stream) = TcpStream::connect(&self.addr).await {
                let _ = stream.set_nodelay(true);
                self.conn = Some(Conn {
                    stream,
                    splitter: Splitter::new(),
                    buf: vec![0; 4096],
                });
                if self.login().await {
                    return Ok(());
                }
            }
            self.conn = None;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Err(self.error("cannot connect and log in"))
    }

    /// Registers when it has no code yet, then authenticates.
    async fn login(&mut self) -> bool {
        if self.code.is_none() {
            let m = Message::Registration(Registration {
                province: 44,
                city: 1900,
                manufacturer: "SWSIM".into(),
                model: "SIM-1".into(),
                // 7 characters in JT/T 808-2013.
                terminal_id: format!(
                    "T{:0>6}",
                    &self.phone.as_str()[self.phone.as_str().len().saturating_sub(6)..]
                ),
                plate_color: 1,
                plate: format!(
                    "粤S{:0>5}",
                    &self.phone.as_str()[self.phone.as_str().len().saturating_sub(5)..]
                ),
            });
            match self.ask(m).await {
                Some(Message::RegistrationResponse(r)) => self.code = Some(r.auth_code),
                _ => return false,
            }
        }
        let code = self.code.clone().unwrap_or_default();
        let m = Message::Authentication(Authentication {
            code,
            identity: None,
        });
        match self.ask(m).await {
            Some(Message::PlatformResponse(r)) if r.result == ResponseResult::Ok => true,
            Some(Message::PlatformResponse(_)) => {
                // The code is not known (any more): register again.
                self.code = None;
                false
            }
            _ => false,
        }
    }

    /// Sends a question and waits for its answer (skipping others).
    async fn ask(&mut self, m: Message) -> Option<Message> {
        let serial = self.write(m).await.ok()?;
        let deadline = tokio::time::Instant::now() + ANSWER_WAIT;
        loop {
            let answer = tokio::time::timeout_at(deadline, self.next_message())
                .await
                .ok()??;
            let answers = match &answer {
                Message::RegistrationResponse(r) => r.serial,
                Message::PlatformResponse(r) => r.serial,
                _ => continue,
            };
            if answers == serial {
                return Some(answer);
            }
        }
    }

    /// Writes a message; returns its serial.
    async fn write(&mut self, m: Message) -> Result<u16, ()> {
        self.serial = self.serial.wrapping_add(1);
        let h = Header::new(m.msg_id(), Version::V2013, self.phone.clone(), self.serial);
        let frame = jt808::encode(&h, &m).map_err(|_| ())?;
        let conn = self.conn.as_mut().ok_or(())?;
        conn.stream.write_all(&frame).await.map_err(|_| ())?;
        Ok(self.serial)
    }

    /// The platform's next message; `None` once the connection is closed.
    async fn next_message(&mut self) -> Option<Message> {
        let Some(c) = self.conn.as_mut() else {
            return std::future::pending().await;
        };
        loop {
            if let Some(frame) = c.splitter.next_frame() {
                if let Some(m) = frame.ok().and_then(|f| Message::decode(&f).ok()) {
                    return Some(m);
                }
                continue;
            }
            match c.stream.read(&mut c.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => c.splitter.push(&c.buf[..n]),
            }
        }
    }

    fn error(&self, reason: &str) -> SimError {
        SimError::Terminal {
            addr: self.addr.clone(),
            phone: self.phone.as_str().to_owned(),
            reason: reason.to_owned(),
        }
    }
}
