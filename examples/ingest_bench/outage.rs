//! Outage mode (issue 12): the database taken away from the service under a
//! paced load, and how long the service needs to catch up once it is back.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use simulator::{LoadCounters, LoadExtras};
use tokio_util::sync::CancellationToken;

use crate::common::proxy::Proxy;
use crate::common::{scrape, start_serve_logged, wait_ready};
use crate::drain::{verdict, window_rates};
use crate::{Bench, verify};

/// Caught up within this long of the end of the outage (issue 12).
const TARGET_CATCH_UP_S: f64 = 120.0;
/// Caught up: the fixes committed include every fix the broker had
/// acknowledged this long before — the service is back to live latency.
const LIVE_LAG_S: f64 = 1.0;

#[derive(Clone, Copy)]
struct Sample {
    t: f64,
    acked: f64,
    stored: f64,
    /// The service's resident set (`VmRSS`), KiB.
    rss: u64,
}

#[expect(
    clippy::too_many_lines,
    reason = "a benchmark's phases in the order they run and print, read top to bottom like its report"
)]
pub async fn run(b: &Bench) -> anyhow::Result<()> {
    let a = &b.a;
    let (cut_at, restore_at) = (a.cut_at, a.cut_at + a.outage);
    println!(
        "outage: {} fixes/s for {:.0} s; database cut at {cut_at:.0} s for {:.0} s",
        a.rate, a.duration, a.outage
    );
    let ceiling = b.live_ceiling().await?;
    let proxy = Proxy::start("127.0.0.1:5432".into()).await?;
    let proxied = format!("postgres://postgres@127.0.0.1:{}/{}", proxy.port, b.db_name);
    let (http, mut svc) = start_serve_logged(
        &b.bin,
        &[
            ("SWEEPWATCH_DATABASE_URL", &proxied),
            ("SWEEPWATCH_MQTT_URL", &b.mqtt),
            ("SWEEPWATCH_MQTT_CLIENT_ID", "sweepwatch-bench-outage"),
            ("SWEEPWATCH_ORGS", "bench"),
        ],
        Some(&b.log("serve")),
    )?;
    let pid = svc.pid();
    wait_ready(&http, 60).await?;

    let counters = Arc::new(LoadCounters::default());
    let extras = LoadExtras {
        fixes_per_device: None,
        counters: Some(counters.clone()),
        track: None,
    };
    let opts = b.load("bench", a.rate, a.duration);
    let started = Instant::now();
    let mut publisher = tokio::spawn(async move {
        simulator::run_load_with(&opts, &extras, CancellationToken::new()).await
    });
    let stop_probe = CancellationToken::new();
    let ready_log = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(probe_ready(
        http.clone(),
        started,
        ready_log.clone(),
        stop_probe.clone(),
    ));

    let mut samples: Vec<Sample> = Vec::new();
    let (mut t_cut, mut t_restore, mut caught_up) = (None, None, None);
    let (mut cpu_cut, mut cpu_restore, mut cpu_outage, mut cpu_catch_up) = (None, None, None, None);
    let mut report = None;
    let mut last_print = 0.0;
    let mut stored = 0.0;
    let done_at = loop {
        let t = started.elapsed().as_secs_f64();
        if t_cut.is_none() && t >= cut_at {
            proxy.cut();
            t_cut = Some(t);
            cpu_cut = Some(b.cpu());
            eprintln!("{t:6.1} s: database cut");
        }
        if t_cut.is_some() && t_restore.is_none() && t >= restore_at {
            proxy.restore();
            t_restore = Some(t);
            let now = b.cpu();
            cpu_outage = cpu_cut.as_ref().map(|c| c.until(&now));
            cpu_restore = Some(now);
            eprintln!("{t:6.1} s: database restored");
        }
        let acked = counters_acked(&counters);
        if let Some(s) = scrape::metric(&http, "sweepwatch_fixes_stored_total").await {
            stored = s;
        }
        let t = started.elapsed().as_secs_f64();
        let rss = scrape::status_kib(pid, "VmRSS").unwrap_or(0);
        samples.push(Sample {
            t,
            acked,
            stored,
            rss,
        });
        if t_restore.is_some()
            && caught_up.is_none()
            && stored >= acked_at(&samples, t - LIVE_LAG_S)
        {
            caught_up = Some(t);
            cpu_catch_up = cpu_restore.as_ref().map(|c| c.until(&b.cpu()));
            eprintln!("{t:6.1} s: caught up");
        }
        if report.is_none() && publisher.is_finished() {
            report = Some((&mut publisher).await??);
            // The publisher's last acks may have come after the last share.
            if let Some(s) = samples.last_mut() {
                s.acked = counters_acked(&counters);
            }
        }
        if let Some(r) = &report
            && stored as u64 >= r.acknowledged
            && caught_up.is_some()
        {
            break t;
        }
        if t - last_print >= 10.0 {
            last_print = t;
            eprintln!(
                "{t:6.1} s: acknowledged {acked:>9.0} committed {stored:>9.0} backlog {:>9.0}",
                acked - stored
            );
        }
        anyhow::ensure!(
            !svc.has_exited(),
            "the service exited ({stored} committed); see its log"
        );
        anyhow::ensure!(
            t < a.duration + a.catch_up_timeout,
            "STALL: {stored} committed of {acked} acknowledged, {:.0} s after publishing ended",
            t - a.duration
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    stop_probe.cancel();
    let report = report.expect("the loop ends only after the publisher");
    let text = scrape::metrics_text(&http).await?;
    let rss = scrape::peak_rss_kib(pid)?;
    let status = svc.terminate();
    let (t_cut, t_restore) = (t_cut.unwrap_or(f64::NAN), t_restore.unwrap_or(f64::NAN));
    let caught_up = caught_up.unwrap_or(f64::NAN);

    let at = |t: f64| {
        samples
            .iter()
            .rev()
            .find(|s| s.t <= t)
            .copied()
            .unwrap_or(Sample {
                t,
                acked: 0.0,
                stored: 0.0,
                rss: 0,
            })
    };
    let (before, restored, caught) = (at(t_cut), at(t_restore), at(caught_up));
    let catch_up_s = caught_up - t_restore;
    let catch_up_rate = (caught.stored - restored.stored) / (caught.t - restored.t);
    let after: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.t >= t_restore && s.t <= caught_up)
        .map(|s| (s.t, s.stored))
        .collect();
    let (slowest, fastest) = window_rates(&after, 5.0);
    println!(
        "published {} acknowledged {} in {:.1} s ({:.0}/s)",
        report.published,
        report.acknowledged,
        report.elapsed.as_secs_f64(),
        report.rate
    );
    println!(
        "at the cut ({t_cut:.1} s): backlog {:.0}; at the restore ({t_restore:.1} s): \
         acknowledged {:.0}, committed {:.0}, backlog {:.0}",
        before.acked - before.stored,
        restored.acked,
        restored.stored,
        restored.acked - restored.stored
    );
    println!(
        "caught up {catch_up_s:.1} s after the restore (committed everything acknowledged \
         {LIVE_LAG_S:.0} s earlier); all {} committed {:.1} s after the restore{}",
        report.acknowledged,
        done_at - t_restore,
        if report.elapsed.as_secs_f64() < caught_up {
            " (publishing had ended)"
        } else {
            ""
        }
    );
    println!(
        "committed during the catch-up: {catch_up_rate:.0} fixes/s (5 s windows \
         {slowest:.0}..{fastest:.0}/s){}",
        ceiling.map_or(String::new(), |c| format!("; broker-only ceiling {c:.0}/s"))
    );
    print_readiness(
        &ready_log.lock().unwrap_or_else(|e| e.into_inner()),
        t_cut,
        t_restore,
    );
    println!(
        "proxy refused {} connections during the outage",
        proxy.refused()
    );
    let csv: String = samples
        .iter()
        .map(|s| format!("{:.2},{:.0},{:.0},{}\n", s.t, s.acked, s.stored, s.rss))
        .collect();
    std::fs::write(
        b.log("samples").with_extension("csv"),
        format!("t_s,acknowledged,committed,rss_kib\n{csv}"),
    )?;
    let mib = |kib: u64| kib as f64 / 1024.0;
    let peak = samples
        .iter()
        .max_by_key(|s| s.rss)
        .copied()
        .unwrap_or(caught);
    println!(
        "service peak RSS (VmHWM): {:.1} MiB; stopped with SIGTERM ({status:?}); VmRSS at the \
         cut {:.1} MiB, at the restore {:.1} MiB, caught up {:.1} MiB, highest sampled {:.1} MiB \
         at {:.0} s",
        mib(rss),
        mib(before.rss),
        mib(restored.rss),
        mib(caught.rss),
        mib(peak.rss),
        peak.t
    );
    if let Some(c) = cpu_outage {
        println!("CPU during the outage: {c}");
    }
    if let Some(c) = cpu_catch_up {
        println!("CPU during the catch-up: {c}");
    }
    println!(
        "target: caught up within {TARGET_CATCH_UP_S:.0} s of the restore: {}",
        verdict(catch_up_s <= TARGET_CATCH_UP_S)
    );
    let counted = verify::Counted::from(&text);
    let (Some(first), Some(last)) = (report.first_ts, report.last_ts) else {
        anyhow::bail!("nothing was published");
    };
    let stored = verify::stored(&b.db_url, "bench", first, last, None).await?;
    verify::report(report.published, report.acknowledged, &stored, &counted)?;
    anyhow::ensure!(
        counted.duplicates == 0.0,
        "{} duplicates",
        counted.duplicates
    );
    Ok(())
}

fn counters_acked(c: &LoadCounters) -> f64 {
    c.acknowledged.load(std::sync::atomic::Ordering::Relaxed) as f64
}

/// What the broker had acknowledged at time `t` (the last sample at or before it).
fn acked_at(samples: &[Sample], t: f64) -> f64 {
    samples
        .iter()
        .rev()
        .find(|s| s.t <= t)
        .map_or(0.0, |s| s.acked)
}

/// Asks `/readyz` every second: (seconds since `started`, HTTP status; 0 for no
/// answer within 3 s).
async fn probe_ready(
    http: String,
    started: Instant,
    log: Arc<Mutex<Vec<(f64, u16)>>>,
    stop: CancellationToken,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap_or_default();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let t = started.elapsed().as_secs_f64();
        let status = match client.get(format!("{http}/readyz")).send().await {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        };
        log.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((t, status));
    }
}

fn print_readiness(log: &[(f64, u16)], cut: f64, restore: f64) {
    let count = |from: f64, to: f64, pred: &dyn Fn(u16) -> bool| {
        log.iter()
            .filter(|(t, s)| *t >= from && *t < to && pred(*s))
            .count()
    };
    let during = count(cut, restore, &|_| true);
    let unready = count(cut, restore, &|s| s == 503);
    let silent = count(cut, restore, &|s| s == 0);
    let first_503 = log
        .iter()
        .find(|(t, s)| *t >= cut && *s == 503)
        .map_or(f64::NAN, |(t, _)| t - cut);
    let ready_again = log
        .iter()
        .find(|(t, s)| *t >= restore && *s == 200)
        .map_or(f64::NAN, |(t, _)| t - restore);
    let before_ok = count(0.0, cut, &|s| s == 200);
    let before = count(0.0, cut, &|_| true);
    println!(
        "/readyz: before the cut {before_ok} of {before} answers 200; during the outage \
         {unready} of {during} answers 503 ({silent} unanswered within 3 s), the first \
         {first_503:.1} s after the cut; 200 again {ready_again:.1} s after the restore"
    );
}
