//! What operators write at the dispatch desk: they acknowledge and resolve
//! alerts (each change with its row in `alert_transitions`), and mark
//! stretches of a route as justifiably missed.

use chrono::NaiveDate;
use tokio_postgres::GenericClient;

use crate::StoreError;
use crate::constraint::WriteError;

/// An alert's state and org, the row locked until the transaction ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedAlert {
    /// `open`, `acknowledged` or `resolved`.
    pub state: String,
    pub org: String,
}

/// The alert `id`, locked; `None` when there is none.
pub async fn lock_alert(
    client: &impl GenericClient,
    id: i64,
) -> Result<Option<LockedAlert>, StoreError> {
    Ok(client
        .query_opt(
            "SELECT state, org FROM alerts WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .await?
        .map(|r| LockedAlert {
            state: r.get(0),
            org: r.get(1),
        }))
}

/// What an operator does to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertAction {
    Acknowledge,
    /// Resolve, with the operator's note as the resolution note.
    Resolve,
}

impl AlertAction {
    /// The state the alert is in afterwards.
    pub fn state(self) -> &'static str {
        match self {
            AlertAction::Acknowledge => "acknowledged",
            AlertAction::Resolve => "resolved",
        }
    }
}

/// Acknowledges or resolves alert `id` as `actor`, and records the transition
/// with `note`. Call it with the transaction that locked the alert.
pub async fn act_on_alert(
    client: &impl GenericClient,
    id: i64,
    action: AlertAction,
    actor: &str,
    note: Option<&str>,
) -> Result<(), StoreError> {
    match action {
        AlertAction::Acknowledge => {
            client
                .execute(
                    "UPDATE alerts SET state = 'acknowledged', acknowledged_at = now(), acknowledged_by = $2
                     WHERE id = $1",
                    &[&id, &actor],
                )
                .await?
        }
        AlertAction::Resolve => {
            client
                .execute(
                    "UPDATE alerts SET state = 'resolved', resolved_at = now(), resolved_by = $2,
                         resolution_note = $3 WHERE id = $1",
                    &[&id, &actor, &note],
                )
                .await?
        }
    };
    client
        .execute(
            "INSERT INTO alert_transitions (alert_id, state, at, actor, note) VALUES ($1, $2, now(), $3, $4)",
            &[&id, &action.state(), &actor, &note],
        )
        .await?;
    Ok(())
}

/// A stretch of a route in one shift instance that was justifiably missed.
#[derive(Debug, Clone, Copy)]
pub struct NewJustification<'a> {
    pub org: &'a str,
    pub route_id: &'a str,
    pub shift_id: &'a str,
    pub shift_date: NaiveDate,
    /// Metres along the route.
    pub from_m: f64,
    pub to_m: f64,
    pub note: &'a str,
    /// The token's name.
    pub actor: &'a str,
}

/// Records a justification; returns its id. A stretch that does not start at
/// 0 or after, or ends before it starts, is refused.
pub async fn justify(
    client: &impl GenericClient,
    j: &NewJustification<'_>,
) -> Result<i64, WriteError> {
    let row = client
        .query_one(
            "INSERT INTO coverage_justifications (org, route_id, shift_id, shift_date, from_m, to_m, note, actor)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            &[&j.org, &j.route_id, &j.shift_id, &j.shift_date, &j.from_m, &j.to_m, &j.note, &j.actor],
        )
        .await?;
    Ok(row.get(0))
}
