//! The inbound queue between the event loop and the batcher.
//!
//! **Bounded by back-pressure, not by the broker.** MQTT caps unacknowledged
//! QoS 1 messages per connection at 65,535 packet ids, and the project's
//! Mosquitto configuration asks for 40,000 in flight; but Mosquitto 2.0.11 (the
//! Debian 12 package) stops enforcing its in-flight limit once acknowledgements
//! start arriving (measured: it held 40,000 unacknowledged messages, then sent
//! 262,470 after the first 10,000 acks). So the event loop bounds the queue
//! itself: above [`HIGH_WATER`] it stops reading from the socket until the
//! batcher has drained the queue below [`LOW_WATER`]; TCP then holds the
//! broker back, and the broker keeps the rest in its queue for our session.
//!
//! After a reconnect the broker redelivers every unacknowledged message, so the
//! copies from the old connection still waiting here are useless (their acks
//! would be dropped anyway): the event loop purges them on every CONNACK.
//!
//! If a QoS 1 message still finds the queue full, the event loop drops the
//! connection instead of the message: nothing unstored is ever acknowledged, so
//! the broker keeps it and redelivers it. Only QoS 0 messages (no delivery
//! promise) are ever dropped, and counted.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use rumqttc::QoS;
use tokio::sync::Notify;

use crate::mqtt::Inbound;

/// Stop reading from the broker at this many queued messages...
pub const HIGH_WATER: usize = 65_535;
/// ...and read again below this many.
pub const LOW_WATER: usize = 32_768;
/// Hard limit: the high-water mark plus room for what rumqttc already read
/// from the socket when reading stopped, and for QoS 0 bursts.
pub const CAPACITY: usize = 2 * HIGH_WATER + 4_096;

#[derive(Default)]
pub struct InboundQueue {
    items: Mutex<VecDeque<Inbound>>,
    notify: Notify,
    closed: AtomicBool,
}

impl InboundQueue {
    /// Adds a message; gives it back when the queue is full.
    pub fn push(&self, m: Inbound) -> Result<(), Inbound> {
        let mut q = self.items.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() >= CAPACITY {
            return Err(m);
        }
        q.push_back(m);
        drop(q);
        self.notify.notify_one();
        Ok(())
    }

    /// Drops the QoS 1/2 messages of connections before `epoch` (the broker
    /// redelivers them on the current one). Returns how many.
    pub fn purge_before(&self, epoch: u64) -> usize {
        let mut q = self.items.lock().unwrap_or_else(|e| e.into_inner());
        let before = q.len();
        q.retain(|m| m.ack.qos == QoS::AtMostOnce || m.ack.epoch >= epoch);
        before - q.len()
    }

    /// No more pushes; `pop` drains what is left, then returns `None`.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.notify.notify_one();
    }

    /// Waits for the next message; `None` once closed and empty.
    pub async fn pop(&self) -> Option<Inbound> {
        loop {
            let notified = self.notify.notified();
            {
                let mut q = self.items.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(m) = q.pop_front() {
                    return Some(m);
                }
                if self.closed.load(Ordering::Acquire) {
                    return None;
                }
            }
            notified.await;
        }
    }

    pub fn len(&self) -> usize {
        self.items.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::AckToken;

    fn msg(epoch: u64, qos: QoS) -> Inbound {
        Inbound {
            topic: "t".into(),
            payload: bytes::Bytes::new(),
            ack: AckToken {
                qos,
                pkid: 1,
                epoch,
            },
            received_at: chrono::Utc::now(),
        }
    }

    #[tokio::test]
    async fn purge_keeps_the_current_connection_and_qos0() {
        let q = InboundQueue::default();
        q.push(msg(1, QoS::AtLeastOnce)).unwrap();
        q.push(msg(1, QoS::AtMostOnce)).unwrap();
        q.push(msg(2, QoS::AtLeastOnce)).unwrap();
        assert_eq!(q.purge_before(2), 1);
        assert_eq!(q.len(), 2);
        q.close();
        assert_eq!(q.pop().await.map(|m| m.ack.qos), Some(QoS::AtMostOnce));
        assert_eq!(q.pop().await.map(|m| m.ack.epoch), Some(2));
        assert!(q.pop().await.is_none());
    }

    #[tokio::test]
    async fn full_queue_gives_the_message_back() {
        let q = InboundQueue::default();
        for _ in 0..CAPACITY {
            q.push(msg(1, QoS::AtMostOnce)).unwrap();
        }
        assert!(q.push(msg(1, QoS::AtMostOnce)).is_err());
    }

    #[tokio::test]
    async fn pop_waits_for_a_push() {
        let q = std::sync::Arc::new(InboundQueue::default());
        let q2 = q.clone();
        let waiter = tokio::spawn(async move { q2.pop().await.map(|m| m.ack.epoch) });
        tokio::task::yield_now().await;
        q.push(msg(7, QoS::AtLeastOnce)).unwrap();
        assert_eq!(waiter.await.unwrap(), Some(7));
    }
}
