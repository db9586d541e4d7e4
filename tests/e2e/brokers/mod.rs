//! The exactly-once suite against every broker sweepwatch supports:
//! Mosquitto, RabbitMQ 3.10 with its MQTT plugin, and NATS 2.9 with
//! JetStream and its MQTT listener, each a process of the test's own started
//! with the project's configuration (deploy/mosquitto, deploy/rabbitmq,
//! deploy/nats). The same scenarios run against each:
//!
//! - `ingest`: fixes from 20 devices, bad messages among them, a retained
//!   status published before the service first subscribed, and a device whose
//!   id has a dot;
//! - `burst`: 50,000 fixes from 500 devices, unpaced, while it runs;
//! - the chaos suite's two kill scenarios, with the broker as a parameter
//!   (against Mosquitto they run in `chaos`, under the same names):
//!   `chaos::backlog::sigkill_while_draining`, a backlog queued in the
//!   service's persistent session while it was stopped and a SIGKILL of the
//!   service while it drains it; `chaos::broker::run`, a SIGKILL of the
//!   broker while the service drains a backlog, a restart on the same data,
//!   more fixes after it, and whether a retained status survived.
//!
//! Fixes are published with `mosquitto_pub` (a client we did not write); every
//! fix must be stored exactly once and every bad message kept. Where a broker
//! behaves differently (a dotted device id, retained messages after a
//! SIGKILL), the test asserts what it does, so a change shows up: see
//! docs/OPERATIONS.md, "The broker".
//!
//! NATS redelivers what a dead connection left unacknowledged only when its
//! `ack_wait` (30 s) runs out, so its two kill tests take about 30 s, and
//! `outage` (NATS only: a 40 s database outage, redelivery to the live
//! service) about 45 s; a RabbitMQ node takes 5-15 s to boot. `refused`
//! (NATS only): a fourth filter refused makes the service not ready.
//!
//! `cargo nextest run --test e2e brokers::rabbitmq` runs one broker's set;
//! figures are printed with `--nocapture`.

mod burst;
mod ingest;
mod outage;
mod refused;

use std::process::{Output, Stdio};

use crate::helpers::unique;

/// One broker's tests: each scenario with `$kind`; with `kills`, also the
/// chaos suite's two kill scenarios (against Mosquitto they run in `chaos`).
macro_rules! suite {
    ($broker:ident, $kind:expr $(, $kills:ident)?) => {
        mod $broker {
            use crate::helpers::brokers::Kind;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn fixes_statuses_and_rejects_are_stored_exactly_once() {
                super::ingest::run($kind).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_burst_of_50k_fixes_from_500_devices_is_stored_exactly_once() {
                super::burst::run($kind).await
            }

            $(suite!(@$kills $kind);)?
        }
    };
    (@kills $kind:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn service_sigkill_while_draining_a_backlog_loses_nothing_and_stores_nothing_twice() {
            crate::chaos::backlog::sigkill_while_draining($kind).await
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn broker_sigkill_mid_drain_and_restart_loses_nothing_and_stores_nothing_twice() {
            crate::chaos::broker::run($kind).await
        }
    };
}

suite!(mosquitto, Kind::Mosquitto);
suite!(rabbitmq, Kind::RabbitMq, kills);
suite!(nats, Kind::Nats, kills);

/// Publishes one QoS 1 message with `mosquitto_pub` (retained if asked) and
/// returns how it went: a broker may refuse it.
async fn publish_one(port: u16, topic: &str, payload: &str, retain: bool) -> Output {
    let mut cmd = tokio::process::Command::new("mosquitto_pub");
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1"])
        .args(["-i", &unique("one-"), "-t", topic, "-m", payload])
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if retain {
        cmd.arg("-r");
    }
    cmd.output().await.expect("run mosquitto_pub")
}

/// What a new client (clean session, its own id) receives on subscribing to
/// `topic` within 5 s: the retained message, if the broker has one.
pub async fn retained(port: u16, topic: &str) -> Option<String> {
    let out = tokio::process::Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1"])
        .args([
            "-i",
            &unique("retained-"),
            "-t",
            topic,
            "-C",
            "1",
            "-W",
            "5",
        ])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run mosquitto_sub");
    // Exit status 27: the -W timeout, nothing retained.
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
