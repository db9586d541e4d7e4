//! Admins' edits of org configuration: devices, areas, shifts, assignments.
//! Reads are open to every role. Everything is kept to the token's orgs: what
//! belongs to another org is answered 404, as if it did not exist, for reads
//! and edits alike. Each write validates with the same functions as
//! `sweepwatch import` (`geofence::scenario`, `Area::from_geojson_feature`),
//! and goes through one `store::ConfigEdit`: a transaction that also bumps
//! `orgs.updated_at` (which makes the running engine reload the org's
//! configuration) and records the change in the audit log.

pub mod areas;
pub mod assignments;
pub mod devices;
pub mod shifts;

use chrono_tz::Tz;
use serde::Serialize;
use store::{AuditEntry, ConfigEdit};
use tokio_postgres::GenericClient;

use crate::auth::Caller;
use crate::error::ApiError;

/// Commits `edit`, recording in the audit log that `caller` did `action` to
/// `object` of `org`, which is now (or was, before a deletion) `detail`.
async fn commit(
    edit: ConfigEdit<'_>,
    caller: &Caller,
    action: &str,
    object: String,
    org: &str,
    detail: &impl Serialize,
) -> Result<(), ApiError> {
    let detail = serde_json::to_value(detail).map_err(|e| ApiError::Internal(Box::new(e)))?;
    edit.commit(AuditEntry {
        actor: &caller.name,
        action,
        object,
        org,
        detail,
    })
    .await?;
    Ok(())
}

/// The org's time zone; 422 naming `field` when the org does not exist, 409
/// naming the org when its stored zone is unknown.
async fn org_tz(client: &impl GenericClient, org: &str, field: &str) -> Result<Tz, ApiError> {
    let tz = store::queries::config::org_timezone(client, org)
        .await?
        .ok_or_else(|| ApiError::invalid(field, format!("no org {org:?}")))?;
    geofence::org_time_zone(org, &tz).map_err(|e| ApiError::Conflict(e.to_string()))
}
