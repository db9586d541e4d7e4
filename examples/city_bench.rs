//! A city on one instance (issue 17): the figures for docs/PERFORMANCE.md (A city
//! of 100,000 devices).
//!
//! ```text
//! cargo build --release --bin sweepwatch --example city_bench &&
//!   target/release/examples/city_bench --devices 100000 --interval 10 --duration 600
//!     --routes 2000 --beats 2000 --streams 50 [--district-streams 0] [--poll-every 5]
//!     [--connections 4] [--catch-up-timeout 300] [--log-dir DIR]
//! ```
//!
//! 1. A fresh database, `sweepwatch migrate`, and a generated scenario
//!    (`city_bench/city.rs`) imported with `sweepwatch import`: `--beats` square
//!    beats (300 m, 50 to a row), `--routes` street routes (1.2 km polylines over
//!    four beats), one shift from the start of the run to three hours after, and
//!    `--devices` devices `load-000001`… (a fifth sweepers and a tenth washers on
//!    routes, the rest workers walking beats), each assigned for that shift.
//! 2. A Mosquitto with the project's configuration and the release `sweepwatch
//!    serve` (org `city`, one viewer token, no rate limit).
//! 3. `--streams` clients on `GET /api/v1/stream` (the first `--district-streams`
//!    of them filtered to one district each, the rest the whole org), timing every
//!    `position` event from its fix's `ts` (the publish time) to its arrival.
//! 4. The simulator's load mode publishes one fix per device every `--interval`
//!    seconds (`devices / interval` fixes/s, QoS 1) for `--duration` seconds, each
//!    device on its route or inside its beat (a `simulator::load::fleet::Track`),
//!    so the engines check coverage and areas for every fix; meanwhile
//!    `GET /api/v1/positions` (every device) is timed every `--poll-every` seconds
//!    and the service's RSS sampled every second.
//! 5. When every acknowledged fix is committed: the service's peak RSS
//!    (`VmHWM`), the engines' bytes per device (`sweepwatch_engine_bytes` /
//!    `sweepwatch_engine_devices`), positions p50/p99, stream delivery p99,
//!    publish-to-commit p99 (`sweepwatch_ingest_lag_seconds`) and BEGIN..COMMIT
//!    p99 (`sweepwatch_db_batch_seconds`), CPU per process, load average; then
//!    every published fix is checked to be stored exactly once (each device's
//!    `seq` exactly 1..n, the count equal to what the broker acknowledged).
//!
//! Publisher, broker, PostgreSQL, service and stream clients share the machine.

mod common;

#[path = "city_bench/city.rs"]
mod city;
#[path = "city_bench/clients.rs"]
mod clients;
#[path = "city_bench/run.rs"]
mod run;
#[path = "ingest_bench/verify.rs"]
mod verify;

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

use common::machine::load_average;
use common::{Guard, cpu_model, num_cpus, start_broker};

pub const TOKEN: &str = "city-bench-token";

pub struct Args {
    pub size: city::Size,
    pub interval: u32,
    pub duration: f64,
    pub streams: usize,
    pub district_streams: usize,
    pub poll_every: f64,
    pub connections: u32,
    pub catch_up_timeout: f64,
    pub log_dir: PathBuf,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        size: city::Size {
            devices: 100_000,
            routes: 2_000,
            beats: 2_000,
        },
        interval: 10,
        duration: 600.0,
        streams: 50,
        district_streams: 0,
        poll_every: 5.0,
        connections: 4,
        catch_up_timeout: 300.0,
        log_dir: std::env::temp_dir().join(format!("sweepwatch-bench-{}", std::process::id())),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut v = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--devices" => a.size.devices = v()?.parse()?,
            "--routes" => a.size.routes = v()?.parse()?,
            "--beats" => a.size.beats = v()?.parse()?,
            "--interval" => a.interval = v()?.parse()?,
            "--duration" => a.duration = v()?.parse()?,
            "--streams" => a.streams = v()?.parse()?,
            "--district-streams" => a.district_streams = v()?.parse()?,
            "--poll-every" => a.poll_every = v()?.parse()?,
            "--connections" => a.connections = v()?.parse()?,
            "--catch-up-timeout" => a.catch_up_timeout = v()?.parse()?,
            "--log-dir" => a.log_dir = v()?.into(),
            other => bail!("unknown argument {other}"),
        }
    }
    anyhow::ensure!(
        a.size.routes > 0 && a.size.beats > 0,
        "--routes, --beats: at least 1"
    );
    anyhow::ensure!(
        a.interval > 0 && a.size.devices >= a.interval,
        "--interval: at least 1 s, and at most --devices"
    );
    anyhow::ensure!(
        a.district_streams <= a.streams,
        "--district-streams: at most --streams"
    );
    Ok(a)
}

/// What the run works against: the release binary, a broker, a fresh database.
pub struct Bench {
    pub a: Args,
    pub bin: String,
    pub mqtt: String,
    pub db_name: String,
    pub db_url: String,
    _broker: testkit::Mosquitto,
    _db: Guard,
}

impl Bench {
    /// What tells this run's processes apart from other work's.
    pub fn ours(&self) -> Vec<String> {
        vec![
            self.bin.clone(),
            format!("sweepwatch-bench-{}", std::process::id()),
            self.db_name.clone(),
        ]
    }

    /// `sweepwatch <args>` on the run's database.
    pub fn sweepwatch(&self, args: &[&str]) -> anyhow::Result<()> {
        common::sweepwatch_cli(&self.bin, &self.db_url, args)
    }
}

/// `uptime`'s line (who else is busy), for the record.
pub fn uptime() -> String {
    Command::new("uptime")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|e| format!("uptime: {e}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    let bin = common::release_bin()?;
    std::fs::create_dir_all(&a.log_dir)
        .with_context(|| format!("while creating {}", a.log_dir.display()))?;
    println!("machine: {} cores, {}", num_cpus(), cpu_model());
    println!("before: {}", uptime());
    let (mqtt, broker) = start_broker()?;
    let db_name = format!("sweepwatch_city_{}", std::process::id());
    let db_url = format!("postgres://postgres@127.0.0.1:5432/{db_name}");
    store::create_database_if_missing(&db_url.parse()?).await?;
    let bench = Bench {
        bin,
        mqtt,
        db_name: db_name.clone(),
        db_url,
        _broker: broker,
        _db: Guard::Database(db_name),
        a,
    };
    let result = run::run(&bench).await;
    // The broker (and its queue file, gigabytes after a city run) goes with the bench.
    drop(bench);
    if let Some(l) = load_average() {
        println!(
            "load average at the end: {:.2} {:.2} {:.2}",
            l[0], l[1], l[2]
        );
    }
    println!("after: {}", uptime());
    result
}
