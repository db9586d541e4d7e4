//! Framing of what the broker sends, whatever the socket's chunking.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4::{Packet, Publish};
use tokio::io::{AsyncRead, ReadBuf};

use super::*;

/// Hands out its bytes `chunk` at a time, as a slow socket would.
struct Trickle {
    data: Vec<u8>,
    pos: usize,
    chunk: usize,
}

impl AsyncRead for Trickle {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = self
            .chunk
            .min(self.data.len() - self.pos)
            .min(buf.remaining());
        let start = self.pos;
        buf.put_slice(&self.data[start..start + n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

fn publish(topic: &str, qos: QoS, pkid: u16, payload: Vec<u8>) -> Vec<u8> {
    let mut p = Publish::new(topic, qos, payload);
    p.pkid = pkid;
    let mut out = BytesMut::new();
    Packet::Publish(p).write(&mut out, usize::MAX).unwrap();
    out.to_vec()
}

async fn frames(data: Vec<u8>, chunk: usize, max_packet: usize) -> Vec<Frame> {
    let mut rd = Trickle {
        data,
        pos: 0,
        chunk,
    };
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    loop {
        match read_frame(&mut rd, &mut buf, max_packet).await {
            Ok(f) => out.push(f),
            Err(ConnError::Closed) => return out,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
}

#[tokio::test]
async fn packets_split_anywhere_are_framed_whole() {
    let mut data = publish(
        "sweepwatch/v1/a/d/fix",
        QoS::AtLeastOnce,
        7,
        b"{\"x\":1}".to_vec(),
    );
    let mut ping = BytesMut::new();
    Packet::PingResp.write(&mut ping, usize::MAX).unwrap();
    data.extend_from_slice(&ping);
    data.extend(publish("t/q0", QoS::AtMostOnce, 0, vec![b'z'; 300]));
    for chunk in [1, 2, 3, 7, 64, 100_000] {
        let f = frames(data.clone(), chunk, 1 << 20).await;
        assert_eq!(f.len(), 3, "chunk {chunk}");
        match &f[0] {
            Frame::Publish {
                qos,
                pkid,
                topic,
                payload,
            } => {
                assert_eq!(
                    (*qos, *pkid, topic.as_str()),
                    (QoS::AtLeastOnce, 7, "sweepwatch/v1/a/d/fix")
                );
                assert_eq!(&payload[..], b"{\"x\":1}");
            }
            _ => panic!("not a publish"),
        }
        assert!(matches!(f[1], Frame::Control(Packet::PingResp)));
        assert!(
            matches!(&f[2], Frame::Publish { qos: QoS::AtMostOnce, payload, .. } if payload.len() == 300)
        );
    }
}

#[tokio::test]
async fn an_oversize_publish_keeps_its_head_and_the_stream_goes_on() {
    let big = vec![b'a'; 3 << 20];
    let mut data = publish("sweepwatch/v1/a/d/fixes", QoS::AtLeastOnce, 9, big);
    data.extend(publish(
        "sweepwatch/v1/a/d/fix",
        QoS::AtLeastOnce,
        10,
        b"next".to_vec(),
    ));
    for chunk in [1000, 65_536, 1 << 22] {
        let f = frames(data.clone(), chunk, 1 << 20).await;
        assert_eq!(f.len(), 2);
        match &f[0] {
            Frame::Oversize {
                pkid,
                topic,
                head,
                total,
                ..
            } => {
                assert_eq!(*pkid, 9, "acknowledged like any message");
                assert_eq!(topic, "sweepwatch/v1/a/d/fixes");
                assert_eq!(*total, 3 << 20);
                assert_eq!(head.len(), OVERSIZE_KEEP);
            }
            _ => panic!("not oversize"),
        }
        assert!(
            matches!(&f[1], Frame::Publish { pkid: 10, payload, .. } if &payload[..] == b"next")
        );
    }
}

#[tokio::test]
async fn a_topic_that_is_not_utf8_does_not_break_the_connection() {
    let mut data = publish("sweepwatch/v1/a/d/fix", QoS::AtLeastOnce, 3, b"{}".to_vec());
    // Replace the topic's 'a' (offset: 1 byte type, 1 length, 2 topic length, 14 'sweepwatch/v1/') by 0xff.
    data[4 + 14] = 0xff;
    let f = frames(data, 5, 1 << 20).await;
    assert!(matches!(&f[0], Frame::Publish { topic, pkid: 3, .. } if topic.contains('\u{FFFD}')));
}

#[tokio::test]
async fn garbage_is_a_protocol_error_not_a_panic() {
    let mut rd = Trickle {
        data: vec![0x30, 0xff, 0xff, 0xff, 0xff, 0x01],
        pos: 0,
        chunk: 2,
    };
    let mut buf = BytesMut::new();
    assert!(matches!(
        read_frame(&mut rd, &mut buf, 1 << 20).await,
        Err(ConnError::Protocol(_))
    ));
    // A control packet claiming megabytes.
    let mut rd = Trickle {
        data: vec![0x90, 0xff, 0xff, 0x7f],
        pos: 0,
        chunk: 4,
    };
    let mut buf = BytesMut::new();
    assert!(matches!(
        read_frame(&mut rd, &mut buf, 1 << 20).await,
        Err(ConnError::Protocol(_))
    ));
}

#[tokio::test]
async fn messages_read_a_little_at_a_time_share_their_chunks() {
    // 400 fixes of about 100 bytes (40 KB) arriving 300 bytes per read, all
    // held (as a queue holds them): they fit one 64 KiB chunk, so their
    // payloads lie one after the other in it, not one chunk per read.
    let data: Vec<u8> = (0..400u16)
        .flat_map(|i| publish("fleet/o/d/fix", QoS::AtLeastOnce, i + 1, vec![b'x'; 80]))
        .collect();
    let held = frames(data, 300, 1 << 20).await;
    assert_eq!(held.len(), 400);
    let payloads: Vec<&Bytes> = held
        .iter()
        .map(|f| match f {
            Frame::Publish { payload, .. } => payload,
            _ => panic!("not a publish"),
        })
        .collect();
    let span = (payloads[399].as_ptr() as usize).abs_diff(payloads[0].as_ptr() as usize);
    assert!(
        span < 64 * 1024,
        "400 small messages spread over {span} bytes of chunks"
    );
}
