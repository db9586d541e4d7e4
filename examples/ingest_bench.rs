//! The ingest load benchmark: the figures for docs/PERFORMANCE.md.
//!
//! ```text
//! cargo build --release && cargo run --release --example ingest_bench -- [--rate 40000] [--duration 60]
//!     [--devices 10000] [--connections 4] [--ceiling-duration 30] [--ceiling-rate 200000]
//! ```
//!
//! On this machine, with everything on it: starts a Mosquitto with the project's
//! configuration on a free port and a fresh database, then
//! 1. measures the broker-only ceiling: the simulator's load with a subscriber
//!    that only counts (org `ceiling`, which the service does not subscribe to);
//! 2. starts `target/release/sweepwatch serve` and publishes the same load to it
//!    (org `bench`), sampling committed fixes every second;
//! 3. waits until every acknowledged publish is in `fixes`, and reports fixes/s
//!    committed (steady state and overall), publish-to-commit p50/p99 (from the
//!    service's `sweepwatch_ingest_lag_seconds` histogram: a fix's `ts` is its
//!    publish time), the service's peak RSS, and the loss (must be 0).

mod common;

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;

use common::{Guard, cpu_model, num_cpus, start_broker, start_serve, wait_ready};

struct Args {
    rate: u32,
    duration: f64,
    devices: u32,
    connections: u32,
    ceiling_duration: f64,
    ceiling_rate: u32,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        rate: 40_000,
        duration: 60.0,
        devices: 10_000,
        connections: 4,
        ceiling_duration: 30.0,
        ceiling_rate: 200_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut v = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--rate" => a.rate = v()?.parse()?,
            "--duration" => a.duration = v()?.parse()?,
            "--devices" => a.devices = v()?.parse()?,
            "--connections" => a.connections = v()?.parse()?,
            "--ceiling-duration" => a.ceiling_duration = v()?.parse()?,
            "--ceiling-rate" => a.ceiling_rate = v()?.parse()?,
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(a)
}

fn load(url: &str, org: &str, a: &Args, rate: u32, secs: f64) -> simulator::LoadOptions {
    simulator::LoadOptions {
        broker: simulator::BrokerOptions {
            url: url.into(),
            username: None,
            password: None,
            client_id_prefix: format!("bench-{org}"),
        },
        org: org.into(),
        devices: a.devices,
        rate,
        duration: Duration::from_secs_f64(secs),
        connections: a.connections,
        qos: 1,
        progress: false,
        seed: 7,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    let root = env!("CARGO_MANIFEST_DIR");
    let bin = format!("{root}/target/release/sweepwatch");
    anyhow::ensure!(
        std::path::Path::new(&bin).exists(),
        "build first: cargo build --release"
    );
    let (mqtt, _broker) = start_broker()?;
    let db_name = format!("sweepwatch_bench_{}", std::process::id());
    let db_url = format!("postgres://postgres@127.0.0.1:5432/{db_name}");
    store::create_database_if_missing(&db_url.parse()?).await?;
    let _db = Guard::Database(db_name);

    println!("machine: {} cores, {}", num_cpus(), cpu_model());
    println!(
        "broker {mqtt}; load: {} devices, {} fixes/s target, {} connections, QoS 1",
        a.devices, a.rate, a.connections
    );

    // 1. Broker-only ceiling.
    let ceiling = simulator::run_broker_ceiling(
        &load(&mqtt, "ceiling", &a, a.ceiling_rate, a.ceiling_duration),
        CancellationToken::new(),
    )
    .await?;
    println!(
        "broker-only ceiling ({:.0}s, publisher target {}/s): subscriber received {} of {} ({:.0}/s)",
        a.ceiling_duration,
        a.ceiling_rate,
        ceiling.received,
        ceiling.load.published,
        ceiling.received_rate
    );

    // 2. The service under the same load.
    let (http, mut svc) = start_serve(
        &bin,
        &[
            ("SWEEPWATCH_DATABASE_URL", &db_url),
            ("SWEEPWATCH_MQTT_URL", &mqtt),
            ("SWEEPWATCH_MQTT_CLIENT_ID", "sweepwatch-bench"),
            ("SWEEPWATCH_ORGS", "bench"),
        ],
    )?;
    let pid = svc.pid();
    wait_ready(&http, 30).await?;

    let started = Instant::now();
    let opts = load(&mqtt, "bench", &a, a.rate, a.duration);
    let publisher =
        tokio::spawn(async move { simulator::run_load(&opts, CancellationToken::new()).await });
    let mut samples: Vec<(f64, f64)> = Vec::new();
    while !publisher.is_finished() {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let stored = metric(&http, "sweepwatch_fixes_stored_total")
            .await
            .unwrap_or(0.0);
        samples.push((started.elapsed().as_secs_f64(), stored));
        if samples.len().is_multiple_of(10) {
            eprintln!(
                "{:5.1}s committed {:>10.0}",
                started.elapsed().as_secs_f64(),
                stored
            );
        }
    }
    let report = publisher.await??;
    let published_until = started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(300);
    let done_at = loop {
        let stored = metric(&http, "sweepwatch_fixes_stored_total")
            .await
            .unwrap_or(0.0);
        if stored as u64 >= report.acknowledged {
            break started.elapsed().as_secs_f64();
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {stored} of {} committed after 5 minutes",
            report.acknowledged
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let p50 = quantile(&http, 0.50).await?;
    let p99 = quantile(&http, 0.99).await?;
    let rss = peak_rss_kib(pid)?;
    let dups = metric(&http, "sweepwatch_fixes_duplicate_total")
        .await
        .unwrap_or(-1.0);
    svc.stop();
    let client = db_url.parse::<store::DbTarget>()?.connect().await?;
    let rows: i64 = client
        .query_one("SELECT count(*) FROM fixes", &[])
        .await?
        .get(0);

    // Steady state: from 5 s in to the end of publishing.
    let window: Vec<_> = samples
        .iter()
        .filter(|(t, _)| *t >= 5.0 && *t <= published_until)
        .collect();
    let steady = match (window.first(), window.last()) {
        (Some(a), Some(b)) if b.0 > a.0 => (b.1 - a.1) / (b.0 - a.0),
        _ => f64::NAN,
    };
    let overall = rows as f64 / done_at;
    println!(
        "published {} acked by broker {} in {:.1}s",
        report.published,
        report.acknowledged,
        report.elapsed.as_secs_f64()
    );
    println!(
        "committed: {rows} rows; lost {}; duplicates {dups}",
        report.acknowledged as i64 - rows
    );
    println!(
        "committed fixes/s: steady {steady:.0}, overall {overall:.0} (all committed {:.1}s after start)",
        done_at
    );
    println!(
        "vs broker-only ceiling {:.0}/s: {:.0}%",
        ceiling.received_rate,
        100.0 * steady / ceiling.received_rate
    );
    println!(
        "publish-to-commit: p50 {:.1} ms, p99 {:.1} ms",
        p50 * 1e3,
        p99 * 1e3
    );
    println!("service peak RSS: {:.1} MiB", rss as f64 / 1024.0);
    anyhow::ensure!(
        rows as u64 == report.acknowledged,
        "LOSS: {rows} stored of {} acknowledged",
        report.acknowledged
    );
    Ok(())
}

async fn metrics_text(http: &str) -> anyhow::Result<String> {
    Ok(reqwest::get(format!("{http}/metrics"))
        .await?
        .text()
        .await?)
}

async fn metric(http: &str, name: &str) -> Option<f64> {
    let text = metrics_text(http).await.ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.trim().parse().ok()))
}

/// A quantile of `sweepwatch_ingest_lag_seconds`, interpolated within its bucket.
async fn quantile(http: &str, q: f64) -> anyhow::Result<f64> {
    let text = metrics_text(http).await?;
    let mut buckets: Vec<(f64, f64)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("sweepwatch_ingest_lag_seconds_bucket{le=\""))
        .filter_map(|r| {
            let (le, rest) = r.split_once("\"}")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, rest.trim().parse().ok()?))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last().map_or(0.0, |b| b.1);
    let target = q * total;
    let mut prev = (0.0, 0.0);
    for &(le, count) in &buckets {
        if count >= target {
            if le.is_infinite() {
                return Ok(prev.0);
            }
            let frac = if count > prev.1 {
                (target - prev.1) / (count - prev.1)
            } else {
                0.0
            };
            return Ok(prev.0 + frac * (le - prev.0));
        }
        prev = (le, count);
    }
    Ok(f64::NAN)
}

fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM")
}
