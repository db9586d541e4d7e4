//! Admins' edits of org configuration: devices, areas, shifts, assignments.
//! Reads are open to every role. Each write validates with the same functions
//! as `sweepwatch import` (`geofence::scenario`, `Area::from_geojson_feature`),
//! and bumps `orgs.updated_at` in the same transaction, which makes the
//! running engine reload the org's configuration.

pub mod areas;
pub mod assignments;
pub mod devices;
pub mod shifts;

use chrono_tz::Tz;
use tokio_postgres::GenericClient;

use crate::error::ApiError;

/// Tells the engine the org's configuration changed.
async fn bump_org(client: &impl GenericClient, org: &str) -> Result<(), ApiError> {
    client
        .execute("UPDATE orgs SET updated_at = now() WHERE id = $1", &[&org])
        .await?;
    Ok(())
}

/// The org's time zone; 422 naming `field` when the org does not exist.
async fn org_tz(client: &impl GenericClient, org: &str, field: &str) -> Result<Tz, ApiError> {
    let tz = store::queries::config::org_timezone(client, org)
        .await?
        .ok_or_else(|| ApiError::invalid(field, format!("no org {org:?}")))?;
    Ok(tz.parse().unwrap_or(chrono_tz::Asia::Shanghai))
}
