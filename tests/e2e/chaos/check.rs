//! Waiting for ingest with a deadline and a stall detector, and checking that
//! every fix is stored exactly once and every bad message is kept.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio_postgres::NoTls;

use super::fleet::{BAD_TOPIC, Fleet, ORG};
use crate::helpers::eventually;
use crate::helpers::service::Service;

pub const FIXES: &str = "SELECT count(*) FROM fixes";
pub const REJECTS: &str = "SELECT count(*) FROM rejected_messages";

/// Counts with a fresh connection; `None` while the database is unreachable
/// (a test may be restarting it) or the table does not exist yet.
pub async fn count(db_url: &str, sql: &str) -> Option<i64> {
    let (client, conn) = tokio_postgres::connect(db_url, NoTls).await.ok()?;
    tokio::spawn(conn);
    client.query_one(sql, &[]).await.ok().map(|r| r.get(0))
}

/// The samples of `/metrics` that tell where ingest is stuck, on one line.
pub async fn diagnostics(svc: &Service) -> String {
    const SAMPLES: [&str; 8] = [
        "sweepwatch_pipeline_queue_depth",
        "sweepwatch_fixes_stored_total",
        "sweepwatch_fixes_duplicate_total",
        "sweepwatch_db_errors_total",
        "sweepwatch_mqtt_connected",
        "sweepwatch_mqtt_read_pauses_total",
        "sweepwatch_mqtt_messages_total",
        "sweepwatch_mqtt_rejects_total",
    ];
    let text = match reqwest::get(format!("{}/metrics", svc.http)).await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(e) => return format!("/metrics unreachable: {e}"),
    };
    let found: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && SAMPLES.iter().any(|s| l.starts_with(s)))
        // Only the reject reasons that occurred.
        .filter(|l| !(l.starts_with("sweepwatch_mqtt_rejects_total") && l.ends_with(" 0")))
        .collect();
    found.join(", ")
}

/// How long a wait may take, and how long it may see no progress at all.
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    pub deadline: Duration,
    pub stall: Duration,
}

impl Patience {
    /// A debug build of the service stores 15,000-35,000 fixes/s on 2 cores
    /// (measured: a 200,000 backlog drained in 5.8-14 s, depending on what
    /// else ran); 3 minutes per 300,000 is over 8 times the slowest, for a
    /// loaded CI machine, and at least a minute. A minute without a single new row is a stall (the longest
    /// legitimate pause, a broker or database restart and the reconnect
    /// back-off, is a few seconds).
    pub fn for_fixes(n: i64) -> Self {
        Self {
            deadline: Duration::from_secs((n as u64 * 180 / 300_000).max(60)),
            stall: Duration::from_secs(60),
        }
    }
}

/// Waits until `fixes` holds `want` rows, failing on the deadline, on a stall
/// (no new row for `patience.stall`), or as soon as there are more than
/// `want`. Prints progress with the service's queue depth as it goes (shown
/// by the test harness when the test fails). Returns how long it took.
pub async fn wait_for_fixes(
    db_url: &str,
    svc: &Service,
    want: i64,
    patience: Patience,
) -> Duration {
    let started = Instant::now();
    let (mut last, mut last_change, mut last_report) = (-1, Instant::now(), Instant::now());
    loop {
        // Unknown while the database is down: neither progress nor a stall.
        if let Some(n) = count(db_url, FIXES).await {
            assert!(
                n <= want,
                "{n} fixes stored, more than the {want} published"
            );
            if n == want {
                return started.elapsed();
            }
            if n != last {
                (last, last_change) = (n, Instant::now());
            }
        }
        let n = last;
        let waited = started.elapsed();
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            eprintln!(
                "[{:>5.1} s] {n} of {want} fixes stored; {}",
                waited.as_secs_f64(),
                diagnostics(svc).await
            );
        }
        let stalled = last_change.elapsed() >= patience.stall;
        if stalled || waited >= patience.deadline {
            let rejects = count(db_url, REJECTS).await.unwrap_or(-1);
            panic!(
                "ingest {}: {n} of {want} fixes stored after {:.0} s, the last one stored {:.0} s ago \
                 ({rejects} rejected_messages); {}",
                if stalled { "stalled" } else { "too slow" },
                waited.as_secs_f64(),
                last_change.elapsed().as_secs_f64(),
                diagnostics(svc).await
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Every fix of `fleet`'s devices, `per_device` each, stored exactly once and
/// nothing else: per device the count, distinct `ts`, the seq range, and no
/// `(device_id, ts)` twice.
pub async fn assert_exactly_once(db_url: &str, fleet: &Fleet, per_device: usize) {
    let (client, conn) = tokio_postgres::connect(db_url, NoTls).await.unwrap();
    tokio::spawn(conn);
    let total: i64 = client.query_one(FIXES, &[]).await.unwrap().get(0);
    assert_eq!(total, fleet.fixes(per_device), "fixes stored vs published");
    let twice: i64 = client
        .query_one(
            "SELECT count(*) FROM (SELECT device_id, ts FROM fixes GROUP BY 1, 2 HAVING count(*) > 1) d",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(twice, 0, "(device_id, ts) stored more than once");
    let rows = client
        .query(
            "SELECT d.org, d.name, count(*), count(DISTINCT f.ts), count(DISTINCT f.seq), min(f.seq), max(f.seq)
             FROM fixes f JOIN devices d ON d.id = f.device_id GROUP BY 1, 2",
            &[],
        )
        .await
        .unwrap();
    let got: BTreeMap<String, [i64; 5]> = rows
        .iter()
        .map(|r| {
            (
                format!("{}/{}", r.get::<_, String>(0), r.get::<_, String>(1)),
                [r.get(2), r.get(3), r.get(4), r.get(5), r.get(6)],
            )
        })
        .collect();
    let n = per_device as i64;
    let expected: BTreeMap<String, [i64; 5]> = (0..fleet.devices)
        .map(|d| (format!("{ORG}/{}", fleet.device(d)), [n, n, n, 0, n - 1]))
        .collect();
    if got != expected {
        let wrong: Vec<String> = expected
            .iter()
            .filter(|(k, v)| got.get(*k) != Some(v))
            .take(5)
            .map(|(k, v)| format!("{k}: want {v:?}, got {:?}", got.get(k)))
            .chain(
                got.keys()
                    .filter(|k| !expected.contains_key(*k))
                    .take(5)
                    .map(|k| format!("unexpected device {k}")),
            )
            .collect();
        panic!(
            "stored fixes per device differ ([count, distinct ts, distinct seq, min seq, max seq]): {}",
            wrong.join("; ")
        );
    }
}

/// Whether a message may have reached the service twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Nothing was redelivered: each bad message is kept exactly once.
    Once,
    /// The service or the broker was killed: a reject committed but not yet
    /// acknowledged comes again (rejects have no key to deduplicate on), so
    /// each bad message is kept at least once.
    Redelivered,
}

/// After the fix count is reached: every bad message of the fleet's streams
/// kept (`rejected_messages` with its topic and bytes), `other_rejects` rows
/// besides, nothing more trickling in, and the stored fixes exact.
pub async fn settle_and_check(
    db_url: &str,
    fleet: &Fleet,
    per_device: usize,
    delivery: Delivery,
    other_rejects: i64,
) {
    let bad = fleet.bad_messages();
    let kept = || async {
        let (client, conn) = tokio_postgres::connect(db_url, NoTls).await.ok()?;
        tokio::spawn(conn);
        let rows = client
            .query(
                "SELECT convert_from(payload, 'UTF8'), count(*) FROM rejected_messages
                 WHERE topic = $1 GROUP BY 1",
                &[&BAD_TOPIC],
            )
            .await
            .ok()?;
        let kept: BTreeMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        bad.iter().all(|b| kept.contains_key(b)).then_some(kept)
    };
    let kept = eventually(
        Duration::from_secs(30),
        &format!("the {} bad messages kept in rejected_messages", bad.len()),
        kept,
    )
    .await;
    // Nothing else trickles in afterwards.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_exactly_once(db_url, fleet, per_device).await;
    assert_eq!(
        kept.len(),
        bad.len(),
        "rejects on {BAD_TOPIC} that were never published"
    );
    let twice: Vec<_> = kept.iter().filter(|(_, n)| **n != 1).collect();
    match delivery {
        Delivery::Once => assert!(
            twice.is_empty(),
            "bad messages kept more than once: {twice:?}"
        ),
        Delivery::Redelivered if !twice.is_empty() => eprintln!(
            "[chaos] {} of {} bad messages were redelivered and kept again",
            twice.len(),
            bad.len()
        ),
        Delivery::Redelivered => {}
    }
    let others = count(
        db_url,
        &format!("SELECT count(*) FROM rejected_messages WHERE topic <> '{BAD_TOPIC}'"),
    )
    .await;
    assert_eq!(
        others,
        Some(other_rejects),
        "rows in rejected_messages besides the bad messages"
    );
}

/// Prints a measured figure (shown with `--nocapture`, or when the test fails).
pub fn report(test: &str, what: &str) {
    eprintln!("[chaos::{test}] {what}");
}
