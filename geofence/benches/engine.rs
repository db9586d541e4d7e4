//! Criterion benchmark of `Engine::on_fix` on a city-sized org, plus a memory
//! report measured with a counting global allocator.
//!
//! Org: 2,000 areas = 1,600 routes totalling 50,000 segments + 400 zones
//! (beats, parks, transfer stations, rest zones) over a ~20 km square city,
//! 10,000 devices (4,000 sweepers, 2,000 washers, 2,000 collectors, 2,000
//! workers), each assigned to an area in an all-day shift, all driving.
//!
//! Run: `cargo bench -p geofence --bench engine`. It exits non-zero when the
//! engine state per device is over its budget (memory is deterministic);
//! `geofence/benches/check-engine.sh` also compares `on_fix` and `tick` with a
//! saved criterion baseline (docs/PERFORMANCE.md, Geofence engine).

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc, Weekday};
use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{Criterion, Throughput, criterion_group};
use geo::{LineString, MultiPolygon, Polygon};
use geofence::geodesy::LocalFrame;
use geofence::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

struct Counting;
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(l.size(), Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        ALLOCATED.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        ALLOCATED.fetch_add(new, Ordering::Relaxed);
        ALLOCATED.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocated() -> usize {
    ALLOCATED.load(Ordering::Relaxed)
}

const ROUTES: usize = 1_600;
const ZONES: usize = 400;
const DEVICES: usize = 10_000;
const STEP_M: f64 = 14.0; // 10 km/h at a fix every 5 s

/// Small deterministic generator (xorshift) so the org is the same every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct City {
    frame: LocalFrame,
    areas: Vec<Area>,
    /// Per route: positions every STEP_M metres along it, (lon, lat).
    tracks: Vec<Vec<(f64, f64)>>,
    base_ms: i64,
}

fn city() -> City {
    let frame = LocalFrame::new(113.75, 23.02);
    let mut rng = Rng(0x5eed_5eed_1234_5678);
    let mut areas = Vec::new();
    let mut tracks = Vec::new();
    for i in 0..ROUTES {
        let nseg = if i < 400 { 32 } else { 31 };
        let (gx, gy) = ((i % 40) as f64 * 500.0, (i / 40) as f64 * 500.0);
        let mut p = [gx + rng.next() * 100.0, gy + rng.next() * 100.0];
        let mut heading = rng.next() * std::f64::consts::TAU;
        let mut pts = vec![p];
        for _ in 0..nseg {
            heading += (rng.next() - 0.5) * 0.6;
            let len = 12.0 + rng.next() * 14.0;
            p = [p[0] + len * heading.cos(), p[1] + len * heading.sin()];
            pts.push(p);
        }
        let mut track = Vec::new();
        let mut carry = 0.0;
        for w in pts.windows(2) {
            let len = (w[1][0] - w[0][0]).hypot(w[1][1] - w[0][1]);
            let mut s = carry;
            while s < len {
                let t = s / len;
                let (x, y) = (
                    w[0][0] + t * (w[1][0] - w[0][0]),
                    w[0][1] + t * (w[1][1] - w[0][1]),
                );
                track.push(frame.unproject([x + 2.0, y - 1.5]));
                s += STEP_M;
            }
            carry = s - len;
        }
        tracks.push(track);
        let ll: Vec<(f64, f64)> = pts.iter().map(|&q| frame.unproject(q)).collect();
        let id = AreaId::new(format!("route-{i:04}")).unwrap();
        areas.push(Area::route(id, &ll, 8.0, 1 + (i % 2) as u32).unwrap());
    }
    for i in 0..ZONES {
        let (gx, gy) = (
            (i % 20) as f64 * 1000.0 + 250.0,
            (i / 20) as f64 * 1000.0 + 250.0,
        );
        let size = 60.0 + rng.next() * 200.0;
        let ring: Vec<(f64, f64)> = [
            (0.0, 0.0),
            (size, 0.0),
            (size, size * 0.8),
            (size * 0.2, size),
            (0.0, 0.0),
        ]
        .iter()
        .map(|&(x, y)| frame.unproject([gx + x, gy + y]))
        .collect();
        let purpose = match i % 8 {
            0..=3 => ZonePurpose::Beat,
            4 | 5 => ZonePurpose::Park,
            6 => ZonePurpose::TransferStation,
            _ => ZonePurpose::RestZone,
        };
        let mp = MultiPolygon(vec![Polygon::new(LineString::from(ring), vec![])]);
        areas.push(Area::zone(AreaId::new(format!("zone-{i:03}")).unwrap(), purpose, mp).unwrap());
    }
    City {
        frame,
        areas,
        tracks,
        base_ms: base().timestamp_millis(),
    }
}

fn kind_of(i: usize) -> DeviceKind {
    match i % 5 {
        0 | 1 => DeviceKind::Sweeper,
        2 => DeviceKind::Washer,
        3 => DeviceKind::Collector,
        _ => DeviceKind::Worker,
    }
}

fn device_key(i: usize) -> DeviceKey {
    DeviceKey::new(format!("dongguan/dev-{i:05}")).unwrap()
}

fn base() -> DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2026, 11, 27, 0, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

/// Round `k` of device `i`: it drives its route back and forth, a fix every 5 s.
fn fix_for(city: &City, i: usize, k: usize) -> Fix {
    let track = &city.tracks[i % ROUTES];
    let period = 2 * track.len() - 2;
    let j = (k + i) % period;
    let j = if j < track.len() { j } else { period - j };
    let (lon, lat) = track[j];
    let ms = city.base_ms + 2 * 3_600_000 + (k * 5_000 + i % 5_000) as i64;
    let ts = DateTime::from_timestamp_millis(ms).unwrap_or_default();
    Fix {
        ts,
        lat,
        lon,
        speed_kmh: Some(10.0),
        heading: None,
        acc_m: Some(4.0),
        work: Some(true),
        sos: false,
        batt: Some(80.0),
    }
}

fn build(city: &City) -> (Engine, Vec<DeviceKey>, usize) {
    let mut e = Engine::new(EngineConfig::default());
    e.set_areas(city.areas.clone());
    let all_day = NaiveTime::from_hms_opt(0, 0, 0).unwrap();
    let week = vec![
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];
    e.set_shifts(vec![
        Shift::new(
            ShiftId::new("shift-all").unwrap(),
            "all day",
            chrono_tz::Asia::Shanghai,
        )
        .with_weekly(WeeklyWindow {
            days: week,
            start: all_day,
            end: all_day,
        })
        .unwrap(),
    ]);
    let keys: Vec<DeviceKey> = (0..DEVICES).map(device_key).collect();
    let before = allocated();
    e.set_devices(
        keys.iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), kind_of(i)))
            .collect(),
    );
    let assignments = keys
        .iter()
        .enumerate()
        .map(|(i, k)| Assignment {
            device: k.clone(),
            area: city.areas[i % ROUTES].id().clone(),
            shift: ShiftId::new("shift-all").unwrap(),
            valid_from: base() - Duration::days(1),
            valid_to: None,
        })
        .collect();
    e.set_assignments(assignments).unwrap();
    (e, keys, before)
}

/// The budget of engine state per device (issue 3): the bench fails above it.
const BYTES_PER_DEVICE_BUDGET: f64 = 2_048.0;

/// Whether the memory report found the engine over its budget (checked at the end).
static OVER_BUDGET: AtomicBool = AtomicBool::new(false);

fn memory_report(city: &City) {
    let (mut e, keys, before) = build(city);
    for k in 0..(REORDER_WINDOW + 4) {
        for (i, key) in keys.iter().enumerate() {
            e.on_fix(key, &fix_for(city, i, k));
        }
    }
    // what the pipeline does after every batch: report the changed coverage
    // and summaries (a changed cell stays until it is reported)
    let dirty_cells = e.drain_dirty_coverage().len();
    let dirty_summaries = e.drain_dirty_summaries().len();
    let warm = allocated();
    let report = e.memory_report();
    let cells = e.drop_coverage_ended_before(base() + Duration::days(400));
    let after_cov = allocated();
    // what is left since `before`: device registry and states (reorder windows
    // full), assignments, today's summary per device, the emptied cell tables,
    // and the per-route last-served maps (subtracted using their estimate)
    let per_device =
        (after_cov - before).saturating_sub(report.last_served_bytes) as f64 / DEVICES as f64;
    println!(
        "memory: {DEVICES} devices, {} areas ({ROUTES} routes, 50,000 route segments)",
        city.areas.len()
    );
    println!(
        "memory: engine state per device (allocator-measured): {per_device:.0} B (budget {BYTES_PER_DEVICE_BUDGET:.0} B)"
    );
    println!(
        "memory: coverage: {cells} (route, shift instance) cells, {} B allocator-measured, {} B estimated; last-served maps {} B estimated",
        warm - after_cov,
        report.coverage_bytes,
        report.last_served_bytes
    );
    println!(
        "memory: drained before measuring: {dirty_cells} changed cells, {dirty_summaries} changed summaries"
    );
    println!("memory: engine.memory_report() = {report:?}");
    if cells != report.coverage_cells {
        // cells left in the engine would be counted as per-device state
        eprintln!(
            "memory: FAILED: {} coverage cells were not dropped, the per-device figure is wrong",
            report.coverage_cells - cells
        );
        OVER_BUDGET.store(true, Ordering::Relaxed);
    }
    if per_device > BYTES_PER_DEVICE_BUDGET {
        eprintln!(
            "memory: FAILED: {per_device:.0} B of engine state per device is over the budget of {BYTES_PER_DEVICE_BUDGET:.0} B"
        );
        OVER_BUDGET.store(true, Ordering::Relaxed);
    }
    let _ = city.frame;
}

/// `on_fix` and `tick` under criterion with measurement `M`, names suffixed
/// by `label`.
fn bench_engine<M: Measurement + 'static>(c: &mut Criterion<M>, city: &City, label: &str) {
    let (mut e, keys, _) = build(city);
    for k in 0..(REORDER_WINDOW + 2) {
        for (i, key) in keys.iter().enumerate() {
            e.on_fix(key, &fix_for(city, i, k));
        }
    }
    let mut round = REORDER_WINDOW + 2;
    let mut i = 0usize;
    c.bench_function(
        &format!("on_fix (2,000 areas, 10,000 devices){label}"),
        |b| {
            b.iter(|| {
                let f = fix_for(city, i, round);
                let out = e.on_fix(&keys[i], black_box(&f));
                i += 1;
                if i == DEVICES {
                    i = 0;
                    round += 1;
                }
                black_box(out)
            })
        },
    );
    let mut now = base() + Duration::hours(3);
    c.bench_function(&format!("tick (10,000 devices){label}"), |b| {
        b.iter(|| {
            now += Duration::seconds(30);
            black_box(e.tick(now))
        })
    });
}

fn bench(c: &mut Criterion) {
    let city = city();
    memory_report(&city);
    bench_engine(c, &city, "");
}

fn bench_cpu(c: &mut Criterion<ThreadCpu>) {
    bench_engine(c, &city(), ", CPU time");
}

/// The CPU time of the benchmark's thread (`CLOCK_THREAD_CPUTIME_ID`), in
/// nanoseconds: on a machine shared with other work, what the engine itself
/// costs, apart from the time it waits for a core (which the wall-clock
/// figures include).
struct ThreadCpu;

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to write.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Measurement for ThreadCpu {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, started: u64) -> u64 {
        thread_cpu_ns().saturating_sub(started)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

/// Nanoseconds of CPU time, shown as criterion shows durations.
struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (div, unit) = match typical {
            t if t < 1e3 => (1.0, "ns"),
            t if t < 1e6 => (1e3, "µs"),
            t if t < 1e9 => (1e6, "ms"),
            _ => (1e9, "s"),
        };
        values.iter_mut().for_each(|v| *v /= div);
        unit
    }
    fn scale_throughputs(&self, typical: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        let n = match t {
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) | Throughput::Elements(n) => *n,
            Throughput::Bits(n) => *n,
            Throughput::ElementsAndBytes { elements, .. } => *elements,
        } as f64;
        let _ = typical;
        values.iter_mut().for_each(|v| *v = n * 1e9 / *v);
        "/s (CPU)"
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(40)
        .measurement_time(std::time::Duration::from_secs(8))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench
}

criterion_group! {
    name = cpu_benches;
    config = config().with_measurement(ThreadCpu);
    targets = bench_cpu
}

/// For a profiler instead of criterion (`ENGINE_PROFILE_ROUNDS=3`): the same org
/// warmed up as for the benchmark, then `rounds` fixes per device through
/// [`profile_rounds`], which a profiler can single out, e.g.
/// `valgrind --tool=callgrind --collect-atstart=no --toggle-collect='engine::profile_rounds'`.
fn profile(rounds: usize) {
    let city = city();
    let (mut e, keys, _) = build(&city);
    for k in 0..(REORDER_WINDOW + 2) {
        for (i, key) in keys.iter().enumerate() {
            e.on_fix(key, &fix_for(&city, i, k));
        }
    }
    let fixes = profile_rounds(&mut e, &keys, &city, rounds);
    println!("profile: {fixes} fixes after the warm-up");
}

#[inline(never)]
fn profile_rounds(e: &mut Engine, keys: &[DeviceKey], city: &City, rounds: usize) -> usize {
    let first = REORDER_WINDOW + 2;
    for k in first..first + rounds {
        for (i, key) in keys.iter().enumerate() {
            black_box(e.on_fix(key, black_box(&fix_for(city, i, k))));
        }
    }
    rounds * keys.len()
}

// `criterion_main!` with the memory budget checked at the end: a run over
// budget exits non-zero after printing every figure.
fn main() {
    if let Ok(rounds) = std::env::var("ENGINE_PROFILE_ROUNDS") {
        profile(
            rounds
                .parse()
                .expect("ENGINE_PROFILE_ROUNDS: a number of rounds"),
        );
        return;
    }
    benches();
    cpu_benches();
    Criterion::default().configure_from_args().final_summary();
    if OVER_BUDGET.load(Ordering::Relaxed) {
        std::process::exit(1);
    }
}
