//! The audit log: who changed tokens and org configuration, when, in which
//! orgs. Entries are written with [`record`] inside the transaction of the
//! change they describe.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::GenericClient;

use crate::StoreError;

/// One change, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = AuditEntry))]
pub struct AuditRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The token's name, or `sweepwatch import`.
    pub actor: String,
    /// `device.create`, `device.update`, `device.delete`, the same for `area`,
    /// `shift` and `assignment`, `token.create`, `token.revoke`, `org.import`.
    pub action: String,
    /// What changed: `device/12`, `area/humen/route-a`, `shift/humen/day`,
    /// `assignment/7`, `token/desk-2`, `org/humen`.
    pub object: String,
    /// The orgs it concerns; empty: none in particular (a token for every org).
    pub orgs: Vec<String>,
    /// The object as stored after the change (before it, for a deletion).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub detail: Option<serde_json::Value>,
}

/// Records a change. Call it with the transaction that makes the change.
pub async fn record(
    client: &impl GenericClient,
    actor: &str,
    action: &str,
    object: &str,
    orgs: &[String],
    detail: Option<&serde_json::Value>,
) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO audit_log (actor, action, object, orgs, detail) VALUES ($1, $2, $3, $4, $5)",
            &[&actor, &action, &object, &orgs, &detail],
        )
        .await?;
    Ok(())
}

/// Filters of the audit list; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only entries whose orgs are all among these (and not empty): what an
    /// admin limited to these orgs may read. `None`: every entry.
    pub within: Option<Vec<String>>,
    /// Only entries about this org.
    pub org: Option<String>,
    pub action: Option<String>,
    /// At or after.
    pub from: Option<DateTime<Utc>>,
    /// Before.
    pub to: Option<DateTime<Utc>>,
    /// Keyset: only entries after this (at, id) in newest-first order.
    pub after: Option<(DateTime<Utc>, i64)>,
    pub limit: i64,
}

/// Entries matching `f`, newest first.
pub async fn list(
    client: &impl GenericClient,
    f: &AuditFilter,
) -> Result<Vec<AuditRow>, StoreError> {
    let (after_at, after_id) = f.after.unzip();
    let rows = client
        .query(
            "SELECT id, at, actor, action, object, orgs, detail FROM audit_log
             WHERE ($1::text[] IS NULL OR (cardinality(orgs) > 0 AND orgs <@ $1))
               AND ($2::text IS NULL OR $2 = ANY(orgs))
               AND ($3::text IS NULL OR action = $3)
               AND ($4::timestamptz IS NULL OR at >= $4)
               AND ($5::timestamptz IS NULL OR at < $5)
               AND ($6::timestamptz IS NULL OR (at, id) < ($6, $7::int8))
             ORDER BY at DESC, id DESC
             LIMIT $8",
            &[
                &f.within, &f.org, &f.action, &f.from, &f.to, &after_at, &after_id, &f.limit,
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| AuditRow {
            id: r.get(0),
            at: r.get(1),
            actor: r.get(2),
            action: r.get(3),
            object: r.get(4),
            orgs: r.get(5),
            detail: r.get(6),
        })
        .collect())
}
