//! The run: the city imported, the service started, the readers connected,
//! the load published, the figures gathered and printed.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clients::{self, Hist, PollStats, StreamStats};
use crate::common::{Guard, machine, scrape, start_serve_logged, wait_ready};
use crate::{Bench, TOKEN, city, verify};

/// Figures sampled while the load runs.
#[derive(Default)]
struct Sampled {
    /// Highest `VmRSS` seen (KiB) and when (s into the load).
    max_rss_kib: u64,
    /// `VmRSS` before the first fix (KiB).
    idle_rss_kib: u64,
}

#[expect(
    clippy::too_many_lines,
    reason = "the run's phases in the order they happen (set-up, clients, load, catch-up, figures), read top to bottom like the printed report"
)]
pub async fn run(b: &Bench) -> anyhow::Result<()> {
    let a = &b.a;
    import(b).await?;
    let (http, mut svc) = start_service(b)?;
    let t0 = Instant::now();
    wait_ready(&http, 300).await?;
    println!("service ready in {:.1}s", t0.elapsed().as_secs_f64());
    let pid = svc.pid();
    let mut sampled = Sampled {
        idle_rss_kib: scrape::status_kib(pid, "VmRSS").unwrap_or(0),
        ..Sampled::default()
    };

    let stop_readers = CancellationToken::new();
    let streams = start_streams(b, &http, &stop_readers);
    let poller = tokio::spawn(clients::poll_positions(
        http.clone(),
        TOKEN.into(),
        Duration::from_secs_f64(a.poll_every),
        stop_readers.clone(),
    ));
    let load_start = Instant::now();
    let load_avg_start = machine::load_average().unwrap_or_default();
    let cpu_start = machine::cpu_snapshot(&b.ours());
    let counters = Arc::new(simulator::LoadCounters::default());
    let publisher = start_load(b, counters.clone());
    watch(&http, pid, &publisher, &counters, load_start, &mut sampled).await;
    let report = publisher.await??;
    // Not catching up is a finding, not a reason to lose the figures.
    let caught_up = catch_up(b, &http, pid, report.acknowledged, &mut sampled)
        .await
        .map_err(|e| println!("NOT CAUGHT UP: {e}"))
        .ok();
    let cpu = cpu_start.until(&machine::cpu_snapshot(&b.ours()));
    // A few seconds more for the streams to deliver the last positions.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let devices_listed = clients::positions_count(&http, TOKEN).await.unwrap_or(0);
    stop_readers.cancel();
    let mut stream_stats = Vec::new();
    for s in streams {
        stream_stats.push(s.await?);
    }
    let polls = poller.await?;
    let text = scrape::metrics_text(&http).await?;
    let peak_rss = scrape::peak_rss_kib(pid)?;
    svc.stop();

    println!(
        "published {} (acknowledged {}) in {:.1}s: {:.0} fixes/s achieved of {} asked; \
         all committed {} after publishing ended",
        report.published,
        report.acknowledged,
        report.elapsed.as_secs_f64(),
        report.rate,
        a.size.devices / a.interval,
        caught_up.map_or("NOT".into(), |t| format!("{t:.1}s")),
    );
    let stored_total = scrape::value(&text, "sweepwatch_fixes_stored_total").unwrap_or(0.0);
    println!(
        "committed {stored_total:.0} of {} while publishing and catching up: {:.0} fixes/s over the run",
        report.acknowledged,
        stored_total / load_start.elapsed().as_secs_f64()
    );
    println!("load average while publishing started at {load_avg_start:.2?}");
    println!("CPU while publishing and committing: {cpu}");
    let figures = Figures {
        sampled,
        peak_rss_kib: peak_rss,
        devices_listed,
        text: &text,
        polls: &polls,
        streams: &stream_stats,
    };
    figures.print(b);
    anyhow::ensure!(
        caught_up.is_some(),
        "not verified: the service had not committed everything the broker acknowledged \
         (the rest is held by the broker for its session)"
    );
    let (Some(first), Some(last)) = (report.first_ts, report.last_ts) else {
        anyhow::bail!("nothing was published");
    };
    let stored = verify::stored(&b.db_url, city::ORG, first, last, None).await?;
    verify::report(
        report.published,
        report.acknowledged,
        &stored,
        &verify::Counted::from(&text),
    )
}

/// Migrates the fresh database and imports the generated city.
async fn import(b: &Bench) -> anyhow::Result<()> {
    let a = &b.a;
    let t = Instant::now();
    b.sweepwatch(&["migrate"])?;
    let file = a.log_dir.join("city.json");
    std::fs::write(
        &file,
        serde_json::to_vec(&a.size.scenario(chrono::Utc::now()))?,
    )?;
    let path = file.to_str().unwrap_or_default();
    b.sweepwatch(&["import", path])?;
    println!(
        "imported {} routes, {} beats, {} devices with their assignments ({:.1}s)",
        a.size.routes,
        a.size.beats,
        a.size.devices,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

fn start_service(b: &Bench) -> anyhow::Result<(String, Guard)> {
    let tokens = format!("bench:viewer:{TOKEN}");
    let max_streams = (b.a.streams + 1).to_string();
    start_serve_logged(
        &b.bin,
        &[
            ("SWEEPWATCH_DATABASE_URL", &b.db_url),
            ("SWEEPWATCH_MQTT_URL", &b.mqtt),
            ("SWEEPWATCH_MQTT_CLIENT_ID", "sweepwatch-city-bench"),
            ("SWEEPWATCH_ORGS", city::ORG),
            ("SWEEPWATCH_API_TOKENS", &tokens),
            ("SWEEPWATCH_API_RATE_PER_S", "0"),
            ("SWEEPWATCH_API_STREAM_MAX_PER_TOKEN", &max_streams),
        ],
        Some(&b.a.log_dir.join("serve.log")),
    )
}

/// The stream clients: the first `--district-streams` on one district each.
fn start_streams(b: &Bench, http: &str, stop: &CancellationToken) -> Vec<JoinHandle<StreamStats>> {
    (0..b.a.streams)
        .map(|i| {
            let query = if i < b.a.district_streams {
                format!("?district=District%20{:02}", i % city::DISTRICTS + 1)
            } else {
                String::new()
            };
            tokio::spawn(clients::stream_client(
                http.to_owned(),
                TOKEN.into(),
                query,
                stop.clone(),
            ))
        })
        .collect()
}

fn start_load(
    b: &Bench,
    counters: Arc<simulator::LoadCounters>,
) -> JoinHandle<Result<simulator::LoadReport, simulator::LoadError>> {
    let a = &b.a;
    let opts = simulator::LoadOptions {
        broker: simulator::BrokerOptions {
            url: b.mqtt.clone(),
            username: None,
            password: None,
            client_id_prefix: "city-bench".into(),
        },
        org: city::ORG.into(),
        devices: a.size.devices,
        rate: a.size.devices / a.interval,
        duration: Duration::from_secs_f64(a.duration),
        connections: a.connections,
        qos: 1,
        progress: false,
        seed: 7,
    };
    let extras = simulator::LoadExtras {
        fixes_per_device: None,
        counters: Some(counters),
        track: Some(a.size.track()),
    };
    tokio::spawn(
        async move { simulator::run_load_with(&opts, &extras, CancellationToken::new()).await },
    )
}

/// Samples RSS every second while the load runs; a progress line every 5 s
/// for the first minute (the shift's start, when every device's first fix
/// arrives), then every 30 s.
async fn watch(
    http: &str,
    pid: u32,
    publisher: &JoinHandle<Result<simulator::LoadReport, simulator::LoadError>>,
    counters: &simulator::LoadCounters,
    start: Instant,
    sampled: &mut Sampled,
) {
    let mut n = 0u64;
    while !publisher.is_finished() {
        tokio::time::sleep(Duration::from_secs(1)).await;
        n += 1;
        let rss = scrape::status_kib(pid, "VmRSS").unwrap_or(0);
        sampled.max_rss_kib = sampled.max_rss_kib.max(rss);
        if n.is_multiple_of(30) || (n <= 60 && n.is_multiple_of(5)) {
            let text = scrape::metrics_text(http).await.unwrap_or_default();
            let stored = scrape::value(&text, "sweepwatch_fixes_stored_total").unwrap_or(0.0);
            let engine = scrape::value(&text, "sweepwatch_engine_bytes").unwrap_or(0.0);
            let queued = scrape::value(&text, "sweepwatch_pipeline_queue_depth").unwrap_or(0.0);
            let alerts = scrape::sum(&text, "sweepwatch_alerts_opened_total");
            eprintln!(
                "{:5.0}s published {:>9} acked {:>9} committed {:>9.0} queued {:>6.0} alerts opened {:>6.0} \
                 RSS {:6.1} MiB engine {:6.1} MiB load {:.2?}",
                start.elapsed().as_secs_f64(),
                counters.published.load(Ordering::Relaxed),
                counters.acknowledged.load(Ordering::Relaxed),
                stored,
                queued,
                alerts,
                rss as f64 / 1024.0,
                engine / (1024.0 * 1024.0),
                machine::load_average().unwrap_or_default()
            );
        }
    }
}

/// Waits until the service has committed `acknowledged` fixes; returns how long
/// that took after publishing ended.
async fn catch_up(
    b: &Bench,
    http: &str,
    pid: u32,
    acknowledged: u64,
    sampled: &mut Sampled,
) -> anyhow::Result<f64> {
    let t = Instant::now();
    let deadline = t + Duration::from_secs_f64(b.a.catch_up_timeout);
    loop {
        let stored = scrape::metric(http, "sweepwatch_fixes_stored_total")
            .await
            .unwrap_or(0.0);
        let rss = scrape::status_kib(pid, "VmRSS").unwrap_or(0);
        sampled.max_rss_kib = sampled.max_rss_kib.max(rss);
        if stored as u64 >= acknowledged {
            return Ok(t.elapsed().as_secs_f64());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {stored} of {acknowledged} committed {:.0} s after publishing ended",
            b.a.catch_up_timeout
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What the run measured, with the targets.
struct Figures<'a> {
    sampled: Sampled,
    peak_rss_kib: u64,
    devices_listed: usize,
    text: &'a str,
    polls: &'a PollStats,
    streams: &'a [StreamStats],
}

impl Figures<'_> {
    fn print(&self, b: &Bench) {
        let mib = |kib: u64| kib as f64 / 1024.0;
        let engine = scrape::value(self.text, "sweepwatch_engine_bytes").unwrap_or(0.0);
        let engine_devices = scrape::value(self.text, "sweepwatch_engine_devices").unwrap_or(0.0);
        let devices = f64::from(b.a.size.devices);
        let grown = self.peak_rss_kib.saturating_sub(self.sampled.idle_rss_kib) as f64 * 1024.0;
        let mut stream = Hist::new();
        for s in self.streams {
            stream.merge(&s.latency);
        }
        let events: u64 = self.streams.iter().map(|s| s.events).sum();
        let dropped: u64 = self.streams.iter().map(|s| s.dropped).sum();
        let connects: u64 = self.streams.iter().map(|s| s.connects).sum();
        let errors: Vec<&String> = self.streams.iter().flat_map(|s| &s.errors).collect();
        let lag = |q| 1e3 * scrape::quantile(self.text, "sweepwatch_ingest_lag_seconds", q);
        let batch = |q| 1e3 * scrape::quantile(self.text, "sweepwatch_db_batch_seconds", q);
        let p = &self.polls.latency;
        println!(
            "service RSS: idle {:.1} MiB, peak {:.1} MiB (VmHWM; sampled max VmRSS {:.1} MiB): \
             {:.0} B per device above idle",
            mib(self.sampled.idle_rss_kib),
            mib(self.peak_rss_kib),
            mib(self.sampled.max_rss_kib),
            grown / devices
        );
        println!(
            "engines: {:.1} MiB estimated for {engine_devices:.0} devices: {:.0} B per device",
            engine / 1048576.0,
            engine / engine_devices.max(1.0)
        );
        println!(
            "positions ({} devices listed, {:.1} MiB): {} polls, p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; errors {}",
            self.devices_listed,
            self.polls.bytes as f64 / 1048576.0,
            p.count(),
            p.quantile(0.5),
            p.quantile(0.99),
            p.max(),
            self.polls.errors.len()
        );
        println!(
            "streams ({} clients, {} of them one district each): {events} events, {} positions timed, \
             delivery p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; {dropped} dropped, {connects} connects, {} errors{}",
            self.streams.len(),
            b.a.district_streams,
            stream.count(),
            stream.quantile(0.5),
            stream.quantile(0.99),
            stream.max(),
            errors.len(),
            errors
                .first()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        );
        println!(
            "commit: publish-to-commit p50 {:.0} ms, p99 {:.0} ms; BEGIN..COMMIT p50 {:.0} ms, p99 {:.0} ms",
            lag(0.5),
            lag(0.99),
            batch(0.5),
            batch(0.99)
        );
        let beside = |q| 1e3 * scrape::quantile(self.text, "sweepwatch_db_rollups_seconds", q);
        println!(
            "rollups and checkpoints written beside ingest: {:.0}, p50 {:.0} ms, p99 {:.0} ms",
            scrape::value(self.text, "sweepwatch_db_rollups_seconds_count").unwrap_or(0.0),
            beside(0.5),
            beside(0.99)
        );
        self.print_targets(lag(0.99), stream.quantile(0.99));
    }

    fn print_targets(&self, commit_p99: f64, stream_p99: f64) {
        let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
        let rss_mib = self.peak_rss_kib as f64 / 1024.0;
        let pos_p50 = self.polls.latency.quantile(0.5);
        println!("| figure | measured | target | |");
        println!("|---|---:|---:|---|");
        println!(
            "| peak RSS | {rss_mib:.0} MiB | < 1024 MiB | {} |",
            verdict(rss_mib < 1024.0)
        );
        println!(
            "| positions p50 | {pos_p50:.0} ms | < 150 ms | {} |",
            verdict(pos_p50 < 150.0)
        );
        println!(
            "| stream delivery p99 | {stream_p99:.0} ms | < 2000 ms | {} |",
            verdict(stream_p99 < 2000.0)
        );
        println!(
            "| publish-to-commit p99 | {commit_p99:.0} ms | < 1000 ms | {} |",
            verdict(commit_p99 < 1000.0)
        );
    }
}
