//! Rollups (coverage, daily summaries) and engine checkpoints too large to
//! hold a batch of fixes up: written in a transaction of their own, beside
//! ingest, one at a time.
//!
//! A city of 100,000 devices changes about 10,000 daily summaries and 2,000
//! routes' coverage a second, and its ten-second checkpoint is 100,000
//! device states: written in the batch's transaction they took 0.3–0.6 s a
//! second and 1.3–2.4 s every ten, while every fix behind them waited
//! (commit p99 about 2 s with the machine far from busy). Small ones (a
//! town's) still go in the batch's own transaction, so that there a commit
//! holds everything derived from its fixes.
//!
//! What keeps this as safe as the batch's transaction:
//! - what is written beside was taken from the engines after a batch and is
//!   handed over only once that batch committed: it never reflects a fix that
//!   is not stored;
//! - a checkpoint goes with the rollups collected with it, in one
//!   transaction, so it never moves past fixes whose rollups are not written;
//! - one at a time, and nothing more is collected while one is written: an
//!   older rollup never overwrites a newer one;
//! - if it fails, the writer throws its engines away and rebuilds them from
//!   the database (the last checkpoint, then the replay, which writes what it
//!   derives), as after a failed batch; a rebuild first waits for the write
//!   in flight, so it reads a checkpoint nothing is still changing;
//! - dropped with the writer (shutdown, stepping down), the write is aborted:
//!   the transaction rolls back unless its COMMIT was already sent.

use std::time::{Duration, Instant};

use store::effects::{Checkpoint, Effects};
use store::{Pool, StoreError};
use tokio::task::JoinHandle;

/// Rows up to which rollups and a checkpoint are written in the batch's own
/// transaction (a few milliseconds of statements).
pub(super) const IN_BATCH_MAX_ROWS: usize = 1_000;

/// Rollups collected from the engines and, when one was due, a checkpoint.
#[derive(Default)]
pub(super) struct Rollups {
    /// Coverage and daily summaries only (alerts are always the batch's).
    pub fx: Effects,
    pub checkpoint: Option<Checkpoint>,
}

impl Rollups {
    pub fn rows(&self) -> usize {
        self.fx.coverage.len()
            + self.fx.daily.len()
            + self
                .checkpoint
                .as_ref()
                .map_or(0, |c| c.devices.len() + c.coverage.len())
    }

    /// Whether they are small enough for the batch's own transaction.
    pub fn fit_in_batch(&self) -> bool {
        self.rows() <= IN_BATCH_MAX_ROWS
    }

    /// Writes them in `tx` (rollups first, then the checkpoint).
    pub async fn write(&self, tx: &store::Transaction<'_>) -> Result<(), StoreError> {
        debug_assert!(self.fx.alerts.is_empty(), "alerts go with their batch");
        store::effects::write_effects(tx, &self.fx).await?;
        if let Some(cp) = &self.checkpoint {
            store::effects::write_checkpoint(tx, cp).await?;
        }
        Ok(())
    }
}

/// The one write in flight beside ingest, if any.
#[derive(Default)]
pub(super) struct Beside {
    task: Option<JoinHandle<Result<Duration, StoreError>>>,
}

impl Beside {
    /// A write is in flight (nothing more may be collected until it ends).
    pub fn busy(&self) -> bool {
        self.task.is_some()
    }

    /// Starts writing `rollups` on a connection of `pool`'s, in one transaction.
    pub fn start(&mut self, pool: &Pool, rollups: Rollups) {
        debug_assert!(!self.busy(), "one write beside ingest at a time");
        let pool = pool.clone();
        self.task = Some(tokio::spawn(async move {
            let started = Instant::now();
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            rollups.write(&tx).await?;
            tx.commit().await?;
            Ok(started.elapsed())
        }));
    }

    /// How the write in flight ended, if it has (without waiting).
    pub async fn finished(&mut self) -> Option<Result<Duration, StoreError>> {
        if self.task.as_ref().is_some_and(JoinHandle::is_finished) {
            self.wait().await
        } else {
            None
        }
    }

    /// Waits for the write in flight; `None` if there was none.
    pub async fn wait(&mut self) -> Option<Result<Duration, StoreError>> {
        let task = self.task.take()?;
        Some(match task.await {
            Ok(r) => r,
            Err(e) => Err(StoreError::Timeout(format!(
                "the write of rollups beside ingest ended without an answer: {e}"
            ))),
        })
    }
}

impl Drop for Beside {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}
