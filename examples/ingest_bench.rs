//! The ingest load benchmark: the figures for docs/PERFORMANCE.md (Ingest).
//!
//! ```text
//! cargo build --release && cargo run --release --example ingest_bench -- [--mode steady|drain|outage]
//!     [--rate N] [--duration S] [--devices 10000] [--connections 4]
//!     [--ceiling-duration 30] [--ceiling-rate 200000]
//!     [--fixes-per-device 100] [--no-backlog-ceiling]        (drain)
//!     [--cut-at 60] [--outage 120]                           (outage)
//!     [--scenario scenarios/humen.json]                      (steady)
//!     [--catch-up-timeout 600] [--max-load 1.5] [--quiet-wait 1200] [--log-dir DIR]
//! ```
//!
//! On this machine, with everything on it: waits until the 1-minute load average is
//! at most `--max-load` (polling every 30 s, at most `--quiet-wait` seconds), starts a
//! Mosquitto with the project's configuration on a free port and a fresh database,
//! then runs one mode against `target/release/sweepwatch serve` (its log, at `info`,
//! goes to `--log-dir`):
//! - **steady** (default; `--rate 40000 --duration 60`): the broker-only ceiling (the
//!   simulator's load with a subscriber that only counts, org `ceiling`, which the
//!   service does not subscribe to), then the same load paced at `--rate` to the
//!   service (org `bench`): fixes/s committed (steady state and overall),
//!   publish-to-commit p50/p99 (the service's `sweepwatch_ingest_lag_seconds`: a fix's
//!   `ts` is its publish time), peak RSS, loss, and CPU microseconds per committed
//!   fix of the service, PostgreSQL, the broker, the publisher and the machine.
//!   `--scenario FILE` first imports a scenario into the bench org with its devices
//!   renamed to the load's, so the engine works on their fixes. See `steady.rs`.
//! - **drain** (`--rate 200000` is the backlog's publish rate): the ceiling, then the
//!   broker-only *backlog* ceiling (a persistent subscriber reconnecting to
//!   `devices × fixes-per-device` queued fixes); the service started once (session and
//!   subscription exist) and stopped with SIGTERM; 1,000,000 fixes (10,000 devices ×
//!   100) published and acknowledged by the broker; the service started again and timed
//!   until it has committed them all: drain rate, peak RSS, read pauses, loss,
//!   duplicates, every device's count. See `drain.rs`.
//! - **outage** (`--rate 20000 --duration 240`): the service reaches PostgreSQL through
//!   a TCP proxy; the load is paced at `--rate`; at `--cut-at` s the proxy drops its
//!   connections and refuses new ones for `--outage` s, then forwards again: the time
//!   from the restore until the service has caught up, the committed rate meanwhile,
//!   `/readyz` during the outage, peak RSS, loss, duplicates. See `outage.rs`.
//!
//! Every mode ends with the checks of `verify.rs` on the database, prints where the
//! CPU went during the measurement (per process name, from `/proc`), and fails if a
//! fix was lost.

mod common;

#[path = "ingest_bench/ceiling.rs"]
mod ceiling;
#[path = "ingest_bench/drain.rs"]
mod drain;
#[path = "ingest_bench/outage.rs"]
mod outage;
#[path = "ingest_bench/steady.rs"]
mod steady;
#[path = "ingest_bench/verify.rs"]
mod verify;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;

use common::machine::{load_average, wait_for_quiet, wait_idle};
use common::{cpu_model, num_cpus, start_broker};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Steady,
    Drain,
    Outage,
}

pub struct Args {
    pub mode: Mode,
    /// Target fixes/s (steady, outage) or the backlog's publish rate (drain).
    pub rate: u32,
    /// Seconds of publishing (steady, outage).
    pub duration: f64,
    pub devices: u32,
    pub connections: u32,
    /// 0 skips the broker-only ceiling.
    pub ceiling_duration: f64,
    pub ceiling_rate: u32,
    pub fixes_per_device: u64,
    pub backlog_ceiling: bool,
    pub cut_at: f64,
    pub outage: f64,
    pub catch_up_timeout: f64,
    pub max_load: f64,
    pub quiet_wait: f64,
    pub log_dir: PathBuf,
    /// A scenario imported into the bench org before the steady load (see `steady.rs`).
    pub scenario: Option<PathBuf>,
}

fn args() -> anyhow::Result<Args> {
    let mut mode = Mode::Steady;
    let mut rate = None;
    let mut duration = None;
    let mut a = Args {
        mode,
        rate: 0,
        duration: 0.0,
        devices: 10_000,
        connections: 4,
        ceiling_duration: 30.0,
        ceiling_rate: 200_000,
        fixes_per_device: 100,
        backlog_ceiling: true,
        cut_at: 60.0,
        outage: 120.0,
        catch_up_timeout: 600.0,
        max_load: 1.5,
        quiet_wait: 1200.0,
        scenario: None,
        log_dir: std::env::temp_dir().join(format!("sweepwatch-bench-{}", std::process::id())),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut v = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--mode" => {
                mode = match v()?.as_str() {
                    "steady" => Mode::Steady,
                    "drain" => Mode::Drain,
                    "outage" => Mode::Outage,
                    m => bail!("--mode {m}: expected steady, drain or outage"),
                }
            }
            "--rate" => rate = Some(v()?.parse()?),
            "--duration" => duration = Some(v()?.parse()?),
            "--devices" => a.devices = v()?.parse()?,
            "--connections" => a.connections = v()?.parse()?,
            "--ceiling-duration" => a.ceiling_duration = v()?.parse()?,
            "--ceiling-rate" => a.ceiling_rate = v()?.parse()?,
            "--fixes-per-device" => a.fixes_per_device = v()?.parse()?,
            "--no-backlog-ceiling" => a.backlog_ceiling = false,
            "--cut-at" => a.cut_at = v()?.parse()?,
            "--outage" => a.outage = v()?.parse()?,
            "--catch-up-timeout" => a.catch_up_timeout = v()?.parse()?,
            "--max-load" => a.max_load = v()?.parse()?,
            "--quiet-wait" => a.quiet_wait = v()?.parse()?,
            "--log-dir" => a.log_dir = v()?.into(),
            "--scenario" => a.scenario = Some(v()?.into()),
            other => bail!("unknown argument {other}"),
        }
    }
    a.mode = mode;
    let (default_rate, default_duration) = match mode {
        Mode::Steady => (40_000, 60.0),
        Mode::Drain => (200_000, 600.0),
        Mode::Outage => (20_000, 240.0),
    };
    a.rate = rate.unwrap_or(default_rate);
    a.duration = duration.unwrap_or(default_duration);
    if mode == Mode::Outage {
        anyhow::ensure!(
            a.cut_at + a.outage < a.duration,
            "the outage (--cut-at {} + --outage {}) must end before publishing does (--duration {})",
            a.cut_at,
            a.outage,
            a.duration
        );
    }
    Ok(a)
}

/// What every mode runs against: the release binary, a broker and a fresh database.
pub struct Bench {
    pub a: Args,
    pub bin: String,
    pub mqtt: String,
    pub broker_pid: Option<u32>,
    pub db_name: String,
    pub db_url: String,
    _broker: testkit::Mosquitto,
    _db: testkit::TestDb,
}

impl Bench {
    /// The simulator's load: `devices` devices of `org` over `connections` QoS 1
    /// connections at `rate` fixes/s for `secs` seconds.
    pub fn load(&self, org: &str, rate: u32, secs: f64) -> simulator::LoadOptions {
        simulator::LoadOptions {
            broker: simulator::BrokerOptions {
                url: self.mqtt.clone(),
                username: None,
                password: None,
                client_id_prefix: format!("bench-{org}"),
            },
            org: org.into(),
            devices: self.a.devices,
            rate,
            duration: Duration::from_secs_f64(secs),
            connections: self.a.connections,
            qos: 1,
            progress: false,
            seed: 7,
        }
    }

    /// What tells this run's processes apart from other work's (see
    /// [`common::machine::cpu_snapshot`]): the release binary, the broker's
    /// directory, the database.
    pub fn ours(&self) -> Vec<String> {
        vec![
            self.bin.clone(),
            common::broker_dir_name(),
            self.db_name.clone(),
        ]
    }

    /// CPU times now, this run's processes labelled (see [`Bench::ours`]).
    pub fn cpu(&self) -> common::machine::CpuSnapshot {
        common::machine::cpu_snapshot(&self.ours())
    }

    /// The service's log file for `name` (one per started process).
    pub fn log(&self, name: &str) -> PathBuf {
        self.a.log_dir.join(format!("{name}.log"))
    }

    /// The broker-only ceiling: returns what the counting subscriber received per
    /// second, or `None` with `--ceiling-duration 0`.
    pub async fn live_ceiling(&self) -> anyhow::Result<Option<f64>> {
        let a = &self.a;
        if a.ceiling_duration <= 0.0 {
            return Ok(None);
        }
        let ceiling = simulator::run_broker_ceiling(
            &self.load("ceiling", a.ceiling_rate, a.ceiling_duration),
            CancellationToken::new(),
        )
        .await?;
        println!(
            "broker-only ceiling ({:.0} s, publisher target {}/s): subscriber received {} of {} ({:.0}/s)",
            a.ceiling_duration,
            a.ceiling_rate,
            ceiling.received,
            ceiling.load.published,
            ceiling.received_rate
        );
        self.settle().await;
        Ok(Some(ceiling.received_rate))
    }

    /// Waits (at most 2 minutes) until the broker is idle: on 2 cores it can
    /// still be reading a phase's last acknowledgements a minute after the
    /// subscriber has everything, and that would be charged to the next phase.
    pub async fn settle(&self) {
        if let Some(pid) = self.broker_pid {
            let waited = wait_idle(pid, 0.05, Duration::from_secs(120)).await;
            if waited > Duration::from_secs(2) {
                println!(
                    "(waited {:.0} s for the broker to become idle)",
                    waited.as_secs_f64()
                );
            }
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    let bin = common::release_bin()?;
    std::fs::create_dir_all(&a.log_dir)
        .with_context(|| format!("while creating {}", a.log_dir.display()))?;
    println!("machine: {} cores, {}", num_cpus(), cpu_model());
    let load = if a.quiet_wait > 0.0 {
        wait_for_quiet(a.max_load, Duration::from_secs_f64(a.quiet_wait)).await
    } else {
        load_average().unwrap_or_default()
    };
    println!(
        "load average at start: {:.2} {:.2} {:.2}",
        load[0], load[1], load[2]
    );
    let (mqtt, broker) = start_broker()?;
    let db = testkit::TestDb::create_with_prefix("sweepwatch_bench_").await;
    let bench = Bench {
        bin,
        broker_pid: broker.pid(),
        mqtt,
        db_name: db.name.clone(),
        db_url: db.url.clone(),
        _broker: broker,
        _db: db,
        a,
    };
    println!(
        "mode {:?}; broker {}; {} devices over {} connections, QoS 1; service log in {}",
        bench.a.mode,
        bench.mqtt,
        bench.a.devices,
        bench.a.connections,
        bench.a.log_dir.display()
    );
    let result = match bench.a.mode {
        Mode::Steady => steady::run(&bench).await,
        Mode::Drain => drain::run(&bench).await,
        Mode::Outage => outage::run(&bench).await,
    };
    if let Some(l) = load_average() {
        println!(
            "load average at the end: {:.2} {:.2} {:.2}",
            l[0], l[1], l[2]
        );
    }
    result
}
