//! A device-side MQTT client: publishes with QoS 1 and counts the broker's PUBACKs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use super::{eventually, unique};

pub struct Publisher {
    client: AsyncClient,
    acked: Arc<AtomicU64>,
    published: u64,
}

impl Publisher {
    pub async fn connect(port: u16) -> Self {
        let mut opts = MqttOptions::new(unique("pub-"), "127.0.0.1", port);
        opts.set_keep_alive(Duration::from_secs(30))
            .set_inflight(1000)
            .set_max_packet_size(2 * 1024 * 1024, 2 * 1024 * 1024);
        let (client, mut eventloop) = AsyncClient::new(opts, 10_000);
        let acked = Arc::new(AtomicU64::new(0));
        let counter = acked.clone();
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        Self {
            client,
            acked,
            published: 0,
        }
    }

    pub async fn publish(&mut self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .expect("queue publish");
        self.published += 1;
    }

    pub async fn publish_retained(&mut self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, true, payload)
            .await
            .expect("queue publish");
        self.published += 1;
    }

    /// Waits until the broker acknowledged everything published so far.
    pub async fn flush(&self) {
        let want = self.published;
        let acked = self.acked.clone();
        eventually(
            Duration::from_secs(60),
            "the broker to acknowledge every publish",
            || {
                let acked = acked.clone();
                async move { (acked.load(Ordering::SeqCst) >= want).then_some(()) }
            },
        )
        .await;
    }
}

/// A contract fix as JSON.
pub fn fix_json(ts_ms: i64, lat: f64, lon: f64, seq: u64) -> String {
    format!(
        r#"{{"ts":{ts_ms},"lat":{lat},"lon":{lon},"speed":12.5,"heading":270,"acc":4.0,"work":true,"sos":false,"batt":87,"seq":{seq}}}"#
    )
}

/// Now, in epoch milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
