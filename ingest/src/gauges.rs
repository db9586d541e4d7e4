//! Gauges read from the database every few seconds: open alerts by kind, the
//! oldest unacknowledged alert, and the coverage of running shift instances
//! against the time elapsed in them (what the ops alert rules compare).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use store::queries::gauges;
use store::{Pool, StoreError};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::metrics::{ALERT_KINDS, Metrics};

const EVERY: Duration = Duration::from_secs(5);

/// Refreshes the gauges for `orgs` (empty: all), until shut down. Each
/// instance reports only the orgs it serves, so sums across instances are right.
pub async fn run(pool: Pool, metrics: Metrics, orgs: Vec<String>, shutdown: CancellationToken) {
    loop {
        if let Err(e) = refresh(&pool, &metrics, &orgs, Utc::now()).await {
            warn!(error = %e, "could not refresh the alert and coverage gauges");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}

/// One refresh of the gauges for `orgs` (empty: all) at `now`: what [`run`]
/// does every few seconds (the engine tests call it once, after a commit).
pub async fn refresh(
    pool: &Pool,
    m: &Metrics,
    orgs: &[String],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let client = pool.get().await?;
    let serves = |org: &str| orgs.is_empty() || orgs.iter().any(|o| o == org);
    let org_list: Vec<&str> = orgs.iter().map(String::as_str).collect();
    let open: HashMap<String, i64> = gauges::unresolved_alerts_by_kind(&**client, &org_list)
        .await?
        .into_iter()
        .collect();
    let oldest: HashMap<String, f64> = gauges::oldest_open_alert_by_kind(&**client, &org_list)
        .await?
        .into_iter()
        .collect();
    for kind in ALERT_KINDS {
        m.alerts_open
            .with_label_values(&[kind])
            .set(open.get(kind).copied().unwrap_or(0));
        m.alerts_unack_oldest
            .with_label_values(&[kind])
            .set(oldest.get(kind).copied().unwrap_or(0.0));
    }

    // Running shift instances: routes assigned to the shift, their coverage so far.
    m.shift_coverage.reset();
    m.shift_elapsed.reset();
    for cfg in store::orgconfig::load_all(&client)
        .await?
        .into_iter()
        .filter(|c| serves(&c.org))
    {
        let routes: HashMap<&str, f64> = cfg
            .areas
            .iter()
            .filter_map(|a| a.length_m().map(|l| (a.id().as_str(), l)))
            .collect();
        for shift in &cfg.shifts {
            let Some(inst) = shift.instance_at(now) else {
                continue;
            };
            let assigned: HashSet<&str> = cfg
                .assignments
                .iter()
                .filter(|a| &a.shift == shift.id() && routes.contains_key(a.area.as_str()))
                .map(|a| a.area.as_str())
                .collect();
            let total: f64 = assigned.iter().map(|r| routes[r]).sum();
            if total <= 0.0 {
                continue;
            }
            let routes: Vec<&str> = assigned.iter().copied().collect();
            let covered = gauges::covered_m(
                &**client,
                &cfg.org,
                shift.id().as_str(),
                inst.local_date,
                &routes,
            )
            .await?;
            let span = (inst.end - inst.start).as_seconds_f64().max(1.0);
            let labels = [cfg.org.as_str(), shift.id().as_str()];
            m.shift_coverage
                .with_label_values(&labels)
                .set((covered / total).clamp(0.0, 1.0));
            m.shift_elapsed
                .with_label_values(&labels)
                .set(((now - inst.start).as_seconds_f64() / span).clamp(0.0, 1.0));
        }
    }
    Ok(())
}
