//! `sweepwatch score`: holds the alerts stored for a simulated run against the
//! ground truth the run wrote (`sweepwatch simulate run --truth FILE`), and prints
//! precision, recall and open-time error per kind, with every false and every missed
//! alert (see docs/QUALITY.md). Thresholds make it a check.

use std::path::PathBuf;

use anyhow::Context as _;
use chrono::{DateTime, TimeDelta, Utc};
use clap::Args;
use geofence::AlertKind;
use simulator::quality::{ObservedAlert, Truth, score};

#[derive(Args)]
pub struct ScoreArgs {
    /// The run's ground truth (sweepwatch-truth/1 JSON lines).
    #[arg(long)]
    truth: PathBuf,
    /// The org whose alerts to score. Default: the truth's.
    #[arg(long)]
    org: Option<String>,
    /// Score alerts opened from this instant (RFC 3339). Default: the run's start.
    #[arg(long)]
    from: Option<DateTime<Utc>>,
    /// ...and before this one. Default: a minute after the run's end.
    #[arg(long)]
    to: Option<DateTime<Utc>>,
    /// Exit non-zero when the overall precision is below this (0..1).
    #[arg(long)]
    min_precision: Option<f64>,
    /// Exit non-zero when the overall recall is below this (0..1).
    #[arg(long)]
    min_recall: Option<f64>,
    /// Print the score as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: ScoreArgs, database: &store::DbTarget) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.truth)
        .with_context(|| format!("while reading the truth file {}", args.truth.display()))?;
    let truth = Truth::from_jsonl(&text)
        .with_context(|| format!("while reading the truth file {}", args.truth.display()))?;
    let org = args.org.clone().unwrap_or_else(|| truth.run.org.clone());
    let from = args.from.unwrap_or(truth.run.start);
    let to = args.to.unwrap_or(truth.run.end + TimeDelta::minutes(1));
    let pool = store::connect_pool(database, 1)?;
    let client = pool
        .get()
        .await
        .context("while connecting to the database (is SWEEPWATCH_DATABASE_URL right?)")?;
    let rows = store::queries::quality::alerts_opened(&**client, &org, from, to)
        .await
        .context("while reading the alerts")?;
    let mut alerts = Vec::with_capacity(rows.len());
    for r in rows {
        let Some(kind) = AlertKind::parse(&r.kind) else {
            tracing::warn!(
                kind = r.kind,
                "an alert kind this scorer does not know; skipped"
            );
            continue;
        };
        alerts.push(ObservedAlert {
            device: r.device,
            kind,
            opened_at: r.opened_at,
            cleared_at: r.cleared_at,
            area_id: r.area_id,
            shift_id: r.shift_id,
            shift_date: r.shift_date,
            reopen_count: r.reopen_count.max(0) as u32,
        });
    }
    let s = score(&truth, &alerts);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print!("{s}");
    }
    s.check(args.min_precision, args.min_recall)
        .map_err(|why| anyhow::anyhow!("alert quality below the thresholds: {why}"))
}
