//! Areas: the GeoJSON Features of a scenario file's `areas`, validated by the
//! caller (`geofence::Area::from_geojson_feature`) before they get here.

use super::{ConfigEdit, Written};
use crate::StoreError;
use crate::queries::config::{AreaRow, area_from_row};

/// An area as stored; `(org, id)` is its key.
#[derive(Debug, Clone, Copy)]
pub struct AreaValues<'a> {
    pub org: &'a str,
    pub id: &'a str,
    pub name: &'a str,
    /// `route`, `zone`, …
    pub kind: &'a str,
    pub district: Option<&'a str>,
    pub grid: Option<&'a str>,
    pub chief: Option<&'a str>,
    /// The Feature as the area reads back (`Area::to_geojson_feature`).
    pub feature: &'a serde_json::Value,
}

const COLUMNS: &str = "org, id, name, kind, district, grid, chief, feature";

impl ConfigEdit<'_> {
    /// Adds an area; an id the org already has is refused.
    pub async fn create_area(&mut self, a: &AreaValues<'_>) -> Written<AreaRow> {
        let sql = format!(
            "INSERT INTO areas ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
        );
        let row = self.tx.query_one(&sql, &params(a)).await?;
        self.touch(a.org);
        Ok(area_from_row(&row))
    }

    /// Replaces the area `(a.org, a.id)`; `None` when there is none.
    pub async fn update_area(&mut self, a: &AreaValues<'_>) -> Written<Option<AreaRow>> {
        let sql = format!(
            "UPDATE areas SET name = $3, kind = $4, district = $5, grid = $6, chief = $7, feature = $8
             WHERE org = $1 AND id = $2 RETURNING {COLUMNS}"
        );
        let row = self.tx.query_opt(&sql, &params(a)).await?;
        if row.is_some() {
            self.touch(a.org);
        }
        Ok(row.as_ref().map(area_from_row))
    }

    /// Deletes an area (and the assignments to it); returns it as it was.
    pub async fn delete_area(
        &mut self,
        org: &str,
        id: &str,
    ) -> Result<Option<AreaRow>, StoreError> {
        let sql = format!("DELETE FROM areas WHERE org = $1 AND id = $2 RETURNING {COLUMNS}");
        let row = self.tx.query_opt(&sql, &[&org, &id]).await?;
        if row.is_some() {
            self.touch(org);
        }
        Ok(row.as_ref().map(area_from_row))
    }
}

fn params<'p>(a: &'p AreaValues<'_>) -> [&'p (dyn tokio_postgres::types::ToSql + Sync); 8] {
    [
        &a.org,
        &a.id,
        &a.name,
        &a.kind,
        &a.district,
        &a.grid,
        &a.chief,
        a.feature,
    ]
}
