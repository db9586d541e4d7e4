//! `sweepwatch serve`: ingest + API (+ retention on plain PostgreSQL), as
//! supervised tasks sharing one shutdown token. If one task ends, it says which
//! and why, and the rest are shut down.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::Config;

/// Runs the service on `listener` until `shutdown` is cancelled.
pub async fn serve(
    cfg: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // Bound before anything else so that a port in use fails the start at once.
    let jt808 = std::sync::Mutex::new(bind_jt808(&cfg).await?);
    let target = cfg.database.target()?;
    let pool = store::connect_pool(&target, cfg.database.pool_size.max(2))?;
    let Some(report) = migrate_when_reachable(&cfg, &target, &pool, &shutdown).await? else {
        return Ok(()); // shut down while waiting for the database
    };
    let registry = prometheus::Registry::new();
    let metrics = ingest::Metrics::register(&registry).context("while registering metrics")?;
    let metrics_for_gauges = metrics.clone();
    let ha_metrics =
        crate::ha::HaMetrics::register(&registry).context("while registering metrics")?;
    let role = Arc::new(crate::ha::Role::default());
    let conn = Arc::new(ingest::ConnectionState::default());
    let ingest_status = Arc::new(ingest::IngestStatus::default());
    // Latest positions and a broadcast of committed positions and alert transitions.
    let live = Arc::new(live::LiveView::default());
    load_live_positions(&pool, &live).await;

    let readiness = readiness(&pool, &conn, &ingest_status, &role);
    let router = api::router_with(
        api::AppState {
            readiness,
            registry,
            pool: pool.clone(),
            live: live.clone(),
        },
        cfg.api.clone(),
    );
    // The dashboard's files and /config.json, behind every route above.
    let router = crate::web::with_dashboard(router, &cfg.web);
    info!(addr = %listener.local_addr()?, "HTTP listening");

    let serve_opts = api::ServeOptions {
        header_read_timeout: Duration::from_secs(cfg.api.header_read_timeout_s.max(1)),
    };
    let retention_days = cfg.pipeline.retention_days;
    let served_orgs = cfg.mqtt.orgs.clone();
    let mut tasks = JoinSet::new();
    spawn_named(&mut tasks, "http", {
        let shutdown = shutdown.clone();
        async move {
            api::serve_with(listener, router, shutdown, serve_opts)
                .await
                .context("HTTP server")
        }
    });
    let ingest = Ingest {
        pool: pool.clone(),
        metrics,
        conn,
        status: ingest_status,
        live,
        shutdown: shutdown.clone(),
    };
    spawn_named(
        &mut tasks,
        "ingest",
        ingest.while_active(cfg, target, role, ha_metrics, jt808),
    );
    spawn_named(&mut tasks, "gauges", {
        let (shutdown, pool, metrics) = (shutdown.clone(), pool.clone(), metrics_for_gauges);
        async move {
            ingest::gauges::run(pool, metrics, served_orgs, shutdown).await;
            Ok(())
        }
    });
    {
        let (shutdown, pool, days) = (shutdown.clone(), pool.clone(), retention_days);
        let fixes = !report.timescale;
        spawn_named(&mut tasks, "retention", async move {
            retention_loop(pool, fixes.then_some(days), shutdown).await;
            Ok(())
        });
    }
    supervise(tasks, &shutdown).await
}

/// The JT/T 808 listener, bound (`None` when it is off).
async fn bind_jt808(cfg: &Config) -> anyhow::Result<Option<TcpListener>> {
    if !cfg.jt808.enabled() {
        return Ok(None);
    }
    ingest::jt808::check_config(&cfg.jt808).map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    let listener = TcpListener::bind(cfg.jt808.listen.trim())
        .await
        .with_context(|| {
            format!(
                "while binding the JT/T 808 listener to {}",
                cfg.jt808.listen
            )
        })?;
    if !cfg.mqtt.orgs.is_empty() && !cfg.mqtt.orgs.contains(&cfg.jt808.org) {
        warn!(org = %cfg.jt808.org, "jt808.org is not among the orgs this instance serves: its terminals' fixes are stored but no engine evaluates them");
    }
    Ok(Some(listener))
}

/// Fills the live view with each device's latest stored fix.
async fn load_live_positions(pool: &store::Pool, live: &live::LiveView) {
    match pool.get().await {
        Ok(client) => match store::queries::live::latest_fixes(&**client).await {
            Ok(latest) => info!(devices = live.restore(&latest), "live positions loaded"),
            Err(e) => warn!(error = %e, "could not load the latest positions"),
        },
        Err(e) => warn!(error = %e, "could not load the latest positions"),
    }
}

/// What `/readyz` reports: the database, the broker connection, the stall
/// watchdog and the lease role.
fn readiness(
    pool: &store::Pool,
    conn: &Arc<ingest::ConnectionState>,
    status: &Arc<ingest::IngestStatus>,
    role: &Arc<crate::ha::Role>,
) -> api::Readiness {
    let (conn, status, role) = (conn.clone(), status.clone(), role.clone());
    api::Readiness {
        pool: pool.clone(),
        broker: Arc::new(
            move || match (conn.is_connected(), conn.subscription_refused()) {
                (false, _) => "disconnected",
                (true, true) => "subscription refused",
                (true, false) => "connected",
            },
        ),
        ingest_stalled: Arc::new(move || status.stalled()),
        role: Arc::new(move || role.name()),
    }
}

/// What ingest shares with the rest of the service.
struct Ingest {
    pool: store::Pool,
    metrics: ingest::Metrics,
    conn: Arc<ingest::ConnectionState>,
    status: Arc<ingest::IngestStatus>,
    live: Arc<live::LiveView>,
    shutdown: CancellationToken,
}

impl Ingest {
    /// Ingests while this instance holds the ingest lease (at once without HA).
    async fn while_active(
        self,
        cfg: Config,
        target: store::DbTarget,
        role: Arc<crate::ha::Role>,
        ha_metrics: crate::ha::HaMetrics,
        jt808: std::sync::Mutex<Option<TcpListener>>,
    ) -> anyhow::Result<()> {
        let client_id = cfg.mqtt.client_id.clone();
        let shutdown = self.shutdown.clone();
        crate::ha::run_while_active(
            &cfg.ha,
            &target,
            &client_id,
            role,
            ha_metrics,
            shutdown,
            |step_down| {
                // The terminals' port is open only while this instance is
                // active: the listener bound at the start the first time,
                // bound again after a step-down and a new lease.
                let bound = jt808.lock().expect("jt808 listener").take();
                self.run(&cfg, bound, step_down)
            },
        )
        .await
    }

    /// One term as the active instance, until shutdown or `step_down`.
    fn run(
        &self,
        cfg: &Config,
        bound: Option<TcpListener>,
        step_down: CancellationToken,
    ) -> impl Future<Output = anyhow::Result<()>> + Send + 'static {
        let (pool, metrics, conn) = (self.pool.clone(), self.metrics.clone(), self.conn.clone());
        let (status, live, shutdown) = (
            self.status.clone(),
            self.live.clone(),
            self.shutdown.clone(),
        );
        let (mqtt, pipeline) = (cfg.mqtt.clone(), cfg.pipeline.clone());
        let jt808_cfg = cfg.jt808.clone();
        let relay_cfg = cfg.jt808.clone();
        async move {
            let terminals = match bound {
                Some(listener) => Some(listener),
                None if jt808_cfg.enabled() => Some(
                    TcpListener::bind(jt808_cfg.listen.trim())
                        .await
                        .with_context(|| {
                            format!(
                                "while binding the JT/T 808 listener to {}",
                                jt808_cfg.listen
                            )
                        })?,
                ),
                None => None,
            }
            .map(|listener| ingest::Jt808Listener {
                listener,
                config: jt808_cfg,
            });
            ingest::run(
                &mqtt, &pipeline, pool, metrics, conn, status, live, terminals, &relay_cfg,
                shutdown, step_down,
            )
            .await
            .context("ingest")
        }
    }
}

/// Waits for the tasks; when one ends, says which and why, and shuts the
/// rest down. An error if any failed.
async fn supervise(
    mut tasks: JoinSet<(&'static str, anyhow::Result<()>)>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let mut failed = false;
    while let Some(joined) = tasks.join_next().await {
        let (name, result) = match joined {
            Ok(r) => r,
            Err(e) => ("task", Err(anyhow::anyhow!("panicked or was aborted: {e}"))),
        };
        match result {
            Ok(()) if shutdown.is_cancelled() => info!(task = name, "stopped"),
            Ok(()) => warn!(task = name, "ended unexpectedly; shutting down"),
            Err(e) => {
                failed = true;
                error!(
                    task = name,
                    error = format!("{e:#}"),
                    "failed; shutting down"
                );
            }
        }
        shutdown.cancel();
    }
    anyhow::ensure!(!failed, "a task failed (see the log)");
    Ok(())
}

fn spawn_named(
    tasks: &mut JoinSet<(&'static str, anyhow::Result<()>)>,
    name: &'static str,
    fut: impl Future<Output = anyhow::Result<()>> + Send + 'static,
) {
    tasks.spawn(async move { (name, fut.await) });
}

/// Applies migrations, waiting (with back-off) while the database is
/// unreachable. `None` when shut down before it became reachable. A failure
/// that waiting cannot cure (a certificate that does not verify, a broken
/// migration) ends the service with its cause.
async fn migrate_when_reachable(
    cfg: &Config,
    target: &store::DbTarget,
    pool: &store::Pool,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<store::MigrationReport>> {
    let mut backoff = Duration::from_millis(250);
    loop {
        match migrate(cfg, pool).await {
            Ok(report) => return Ok(Some(report)),
            Err(e) if e.is_transient() => {
                warn!(database = %target.describe(), error = %e, retry_in = ?backoff, "database not reachable yet");
            }
            Err(e @ store::StoreError::Pool(_)) => {
                return Err(e).with_context(|| {
                    format!("while connecting to the database {}", target.describe())
                });
            }
            Err(e) => return Err(e).context("while migrating the database"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(None),
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Applies the migrations once.
pub async fn migrate(
    cfg: &Config,
    pool: &store::Pool,
) -> Result<store::MigrationReport, store::StoreError> {
    let mut client = pool.get().await?;
    let opts = store::MigrateOptions {
        timescale: cfg.database.timescaledb,
        retention_days: cfg.pipeline.retention_days,
    };
    store::migrate(&mut client, &opts).await
}

/// Deletes fixes older than `days`, in chunks of 10,000.
async fn delete_expired_fixes(pool: &store::Pool, days: u32, shutdown: &CancellationToken) {
    const CHUNK: i64 = 10_000;
    let mut deleted = 0u64;
    loop {
        let n = match pool.get().await {
            Ok(client) => store::migrate::delete_expired_fixes(&client, days, CHUNK).await,
            Err(e) => Err(e.into()),
        };
        match n {
            Ok(n) => {
                deleted += n;
                if n < CHUNK as u64 || shutdown.is_cancelled() {
                    break;
                }
            }
            Err(e) => {
                warn!(error = %e, "retention clean-up failed; will retry");
                break;
            }
        }
    }
    if deleted > 0 {
        info!(deleted, days, "deleted fixes past the retention window");
    }
}

/// Hourly clean-up. Plain PostgreSQL has no retention policy: `fix_days`
/// (None under TimescaleDB, whose policy does it) deletes expired fixes, in
/// chunks so no transaction grows large. Engine coverage checkpoints of
/// instances whose coverage is final are deleted on both.
async fn retention_loop(pool: store::Pool, fix_days: Option<u32>, shutdown: CancellationToken) {
    loop {
        match pool.get().await {
            Ok(client) => match store::migrate::delete_final_coverage_state(&client).await {
                Ok(n) if n > 0 => info!(deleted = n, "deleted final coverage checkpoints"),
                Ok(_) => {}
                Err(e) => warn!(error = %e, "coverage checkpoint clean-up failed; will retry"),
            },
            Err(e) => warn!(error = %e, "retention clean-up: no database connection; will retry"),
        }
        if let Some(days) = fix_days {
            delete_expired_fixes(&pool, days, &shutdown).await;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
        }
    }
}
