//! The broker-only backlog ceiling: how fast this Mosquitto hands a stored
//! backlog to one persistent-session subscriber that only counts (rumqttc, as the
//! simulator's counting subscriber) — the drain's own ceiling, with no publisher
//! competing for the CPU.

use std::time::{Duration, Instant};

use anyhow::Context;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS};
use tokio_util::sync::CancellationToken;

use crate::Bench;

/// Subscribes `bench-backlog-{pid}` with a persistent session and disconnects,
/// publishes `devices × per_device` fixes (org `backlog`), reconnects and counts
/// until every one has arrived: the messages per second received, from the
/// reconnect to the last message.
pub async fn backlog(b: &Bench, per_device: u64) -> anyhow::Result<f64> {
    let org = "backlog";
    let filter = format!("sweepwatch/v1/{org}/+/fix");
    let id = format!("bench-backlog-{}", std::process::id());
    let (client, mut events) = connect(&b.mqtt, &id)?;
    client.subscribe(&filter, QoS::AtLeastOnce).await?;
    until(&mut events, |e| {
        matches!(e, Event::Incoming(Packet::SubAck(_)))
    })
    .await?;
    client.disconnect().await?;
    until(&mut events, |e| {
        matches!(e, Event::Outgoing(Outgoing::Disconnect))
    })
    .await?;
    drop(events);

    let extras = simulator::LoadExtras {
        fixes_per_device: Some(per_device),
        counters: None,
        track: None,
    };
    let load = b.load(org, b.a.rate, b.a.duration);
    let report = simulator::run_load_with(&load, &extras, CancellationToken::new()).await?;
    let queued = report.acknowledged;
    anyhow::ensure!(
        queued == u64::from(b.a.devices) * per_device,
        "backlog ceiling: only {queued} of {} acknowledged",
        u64::from(b.a.devices) * per_device
    );
    println!(
        "backlog ceiling: {queued} fixes queued for an offline subscriber in {:.1} s ({:.0}/s)",
        report.elapsed.as_secs_f64(),
        report.rate
    );

    let start = Instant::now();
    let (client, mut events) = connect(&b.mqtt, &id)?;
    let mut received = 0u64;
    let deadline = start + Duration::from_secs(600);
    while received < queued {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = tokio::time::timeout(left, events.poll())
            .await
            .with_context(|| format!("backlog ceiling: {received} of {queued} after 600 s"))?
            .context("backlog ceiling: subscriber connection")?;
        if let Event::Incoming(Packet::Publish(_)) = event {
            received += 1;
        }
    }
    let elapsed = start.elapsed();
    client.disconnect().await?;
    let _ = until(&mut events, |e| {
        matches!(e, Event::Outgoing(Outgoing::Disconnect))
    })
    .await;
    let rate = queued as f64 / elapsed.as_secs_f64();
    println!(
        "backlog ceiling: the subscriber received all {queued} in {:.1} s after reconnecting ({rate:.0}/s)",
        elapsed.as_secs_f64()
    );
    Ok(rate)
}

fn connect(url: &str, id: &str) -> anyhow::Result<(AsyncClient, EventLoop)> {
    let addr = url
        .strip_prefix("mqtt://")
        .with_context(|| format!("{url}: expected mqtt://host:port"))?;
    let (host, port) = addr
        .rsplit_once(':')
        .with_context(|| format!("{url}: no port"))?;
    let mut o = MqttOptions::new(id, host, port.parse()?);
    o.set_clean_session(false);
    o.set_keep_alive(Duration::from_secs(30));
    Ok(AsyncClient::new(o, 16))
}

/// Polls until an event matches (10 s at most).
async fn until(events: &mut EventLoop, want: impl Fn(&Event) -> bool) -> anyhow::Result<()> {
    let within = Duration::from_secs(10);
    tokio::time::timeout(within, async {
        loop {
            if want(&events.poll().await?) {
                return Ok::<_, rumqttc::ConnectionError>(());
            }
        }
    })
    .await
    .context("backlog ceiling: the broker did not answer within 10 s")??;
    Ok(())
}
