//! The API load benchmark: the figures for docs/PERFORMANCE.md (HTTP API).
//!
//! ```text
//! cargo build --release && cargo run --release --example api_bench -- [--devices 10000]
//!     [--routes 500] [--interval-s 10] [--parked-interval-s 60] [--duration 20]
//!     [--connections 1,4] [--reuse] [--drop]
//! ```
//!
//! 1. **Data** (skipped with `--reuse` when the database already holds it): a
//!    city of `--routes` routes (2.5 km streets in 10 districts), beats,
//!    transfer stations, a day-sweep (06–18) and a night-wash (22–05) shift,
//!    and `--devices` devices (sweepers on the routes by day, washers on them by
//!    night, collectors at the stations, street cleaners walking their beats),
//!    imported with `sweepwatch import`. Then the last 24 hours of fixes of
//!    every device — one every `--interval-s` on shift, every
//!    `--parked-interval-s` off it — go through the real geofence engine
//!    (`ingest::host::EngineHost`, as the writer runs it) and are stored with
//!    `COPY`, and the engine's alerts, coverage and daily summaries with
//!    `store::effects::write_effects`, as the writer stores them; a third of
//!    the alerts are acknowledged and resolved as an operator would. Sweepers
//!    reach only part of some routes, so coverage has missed stretches.
//! 2. **Service**: `target/release/sweepwatch serve` on that database (a
//!    Mosquitto of its own on a free port; no rate limit).
//! 3. **Load**: wrk (Debian's `wrk`) on each endpoint for `--duration`
//!    seconds at each concurrency of `--connections`; requests pick a random
//!    device or route (a Lua script). Prints p50/p90/p99 and requests/s.
//!
//! The database `sweepwatch_apibench` is kept for `--reuse` unless `--drop`.

mod common;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, TimeZone, Timelike, Utc};
use serde_json::{Value, json};
use store::writer::FixRow;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;

use common::city::{point, to_deg};
use common::{Guard, cpu_model, num_cpus, start_broker, start_serve, wait_ready};

const DB_NAME: &str = "sweepwatch_apibench";
const ORG: &str = "bench";
const TOKEN: &str = "bench-token";
const DISTRICTS: usize = 10;
/// District squares, metres.
const DISTRICT_M: f64 = 3000.0;
const ROUTE_LEN_M: f64 = 2500.0;
const BEATS_PER_DISTRICT: usize = 10;
const STATIONS_PER_DISTRICT: usize = 5;

struct Args {
    devices: usize,
    routes: usize,
    interval_s: i64,
    parked_interval_s: i64,
    duration_s: u32,
    connections: Vec<u32>,
    reuse: bool,
    drop: bool,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        devices: 10_000,
        routes: 500,
        interval_s: 10,
        parked_interval_s: 60,
        duration_s: 20,
        connections: vec![1, 4],
        reuse: false,
        drop: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut v = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--devices" => a.devices = v()?.parse()?,
            "--routes" => a.routes = v()?.parse()?,
            "--interval-s" => a.interval_s = v()?.parse()?,
            "--parked-interval-s" => a.parked_interval_s = v()?.parse()?,
            "--duration" => a.duration_s = v()?.parse()?,
            "--connections" => {
                a.connections = v()?.split(',').map(str::parse).collect::<Result<_, _>>()?
            }
            "--reuse" => a.reuse = true,
            "--drop" => a.drop = true,
            other => bail!("unknown argument {other}"),
        }
    }
    anyhow::ensure!(
        a.routes >= DISTRICTS && a.routes.is_multiple_of(DISTRICTS),
        "--routes: a multiple of {DISTRICTS}"
    );
    anyhow::ensure!(
        a.devices >= 2 * a.routes,
        "--devices: at least twice --routes"
    );
    anyhow::ensure!(
        a.interval_s > 0 && a.parked_interval_s % a.interval_s == 0,
        "--parked-interval-s must be a multiple of --interval-s"
    );
    Ok(a)
}

fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Value {
    json!([[
        point(x0, y0),
        point(x1, y0),
        point(x1, y1),
        point(x0, y1),
        point(x0, y0)
    ]])
}

/// A district's south-west corner (5 columns, 2 rows).
fn district_origin(d: usize) -> (f64, f64) {
    ((d % 5) as f64 * DISTRICT_M, (d / 5) as f64 * DISTRICT_M)
}

/// What a device does all day.
#[derive(Clone, Copy)]
enum Job {
    /// Sweeps `reach` metres of route `route` back and forth by day.
    Sweep { route: usize, reach: f64 },
    /// Washes route `route` by night.
    Wash { route: usize },
    /// Stays around transfer station `station` by day.
    Collect { station: usize },
    /// Walks its beat by day.
    Walk { beat: usize },
}

/// A small deterministic hash (splitmix64) for the city's variety.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn unit(seed: u64) -> f64 {
    (mix(seed) >> 11) as f64 / (1u64 << 53) as f64
}

struct City {
    scenario: Value,
    /// (device name, job), in scenario order.
    devices: Vec<(String, Job)>,
    routes: usize,
}

fn route_geom(r: usize, per_district: usize) -> (f64, f64, f64) {
    let (dx, dy) = district_origin(r / per_district);
    let k = r % per_district;
    let spacing = (DISTRICT_M - 60.0) / per_district as f64;
    (
        dx + 250.0,
        dy + 30.0 + k as f64 * spacing,
        dx + 250.0 + ROUTE_LEN_M,
    )
}

fn beat_rect(b: usize) -> (f64, f64, f64, f64) {
    let (dx, dy) = district_origin(b / BEATS_PER_DISTRICT);
    let w = DISTRICT_M / BEATS_PER_DISTRICT as f64;
    let x0 = dx + (b % BEATS_PER_DISTRICT) as f64 * w;
    (x0, dy, x0 + w, dy + DISTRICT_M)
}

fn station_rect(s: usize) -> (f64, f64, f64, f64) {
    let (dx, dy) = district_origin(s / STATIONS_PER_DISTRICT);
    let x = dx + 150.0 + (s % STATIONS_PER_DISTRICT) as f64 * 600.0;
    let y = dy + DISTRICT_M - 100.0;
    (x, y, x + 40.0, y + 40.0)
}

#[expect(
    clippy::too_many_lines,
    reason = "a benchmark's phases in the order they run and print, read top to bottom like its report"
)]
fn city(a: &Args) -> City {
    let per_district = a.routes / DISTRICTS;
    let district = |d: usize| format!("District {:02}", d + 1);
    let chief = |d: usize| format!("Chief {:02}", d + 1);
    let mut features = Vec::new();
    for r in 0..a.routes {
        let (x0, y, x1) = route_geom(r, per_district);
        let d = r / per_district;
        features.push(json!({"type": "Feature", "id": format!("route-{r:03}"),
            "properties": {"kind": "route", "name": format!("Street {r}"), "district": district(d),
                "grid": format!("G{:02}-{}", d + 1, (r % per_district) * BEATS_PER_DISTRICT / per_district),
                "chief": chief(d), "passes": 1, "width_m": 8.0},
            "geometry": {"type": "LineString", "coordinates": [point(x0, y), point((x0 + x1) / 2.0, y), point(x1, y)]}}));
    }
    for b in 0..DISTRICTS * BEATS_PER_DISTRICT {
        let (x0, y0, x1, y1) = beat_rect(b);
        let d = b / BEATS_PER_DISTRICT;
        features.push(json!({"type": "Feature", "id": format!("beat-{b:03}"),
            "properties": {"kind": "beat", "name": format!("Beat {b}"), "district": district(d),
                "grid": format!("G{:02}-{}", d + 1, b % BEATS_PER_DISTRICT), "chief": chief(d)},
            "geometry": {"type": "Polygon", "coordinates": rect(x0, y0, x1, y1)}}));
    }
    for s in 0..DISTRICTS * STATIONS_PER_DISTRICT {
        let (x0, y0, x1, y1) = station_rect(s);
        let d = s / STATIONS_PER_DISTRICT;
        features.push(json!({"type": "Feature", "id": format!("ts-{s:03}"),
            "properties": {"kind": "transfer_station", "name": format!("Transfer station {s}"),
                "district": district(d), "chief": chief(d)},
            "geometry": {"type": "Polygon", "coordinates": rect(x0, y0, x1, y1)}}));
    }
    let mut devices = Vec::new();
    let washers = a.routes * 3 / 5;
    let collectors = (a.devices / 20).min(a.devices - a.routes - washers);
    for r in 0..a.routes {
        // A quarter of the routes are only partly swept: missed stretches.
        let reach = if unit(r as u64) < 0.25 {
            ROUTE_LEN_M * (0.4 + 0.5 * unit(r as u64 + 7_919))
        } else {
            ROUTE_LEN_M
        };
        devices.push((format!("sw-{r:04}"), Job::Sweep { route: r, reach }));
    }
    for r in 0..washers {
        devices.push((format!("wa-{r:04}"), Job::Wash { route: r }));
    }
    for c in 0..collectors {
        devices.push((
            format!("co-{c:04}"),
            Job::Collect {
                station: c % (DISTRICTS * STATIONS_PER_DISTRICT),
            },
        ));
    }
    let workers = a.devices - devices.len();
    for w in 0..workers {
        devices.push((
            format!("wk-{w:05}"),
            Job::Walk {
                beat: w % (DISTRICTS * BEATS_PER_DISTRICT),
            },
        ));
    }
    let mut assignments = Vec::new();
    let mut device_list = Vec::new();
    for (name, job) in &devices {
        let (kind, area, shift) = match *job {
            Job::Sweep { route, .. } => ("sweeper", format!("route-{route:03}"), "day-sweep"),
            Job::Wash { route } => ("washer", format!("route-{route:03}"), "night-wash"),
            Job::Collect { station } => ("collector", format!("ts-{station:03}"), "day-sweep"),
            Job::Walk { beat } => ("worker", format!("beat-{beat:03}"), "day-sweep"),
        };
        device_list.push(json!({"id": name, "kind": kind, "label": name}));
        assignments.push(json!({"device": name, "area": area, "shift": shift,
            "valid_from": "2026-01-01T00:00:00Z", "valid_to": null}));
    }
    let every_day = json!(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]);
    let scenario = json!({
        "format": "sweepwatch-scenario/1",
        "org": {"id": ORG, "name": "Benchmark city", "timezone": "Asia/Shanghai"},
        "areas": {"type": "FeatureCollection", "features": features},
        "shifts": [
            {"id": "day-sweep", "name": "Day sweep", "weekly": [{"days": every_day, "start": "06:00:00", "end": "18:00:00"}]},
            {"id": "night-wash", "name": "Night wash", "weekly": [{"days": every_day, "start": "22:00:00", "end": "05:00:00"}]},
        ],
        "devices": device_list,
        "assignments": assignments,
    });
    City {
        scenario,
        devices,
        routes: a.routes,
    }
}

/// Seconds since local midnight.
fn local_secs(ts: DateTime<Utc>) -> i64 {
    let local = ts.with_timezone(&chrono_tz::Asia::Shanghai);
    i64::from(local.num_seconds_from_midnight())
}

/// Seconds into the device's shift, if it is on shift at `ts`.
fn on_shift(job: Job, ts: DateTime<Utc>) -> Option<i64> {
    let s = local_secs(ts);
    match job {
        Job::Wash { .. } => {
            if s >= 22 * 3600 {
                Some(s - 22 * 3600)
            } else if s < 5 * 3600 {
                Some(s + 2 * 3600)
            } else {
                None
            }
        }
        _ => (6 * 3600..18 * 3600).contains(&s).then(|| s - 6 * 3600),
    }
}

/// Back and forth over [0, len] at `speed` m/s: (position, heading east?).
fn shuttle(t: f64, speed: f64, len: f64) -> (f64, bool) {
    let d = (t * speed) % (2.0 * len);
    if d <= len {
        (d, true)
    } else {
        (2.0 * len - d, false)
    }
}

/// Where device `i` is at `ts`, local metres: (x, y, speed km/h, heading, working).
fn position(
    i: usize,
    job: Job,
    ts: DateTime<Utc>,
    per_district: usize,
) -> (f64, f64, f32, f32, bool) {
    let shift = on_shift(job, ts);
    let jitter = |k: u64| (unit(i as u64 * 1_000_003 + ts.timestamp() as u64 * 7 + k) - 0.5) * 4.0;
    match (job, shift) {
        (Job::Sweep { route, .. } | Job::Wash { route }, Some(t)) => {
            // Sweepers at 10 km/h over what they reach, washers at 8 over it all.
            let (kmh, reach) = match job {
                Job::Sweep { reach, .. } => (10.0, reach),
                _ => (8.0, ROUTE_LEN_M),
            };
            let (x0, y, _) = route_geom(route, per_district);
            let (d, east) = shuttle(t as f64, kmh / 3.6, reach);
            (
                x0 + d,
                y + jitter(1),
                kmh as f32,
                if east { 90.0 } else { 270.0 },
                true,
            )
        }
        (Job::Sweep { route, .. } | Job::Wash { route }, None) => {
            let (x0, y, _) = route_geom(route, per_district);
            (x0 + jitter(1), y + jitter(2), 0.0, 0.0, false)
        }
        (Job::Collect { station }, shift) => {
            let (x0, y0, x1, y1) = station_rect(station);
            let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
            (
                cx + 3.0 * jitter(1),
                cy + 3.0 * jitter(2),
                0.0,
                0.0,
                shift.is_some(),
            )
        }
        (Job::Walk { beat }, Some(t)) => {
            let (x0, y0, x1, y1) = beat_rect(beat);
            let lane = x0 + 20.0 + (x1 - x0 - 40.0) * unit(i as u64 * 31);
            let phase = unit(i as u64 * 17) * 2.0 * (y1 - y0 - 40.0);
            let (d, north) = shuttle(t as f64 + phase / 1.0, 1.0, y1 - y0 - 40.0);
            (
                lane + jitter(1),
                y0 + 20.0 + d,
                3.6,
                if north { 0.0 } else { 180.0 },
                true,
            )
        }
        (Job::Walk { beat }, None) => {
            let (x0, y0, x1, _) = beat_rect(beat);
            (
                (x0 + x1) / 2.0 + jitter(1),
                y0 + 25.0 + jitter(2),
                0.0,
                0.0,
                false,
            )
        }
    }
}

/// Copies fixes into `fixes`, in one `COPY ... FROM STDIN BINARY`.
async fn copy_fixes(client: &tokio_postgres::Client, rows: &[FixRow]) -> anyhow::Result<()> {
    let sink = client
        .copy_in(
            "COPY fixes (device_id, ts, lat, lon, speed, heading, acc, work, sos, batt, seq, dist_m, dt_s, received_at) FROM STDIN BINARY",
        )
        .await?;
    let types = [
        Type::INT4,
        Type::TIMESTAMPTZ,
        Type::FLOAT8,
        Type::FLOAT8,
        Type::FLOAT4,
        Type::FLOAT4,
        Type::FLOAT4,
        Type::BOOL,
        Type::BOOL,
        Type::FLOAT4,
        Type::INT8,
        Type::FLOAT4,
        Type::FLOAT4,
        Type::TIMESTAMPTZ,
    ];
    let writer = BinaryCopyInWriter::new(sink, &types);
    let mut writer = std::pin::pin!(writer);
    for r in rows {
        writer
            .as_mut()
            .write(&[
                &r.device_id,
                &r.ts,
                &r.lat,
                &r.lon,
                &r.speed,
                &r.heading,
                &r.acc,
                &r.work,
                &r.sos,
                &r.batt,
                &r.seq,
                &r.dist_m,
                &r.dt_s,
                &r.received_at,
            ])
            .await?;
    }
    writer.finish().await?;
    Ok(())
}

/// Builds the day: scenario, fixes through the engine, effects, checkpoint.
#[expect(
    clippy::too_many_lines,
    reason = "a benchmark's phases in the order they run and print, read top to bottom like its report"
)]
async fn generate(a: &Args, bin: &str, db_url: &str, end: DateTime<Utc>) -> anyhow::Result<()> {
    let started = Instant::now();
    let target: store::DbTarget = db_url.parse()?;
    store::db::recreate_database(&target).await?;
    common::sweepwatch_cli(bin, db_url, &["migrate"])?;
    let city = city(a);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/api-bench");
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("scenario.json");
    std::fs::write(&file, serde_json::to_vec(&city.scenario)?)?;
    common::sweepwatch_cli(bin, db_url, &["import", file.to_str().context("path")?])?;
    println!(
        "imported {} routes, {} devices ({:.1}s)",
        city.routes,
        city.devices.len(),
        started.elapsed().as_secs_f64()
    );

    let pool = store::connect_pool(&target, 2)?;
    let mut host = ingest::host::EngineHost::serving(&[]);
    {
        let client = pool.get().await?;
        for cfg in store::orgconfig::load_all(&client).await? {
            host.configure(cfg);
        }
    }
    let copy_client = db_url.parse::<store::DbTarget>()?.connect().await?;
    let ids: HashMap<String, i32> = copy_client
        .query("SELECT name, id FROM devices WHERE org = $1", &[&ORG])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let devices: Vec<(i32, Job)> = city.devices.iter().map(|(n, j)| (ids[n], *j)).collect();
    let per_district = a.routes / DISTRICTS;

    // COPY runs on its own task while the next chunk is generated and evaluated.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<FixRow>>(1);
    let copier = tokio::spawn(async move {
        let mut n = 0usize;
        while let Some(rows) = rx.recv().await {
            copy_fixes(&copy_client, &rows).await?;
            n += rows.len();
        }
        anyhow::Ok(n)
    });

    let start = end - chrono::Duration::hours(24);
    let park_every = a.parked_interval_s / a.interval_s;
    let mut prev: Vec<Option<(DateTime<Utc>, f64, f64)>> = vec![None; devices.len()];
    let mut seq = vec![0i64; devices.len()];
    let mut buf = Vec::new();
    let mut fx = store::effects::Effects::default();
    let (mut alerts, mut coverage, mut daily, mut total) = (0usize, 0usize, 0usize, 0usize);
    let mut step = 0i64;
    let mut ts = start;
    while ts < end {
        for (i, &(id, job)) in devices.iter().enumerate() {
            let due = on_shift(job, ts).is_some() || (step + i as i64) % park_every == 0;
            if !due {
                continue;
            }
            // Each device reports at its own offset within the interval.
            let t = ts
                + chrono::Duration::milliseconds(
                    (mix(i as u64) % (a.interval_s as u64 * 1000)) as i64,
                );
            let (x, y, speed, heading, work) = position(i, job, t, per_district);
            let (lat, lon) = to_deg(x, y);
            let (lat, lon) = ((lat * 1e7).round() / 1e7, (lon * 1e7).round() / 1e7);
            let (dist_m, dt_s) = match prev[i] {
                Some((pt, plat, plon)) => (
                    Some(geofence::geodesy::haversine_m(plat, plon, lat, lon) as f32),
                    Some((t - pt).num_milliseconds() as f32 / 1000.0),
                ),
                None => (None, None),
            };
            prev[i] = Some((t, lat, lon));
            seq[i] += 1;
            let row = FixRow {
                device_id: id,
                ts: t,
                lat,
                lon,
                speed: Some(speed),
                heading: Some(heading),
                acc: Some(5.0),
                work: Some(work),
                sos: false,
                batt: Some(100.0 - (seq[i] % 800) as f32 / 10.0),
                seq: Some(seq[i]),
                dist_m,
                dt_s,
                received_at: t + chrono::Duration::milliseconds(800),
            };
            host.on_fix(id, &ingest::engine_fix(&row), row.received_at, &mut fx);
            buf.push(row);
        }
        step += 1;
        ts += chrono::Duration::seconds(a.interval_s);
        // Every simulated 10 minutes: store the fixes and what the engine derived.
        if step % (600 / a.interval_s).max(1) == 0 || ts >= end {
            host.collect(&mut fx);
            total += buf.len();
            tx.send(std::mem::take(&mut buf)).await?;
            alerts += fx.alerts.len();
            coverage += fx.coverage.len();
            daily += fx.daily.len();
            let mut client = pool.get().await?;
            let t = client.transaction().await?;
            store::effects::write_effects(&t, &fx).await?;
            t.commit().await?;
            fx = Default::default();
            if step % (3600 / a.interval_s) == 0 {
                eprintln!(
                    "  {} of 24 h: {total} fixes, {alerts} alert transitions ({:.0}s)",
                    (ts - start).num_hours(),
                    started.elapsed().as_secs_f64()
                );
            }
        }
    }
    drop(tx);
    let copied = copier.await??;
    let mut client = pool.get().await?;
    let t = client.transaction().await?;
    store::effects::write_checkpoint(&t, &host.checkpoint()).await?;
    // Operators acknowledge a third of the alerts within minutes and resolve them later.
    t.batch_execute(
        "WITH acted AS (
             UPDATE alerts SET state = 'resolved',
                 acknowledged_at = opened_at + (id % 17 + 1) * interval '1 minute', acknowledged_by = 'bench',
                 resolved_at = opened_at + (id % 53 + 20) * interval '1 minute', resolved_by = 'bench',
                 resolution_note = 'handled'
             WHERE id % 3 = 0 AND state = 'open' RETURNING id, acknowledged_at, resolved_at)
         INSERT INTO alert_transitions (alert_id, state, at, actor, note)
         SELECT id, 'acknowledged', acknowledged_at, 'bench', NULL FROM acted
         UNION ALL SELECT id, 'resolved', resolved_at, 'bench', 'handled' FROM acted",
    )
    .await?;
    t.commit().await?;
    client.batch_execute("VACUUM ANALYZE").await?;
    println!(
        "stored {copied} fixes ({:.0} per device), {alerts} alert transitions, {coverage} coverage and {daily} daily rows written, in {:.0}s",
        copied as f64 / devices.len() as f64,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The first column of every row.
async fn column<T: for<'a> tokio_postgres::types::FromSql<'a>>(
    c: &tokio_postgres::Client,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> anyhow::Result<Vec<T>> {
    Ok(c.query(sql, params)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

struct Figures {
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    rps: f64,
    errors: String,
}

fn wrk_ms(v: &str) -> Option<f64> {
    let v = v.trim();
    if let Some(n) = v.strip_suffix("us") {
        n.parse::<f64>().ok().map(|x| x / 1000.0)
    } else if let Some(n) = v.strip_suffix("ms") {
        n.parse().ok()
    } else if let Some(n) = v.strip_suffix('s') {
        n.parse::<f64>().ok().map(|x| x * 1000.0)
    } else {
        None
    }
}

/// Runs wrk with a Lua script that makes each request from `paths` at random.
fn wrk(
    http: &str,
    paths: &[String],
    connections: u32,
    secs: u32,
    accept: &str,
) -> anyhow::Result<Figures> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/api-bench");
    let script = dir.join("paths.lua");
    let mut lua = String::from("math.randomseed(42)\nlocal paths = {\n");
    for p in paths {
        writeln!(lua, "  {:?},", p)?;
    }
    write!(
        lua,
        "}}\nwrk.headers[\"Authorization\"] = \"Bearer {TOKEN}\"\nwrk.headers[\"Accept\"] = \"{accept}\"\n\
         request = function() return wrk.format(\"GET\", paths[math.random(#paths)]) end\n"
    )?;
    std::fs::write(&script, lua)?;
    let out = Command::new("wrk")
        .args([
            "-t",
            &connections.min(2).to_string(),
            "-c",
            &connections.to_string(),
        ])
        .args([
            "-d",
            &format!("{secs}s"),
            "--latency",
            "--timeout",
            "10s",
            "-s",
        ])
        .arg(&script)
        .arg(http)
        .output()
        .context("running wrk (apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    anyhow::ensure!(
        out.status.success(),
        "wrk: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pct = |p: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(p).and_then(wrk_ms))
            .unwrap_or(f64::NAN)
    };
    let rps = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("Requests/sec:")
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(f64::NAN);
    let errors = text
        .lines()
        .filter(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("; ");
    Ok(Figures {
        p50_ms: pct("50%"),
        p90_ms: pct("90%"),
        p99_ms: pct("99%"),
        rps,
        errors,
    })
}

#[tokio::main]
#[expect(
    clippy::too_many_lines,
    reason = "a benchmark's phases in the order they run and print, read top to bottom like its report"
)]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    let bin = common::release_bin()?;
    anyhow::ensure!(
        Command::new("wrk").arg("-v").output().is_ok(),
        "wrk not found: apt-get install wrk"
    );
    let db_url = format!("postgres://postgres@127.0.0.1:5432/{DB_NAME}");
    println!("machine: {} cores, {}", num_cpus(), cpu_model());

    // The stored day ends now, so that the live view (the last day's newest
    // fix of each device) holds every device.
    let now = Utc::now();
    let end = Utc
        .timestamp_opt(now.timestamp() - now.timestamp() % 10, 0)
        .unwrap();
    let reusable = a.reuse
        && store::create_database_if_missing(&db_url.parse()?)
            .await
            .ok()
            == Some(false)
        && {
            let c = db_url.parse::<store::DbTarget>()?.connect().await?;
            c.query_one("SELECT count(*) FROM devices", &[])
                .await
                .is_ok_and(|r| r.get::<_, i64>(0) as usize == a.devices)
        };
    let end = if reusable {
        let c = db_url.parse::<store::DbTarget>()?.connect().await?;
        let last: DateTime<Utc> = c.query_one("SELECT max(ts) FROM fixes", &[]).await?.get(0);
        anyhow::ensure!(
            now - last < chrono::Duration::hours(6),
            "the stored day ended at {last}: too old for the live view; run without --reuse"
        );
        println!("reusing {DB_NAME} (its day ends {last})");
        last
    } else {
        println!(
            "generating {} devices, {} routes, a day of fixes ({} s on shift, {} s parked)",
            a.devices, a.routes, a.interval_s, a.parked_interval_s
        );
        generate(&a, &bin, &db_url, end).await?;
        end
    };
    let db_guard = a.drop.then(|| Guard::Database(DB_NAME.into()));

    let c = db_url.parse::<store::DbTarget>()?.connect().await?;
    let stats = c
        .query_one(
            "SELECT (SELECT count(*) FROM fixes), pg_size_pretty(pg_database_size(current_database())),
                    (SELECT count(*) FROM alerts), (SELECT count(*) FROM coverage)",
            &[],
        )
        .await?;
    println!(
        "database: {} fixes, {} alerts, {} coverage rows, {} on disk",
        stats.get::<_, i64>(0),
        stats.get::<_, i64>(2),
        stats.get::<_, i64>(3),
        stats.get::<_, String>(1)
    );
    // The day-sweep instance of the stored day's local date (or the day before
    // when the day ends before 18:00 local... whichever has most coverage rows).
    let row = c
        .query_one(
            "SELECT shift_date, count(*) FROM coverage WHERE shift_id = 'day-sweep'
             GROUP BY shift_date ORDER BY count(*) DESC, shift_date DESC LIMIT 1",
            &[],
        )
        .await
        .context("no day-sweep coverage stored")?;
    let date: NaiveDate = row.get(0);
    let routes_covered: i64 = row.get(1);
    let device_ids: Vec<i32> = column(&c, "SELECT id FROM devices ORDER BY id", &[]).await?;
    let sweeper_ids: Vec<i32> = column(
        &c,
        "SELECT id FROM devices WHERE kind = 'sweeper' ORDER BY id",
        &[],
    )
    .await?;
    let route_ids: Vec<String> = column(
        &c,
        "SELECT route_id FROM coverage WHERE shift_id = 'day-sweep' AND shift_date = $1",
        &[&date],
    )
    .await?;
    drop(c);

    // The service, with a broker of its own.
    let (mqtt, _broker) = start_broker()?;
    let tokens = format!("bench:viewer:{TOKEN}");
    let (http, mut svc) = start_serve(
        &bin,
        &[
            ("SWEEPWATCH_DATABASE_URL", &db_url),
            ("SWEEPWATCH_MQTT_URL", &mqtt),
            ("SWEEPWATCH_MQTT_CLIENT_ID", "sweepwatch-api-bench"),
            ("SWEEPWATCH_API_TOKENS", &tokens),
            ("SWEEPWATCH_API_RATE_PER_S", "0"),
        ],
    )?;
    let pid = svc.pid();
    let t0 = Instant::now();
    wait_ready(&http, 600).await?;
    println!(
        "service ready in {:.1}s (engine state restored)",
        t0.elapsed().as_secs_f64()
    );

    let client = reqwest::Client::new();
    let positions: Value = client
        .get(format!("{http}/api/v1/positions"))
        .bearer_auth(TOKEN)
        .send()
        .await?
        .json()
        .await?;
    let n = positions["features"].as_array().map_or(0, Vec::len);
    anyhow::ensure!(
        n == a.devices,
        "positions lists {n} devices, not {}",
        a.devices
    );

    let from =
        (end - chrono::Duration::hours(24)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let to = end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let pick = |ids: &[i32], q: &str| -> Vec<String> {
        ids.iter()
            .map(|id| format!("/api/v1/devices/{id}/track?from={from}&to={to}{q}"))
            .collect()
    };
    let cases: Vec<(String, Vec<String>, &str, &str)> = vec![
        (
            format!("positions, all {n} devices"),
            vec!["/api/v1/positions".into()],
            "application/json",
            "50",
        ),
        (
            "track, one device-day (any device)".into(),
            pick(&device_ids, ""),
            "application/json",
            "50",
        ),
        (
            "track, one sweeper-day".into(),
            pick(&sweeper_ids, ""),
            "application/json",
            "50",
        ),
        (
            "track, one sweeper-day, simplify=5".into(),
            pick(&sweeper_ids, "&simplify=5"),
            "application/json",
            "50",
        ),
        (
            "coverage, one route".into(),
            route_ids
                .iter()
                .map(|r| format!("/api/v1/coverage?route={r}&shift=day-sweep&date={date}"))
                .collect(),
            "application/json",
            "20",
        ),
        (
            format!("shift report, {routes_covered} routes"),
            vec![format!("/api/v1/reports/shift?date={date}&shift=day-sweep")],
            "application/json",
            "300",
        ),
        (
            format!("shift report, {routes_covered} routes, CSV"),
            vec![format!("/api/v1/reports/shift?date={date}&shift=day-sweep")],
            "text/csv",
            "300",
        ),
    ];
    // Response sizes, from one request each.
    let mut sizes = Vec::new();
    for (_, paths, accept, _) in &cases {
        let r = client
            .get(format!("{http}{}", paths[0]))
            .bearer_auth(TOKEN)
            .header("Accept", *accept)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "{}: {}", paths[0], r.status());
        sizes.push(r.bytes().await?.len());
    }
    println!();
    println!("| endpoint | connections | p50 | p90 | p99 | requests/s | response | target p50 |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for ((name, paths, accept, target), size) in cases.iter().zip(&sizes) {
        for &c in &a.connections {
            let f = wrk(&http, paths, c, a.duration_s, accept)?;
            println!(
                "| {name} | {c} | {:.1} ms | {:.1} ms | {:.1} ms | {:.0} | {:.0} KiB | ≤ {target} ms |{}",
                f.p50_ms,
                f.p90_ms,
                f.p99_ms,
                f.rps,
                *size as f64 / 1024.0,
                if f.errors.is_empty() {
                    String::new()
                } else {
                    format!(" {}", f.errors)
                }
            );
        }
    }
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0);
    println!();
    println!("service peak RSS: {:.1} MiB", rss as f64 / 1024.0);
    svc.stop();
    drop(db_guard);
    Ok(())
}
