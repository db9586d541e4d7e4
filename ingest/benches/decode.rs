//! Criterion benchmark of `codec::decode`, the first thing every MQTT message
//! meets: one full fix, a backlog of 400 full fixes (about 57 KiB, under the
//! decoder's 64 KiB payload limit), and a retained status (plain, and one quoting
//! a `\u0000` escape that must be looked at closely).
//!
//! Run: `cargo bench -p ingest --bench decode` (compare with a saved baseline:
//! `-- --save-baseline before`, then `-- --baseline before`).

use std::hint::black_box;

use chrono::{DateTime, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ingest::codec::{Limits, decode};

const FIX: &str = r#"{"ts":"2026-11-27T04:59:59.250Z","lat":22.8143,"lon":113.6721,"speed":12.5,"heading":270,"acc":4.0,"work":true,"sos":false,"batt":87,"seq":12345}"#;
const STATUS: &str = r#"{"online":true,"fw":"2.4.1","rssi":-71,"note":"night wash, depot 3","sensors":{"broom":true,"pump":false}}"#;
const STATUS_ESCAPED: &str = r#"{"online":true,"fw":"2.4.1","rssi":-71,"note":"C:\\u0000\\depot","sensors":{"broom":true,"pump":false}}"#;

fn now() -> DateTime<Utc> {
    "2026-11-27T05:00:00Z".parse().unwrap()
}

fn bench(c: &mut Criterion) {
    let limits = Limits::default();
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    g.bench_function("fix", |b| {
        b.iter(|| {
            decode(
                black_box("sweepwatch/v1/humen/sw-001/fix"),
                black_box(FIX.as_bytes()),
                &limits,
                now(),
            )
        })
    });
    g.bench_function("status", |b| {
        b.iter(|| {
            decode(
                black_box("sweepwatch/v1/humen/sw-001/status"),
                black_box(STATUS.as_bytes()),
                &limits,
                now(),
            )
        })
    });
    g.bench_function("status quoting a \\u0000 escape", |b| {
        b.iter(|| {
            decode(
                black_box("sweepwatch/v1/humen/sw-001/status"),
                black_box(STATUS_ESCAPED.as_bytes()),
                &limits,
                now(),
            )
        })
    });
    let backlog = format!("[{}]", vec![FIX; 400].join(","));
    assert!(backlog.len() <= limits.max_payload);
    g.throughput(Throughput::Elements(400));
    g.bench_function("backlog of 400 fixes", |b| {
        b.iter(|| {
            decode(
                black_box("sweepwatch/v1/humen/sw-001/fixes"),
                black_box(backlog.as_bytes()),
                &limits,
                now(),
            )
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(std::time::Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
