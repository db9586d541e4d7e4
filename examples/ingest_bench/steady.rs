//! Steady mode (issue 2): the service under a paced load, fixes/s committed and
//! publish-to-commit latency.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::common::{scrape, start_serve_logged, wait_ready};
use crate::{Bench, verify};

#[expect(
    clippy::too_many_lines,
    reason = "a benchmark's phases in the order they run and print, read top to bottom like its report"
)]
pub async fn run(b: &Bench) -> anyhow::Result<()> {
    let a = &b.a;
    println!("load: {} fixes/s target for {:.0} s", a.rate, a.duration);
    let ceiling = b.live_ceiling().await?;
    if let Some(path) = &a.scenario {
        import_scenario(b, path)?;
    }

    let (http, mut svc) = start_serve_logged(
        &b.bin,
        &[
            ("SWEEPWATCH_DATABASE_URL", &b.db_url),
            ("SWEEPWATCH_MQTT_URL", &b.mqtt),
            ("SWEEPWATCH_MQTT_CLIENT_ID", "sweepwatch-bench"),
            ("SWEEPWATCH_ORGS", "bench"),
        ],
        Some(&b.log("serve")),
    )?;
    let pid = svc.pid();
    wait_ready(&http, 30).await?;

    let cpu_start = b.cpu();
    let started = Instant::now();
    let opts = b.load("bench", a.rate, a.duration);
    let publisher =
        tokio::spawn(async move { simulator::run_load(&opts, CancellationToken::new()).await });
    let mut samples: Vec<(f64, f64)> = Vec::new();
    while !publisher.is_finished() {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let stored = scrape::metric(&http, "sweepwatch_fixes_stored_total")
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
    let deadline = Instant::now() + Duration::from_secs_f64(a.catch_up_timeout);
    let done_at = loop {
        let stored = scrape::metric(&http, "sweepwatch_fixes_stored_total")
            .await
            .unwrap_or(0.0);
        if stored as u64 >= report.acknowledged {
            break started.elapsed().as_secs_f64();
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {stored} of {} committed {:.0} s after publishing ended",
            report.acknowledged,
            a.catch_up_timeout
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let cpu = cpu_start.until(&b.cpu());
    let text = scrape::metrics_text(&http).await?;
    let p50 = scrape::quantile(&text, "sweepwatch_ingest_lag_seconds", 0.50);
    let p99 = scrape::quantile(&text, "sweepwatch_ingest_lag_seconds", 0.99);
    let rss = scrape::peak_rss_kib(pid)?;
    svc.stop();

    // Steady state: from 5 s in to the end of publishing.
    let window: Vec<_> = samples
        .iter()
        .filter(|(t, _)| *t >= 5.0 && *t <= published_until)
        .collect();
    let steady = match (window.first(), window.last()) {
        (Some(a), Some(b)) if b.0 > a.0 => (b.1 - a.1) / (b.0 - a.0),
        _ => f64::NAN,
    };
    let overall = report.acknowledged as f64 / done_at;
    println!(
        "published {} acked by broker {} in {:.1}s",
        report.published,
        report.acknowledged,
        report.elapsed.as_secs_f64()
    );
    println!(
        "committed fixes/s: steady {steady:.0}, overall {overall:.0} (all committed {done_at:.1}s after start)"
    );
    if let Some(c) = ceiling {
        println!(
            "vs broker-only ceiling {c:.0}/s: {:.0}%",
            100.0 * steady / c
        );
    }
    println!(
        "publish-to-commit: p50 {:.1} ms, p99 {:.1} ms",
        p50 * 1e3,
        p99 * 1e3
    );
    println!("service peak RSS: {:.1} MiB", rss as f64 / 1024.0);
    println!("CPU while publishing and committing: {cpu}");
    print_cost(&cpu, report.acknowledged);
    let (Some(first), Some(last)) = (report.first_ts, report.last_ts) else {
        anyhow::bail!("nothing was published");
    };
    if a.scenario.is_some() {
        print_engine_work(&b.db_url).await?;
    }
    let stored = verify::stored(&b.db_url, "bench", first, last, None).await?;
    verify::report(
        report.published,
        report.acknowledged,
        &stored,
        &verify::Counted::from(&text),
    )
}

/// CPU microseconds per committed fix of each process of the run (issue 18's
/// cost figures): the service, PostgreSQL (this database's backends, and the
/// server's own processes: WAL writer, checkpointer, …), the broker, the
/// publisher (this benchmark's process) and the whole machine.
fn print_cost(cpu: &crate::common::machine::CpuUse, committed: u64) {
    let backends = cpu.us_per(&["postgres"], committed);
    let server = cpu.us_per(&["postgres(server)"], committed);
    println!(
        "CPU per committed fix ({committed} fixes): sweepwatch serve {:.1} µs, PostgreSQL {:.1} µs \
         (backends {backends:.1}, server processes {server:.1}), mosquitto {:.1} µs, \
         publisher {:.1} µs, whole machine {:.1} µs",
        cpu.us_per(&["sweepwatch"], committed),
        backends + server,
        cpu.us_per(&["mosquitto"], committed),
        cpu.us_per(&["ingest_bench"], committed),
        cpu.machine_us_per(committed),
    );
}

/// Imports a scenario (e.g. the bundled `scenarios/humen.json`) into the bench
/// org, its devices renamed to the load's (`load-000001`, … in the file's order),
/// so that the engine, coverage and effects do real work on those devices'
/// fixes; the load's other devices stay unassigned.
fn import_scenario(b: &Bench, path: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut s: serde_json::Value = serde_json::from_str(&text)?;
    s["org"]["id"] = "bench".into();
    let mut names = std::collections::HashMap::new();
    if let Some(devices) = s["devices"].as_array_mut() {
        for (i, d) in devices.iter_mut().enumerate() {
            let id = simulator::load::fleet::device_id(i as u32 + 1);
            names.insert(d["id"].as_str().unwrap_or_default().to_owned(), id.clone());
            d["id"] = id.into();
            d["owntracks_id"] = serde_json::Value::Null;
        }
    }
    if let Some(assignments) = s["assignments"].as_array_mut() {
        for x in assignments {
            if let Some(new) = x["device"].as_str().and_then(|d| names.get(d)) {
                x["device"] = new.clone().into();
            }
        }
    }
    let file = b.a.log_dir.join("scenario.json");
    std::fs::write(&file, serde_json::to_vec(&s)?)?;
    let db = &b.db_url;
    crate::common::sweepwatch_cli(&b.bin, db, &["migrate"])?;
    crate::common::sweepwatch_cli(&b.bin, db, &["import", file.to_str().context("path")?])?;
    println!(
        "scenario {} imported into org bench: {} devices (load-000001…) with {} assignments",
        path.display(),
        names.len(),
        s["assignments"].as_array().map_or(0, Vec::len)
    );
    Ok(())
}

/// What the engines derived during the run (with `--scenario`), to show they
/// worked: alert transitions, coverage rows, device-day summaries.
async fn print_engine_work(db_url: &str) -> anyhow::Result<()> {
    let client = testkit::db::connect(db_url).await;
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM alert_transitions), (SELECT count(*) FROM alerts),
                    (SELECT count(*) FROM coverage), (SELECT coalesce(sum(covered_m), 0)::float8 FROM coverage),
                    (SELECT count(*) FROM device_daily)",
            &[],
        )
        .await?;
    println!(
        "engine work: {} alert transitions ({} alerts), {} coverage rows ({:.0} m covered), {} device-day summaries",
        row.get::<_, i64>(0),
        row.get::<_, i64>(1),
        row.get::<_, i64>(2),
        row.get::<_, f64>(3),
        row.get::<_, i64>(4)
    );
    Ok(())
}
