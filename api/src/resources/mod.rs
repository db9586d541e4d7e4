//! Admins' edits of org configuration: devices, areas, shifts, assignments.
//! Reads are open to every role. Everything is kept to the token's orgs: what
//! belongs to another org is answered 404, as if it did not exist, for reads
//! and edits alike. Each write validates with the same functions as
//! `sweepwatch import` (`geofence::scenario`, `Area::from_geojson_feature`),
//! and in the same transaction bumps `orgs.updated_at` (which makes the
//! running engine reload the org's configuration) and records the change in
//! the audit log.

pub mod areas;
pub mod assignments;
pub mod devices;
pub mod shifts;

use chrono_tz::Tz;
use serde::Serialize;
use tokio_postgres::GenericClient;

use crate::auth::Caller;
use crate::error::ApiError;

/// Records a change of `org`'s configuration in the audit log; call it with
/// the transaction that makes the change.
async fn audit(
    client: &impl GenericClient,
    caller: &Caller,
    action: &str,
    object: &str,
    org: &str,
    detail: &impl Serialize,
) -> Result<(), ApiError> {
    let detail = serde_json::to_value(detail).map_err(|e| ApiError::Internal(Box::new(e)))?;
    store::queries::audit::record(
        client,
        &caller.name,
        action,
        object,
        &[org.to_owned()],
        Some(&detail),
    )
    .await?;
    Ok(())
}

/// Tells the engine the org's configuration changed.
async fn bump_org(client: &impl GenericClient, org: &str) -> Result<(), ApiError> {
    client
        .execute("UPDATE orgs SET updated_at = now() WHERE id = $1", &[&org])
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
