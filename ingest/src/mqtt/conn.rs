//! The IO shell of the MQTT connection: connect, then a reader and a writer
//! half that never wait for each other (see the module overview in `mqtt`).
//!
//! - The **reader** reads a packet only while [`Pipeline::reading`] says so.
//!   Each PUBLISH is decoded and handed to the pipeline; PINGRESP and SUBACK
//!   are noted. A PUBLISH larger than `max_packet_bytes` is not a reason to
//!   drop the connection (the broker would redeliver it forever): its head is
//!   kept as an `oversize` reject, the rest is skipped as it streams by.
//! - The **writer** writes the acknowledgements the pipeline releases (in
//!   order), a PINGREQ each keep-alive interval, and on shutdown the last
//!   acks followed by DISCONNECT.
//!
//! When either half fails, the session ends, the flow forgets its acks, and
//! the connection is opened again with back-off; the broker redelivers what
//! was not acknowledged.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use rumqttc::mqttbytes::v4::{Connect, Login, Packet, PubAck, Subscribe, SubscribeFilter};
use rumqttc::mqttbytes::{self, QoS};
use rumqttc::{ConnectReturnCode, SubscribeReasonCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::keepalive::{Action, KeepAlive};
use super::{ConnectParams, ConnectionState};
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::ratelog::RateLimitedLog;

/// How long connecting (TCP, TLS, CONNECT/CONNACK) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes read from the socket at a time: a few hundred fixes.
const READ_CHUNK: usize = 64 * 1024;
/// Of an oversize PUBLISH, this much of the payload is kept in the reject.
const OVERSIZE_KEEP: usize = 64 * 1024;
/// Non-PUBLISH packets are small; a larger one is a broken stream.
const MAX_CONTROL_PACKET: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("could not connect to {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("TLS handshake with {0} failed: {1}{hint}", hint = super::tls::handshake_hint(.1, .2.as_deref()))]
    Tls(String, std::io::Error, Option<std::path::PathBuf>),
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),
    #[error("timed out {0}")]
    Timeout(&'static str),
    #[error("the broker refused the connection: {}", refusal(*.0))]
    Refused(ConnectReturnCode),
    #[error("the broker did not answer with CONNACK but with {0}")]
    NoConnAck(&'static str),
    #[error("connection lost: {0}")]
    Io(#[from] std::io::Error),
    #[error("the broker closed the connection")]
    Closed,
    #[error("malformed packet from the broker: {0:?}")]
    Protocol(mqttbytes::Error),
    #[error("the broker sent a QoS 2 message although we subscribed with QoS 1")]
    Qos2,
    #[error("no answer to PINGREQ for a keep-alive interval")]
    PingTimeout,
}

/// A CONNACK's refusal in words, and what to do about it.
fn refusal(code: ConnectReturnCode) -> &'static str {
    match code {
        ConnectReturnCode::Success => "success (CONNACK 0)",
        ConnectReturnCode::RefusedProtocolVersion => {
            "unacceptable protocol version (CONNACK 1): the broker does not take MQTT 3.1.1"
        }
        ConnectReturnCode::BadClientId => {
            "client id rejected (CONNACK 2): check mqtt.client_id (SWEEPWATCH_MQTT_CLIENT_ID)"
        }
        ConnectReturnCode::ServiceUnavailable => "server unavailable (CONNACK 3)",
        ConnectReturnCode::BadUserNamePassword => {
            "bad user name or password (CONNACK 4): check SWEEPWATCH_MQTT_USERNAME and \
             SWEEPWATCH_MQTT_PASSWORD (mqtt.username, mqtt.password) against the broker's users"
        }
        // Mosquitto answers a wrong password with this one.
        ConnectReturnCode::NotAuthorized => {
            "not authorised (CONNACK 5): check SWEEPWATCH_MQTT_USERNAME and \
             SWEEPWATCH_MQTT_PASSWORD (mqtt.username, mqtt.password) against the broker's users"
        }
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
type Stream = Box<dyn Io>;

/// Keeps a session with the broker until `stop` is cancelled, reconnecting
/// with back-off. On `stop` it writes the acks still due, then DISCONNECT.
pub(crate) async fn run(
    params: ConnectParams,
    pipeline: Arc<Pipeline>,
    state: Arc<ConnectionState>,
    metrics: Metrics,
    stop: CancellationToken,
) {
    let mut log = RateLimitedLog::new(Duration::from_secs(60), 5);
    let mut backoff = Duration::from_millis(200);
    let addr = format!("{}:{}", params.host, params.port);
    let subscribed = Cell::new(false);
    while !stop.is_cancelled() {
        let session = Session {
            params: &params,
            pipeline: &pipeline,
            state: &state,
            metrics: &metrics,
            stop: &stop,
            subscribed: &subscribed,
        };
        let result = session.run(&mut backoff).await;
        pipeline.disconnected();
        state.set_connected(false, &metrics);
        match result {
            Ok(()) => break,
            Err(e) => {
                if log.allow(|n| warn!(suppressed = n, "MQTT errors (log lines suppressed)")) {
                    warn!(broker = %addr, error = %e, retry_in = ?backoff, "MQTT connection error");
                }
            }
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
    state.set_connected(false, &metrics);
}

struct Session<'a> {
    params: &'a ConnectParams,
    pipeline: &'a Arc<Pipeline>,
    state: &'a ConnectionState,
    metrics: &'a Metrics,
    stop: &'a CancellationToken,
    /// A SUBACK arrived since this process started.
    subscribed: &'a Cell<bool>,
}

impl Session<'_> {
    /// One connection, from CONNECT to its end. `Ok` only when stopped.
    async fn run(&self, backoff: &mut Duration) -> Result<(), ConnError> {
        let stream = tokio::select! {
            _ = self.stop.cancelled() => return Ok(()),
            r = tokio::time::timeout(CONNECT_TIMEOUT, self.open()) => {
                r.map_err(|_| ConnError::Timeout("connecting"))??
            }
        };
        let (mut rd, mut wr) = tokio::io::split(stream);
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        let session_present = tokio::select! {
            _ = self.stop.cancelled() => return Ok(()),
            r = tokio::time::timeout(CONNECT_TIMEOUT, self.handshake(&mut rd, &mut wr, &mut buf)) => {
                r.map_err(|_| ConnError::Timeout("waiting for CONNACK"))??
            }
        };
        *backoff = Duration::from_millis(200);
        let epoch = self.pipeline.connected(session_present);
        self.state.set_connected(true, self.metrics);
        self.metrics.mqtt_reconnects.inc();
        info!(
            session_present,
            epoch,
            held = self.pipeline.held(),
            "connected to MQTT broker"
        );
        if !session_present || !self.subscribed.get() {
            // The broker lost our session (or never had it), or this process
            // has not subscribed yet (its filters may differ from the last
            // run's): subscribe. Renewing an existing subscription keeps the
            // session's queued messages.
            let filters: Vec<SubscribeFilter> = self
                .params
                .filters
                .iter()
                .map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce))
                .collect();
            let mut out = BytesMut::new();
            let mut subscribe = Subscribe::new_many(filters);
            subscribe.pkid = 1; // we publish nothing else: no other id is in use
            Packet::Subscribe(subscribe)
                .write(&mut out, usize::MAX)
                .map_err(ConnError::Protocol)?;
            wr.write_all(&out).await?;
            wr.flush().await?;
        }
        let keepalive = RefCell::new(KeepAlive::new(
            self.params.keep_alive,
            Instant::now().into_std(),
        ));
        tokio::select! {
            r = self.reader(&mut rd, buf, &keepalive) => r,
            r = self.writer(&mut wr, &keepalive) => r,
        }
    }

    async fn open(&self) -> Result<Stream, ConnError> {
        let p = self.params;
        let addr = format!("{}:{}", p.host, p.port);
        let tcp = TcpStream::connect((p.host.as_str(), p.port))
            .await
            .map_err(|e| ConnError::Connect(addr.clone(), e))?;
        let _ = tcp.set_nodelay(true);
        match &p.tls {
            None => Ok(Box::new(tcp)),
            Some(config) => {
                let name = rustls::pki_types::ServerName::try_from(p.host.clone())
                    .map_err(|_| ConnError::ServerName(p.host.clone()))?;
                let tls = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| ConnError::Tls(addr, e, p.ca_file.clone()))?;
                Ok(Box::new(tls))
            }
        }
    }

    /// CONNECT (persistent session), then CONNACK. Returns `session_present`.
    async fn handshake(
        &self,
        rd: &mut ReadHalf<Stream>,
        wr: &mut WriteHalf<Stream>,
        buf: &mut BytesMut,
    ) -> Result<bool, ConnError> {
        let p = self.params;
        let mut connect = Connect::new(p.client_id.clone());
        connect.keep_alive = p.keep_alive.as_secs() as u16;
        connect.clean_session = false;
        if let Some(user) = &p.username {
            connect.login = Some(Login::new(
                user.clone(),
                p.password
                    .as_ref()
                    .map(|p| secrecy::ExposeSecret::expose_secret(p).to_owned())
                    .unwrap_or_default(),
            ));
        }
        let mut out = BytesMut::new();
        Packet::Connect(connect)
            .write(&mut out, usize::MAX)
            .map_err(ConnError::Protocol)?;
        wr.write_all(&out).await?;
        wr.flush().await?;
        match read_frame(rd, buf, p.max_packet_bytes).await? {
            Frame::Control(Packet::ConnAck(ack)) if ack.code == ConnectReturnCode::Success => {
                Ok(ack.session_present)
            }
            Frame::Control(Packet::ConnAck(ack)) => Err(ConnError::Refused(ack.code)),
            Frame::Control(_) => Err(ConnError::NoConnAck("another packet")),
            Frame::Publish { .. } | Frame::Oversize { .. } => Err(ConnError::NoConnAck("PUBLISH")),
        }
    }

    /// Reads while the flow allows it; returns only on error.
    async fn reader(
        &self,
        rd: &mut ReadHalf<Stream>,
        mut buf: BytesMut,
        keepalive: &RefCell<KeepAlive>,
    ) -> Result<(), ConnError> {
        let mut reading = self.pipeline.reading();
        loop {
            if !*reading.borrow_and_update() {
                keepalive
                    .borrow_mut()
                    .on_reading(false, Instant::now().into_std());
                // Back-pressure: the socket is not read, TCP holds the broker back.
                // Acks and pings keep going out from the writer half meanwhile.
                if reading.wait_for(|r| *r).await.is_err() {
                    return Err(ConnError::Closed);
                }
                keepalive
                    .borrow_mut()
                    .on_reading(true, Instant::now().into_std());
            }
            let frame = read_frame(rd, &mut buf, self.params.max_packet_bytes).await?;
            keepalive.borrow_mut().on_packet(Instant::now().into_std());
            match frame {
                Frame::Publish {
                    qos,
                    pkid,
                    topic,
                    payload,
                } => {
                    let pkid = match qos {
                        QoS::AtMostOnce => None,
                        QoS::AtLeastOnce => Some(pkid),
                        QoS::ExactlyOnce => return Err(ConnError::Qos2),
                    };
                    self.pipeline.received(topic, payload, pkid);
                }
                Frame::Oversize {
                    qos,
                    pkid,
                    topic,
                    head,
                    total,
                } => {
                    let pkid = match qos {
                        QoS::AtMostOnce => None,
                        QoS::AtLeastOnce => Some(pkid),
                        QoS::ExactlyOnce => return Err(ConnError::Qos2),
                    };
                    self.pipeline.received_oversize(
                        topic,
                        head,
                        total,
                        self.params.max_packet_bytes,
                        pkid,
                    );
                }
                Frame::Control(Packet::PingResp) => keepalive.borrow_mut().on_pingresp(),
                Frame::Control(Packet::SubAck(ack)) => {
                    let refused: Vec<&String> = self
                        .params
                        .filters
                        .iter()
                        .zip(&ack.return_codes)
                        .filter(|(_, c)| matches!(c, SubscribeReasonCode::Failure))
                        .map(|(f, _)| f)
                        .collect();
                    self.state.set_refused(refused.len(), self.metrics);
                    if refused.is_empty() {
                        self.subscribed.set(true);
                    } else {
                        // Not ready until a later SUBACK grants them (the
                        // next connection subscribes again).
                        error!(?refused, codes = ?ack.return_codes,
                            "the broker refused a subscription: nothing on those topics will be \
                             ingested (with NATS: mqtt.max_ack_pending times the filters must \
                             not exceed 65,535; see docs/OPERATIONS.md)");
                    }
                }
                Frame::Control(Packet::Disconnect) => return Err(ConnError::Closed),
                Frame::Control(_) => {} // nothing else is expected from a broker; harmless
            }
        }
    }

    /// Writes acks as they are released, pings, and on stop DISCONNECT.
    async fn writer(
        &self,
        wr: &mut WriteHalf<Stream>,
        keepalive: &RefCell<KeepAlive>,
    ) -> Result<(), ConnError> {
        let mut out = BytesMut::with_capacity(16 * 1024);
        // A broker that stops reading our acks for this long is gone.
        let write_timeout = self.params.keep_alive.max(Duration::from_secs(10));
        loop {
            let action = keepalive.borrow_mut().poll(Instant::now().into_std());
            let stopping = match action {
                Action::Dead => return Err(ConnError::PingTimeout),
                Action::SendPing => {
                    Packet::PingReq
                        .write(&mut out, usize::MAX)
                        .map_err(ConnError::Protocol)?;
                    false
                }
                Action::WaitUntil(at) if out.is_empty() => {
                    tokio::select! {
                        biased;
                        _ = self.stop.cancelled() => true,
                        _ = self.pipeline.acks_ready() => false,
                        _ = tokio::time::sleep_until(at.into()) => continue,
                    }
                }
                Action::WaitUntil(_) => false,
            };
            for pkid in self.pipeline.take_acks() {
                PubAck::new(pkid)
                    .write(&mut out)
                    .map_err(ConnError::Protocol)?;
            }
            if stopping {
                Packet::Disconnect
                    .write(&mut out, usize::MAX)
                    .map_err(ConnError::Protocol)?;
            }
            if !out.is_empty() {
                tokio::time::timeout(write_timeout, async {
                    wr.write_all(&out).await?;
                    wr.flush().await
                })
                .await
                .map_err(|_| ConnError::Timeout("writing to the broker"))??;
                out.clear();
            }
            if stopping {
                let _ = wr.shutdown().await;
                return Ok(());
            }
        }
    }
}

/// One packet from the broker.
enum Frame {
    Publish {
        qos: QoS,
        pkid: u16,
        topic: String,
        payload: Bytes,
    },
    /// A PUBLISH over the size limit: its head, and its payload's full size.
    Oversize {
        qos: QoS,
        pkid: u16,
        topic: String,
        head: Bytes,
        total: usize,
    },
    Control(Packet),
}

/// Reads the next packet, reading the socket only when the buffer does not
/// hold a whole one.
async fn read_frame<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
    max_packet: usize,
) -> Result<Frame, ConnError> {
    let (byte1, header_len, remaining) = loop {
        match fixed_header(buf)? {
            Some(h) => break h,
            None => fill(rd, buf, 1).await?,
        }
    };
    let is_publish = byte1 >> 4 == 3;
    if !is_publish && remaining > MAX_CONTROL_PACKET {
        return Err(ConnError::Protocol(
            mqttbytes::Error::PayloadSizeLimitExceeded(remaining),
        ));
    }
    if is_publish && remaining > max_packet {
        return read_oversize(rd, buf, byte1, header_len, remaining).await;
    }
    let frame_len = header_len + remaining;
    while buf.len() < frame_len {
        fill(rd, buf, frame_len - buf.len()).await?;
    }
    if !is_publish {
        return Packet::read(buf, max_packet)
            .map(Frame::Control)
            .map_err(ConnError::Protocol);
    }
    let mut frame = buf.split_to(frame_len).freeze();
    frame.advance(header_len);
    let qos = publish_qos(byte1)?;
    let (topic, pkid) = publish_head(&mut frame, qos)?;
    Ok(Frame::Publish {
        qos,
        pkid,
        topic,
        payload: frame,
    })
}

/// `(byte1, fixed header length, remaining length)` once the buffer holds them.
fn fixed_header(buf: &[u8]) -> Result<Option<(u8, usize, usize)>, ConnError> {
    let Some(&byte1) = buf.first() else {
        return Ok(None);
    };
    let mut len = 0usize;
    for i in 0..4 {
        let Some(&b) = buf.get(1 + i) else {
            return Ok(None);
        };
        len |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(Some((byte1, 2 + i, len)));
        }
    }
    Err(ConnError::Protocol(
        mqttbytes::Error::MalformedRemainingLength,
    ))
}

fn publish_qos(byte1: u8) -> Result<QoS, ConnError> {
    mqttbytes::qos((byte1 & 0b0110) >> 1).map_err(ConnError::Protocol)
}

/// Topic and packet id of a PUBLISH, from the start of its variable header.
/// A topic that is not UTF-8 is kept lossily: the decoder refuses it and
/// the reject keeps the payload, where a parse error would break the
/// connection on every redelivery.
fn publish_head(frame: &mut Bytes, qos: QoS) -> Result<(String, u16), ConnError> {
    let short = || ConnError::Protocol(mqttbytes::Error::MalformedPacket);
    if frame.len() < 2 {
        return Err(short());
    }
    let topic_len = usize::from(frame.get_u16());
    if frame.len() < topic_len {
        return Err(short());
    }
    let topic_bytes = frame.split_to(topic_len);
    let topic = match std::str::from_utf8(&topic_bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(&topic_bytes).into_owned(),
    };
    let pkid = if qos == QoS::AtMostOnce {
        0
    } else {
        if frame.len() < 2 {
            return Err(short());
        }
        let id = frame.get_u16();
        if id == 0 {
            return Err(ConnError::Protocol(mqttbytes::Error::PacketIdZero));
        }
        id
    };
    Ok((topic, pkid))
}

/// An oversize PUBLISH: keeps its head (topic, packet id, the first
/// `OVERSIZE_KEEP` bytes of payload) and skips the rest as it arrives, so it
/// costs bounded memory and is acknowledged like any other reject.
async fn read_oversize<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
    byte1: u8,
    header_len: usize,
    remaining: usize,
) -> Result<Frame, ConnError> {
    let qos = publish_qos(byte1)?;
    // The variable header: 2 + topic (at most 65,535) + 2.
    let var_max = (2 + 65_535 + 2).min(remaining);
    while buf.len() < header_len + 2.min(remaining) {
        fill(rd, buf, 1).await?;
    }
    let topic_len = usize::from(u16::from_be_bytes([buf[header_len], buf[header_len + 1]]));
    let var_len = 2 + topic_len + if qos == QoS::AtMostOnce { 0 } else { 2 };
    if var_len > var_max {
        return Err(ConnError::Protocol(mqttbytes::Error::MalformedPacket));
    }
    let keep = (header_len + var_len + OVERSIZE_KEEP).min(header_len + remaining);
    while buf.len() < keep {
        fill(rd, buf, keep - buf.len()).await?;
    }
    let mut head = buf.split_to(keep).freeze();
    head.advance(header_len);
    let (topic, pkid) = publish_head(&mut head, qos)?;
    let total = remaining - var_len;
    // Skip the rest of the payload.
    let mut skip = header_len + remaining - keep;
    while skip > 0 {
        if buf.is_empty() {
            fill(rd, buf, 1).await?;
        }
        let n = skip.min(buf.len());
        buf.advance(n);
        skip -= n;
    }
    Ok(Frame::Oversize {
        qos,
        pkid,
        topic,
        head,
        total,
    })
}

/// The least room a read is given before a new chunk is taken.
const MIN_READ: usize = 4 * 1024;
/// A read smaller than this found the socket nearly dry: the broker is
/// sending a few messages at a time.
const SMALL_READ: usize = 4 * 1024;
/// How long the reader lets a trickle accumulate after a small read.
const COALESCE: Duration = Duration::from_millis(1);

/// Reads at least `want` more bytes (or what the socket has, in chunks).
///
/// A new chunk is taken only when the current one has too little room left:
/// every frame split off the buffer shares its chunk, which lives as long as
/// any message read into it is held (queued, or in a batch). Reserving a whole
/// chunk before every read, as this did, took a new 64 KiB allocation per read
/// while the old one was still shared, and a read brings a few KiB: at 10,000
/// fixes/s the queued messages pinned chunks mostly empty, hundreds of MiB for
/// a queue of a few MiB of messages (the jemalloc heap profile of the
/// 100,000-device city benchmark: 200 MiB allocated here and in use).
///
/// After a small read the reader waits [`COALESCE`] before going on, so that
/// the next read takes what arrived meanwhile in one go: at 20,000 messages/s
/// the broker's writes arrive a few messages each, and waking the connection's
/// thread for every one (5,000 times a second) cost a quarter of the service's
/// CPU in context switches. A message waits at most that millisecond more,
/// against the 50 ms a batch may wait to fill; acknowledgements and pings are
/// written by the other half meanwhile.
async fn fill<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
    want: usize,
) -> Result<(), ConnError> {
    if buf.capacity() - buf.len() < want.max(MIN_READ) {
        buf.reserve(want.clamp(READ_CHUNK, 4 * READ_CHUNK));
    }
    let mut got = 0;
    while got < want.min(1) {
        let n = rd.read_buf(buf).await?;
        if n == 0 {
            return Err(ConnError::Closed);
        }
        got += n;
    }
    if got < SMALL_READ {
        // The thread itself sleeps: a sleeping task would leave the runtime
        // in `epoll_wait`, woken by every segment that arrives all the same.
        // This runtime is the connection's own (`spawn_connection`).
        std::thread::sleep(COALESCE);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
