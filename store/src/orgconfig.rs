//! Org configuration in the database: importing a validated scenario (one
//! transaction: nothing half-imported) and loading every org's configuration
//! for the engine.

use std::collections::HashMap;

use chrono_tz::Tz;
use geofence::scenario::{Scenario, ScenarioFile, ShiftSpec, shift_from_spec};
use geofence::{Area, AreaId, Assignment, DeviceKey, DeviceKind, RuleConfig, Shift, ShiftId};
use tokio_postgres::{Client, Transaction};

use crate::StoreError;

/// What an import changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub org: String,
    pub areas: usize,
    pub shifts: usize,
    pub devices: usize,
    pub assignments: usize,
}

/// One org's configuration, as the engine needs it.
#[derive(Debug, Clone)]
pub struct OrgConfig {
    pub org: String,
    pub tz: Tz,
    pub rules: RuleConfig,
    pub areas: Vec<Area>,
    pub shifts: Vec<Shift>,
    /// Device name (within the org) → (database id, kind).
    pub devices: HashMap<String, (i32, DeviceKind)>,
    pub assignments: Vec<Assignment>,
}

fn kind_str(k: DeviceKind) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

/// Replaces the org's areas, shifts and assignments with the scenario's and
/// upserts its devices (ids are kept, so stored fixes stay theirs), all in one
/// transaction, with its entry in the audit log (`org.import`).
pub async fn import(
    client: &mut Client,
    file: &ScenarioFile,
    scenario: &Scenario,
) -> Result<ImportReport, StoreError> {
    let org = &scenario.org.id;
    let tx = client.transaction().await?;
    tx.execute(
        "INSERT INTO orgs (id, name, timezone, rules) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, timezone = excluded.timezone,
             rules = excluded.rules, updated_at = now()",
        &[
            org,
            &scenario.org.name,
            &scenario.org.timezone,
            &serde_json::to_value(&scenario.rules).unwrap_or_default(),
        ],
    )
    .await?;
    tx.execute("DELETE FROM assignments WHERE org = $1", &[org])
        .await?;
    tx.execute("DELETE FROM areas WHERE org = $1", &[org])
        .await?;
    tx.execute("DELETE FROM shifts WHERE org = $1", &[org])
        .await?;
    insert_areas(&tx, org, file, scenario).await?;
    insert_shifts(&tx, org, file).await?;
    let ids = upsert_devices(&tx, org, scenario).await?;
    insert_assignments(&tx, org, scenario, &ids).await?;
    let report = ImportReport {
        org: org.clone(),
        areas: scenario.areas.len(),
        shifts: scenario.shifts.len(),
        devices: scenario.devices.len(),
        assignments: scenario.assignments.len(),
    };
    let detail = serde_json::json!({
        "name": scenario.org.name, "timezone": scenario.org.timezone,
        "areas": report.areas, "shifts": report.shifts, "devices": report.devices,
        "assignments": report.assignments,
    });
    crate::queries::audit::record(
        &tx,
        IMPORT_ACTOR,
        "org.import",
        &format!("org/{org}"),
        std::slice::from_ref(org),
        Some(&detail),
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}

/// The scenario's areas, each with its kind from the file.
async fn insert_areas(
    tx: &Transaction<'_>,
    org: &String,
    file: &ScenarioFile,
    scenario: &Scenario,
) -> Result<(), StoreError> {
    let area_stmt = tx
        .prepare(
            "INSERT INTO areas (org, id, name, kind, district, grid, chief, feature)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .await?;
    for (area, feature) in scenario.areas.iter().zip(&file.areas.features) {
        let kind = feature
            .property("kind")
            .and_then(|v| v.as_str())
            .unwrap_or("zone")
            .to_owned();
        let feature = serde_json::to_value(area.to_geojson_feature()).unwrap_or_default();
        tx.execute(
            &area_stmt,
            &[
                org,
                &area.id().as_str(),
                &area.name,
                &kind,
                &area.district,
                &area.grid,
                &area.chief,
                &feature,
            ],
        )
        .await?;
    }
    Ok(())
}

/// The file's shifts, as written (named by their id when unnamed).
async fn insert_shifts(
    tx: &Transaction<'_>,
    org: &String,
    file: &ScenarioFile,
) -> Result<(), StoreError> {
    for spec in &file.shifts {
        let name = if spec.name.is_empty() {
            spec.id.clone()
        } else {
            spec.name.clone()
        };
        tx.execute(
            "INSERT INTO shifts (org, id, name, definition) VALUES ($1, $2, $3, $4)",
            &[
                org,
                &spec.id,
                &name,
                &serde_json::to_value(spec).unwrap_or_default(),
            ],
        )
        .await?;
    }
    Ok(())
}

/// The scenario's devices, inserted or updated in place (ids are kept); their
/// database ids by name.
async fn upsert_devices<'s>(
    tx: &Transaction<'_>,
    org: &String,
    scenario: &'s Scenario,
) -> Result<HashMap<&'s str, i32>, StoreError> {
    let mut ids = HashMap::new();
    for d in &scenario.devices {
        let id: i32 = tx
            .query_one(
                "INSERT INTO devices (org, name, kind, label, owntracks_id) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (org, name) DO UPDATE SET kind = excluded.kind, label = excluded.label,
                     owntracks_id = excluded.owntracks_id
                 RETURNING id",
                &[org, &d.id, &kind_str(d.kind), &d.label, &d.owntracks_id],
            )
            .await?
            .get(0);
        ids.insert(d.id.as_str(), id);
    }
    Ok(ids)
}

/// The scenario's assignments, their devices by the ids just upserted.
async fn insert_assignments(
    tx: &Transaction<'_>,
    org: &String,
    scenario: &Scenario,
    ids: &HashMap<&str, i32>,
) -> Result<(), StoreError> {
    for a in &scenario.assignments {
        let device_id = ids.get(a.device.as_str()).copied();
        tx.execute(
            "INSERT INTO assignments (org, device_id, area_id, shift_id, valid_from, valid_to)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                org,
                &device_id,
                &a.area.as_str(),
                &a.shift.as_str(),
                &a.valid_from,
                &a.valid_to,
            ],
        )
        .await?;
    }
    Ok(())
}

/// The actor of an import in the audit log.
pub const IMPORT_ACTOR: &str = "sweepwatch import";

/// Loads every org's configuration. Rows that no longer validate (edited by
/// hand) are skipped with a warning rather than stopping the service; an org
/// whose time zone is unknown is skipped with an error naming it (its shifts
/// cannot be placed in time, and guessing a zone would misplace them).
pub async fn load_all(client: &Client) -> Result<Vec<OrgConfig>, StoreError> {
    let mut orgs = load_orgs(client).await?;
    let index: HashMap<String, usize> = orgs
        .iter()
        .enumerate()
        .map(|(i, o)| (o.org.clone(), i))
        .collect();
    load_areas(client, &mut orgs, &index).await?;
    load_shifts(client, &mut orgs, &index).await?;
    load_devices(client, &mut orgs, &index).await?;
    load_assignments(client, &mut orgs, &index).await?;
    Ok(orgs)
}

/// The orgs with a time zone that exists, their rules, nothing else yet.
async fn load_orgs(client: &Client) -> Result<Vec<OrgConfig>, StoreError> {
    let mut orgs: Vec<OrgConfig> = Vec::new();
    for row in client
        .query("SELECT id, timezone, rules FROM orgs ORDER BY id", &[])
        .await?
    {
        let org: String = row.get(0);
        let tz_name: String = row.get(1);
        let tz = match geofence::org_time_zone(&org, &tz_name) {
            Ok(tz) => tz,
            Err(e) => {
                tracing::error!(error = %e, "skipping the org's configuration; import it again with a valid time zone");
                continue;
            }
        };
        let rules = serde_json::from_value(row.get(2)).unwrap_or_else(|e| {
            tracing::warn!(org, error = %e, "unreadable rules; using the defaults");
            RuleConfig::default()
        });
        orgs.push(OrgConfig {
            org,
            tz,
            rules,
            areas: vec![],
            shifts: vec![],
            devices: HashMap::new(),
            assignments: vec![],
        });
    }
    Ok(orgs)
}

/// Each org's areas; one that does not validate is skipped with a warning.
async fn load_areas(
    client: &Client,
    orgs: &mut [OrgConfig],
    index: &HashMap<String, usize>,
) -> Result<(), StoreError> {
    for row in client
        .query("SELECT org, id, feature FROM areas ORDER BY org, id", &[])
        .await?
    {
        let Some(&i) = index.get(&row.get::<_, String>(0)) else {
            continue;
        };
        let feature: Result<geojson::Feature, _> = serde_json::from_value(row.get(2));
        match feature
            .map_err(|e| e.to_string())
            .and_then(|f| Area::from_geojson_feature(&f).map_err(|e| e.to_string()))
        {
            Ok(a) => orgs[i].areas.push(a),
            Err(e) => {
                tracing::warn!(area = row.get::<_, String>(1), error = %e, "skipping an area that does not validate")
            }
        }
    }
    Ok(())
}

/// Each org's shifts, placed in its time zone; one that does not validate is skipped.
async fn load_shifts(
    client: &Client,
    orgs: &mut [OrgConfig],
    index: &HashMap<String, usize>,
) -> Result<(), StoreError> {
    for row in client
        .query(
            "SELECT org, id, definition FROM shifts ORDER BY org, id",
            &[],
        )
        .await?
    {
        let Some(&i) = index.get(&row.get::<_, String>(0)) else {
            continue;
        };
        let spec: Result<ShiftSpec, _> = serde_json::from_value(row.get(2));
        match spec
            .map_err(|e| e.to_string())
            .and_then(|s| shift_from_spec(&s, orgs[i].tz).map_err(|e| e.to_string()))
        {
            Ok(s) => orgs[i].shifts.push(s),
            Err(e) => {
                tracing::warn!(shift = row.get::<_, String>(1), error = %e, "skipping a shift that does not validate")
            }
        }
    }
    Ok(())
}

/// Each org's devices: database id and kind by name.
async fn load_devices(
    client: &Client,
    orgs: &mut [OrgConfig],
    index: &HashMap<String, usize>,
) -> Result<(), StoreError> {
    for row in client
        .query("SELECT org, name, id, kind FROM devices", &[])
        .await?
    {
        let Some(&i) = index.get(&row.get::<_, String>(0)) else {
            continue;
        };
        let kind: DeviceKind = serde_json::from_value(serde_json::Value::String(row.get(3)))
            .unwrap_or(DeviceKind::Unknown);
        orgs[i].devices.insert(row.get(1), (row.get(2), kind));
    }
    Ok(())
}

/// Each org's assignments; one that does not validate is skipped.
async fn load_assignments(
    client: &Client,
    orgs: &mut [OrgConfig],
    index: &HashMap<String, usize>,
) -> Result<(), StoreError> {
    for row in client
        .query(
            "SELECT a.org, d.name, a.area_id, a.shift_id, a.valid_from, a.valid_to
             FROM assignments a JOIN devices d ON d.id = a.device_id ORDER BY a.id",
            &[],
        )
        .await?
    {
        let Some(&i) = index.get(&row.get::<_, String>(0)) else {
            continue;
        };
        let built = (|| -> Result<Assignment, geofence::GeofenceError> {
            Ok(Assignment {
                device: DeviceKey::new(row.get::<_, String>(1))?,
                area: AreaId::new(row.get::<_, String>(2))?,
                shift: ShiftId::new(row.get::<_, String>(3))?,
                valid_from: row.get(4),
                valid_to: row.get(5),
            })
        })();
        match built {
            Ok(a) => orgs[i].assignments.push(a),
            Err(e) => tracing::warn!(error = %e, "skipping an assignment that does not validate"),
        }
    }
    Ok(())
}

/// Changes whenever an org's configuration is edited (import, API): the
/// engines reload their configuration when it does.
pub async fn version(client: &Client) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
    Ok(client
        .query_one("SELECT max(updated_at) FROM orgs", &[])
        .await?
        .get(0))
}
