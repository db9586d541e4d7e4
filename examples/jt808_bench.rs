//! The JT/T 808 load benchmark (issue 16): many terminals at once, each
//! reporting on a tick plus a blind-area batch, every report answered only
//! after commit. Prints positions/s acknowledged, report-to-answer latency
//! (p50/p99/max), the service's peak RSS, and checks for loss and duplicates.
//!
//! ```text
//! cargo build --release && cargo run --release --example jt808_bench -- \
//!     [--terminals 5000] [--duration 60] [--interval 5] [--batch 20]
//! ```
//!
//! Each terminal connects, registers, authenticates, then every `--interval`
//! seconds (ticks staggered over the interval) sends one location report
//! (0x0200) and one blind-area batch (0x0704) of `--batch` positions, each
//! waiting for its 0x8001 like a real terminal. The defaults ask for 5,000 ×
//! 21 / 5 s = 21,000 positions/s. A terminal that falls behind its tick sends
//! the next at once, so above capacity the figure is the service's ceiling.
//! The service is `target/release/sweepwatch serve` with a Mosquitto of the
//! project's configuration and a fresh database (dropped at the end).

mod common;

use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, TimeDelta, Utc};
use jt808::{
    Authentication, BatchKind, BcdTime, Header, LocationBatch, LocationReport, Message, Phone,
    Registration, ResponseResult, STATUS_POSITIONED, Splitter, Version,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::{cpu_model, num_cpus, scrape, start_broker, start_serve};

struct Args {
    terminals: u32,
    duration: u64,
    interval: u64,
    batch: u32,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        terminals: 5000,
        duration: 60,
        interval: 5,
        batch: 20,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--terminals" => a.terminals = value.parse()?,
            "--duration" => a.duration = value.parse()?,
            "--interval" => a.interval = value.parse()?,
            "--batch" => a.batch = value.parse()?,
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    Ok(a)
}

struct Terminal {
    stream: TcpStream,
    splitter: Splitter,
    phone: Phone,
    serial: u16,
}

impl Terminal {
    async fn send(&mut self, m: &Message) -> anyhow::Result<u16> {
        self.serial = self.serial.wrapping_add(1);
        let h = Header::new(m.msg_id(), Version::V2013, self.phone.clone(), self.serial);
        self.stream.write_all(&jt808::encode(&h, m)?).await?;
        Ok(self.serial)
    }

    async fn recv(&mut self) -> anyhow::Result<Message> {
        let mut buf = [0u8; 1024];
        loop {
            if let Some(f) = self.splitter.next_frame() {
                return Ok(Message::decode(&f?)?);
            }
            let n = tokio::time::timeout(Duration::from_secs(60), self.stream.read(&mut buf))
                .await
                .context("no answer within 60 s")??;
            anyhow::ensure!(n > 0, "the service closed the connection");
            self.splitter.push(&buf[..n]);
        }
    }

    /// Sends and waits for the 0x8001 naming it.
    async fn call(&mut self, m: &Message) -> anyhow::Result<()> {
        let serial = self.send(m).await?;
        match self.recv().await? {
            Message::PlatformResponse(r)
                if r.serial == serial && r.result == ResponseResult::Ok =>
            {
                Ok(())
            }
            other => anyhow::bail!("unexpected answer {other:?}"),
        }
    }
}

fn report(at: DateTime<Utc>, n: u32) -> LocationReport {
    LocationReport {
        alarm: 0,
        status: STATUS_POSITIONED,
        lat: 22_700_000 + n * 10,
        lon: 113_600_000 + n * 10,
        altitude: 3,
        speed: 80,
        direction: 90,
        time: BcdTime::from_utc(at).expect("2000-2099"),
        extras: vec![],
    }
}

/// What one terminal did: positions acknowledged, answer latencies (s).
#[derive(Default)]
struct Outcome {
    positions: u64,
    latencies: Vec<f64>,
}

async fn terminal(
    addr: String,
    n: u32,
    a: (u64, u64, u32),
    start: Instant,
    base: DateTime<Utc>,
) -> anyhow::Result<Outcome> {
    let (duration, interval, batch) = a;
    let mut t = Terminal {
        stream: TcpStream::connect(&addr).await?,
        splitter: Splitter::new(),
        phone: Phone::new(&format!("1390{n:07}"))?,
        serial: 0,
    };
    t.stream.set_nodelay(true)?;
    t.send(&Message::Registration(Registration {
        province: 44,
        city: 1900,
        manufacturer: "BENCH".into(),
        model: "B1".into(),
        terminal_id: format!("{n:07}"),
        plate_color: 1,
        plate: format!("S{n:05}"),
    }))
    .await?;
    let code = match t.recv().await? {
        Message::RegistrationResponse(r) => r.auth_code,
        other => anyhow::bail!("unexpected {other:?}"),
    };
    t.call(&Message::Authentication(Authentication {
        code,
        identity: None,
    }))
    .await?;
    // Ticks staggered over the interval, from the common start.
    let offset = Duration::from_millis(u64::from(n) * interval * 1000 / 5000 % (interval * 1000));
    let mut next = start + offset;
    let end = start + Duration::from_secs(duration);
    let mut out = Outcome::default();
    let mut second = 0i64;
    let mut at = || {
        second += 1;
        base + TimeDelta::seconds(second)
    };
    while next < end {
        tokio::time::sleep_until(next.into()).await;
        next += Duration::from_secs(interval);
        let sent = Instant::now();
        t.call(&Message::Location(report(at(), n))).await?;
        out.latencies.push(sent.elapsed().as_secs_f64());
        let reports = (0..batch).map(|_| report(at(), n)).collect();
        let sent = Instant::now();
        t.call(&Message::LocationBatch(LocationBatch {
            kind: BatchKind::BlindArea,
            reports,
        }))
        .await?;
        out.latencies.push(sent.elapsed().as_secs_f64());
        out.positions += 1 + u64::from(batch);
    }
    Ok(out)
}

#[tokio::main]
#[expect(
    clippy::too_many_lines,
    reason = "a benchmark's phases in the order they run and print, read top to bottom like its report"
)]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    let bin = common::release_bin()?;
    println!("machine: {} cores, {}", num_cpus(), cpu_model());
    let (mqtt, _broker) = start_broker()?;
    let db = testkit::TestDb::create_with_prefix("sweepwatch_jt808_bench_").await;
    let db_url = db.url.clone();
    let addr = format!("127.0.0.1:{}", testkit::free_port());
    let (http, mut service) = start_serve(
        &bin,
        &[
            ("SWEEPWATCH_DATABASE_URL", &db_url),
            ("SWEEPWATCH_MQTT_URL", &mqtt),
            ("SWEEPWATCH_MQTT_CLIENT_ID", "jt808-bench"),
            ("SWEEPWATCH_JT808_LISTEN", &addr),
        ],
    )?;
    common::wait_ready(&http, 60).await?;
    println!(
        "{} terminals, a report and a blind-area batch of {} every {} s each, for {} s: {} positions/s asked",
        a.terminals,
        a.batch,
        a.interval,
        a.duration,
        u64::from(a.terminals) * (1 + u64::from(a.batch)) / a.interval
    );
    // Positions two hours old: inside the retention window, never in the future.
    let base = DateTime::from_timestamp(Utc::now().timestamp() - 7200, 0).unwrap();
    // Connecting and registering 5,000 terminals takes a while: the clock of
    // the measurement starts once all are authenticated.
    let start = Instant::now() + Duration::from_secs(u64::from(a.terminals) / 250 + 5);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..a.terminals {
        let addr = addr.clone();
        let p = (a.duration, a.interval, a.batch);
        tasks.spawn(terminal(addr, n, p, start, base));
    }
    let mut positions = 0u64;
    let mut latencies = Vec::new();
    let mut failed = 0;
    while let Some(r) = tasks.join_next().await {
        match r? {
            Ok(o) => {
                positions += o.positions;
                latencies.extend(o.latencies);
            }
            Err(e) => {
                failed += 1;
                if failed <= 5 {
                    eprintln!("a terminal failed: {e:#}");
                }
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let rss_kib = scrape::peak_rss_kib(service.pid())?;
    latencies.sort_by(f64::total_cmp);
    let q = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let client = store::connect_pool(&db_url.parse()?, 1)?.get().await?;
    let stored: i64 = client
        .query_one("SELECT count(*) FROM fixes", &[])
        .await?
        .get(0);
    let dup = scrape::metric(&http, "sweepwatch_fixes_duplicate_total")
        .await
        .unwrap_or(0.0);
    println!(
        "acknowledged {positions} positions in {elapsed:.1} s: {:.0} positions/s",
        positions as f64 / elapsed
    );
    println!(
        "report-to-answer latency over {} answers: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        q(0.50) * 1e3,
        q(0.99) * 1e3,
        q(1.0) * 1e3
    );
    println!("service peak RSS: {:.0} MiB", rss_kib as f64 / 1024.0);
    println!(
        "stored {stored} fixes; {} acknowledged; duplicates {dup}; terminals failed {failed}",
        positions
    );
    service.stop();
    anyhow::ensure!(failed == 0, "{failed} terminals failed");
    anyhow::ensure!(
        stored as u64 == positions,
        "loss or excess: {stored} stored, {positions} acknowledged"
    );
    Ok(())
}
