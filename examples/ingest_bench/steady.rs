//! Steady mode (issue 2): the service under a paced load, fixes/s committed and
//! publish-to-commit latency.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use simulator::load::fleet::{Track, TrackPoint};
use tokio_util::sync::CancellationToken;

use crate::common::{city, scrape, start_serve_logged, wait_ready};
use crate::{Bench, verify};

#[expect(
    clippy::too_many_lines,
    reason = "a benchmark's phases in the order they run and print, read top to bottom like its report"
)]
pub async fn run(b: &Bench) -> anyhow::Result<()> {
    let a = &b.a;
    println!("load: {} fixes/s target for {:.0} s", a.rate, a.duration);
    let ceiling = b.live_ceiling().await?;
    let track = match &a.scenario {
        Some(path) => Some(import_scenario(b, path)?),
        None => None,
    };

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
    let extras = simulator::LoadExtras {
        track,
        ..Default::default()
    };
    let publisher = tokio::spawn(async move {
        simulator::run_load_with(&opts, &extras, CancellationToken::new()).await
    });
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
/// and returns where each load device is at each instant: a device assigned a
/// route drives it back and forth at 10 km/h, one assigned a beat walks a loop
/// inside it at 4 km/h, the others drive the routes in turn unassigned; a couple
/// of metres of GPS noise. So the engines, coverage and effects do real work.
fn import_scenario(b: &Bench, path: &std::path::Path) -> anyhow::Result<Track> {
    use anyhow::Context as _;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut s: serde_json::Value = serde_json::from_str(&text)?;
    s["org"]["id"] = "bench".into();
    let mut names = HashMap::new();
    for (i, d) in s["devices"]
        .as_array_mut()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let id = simulator::load::fleet::device_id(i as u32 + 1);
        names.insert(d["id"].as_str().unwrap_or_default().to_owned(), id.clone());
        d["id"] = id.into();
        d["owntracks_id"] = serde_json::Value::Null;
    }
    for x in s["assignments"].as_array_mut().into_iter().flatten() {
        if let Some(new) = x["device"].as_str().and_then(|d| names.get(d)) {
            x["device"] = new.clone().into();
        }
    }
    let file = b.a.log_dir.join("scenario.json");
    std::fs::write(&file, serde_json::to_vec(&s)?)?;
    let db = &b.db_url;
    crate::common::sweepwatch_cli(&b.bin, db, &["migrate"])?;
    crate::common::sweepwatch_cli(&b.bin, db, &["import", file.to_str().context("path")?])?;
    let paths = Paths::of(&s)?;
    println!(
        "scenario {} imported into org bench: {} devices (load-000001…) with {} assignments; \
         {} routes and {} beats walked",
        path.display(),
        names.len(),
        s["assignments"].as_array().map_or(0, Vec::len),
        paths.routes.len(),
        paths.beats.len()
    );
    Ok(paths.track())
}

/// The scenario's routes and beats in local metres (see [`city::to_deg`]), and
/// which one each load device follows.
struct Paths {
    routes: Vec<Vec<(f64, f64)>>,
    /// Each beat's outline drawn in to 60 % around its vertices' centre, so a
    /// walk along it stays inside a convex beat.
    beats: Vec<Vec<(f64, f64)>>,
    /// Load device number → (is a beat, index).
    of_device: HashMap<u32, (bool, usize)>,
}

impl Paths {
    fn of(s: &serde_json::Value) -> anyhow::Result<Self> {
        let metres = |c: &serde_json::Value| {
            let (lon, lat) = (c[0].as_f64().unwrap_or(0.0), c[1].as_f64().unwrap_or(0.0));
            let y = (lat - city::LAT0) * 111_320.0;
            let x = (lon - city::LON0) * 111_320.0 * city::LAT0.to_radians().cos();
            (x, y)
        };
        let (mut routes, mut beats, mut index) = (Vec::new(), Vec::new(), HashMap::new());
        for f in s["areas"]["features"].as_array().into_iter().flatten() {
            let id = f["id"].as_str().unwrap_or_default().to_owned();
            let g = &f["geometry"];
            match g["type"].as_str() {
                Some("LineString") => {
                    let pts: Vec<_> = g["coordinates"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(metres)
                        .collect();
                    if pts.len() >= 2 {
                        index.insert(id, (false, routes.len()));
                        routes.push(pts);
                    }
                }
                Some("Polygon") => {
                    let ring: Vec<_> = g["coordinates"][0]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(metres)
                        .collect();
                    if ring.len() >= 3 {
                        let n = ring.len() as f64;
                        let (cx, cy) = ring
                            .iter()
                            .fold((0.0, 0.0), |(a, b), p| (a + p.0 / n, b + p.1 / n));
                        let inner = ring
                            .iter()
                            .map(|p| (cx + 0.6 * (p.0 - cx), cy + 0.6 * (p.1 - cy)))
                            .collect();
                        index.insert(id, (true, beats.len()));
                        beats.push(inner);
                    }
                }
                _ => {}
            }
        }
        anyhow::ensure!(!routes.is_empty(), "the scenario has no LineString route");
        let number: HashMap<&str, u32> = s["devices"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, d)| (d["id"].as_str().unwrap_or_default(), i as u32 + 1))
            .collect();
        let mut of_device = HashMap::new();
        for x in s["assignments"].as_array().into_iter().flatten() {
            let (Some(n), Some(area)) = (
                x["device"].as_str().and_then(|d| number.get(d)),
                x["area"].as_str().and_then(|a| index.get(a)),
            ) else {
                continue;
            };
            of_device.entry(*n).or_insert(*area);
        }
        Ok(Self {
            routes,
            beats,
            of_device,
        })
    }

    fn track(self) -> Track {
        Track(Arc::new(move |n, ts_ms| self.at(n, ts_ms)))
    }

    fn at(&self, n: u32, ts_ms: i64) -> TrackPoint {
        let t = ts_ms as f64 / 1000.0;
        let phase = f64::from(n % 97) * 37.0;
        let noise = |k: i64| (((ts_ms / 1000 + k * 7 + i64::from(n)) % 5) as f64 - 2.0) * 0.8;
        let (path, kmh) = match self.of_device.get(&n) {
            Some((true, i)) => (&self.beats[*i], 4.0),
            Some((false, i)) => (&self.routes[*i], 10.0),
            None => (&self.routes[n as usize % self.routes.len()], 10.0),
        };
        let (x, y, speed_kmh, heading_deg) = city::along(path, (t + phase) * kmh / 3.6, kmh);
        let (lat, lon) = city::to_deg(x + noise(1), y + noise(2));
        TrackPoint {
            lat,
            lon,
            speed_kmh,
            heading_deg,
        }
    }
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
