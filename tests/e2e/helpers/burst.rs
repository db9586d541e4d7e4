//! A burst publisher that is not ours: Mosquitto's own C client.
//!
//! `mosquitto_pub -l` publishes each line of its stdin as one message on one
//! topic, and exits 0 only after the broker acknowledged its last QoS 1
//! message (the broker acknowledges a connection's messages in order, so that
//! is all of them). One process per topic (device), many at once: a single
//! Mosquitto takes about 30,000 messages/s that way on a 2-core machine, more
//! than a debug build of the service ingests, so the broker's queue for the
//! service grows: a real backlog burst.
//!
//! Being a client we did not write, it cannot share a bug with the service's
//! MQTT client (both would be rumqttc otherwise).

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::unique;

/// Processes publishing at once: enough to keep the single-threaded broker
/// busy, few enough that 2 cores are not spent on process switching.
pub const CONCURRENCY: usize = 50;

/// What one `mosquitto_pub` process publishes: each line a message, on one topic.
#[derive(Debug, Clone)]
pub struct Job {
    pub topic: String,
    pub lines: Vec<String>,
    pub retain: bool,
}

impl Job {
    pub fn new(topic: impl Into<String>, lines: Vec<String>) -> Self {
        Self {
            topic: topic.into(),
            lines,
            retain: false,
        }
    }
}

/// What a burst did.
#[derive(Debug, Clone, Copy)]
pub struct Burst {
    /// Messages the broker acknowledged (every line of every job).
    pub messages: u64,
    pub elapsed: Duration,
}

impl Burst {
    pub fn rate(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64().max(1e-3)
    }
}

impl std::fmt::Display for Burst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} messages in {:.1} s ({:.0}/s)",
            self.messages,
            self.elapsed.as_secs_f64(),
            self.rate()
        )
    }
}

/// Runs the jobs, [`CONCURRENCY`] processes at a time, in the order given
/// (a job starts when an earlier one finished), with QoS 1, and panics unless
/// every process got every message acknowledged.
pub async fn publish(port: u16, jobs: Vec<Job>) -> Burst {
    publish_with(port, jobs, CONCURRENCY).await
}

pub async fn publish_with(port: u16, jobs: Vec<Job>, concurrency: usize) -> Burst {
    let started = Instant::now();
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut running = JoinSet::new();
    let mut messages = 0u64;
    for job in jobs {
        messages += job.lines.len() as u64;
        let slot = slots.clone().acquire_owned().await.unwrap();
        running.spawn(async move {
            run(port, &job).await;
            drop(slot);
        });
        // Surface a failed process now, not after the whole burst.
        while let Some(done) = running.try_join_next() {
            done.unwrap();
        }
    }
    while let Some(done) = running.join_next().await {
        done.unwrap();
    }
    Burst {
        messages,
        elapsed: started.elapsed(),
    }
}

async fn run(port: u16, job: &Job) {
    assert!(
        job.lines.iter().all(|l| !l.contains('\n') && !l.is_empty()),
        "mosquitto_pub -l sends one message per non-empty line"
    );
    let mut cmd = Command::new("mosquitto_pub");
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1"])
        // Client-side in-flight window (libmosquitto's default is 20).
        .args([
            "-M",
            "1000",
            "-i",
            &unique("burst-"),
            "-t",
            &job.topic,
            "-l",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if job.retain {
        cmd.arg("-r");
    }
    let mut child = cmd
        .spawn()
        .expect("run mosquitto_pub (apt-get install mosquitto-clients)");
    let mut input = job.lines.join("\n");
    input.push('\n');
    let mut stdin = child.stdin.take().unwrap();
    let write = async move {
        stdin.write_all(input.as_bytes()).await?;
        stdin.shutdown().await
    };
    let (written, output) = tokio::join!(write, child.wait_with_output());
    let output = output.expect("wait for mosquitto_pub");
    assert!(
        written.is_ok() && output.status.success(),
        "mosquitto_pub on {} ({} lines) failed: {:?}, {:?}: {}",
        job.topic,
        job.lines.len(),
        written.err(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}
