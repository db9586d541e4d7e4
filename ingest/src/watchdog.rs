//! The stall watchdog: messages are held, nothing has been committed for
//! `stall_after`, and yet the database answers. That is never an outage (the
//! database is up) and never idleness (something waits): it is ingest stuck,
//! the one state an operator must hear about at once. While it lasts,
//! `/readyz` says not ready and why, `sweepwatch_ingest_stalled` is 1, and a
//! warning is logged (again every minute).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::metrics::Metrics;
use crate::pipeline::Pipeline;

/// What readiness needs to know about ingest beyond the broker link.
#[derive(Debug, Default)]
pub struct IngestStatus {
    stalled: Mutex<Option<String>>,
}

impl IngestStatus {
    /// Why ingest is stalled, while it is.
    pub fn stalled(&self) -> Option<String> {
        self.stalled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set(&self, why: Option<String>) {
        *self.stalled.lock().unwrap_or_else(|e| e.into_inner()) = why;
    }
}

/// How often the watchdog looks.
const EVERY: Duration = Duration::from_secs(1);
/// How often a continuing stall is logged again.
const REMIND_EVERY: Duration = Duration::from_secs(60);

pub(crate) async fn run(
    pipeline: Arc<Pipeline>,
    pool: store::Pool,
    status: Arc<IngestStatus>,
    metrics: Metrics,
    stall_after: Duration,
    shutdown: CancellationToken,
) {
    let mut logged: Option<Instant> = None;
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let why = match pipeline.stalled_for(stall_after) {
            None => None,
            Some(for_how_long) => {
                // An outage is not a stall: readiness already reports the database.
                let answers = matches!(
                    tokio::time::timeout(Duration::from_secs(2), store::db::ping(&pool)).await,
                    Ok(Ok(()))
                );
                answers.then(|| {
                    format!(
                        "{} messages held and nothing committed for {} s although the database answers",
                        pipeline.held(),
                        for_how_long.as_secs()
                    )
                })
            }
        };
        metrics.ingest_stalled.set(i64::from(why.is_some()));
        match (&why, logged) {
            (Some(w), None) => {
                warn!(why = %w, "ingest is stalled");
                logged = Some(Instant::now());
            }
            (Some(w), Some(at)) if at.elapsed() >= REMIND_EVERY => {
                warn!(why = %w, "ingest is still stalled");
                logged = Some(Instant::now());
            }
            (None, Some(_)) => {
                info!("ingest is committing again");
                logged = None;
            }
            _ => {}
        }
        status.set(why);
    }
}
