//! Drain mode (issue 12): a backlog waiting at the broker for a stopped service,
//! and how fast the service works through it once started.

use std::time::{Duration, Instant};

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::common::{Guard, scrape, start_serve_logged, wait_ready};
use crate::{Bench, ceiling, verify};

/// The drain target of issue 12, fixes/s, and as a share of the broker-only ceiling.
const TARGET_RATE: f64 = 35_000.0;
const TARGET_SHARE: f64 = 0.60;

#[expect(
    clippy::too_many_lines,
    reason = "a benchmark's phases in the order they run and print, read top to bottom like its report"
)]
pub async fn run(b: &Bench) -> anyhow::Result<()> {
    let a = &b.a;
    let per_device = a.fixes_per_device;
    let total = u64::from(a.devices) * per_device;
    println!(
        "drain: {total} fixes ({} devices x {per_device}), published at up to {}/s",
        a.devices, a.rate
    );
    let ceiling = b.live_ceiling().await?;
    let backlog = if a.backlog_ceiling {
        let rate = ceiling::backlog(b, per_device).await?;
        b.settle().await;
        Some(rate)
    } else {
        None
    };

    let env = [
        ("SWEEPWATCH_DATABASE_URL", b.db_url.as_str()),
        ("SWEEPWATCH_MQTT_URL", b.mqtt.as_str()),
        ("SWEEPWATCH_MQTT_CLIENT_ID", "sweepwatch-bench-drain"),
        ("SWEEPWATCH_ORGS", "bench"),
    ];
    // 1. The service once, so that its persistent session and subscription exist:
    //    ready, and a probe of 10 fixes stored.
    let (http, mut svc) = start_serve_logged(&b.bin, &env, Some(&b.log("serve-1")))?;
    wait_ready(&http, 60).await?;
    let mut probe = b.load("bench", 1_000, 60.0);
    probe.devices = 10;
    probe.connections = 1;
    let once = simulator::LoadExtras {
        fixes_per_device: Some(1),
        counters: None,
        track: None,
    };
    let probed = simulator::run_load_with(&probe, &once, CancellationToken::new()).await?;
    wait_stored(&http, probed.acknowledged, Duration::from_secs(30)).await?;
    let stopping = Instant::now();
    let status = svc.terminate();
    println!(
        "service started, stored the {} probe fixes, stopped with SIGTERM in {:.1} s ({status:?})",
        probed.acknowledged,
        stopping.elapsed().as_secs_f64()
    );

    // 2. The backlog, acknowledged by the broker while nobody consumes it.
    let extras = simulator::LoadExtras {
        fixes_per_device: Some(per_device),
        counters: None,
        track: None,
    };
    let load = b.load("bench", a.rate, a.duration);
    let report = simulator::run_load_with(&load, &extras, CancellationToken::new()).await?;
    anyhow::ensure!(
        report.published == total && report.acknowledged == total,
        "published {} and acknowledged {} of {total}",
        report.published,
        report.acknowledged
    );
    let (Some(first), Some(last)) = (report.first_ts, report.last_ts) else {
        anyhow::bail!("nothing was published");
    };
    let now = Utc::now();
    println!(
        "published {total} in {:.1} s ({:.0}/s), all acknowledged; fix ts {} .. {} \
         ({:.0} s to {:.0} s before now: inside the service's window of 90 days back, 5 min ahead)",
        report.elapsed.as_secs_f64(),
        report.rate,
        first.format("%H:%M:%S%.3f"),
        last.format("%H:%M:%S%.3f"),
        (now - first).as_seconds_f64(),
        (now - last).as_seconds_f64(),
    );
    anyhow::ensure!(
        now - first < chrono::Duration::days(90) && last - now < chrono::Duration::minutes(5),
        "fix timestamps outside the acceptance window"
    );

    // 3. The service again, timed from its start until it has committed them all.
    b.settle().await;
    let cpu_start = b.cpu();
    let started = Instant::now();
    let (http, mut svc) = start_serve_logged(&b.bin, &env, Some(&b.log("serve-2")))?;
    let pid = svc.pid();
    let samples = follow(&http, total, started, a.catch_up_timeout, &mut svc).await?;
    let cpu = cpu_start.until(&b.cpu());
    let done = samples.last().map_or(f64::NAN, |s| s.0);
    let first_commit = samples.iter().find(|s| s.1 > 0.0).map_or(f64::NAN, |s| s.0);
    let text = scrape::metrics_text(&http).await?;
    let rss = scrape::peak_rss_kib(pid)?;
    let stopping = Instant::now();
    let status = svc.terminate();
    let stop_secs = stopping.elapsed().as_secs_f64();

    let csv: String = samples
        .iter()
        .map(|s| format!("{:.2},{:.0}\n", s.0, s.1))
        .collect();
    std::fs::write(
        b.log("samples").with_extension("csv"),
        format!("t_s,committed\n{csv}"),
    )?;
    let rate = total as f64 / done;
    let (slowest, fastest) = window_rates(&samples, 5.0);
    println!(
        "drain: all {total} committed {done:.1} s after the start ({first_commit:.1} s to the \
         first commit): {rate:.0} fixes/s from start to caught up, {:.0}/s from the first commit; \
         5 s windows {slowest:.0}..{fastest:.0}/s",
        total as f64 / (done - first_commit)
    );
    let share = |c: f64| 100.0 * rate / c;
    if let Some(c) = ceiling {
        println!("vs broker-only ceiling {c:.0}/s: {:.0} %", share(c));
    }
    if let Some(bl) = backlog {
        println!(
            "vs broker-only backlog ceiling {bl:.0}/s: {:.0} %",
            share(bl)
        );
    }
    println!(
        "service peak RSS (VmHWM): {:.1} MiB; stopped with SIGTERM in {stop_secs:.1} s ({status:?})",
        rss as f64 / 1024.0
    );
    println!("CPU from start to caught up: {cpu}");
    let counted = verify::Counted::from(&text);
    println!(
        "the writer was inside a transaction {:.1} s of the {done:.1} s ({:.0} %)",
        counted.batch_seconds,
        100.0 * counted.batch_seconds / done
    );
    let stored = verify::stored(&b.db_url, "bench", first, last, Some(per_device)).await?;
    println!(
        "target >= {TARGET_RATE:.0}/s: {}; >= {:.0} % of the ceiling: {}",
        verdict(rate >= TARGET_RATE),
        TARGET_SHARE * 100.0,
        ceiling.map_or("not measured", |c| verdict(rate >= TARGET_SHARE * c)),
    );
    verify::report(total, report.acknowledged, &stored, &counted)?;
    anyhow::ensure!(
        counted.duplicates == 0.0,
        "{} duplicates",
        counted.duplicates
    );
    Ok(())
}

pub fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

/// Waits until the service has stored `n` fixes.
async fn wait_stored(http: &str, n: u64, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let stored = scrape::metric(http, "sweepwatch_fixes_stored_total").await;
        if stored.unwrap_or(0.0) as u64 >= n {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the service stored {stored:?} of {n} probe fixes within {within:?}: not subscribed?"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Samples `sweepwatch_fixes_stored_total` every 250 ms until it reaches `total`:
/// (seconds since `started`, stored). Fails after `timeout` seconds or if the
/// service exits.
async fn follow(
    http: &str,
    total: u64,
    started: Instant,
    timeout: f64,
    svc: &mut Guard,
) -> anyhow::Result<Vec<(f64, f64)>> {
    let mut samples = Vec::new();
    let mut last_print = 0.0;
    let mut last_progress = (0.0, 0.0);
    loop {
        let stored = scrape::metric(http, "sweepwatch_fixes_stored_total")
            .await
            .unwrap_or(0.0);
        let t = started.elapsed().as_secs_f64();
        samples.push((t, stored));
        if stored as u64 >= total {
            return Ok(samples);
        }
        if stored > last_progress.1 {
            last_progress = (t, stored);
        } else if t - last_progress.0 > 30.0 && last_progress.1 > 0.0 {
            eprintln!("{t:6.1} s: no commit for {:.0} s", t - last_progress.0);
        }
        if t - last_print >= 5.0 {
            last_print = t;
            eprintln!("{t:6.1} s: committed {stored:>9.0} of {total}");
        }
        anyhow::ensure!(
            !svc.has_exited(),
            "the service exited while draining ({stored} of {total}); see its log"
        );
        anyhow::ensure!(
            t < timeout,
            "STALL: only {stored} of {total} committed after {timeout:.0} s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The slowest and fastest commit rate over windows of `secs`, between the
/// first commit and the last sample.
pub fn window_rates(samples: &[(f64, f64)], secs: f64) -> (f64, f64) {
    let from = samples.iter().position(|s| s.1 > 0.0).unwrap_or(0);
    let s = &samples[from.saturating_sub(1)..];
    let mut lo = f64::INFINITY;
    let mut hi: f64 = 0.0;
    let mut j = 0;
    for i in 0..s.len() {
        while j < s.len() && s[j].0 < s[i].0 + secs {
            j += 1;
        }
        if j == s.len() {
            break;
        }
        let r = (s[j].1 - s[i].1) / (s[j].0 - s[i].0);
        lo = lo.min(r);
        hi = hi.max(r);
    }
    if lo.is_infinite() {
        (f64::NAN, f64::NAN)
    } else {
        (lo, hi)
    }
}
