//! Active/standby: several instances may run with the same orgs and MQTT
//! client id; the one holding the ingest lease ([`store::lease`]) ingests, the
//! others wait for it. Every instance serves the API from the database.
//!
//! A standby never connects to the broker, so the broker's persistent session
//! (and what it holds) moves with the lease. The active instance checks its
//! lease session every `check_interval_ms`; when a check fails or takes longer
//! than `check_timeout_ms` it steps down at once (ingest stops without
//! acknowledging anything uncommitted) and becomes a standby again. Its checks
//! end well before PostgreSQL releases the lock of a vanished session (about
//! 9 s, from the session's TCP keep-alives), so it has stopped before a standby
//! can start, except when its process died, which releases the lock at once.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use prometheus::{IntCounter, IntGauge, Opts, Registry};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// `[ha]` in the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HaConfig {
    /// Take the ingest lease before ingesting. Off: ingest at once, as a
    /// single instance that must never run twice with one client id.
    pub enabled: bool,
    /// How often the active instance checks that its lease session answers.
    pub check_interval_ms: u64,
    /// A check slower than this counts as a lost lease.
    pub check_timeout_ms: u64,
    /// How often a standby tries to take the lease.
    pub retry_ms: u64,
}

impl Default for HaConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            check_interval_ms: 1_000,
            check_timeout_ms: 3_000,
            retry_ms: 1_000,
        }
    }
}

/// This instance's role, for `/readyz` and the metrics: `starting` until its
/// first try of the lease is answered, then `active` or `standby`.
#[derive(Debug, Default)]
pub struct Role(AtomicU8);

impl Role {
    // 0, the default, is `starting`.
    const STANDBY: u8 = 1;
    const ACTIVE: u8 = 2;

    pub fn is_active(&self) -> bool {
        self.0.load(Ordering::Relaxed) == Self::ACTIVE
    }

    pub fn name(&self) -> &'static str {
        match self.0.load(Ordering::Relaxed) {
            Self::ACTIVE => "active",
            Self::STANDBY => "standby",
            _ => "starting",
        }
    }

    fn set(&self, active: bool) {
        let v = if active { Self::ACTIVE } else { Self::STANDBY };
        self.0.store(v, Ordering::Relaxed);
    }
}

/// `sweepwatch_ingest_active` and `sweepwatch_ingest_lease_acquired_total`.
#[derive(Clone)]
pub struct HaMetrics {
    active: IntGauge,
    acquired: IntCounter,
    lost: IntCounter,
}

impl HaMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let active = IntGauge::with_opts(Opts::new(
            "sweepwatch_ingest_active",
            "1 while this instance holds the ingest lease and ingests; 0 while it is a standby",
        ))?;
        let acquired = IntCounter::with_opts(Opts::new(
            "sweepwatch_ingest_lease_acquired_total",
            "Times this instance took the ingest lease (became active)",
        ))?;
        let lost = IntCounter::with_opts(Opts::new(
            "sweepwatch_ingest_lease_lost_total",
            "Times this instance lost its ingest lease and stepped down",
        ))?;
        registry.register(Box::new(active.clone()))?;
        registry.register(Box::new(acquired.clone()))?;
        registry.register(Box::new(lost.clone()))?;
        Ok(Self {
            active,
            acquired,
            lost,
        })
    }
}

/// Runs `ingest` while this instance holds the lease for `client_id`, again
/// each time it takes the lease back, until `shutdown`. `ingest` gets a token
/// that is cancelled when the lease is lost; it returns `Ok` when it stopped
/// for that or for `shutdown`, and an error ends the service.
pub async fn run_while_active<F, Fut>(
    cfg: &HaConfig,
    target: &store::DbTarget,
    client_id: &str,
    role: Arc<Role>,
    metrics: HaMetrics,
    shutdown: CancellationToken,
    mut ingest: F,
) -> anyhow::Result<()>
where
    F: FnMut(CancellationToken) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    if !cfg.enabled {
        role.set(true);
        metrics.active.set(1);
        return ingest(CancellationToken::new()).await;
    }
    let retry = Duration::from_millis(cfg.retry_ms.max(50));
    let interval = Duration::from_millis(cfg.check_interval_ms.max(50));
    let timeout = Duration::from_millis(cfg.check_timeout_ms.max(50));
    loop {
        metrics.active.set(0);
        let Some(lease) = acquire(target, client_id, retry, &role, &shutdown).await else {
            return Ok(());
        };
        role.set(true);
        metrics.active.set(1);
        metrics.acquired.inc();
        info!(
            client_id,
            backend_pid = lease.backend_pid(),
            "took the ingest lease: this instance is active"
        );
        let step_down = CancellationToken::new();
        let run = ingest(step_down.clone());
        tokio::pin!(run);
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                r = &mut run => {
                    role.set(false);
                    metrics.active.set(0);
                    return r;
                }
                _ = ticks.tick() => {
                    if let Err(e) = lease.check(timeout).await {
                        warn!(client_id, error = %e, "lost the ingest lease: stepping down");
                        metrics.lost.inc();
                        role.set(false);
                        metrics.active.set(0);
                        step_down.cancel();
                        let r = run.await;
                        drop(lease);
                        r?;
                        break;
                    }
                }
            }
        }
        if shutdown.is_cancelled() {
            return Ok(());
        }
    }
}

/// Waits for the lease; `None` on shutdown.
async fn acquire(
    target: &store::DbTarget,
    client_id: &str,
    retry: Duration,
    role: &Role,
    shutdown: &CancellationToken,
) -> Option<store::lease::Lease> {
    let mut logged_standby = false;
    let mut failures: u64 = 0;
    loop {
        let attempt = tokio::select! {
            _ = shutdown.cancelled() => return None,
            r = store::lease::Lease::try_acquire(target, client_id) => r,
        };
        if attempt.is_ok() {
            failures = 0;
        }
        match attempt {
            Ok(Some(lease)) => return Some(lease),
            Ok(None) if !logged_standby => {
                role.set(false);
                info!(
                    client_id,
                    "another instance holds the ingest lease: standing by"
                );
                logged_standby = true;
            }
            Ok(None) => {}
            // Once, then once a minute: a standby retries every second.
            Err(e) if failures.is_multiple_of(60) => {
                failures += 1;
                warn!(client_id, error = %e, failures, "could not try the ingest lease")
            }
            Err(_) => failures += 1,
        }
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(retry) => {}
        }
    }
}
