//! What the database holds after a run, checked against what the broker
//! acknowledged: loss, duplicates, and every device's fixes.

use chrono::{DateTime, Utc};

use crate::common::scrape;

/// The fixes of one load run in the database.
#[derive(Debug, Default)]
pub struct Stored {
    /// Rows in `fixes` (all runs, probes included).
    pub rows: i64,
    /// Rows of the run: org, and `ts` within its first and last fix.
    pub run_rows: i64,
    /// Devices with fixes of the run.
    pub devices: i64,
    /// Devices whose fixes are exactly `seq` 1..=n without a gap (and n the
    /// expected count, when one is given).
    pub devices_ok: i64,
    pub min_per_device: i64,
    pub max_per_device: i64,
}

/// Counts the fixes of `org` between `first` and `last` (a load run's
/// [`simulator::LoadReport`] bounds) and checks each device's sequence numbers:
/// the simulator numbers every device's fixes 1, 2, 3… per run, so a device
/// whose stored `seq`s are exactly 1..=count lost nothing in the middle.
pub async fn stored(
    db_url: &str,
    org: &str,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    per_device: Option<u64>,
) -> anyhow::Result<Stored> {
    let client = db_url.parse::<store::DbTarget>()?.connect().await?;
    let rows: i64 = client
        .query_one("SELECT count(*) FROM fixes", &[])
        .await?
        .get(0);
    let expected = per_device.map(|n| n as i64);
    let r = client
        .query_one(
            "SELECT coalesce(sum(n), 0)::int8, count(*),
                    count(*) FILTER (WHERE lo = 1 AND hi = n AND ds = n
                                     AND ($4::int8 IS NULL OR n = $4)),
                    coalesce(min(n), 0), coalesce(max(n), 0)
             FROM (SELECT f.device_id, count(*) AS n, min(f.seq) AS lo, max(f.seq) AS hi,
                          count(DISTINCT f.seq) AS ds
                   FROM fixes f JOIN devices d ON d.id = f.device_id
                   WHERE d.org = $1 AND f.ts BETWEEN $2 AND $3
                   GROUP BY f.device_id) per_device",
            &[&org, &first, &last, &expected],
        )
        .await?;
    Ok(Stored {
        rows,
        run_rows: r.get(0),
        devices: r.get(1),
        devices_ok: r.get(2),
        min_per_device: r.get(3),
        max_per_device: r.get(4),
    })
}

/// The service's own accounting, from one `/metrics` page.
#[derive(Debug, Default)]
pub struct Counted {
    pub stored: f64,
    pub duplicates: f64,
    pub rejects: f64,
    pub read_pauses: f64,
    pub db_errors: f64,
    pub messages: Vec<(String, f64)>,
    /// Committed batches, their rows, and the seconds from BEGIN to COMMIT
    /// (the insert, the engines, their effects): summed, and p50/p99.
    pub batches: f64,
    pub batch_rows: f64,
    pub batch_seconds: f64,
    pub batch_p50: f64,
    pub batch_p99: f64,
}

impl Counted {
    pub fn from(text: &str) -> Self {
        Self {
            stored: scrape::value(text, "sweepwatch_fixes_stored_total").unwrap_or(0.0),
            duplicates: scrape::value(text, "sweepwatch_fixes_duplicate_total").unwrap_or(0.0),
            rejects: scrape::sum(text, "sweepwatch_mqtt_rejects_total"),
            read_pauses: scrape::value(text, "sweepwatch_mqtt_read_pauses_total").unwrap_or(0.0),
            db_errors: scrape::value(text, "sweepwatch_db_errors_total").unwrap_or(0.0),
            messages: scrape::labelled(text, "sweepwatch_mqtt_messages_total"),
            batches: scrape::value(text, "sweepwatch_db_batch_seconds_count").unwrap_or(0.0),
            batch_rows: scrape::value(text, "sweepwatch_db_batch_rows_sum").unwrap_or(0.0),
            batch_seconds: scrape::value(text, "sweepwatch_db_batch_seconds_sum").unwrap_or(0.0),
            batch_p50: scrape::quantile(text, "sweepwatch_db_batch_seconds", 0.5),
            batch_p99: scrape::quantile(text, "sweepwatch_db_batch_seconds", 0.99),
        }
    }

    /// `batches 200 of 5000 rows on average; BEGIN..COMMIT mean 80 ms (p50 …, p99 …), 16.0 s in all`
    pub fn batches_line(&self) -> String {
        let n = self.batches.max(1.0);
        format!(
            "batches {:.0} of {:.0} rows on average; BEGIN..COMMIT (insert, engines, effects) \
             mean {:.1} ms (p50 {:.1} ms, p99 {:.1} ms), {:.1} s in all",
            self.batches,
            self.batch_rows / n,
            1e3 * self.batch_seconds / n,
            1e3 * self.batch_p50,
            1e3 * self.batch_p99,
            self.batch_seconds
        )
    }
}

/// Prints the checks; `Err` if a fix acknowledged by the broker is not stored
/// (or a device's fixes are not exactly its sequence).
pub fn report(published: u64, acknowledged: u64, s: &Stored, c: &Counted) -> anyhow::Result<()> {
    let lost = acknowledged as i64 - s.run_rows;
    println!(
        "published {published}, acknowledged by the broker {acknowledged}; stored {} of the run \
         ({} rows in fixes); lost {lost}",
        s.run_rows, s.rows
    );
    println!(
        "devices {}: {} with exactly seq 1..n; per device {}..{} fixes",
        s.devices, s.devices_ok, s.min_per_device, s.max_per_device
    );
    let messages: Vec<String> = c
        .messages
        .iter()
        .map(|(l, v)| format!("{l} {v:.0}"))
        .collect();
    println!(
        "service: stored {:.0}, duplicates {:.0}, rejects {:.0}, read pauses {:.0}, \
         db errors {:.0}; messages {}",
        c.stored,
        c.duplicates,
        c.rejects,
        c.read_pauses,
        c.db_errors,
        messages.join(", ")
    );
    println!("service: {}", c.batches_line());
    anyhow::ensure!(
        lost == 0,
        "LOSS: {} stored of {acknowledged} acknowledged",
        s.run_rows
    );
    anyhow::ensure!(
        s.devices_ok == s.devices,
        "{} of {} devices do not have exactly their fixes",
        s.devices - s.devices_ok,
        s.devices
    );
    Ok(())
}
