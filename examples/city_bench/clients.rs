//! The service's readers during the run: live stream clients (SSE) timing each
//! `position` from its fix's `ts` (the publish time) to its arrival, and a
//! poller of `GET /api/v1/positions` (every device of the org) timing each
//! answer.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

/// Latencies at 1 ms resolution up to a minute (the last bucket holds the rest).
#[derive(Clone)]
pub struct Hist {
    counts: Vec<u64>,
}

impl Hist {
    const MAX_MS: usize = 60_000;

    pub fn new() -> Self {
        Self {
            counts: vec![0; Self::MAX_MS + 1],
        }
    }

    pub fn add(&mut self, ms: f64) {
        let i = (ms.max(0.0) as usize).min(Self::MAX_MS);
        self.counts[i] += 1;
    }

    pub fn merge(&mut self, other: &Hist) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The `q` quantile in ms (the upper edge of its 1 ms bucket); NaN when empty.
    pub fn quantile(&self, q: f64) -> f64 {
        let n = self.count();
        if n == 0 {
            return f64::NAN;
        }
        let target = ((q * n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (ms, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= target {
                return ms as f64 + 1.0;
            }
        }
        Self::MAX_MS as f64
    }

    pub fn max(&self) -> f64 {
        self.counts
            .iter()
            .rposition(|&c| c > 0)
            .map_or(f64::NAN, |i| i as f64 + 1.0)
    }
}

/// What one stream client saw.
pub struct StreamStats {
    /// Receive time minus the fix's `ts`, per `position` event.
    pub latency: Hist,
    pub events: u64,
    /// `dropped` events: the server hung up on a client too far behind.
    pub dropped: u64,
    pub connects: u64,
    pub errors: Vec<String>,
}

/// One live stream client: reads `GET {http}/api/v1/stream{query}` until
/// `stop`, reconnecting (after a second) when the server hangs up.
pub async fn stream_client(
    http: String,
    token: String,
    query: String,
    stop: CancellationToken,
) -> StreamStats {
    let mut s = StreamStats {
        latency: Hist::new(),
        events: 0,
        dropped: 0,
        connects: 0,
        errors: Vec::new(),
    };
    let client = reqwest::Client::new();
    while !stop.is_cancelled() {
        let url = format!("{http}/api/v1/stream{query}");
        let answer = client.get(&url).bearer_auth(&token).send().await;
        let result = match answer {
            Ok(r) if r.status().is_success() => {
                s.connects += 1;
                read_events(r, &mut s, &stop).await
            }
            Ok(r) => Err(format!("{url}: {}", r.status())),
            Err(e) => Err(format!("{url}: {e}")),
        };
        if let Err(e) = result {
            s.errors.push(e);
        }
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
    s
}

/// Reads one connection's events until it ends or `stop`.
async fn read_events(
    mut r: reqwest::Response,
    s: &mut StreamStats,
    stop: &CancellationToken,
) -> Result<(), String> {
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    loop {
        let chunk = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            c = r.chunk() => c.map_err(|e| e.to_string())?,
        };
        let Some(chunk) = chunk else {
            return Ok(());
        };
        let now = Utc::now();
        buf.extend_from_slice(&chunk);
        let mut start = 0;
        while let Some(end) = find(&buf[start..], b"\n\n") {
            event(&buf[start..start + end], now, s);
            start += end + 2;
        }
        buf.drain(..start);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One event block (`event: …` and `data: …` lines).
fn event(block: &[u8], now: DateTime<Utc>, s: &mut StreamStats) {
    let text = String::from_utf8_lossy(block);
    let kind = text
        .lines()
        .find_map(|l| l.strip_prefix("event:"))
        .map(str::trim);
    match kind {
        Some("position") => {
            s.events += 1;
            let ts = text
                .split_once("\"ts\":\"")
                .and_then(|(_, rest)| rest.split_once('"'))
                .and_then(|(ts, _)| DateTime::parse_from_rfc3339(ts).ok());
            if let Some(ts) = ts {
                s.latency.add(
                    (now - ts.with_timezone(&Utc))
                        .num_microseconds()
                        .unwrap_or(0) as f64
                        / 1e3,
                );
            }
        }
        Some("dropped") => s.dropped += 1,
        Some(_) => s.events += 1,
        None => {}
    }
}

/// What the positions poller saw.
pub struct PollStats {
    /// Request to the end of the body, ms.
    pub latency: Hist,
    pub bytes: usize,
    pub errors: Vec<String>,
}

/// `GET {http}/api/v1/positions` every `every` until `stop`, one at a time.
pub async fn poll_positions(
    http: String,
    token: String,
    every: Duration,
    stop: CancellationToken,
) -> PollStats {
    let mut p = PollStats {
        latency: Hist::new(),
        bytes: 0,
        errors: Vec::new(),
    };
    let client = reqwest::Client::new();
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return p,
            _ = ticker.tick() => {}
        }
        let t0 = Instant::now();
        let got = async {
            let r = client
                .get(format!("{http}/api/v1/positions"))
                .bearer_auth(&token)
                .send()
                .await?
                .error_for_status()?;
            r.bytes().await
        }
        .await;
        match got {
            Ok(body) => {
                p.latency.add(t0.elapsed().as_secs_f64() * 1e3);
                p.bytes = body.len();
            }
            Err(e) => p.errors.push(e.to_string()),
        }
    }
}

/// How many devices `GET /api/v1/positions` lists now.
pub async fn positions_count(http: &str, token: &str) -> anyhow::Result<usize> {
    let v: serde_json::Value = reqwest::Client::new()
        .get(format!("{http}/api/v1/positions"))
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(v["features"].as_array().map_or(0, Vec::len))
}
