//! A JT/T 808 vehicle terminal for tests, built on the codec's encoders:
//! registers, authenticates, reports, and reads the platform's answers.

use std::time::Duration;

use chrono::{DateTime, Utc};
use jt808::{
    Authentication, BatchKind, BcdTime, GeneralResponse, Header, LocationBatch, LocationReport,
    Message, Phone, Registration, ResponseResult, STATUS_POSITIONED, Splitter, Version,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Terminal {
    pub stream: TcpStream,
    pub phone: Phone,
    splitter: Splitter,
    serial: u16,
}

/// A positioned report at `at` near Humen, `i` moving it a little.
pub fn report(at: DateTime<Utc>, i: u32) -> LocationReport {
    LocationReport {
        alarm: 0,
        status: STATUS_POSITIONED,
        lat: 22_814_300 + i,
        lon: 113_672_100 + i,
        altitude: 3,
        speed: 125,
        direction: 90,
        time: BcdTime::from_utc(at).expect("a time in 2000-2099"),
        extras: vec![],
    }
}

impl Terminal {
    pub async fn connect(addr: &str, phone: &str) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect to JT/T 808");
        stream.set_nodelay(true).unwrap();
        Self {
            stream,
            phone: Phone::new(phone).unwrap(),
            splitter: Splitter::new(),
            serial: 0,
        }
    }

    fn header(&mut self, msg_id: u16) -> Header {
        self.serial = self.serial.wrapping_add(1);
        Header::new(msg_id, Version::V2013, self.phone.clone(), self.serial)
    }

    /// Sends a message (split into packages of 512 bytes when longer); returns
    /// the serial its answer names.
    pub async fn send(&mut self, m: &Message) -> u16 {
        let h = self.header(m.msg_id());
        let frames = jt808::encode_packages(&h, m, 512).unwrap();
        // Further packages used the serials after the first.
        self.serial = self.serial.wrapping_add(frames.len() as u16 - 1);
        for f in frames {
            self.stream.write_all(&f).await.unwrap();
        }
        h.serial
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next message from the platform within `wait`; `None` on timeout
    /// or when the platform closed the connection.
    pub async fn recv(&mut self, wait: Duration) -> Option<(Header, Message)> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut buf = [0u8; 4096];
        loop {
            if let Some(frame) = self.splitter.next_frame() {
                let frame = frame.expect("the platform sends valid frames");
                let m = Message::decode(&frame).expect("the platform sends valid messages");
                return Some((frame.header, m));
            }
            let n = tokio::time::timeout_at(deadline, self.stream.read(&mut buf))
                .await
                .ok()?
                .ok()?;
            if n == 0 {
                return None;
            }
            self.splitter.push(&buf[..n]);
        }
    }

    /// Whether the platform closed the connection within `wait` (what it
    /// sends meanwhile is read and ignored).
    pub async fn closed_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        let mut buf = [0u8; 4096];
        loop {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(n)) => self.splitter.push(&buf[..n]),
            }
        }
    }

    /// The 0x8001 answering `serial`, within `wait`; answers come in order,
    /// so any other message first is a failure.
    pub async fn answer(&mut self, serial: u16, wait: Duration) -> Option<GeneralResponse> {
        match self.recv(wait).await? {
            (_, Message::PlatformResponse(r)) if r.serial == serial => Some(r),
            (_, Message::PlatformResponse(r)) => {
                panic!("answer for serial {} while waiting for {serial}", r.serial)
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Registers; returns the authentication code.
    pub async fn register(&mut self) -> String {
        let serial = self
            .send(&Message::Registration(Registration {
                province: 44,
                city: 1900,
                manufacturer: "SWEEP".into(),
                model: "T1".into(),
                terminal_id: "T000001".into(),
                plate_color: 1,
                plate: "粤S12345".into(),
            }))
            .await;
        match self.recv(Duration::from_secs(20)).await {
            Some((_, Message::RegistrationResponse(r))) => {
                assert_eq!(r.serial, serial);
                assert_eq!(r.result, jt808::RegistrationResult::Success);
                r.auth_code
            }
            other => panic!("no registration response: {other:?}"),
        }
    }

    pub async fn authenticate(&mut self, code: &str) -> ResponseResult {
        let serial = self
            .send(&Message::Authentication(Authentication {
                code: code.into(),
                identity: None,
            }))
            .await;
        self.answer(serial, Duration::from_secs(20))
            .await
            .expect("authentication answered")
            .result
    }

    /// Sends a report and waits for its answer.
    pub async fn report(&mut self, r: LocationReport) -> ResponseResult {
        let serial = self.send(&Message::Location(r)).await;
        self.answer(serial, Duration::from_secs(30))
            .await
            .expect("report answered")
            .result
    }

    pub fn batch(reports: Vec<LocationReport>) -> Message {
        Message::LocationBatch(LocationBatch {
            kind: BatchKind::BlindArea,
            reports,
        })
    }
}
