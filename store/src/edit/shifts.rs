//! Shifts: the shift calendars of a scenario file's `shifts`, validated by the
//! caller (`geofence::scenario::shift_from_spec`) before they get here.

use super::{ConfigEdit, Written};
use crate::StoreError;
use crate::queries::config::ShiftRow;

/// A shift as stored; `(org, id)` is its key.
#[derive(Debug, Clone, Copy)]
pub struct ShiftValues<'a> {
    pub org: &'a str,
    pub id: &'a str,
    pub name: &'a str,
    /// The shift as in a scenario file's `shifts`.
    pub definition: &'a serde_json::Value,
}

const RETURNING: &str = "RETURNING org, id, name, definition";

fn shift_from_row(r: &tokio_postgres::Row) -> ShiftRow {
    ShiftRow {
        org: r.get(0),
        id: r.get(1),
        name: r.get(2),
        definition: r.get(3),
    }
}

impl ConfigEdit<'_> {
    /// Adds a shift; an id the org already has is refused.
    pub async fn create_shift(&mut self, s: &ShiftValues<'_>) -> Written<ShiftRow> {
        let sql = format!(
            "INSERT INTO shifts (org, id, name, definition) VALUES ($1, $2, $3, $4) {RETURNING}"
        );
        let row = self
            .tx
            .query_one(&sql, &[&s.org, &s.id, &s.name, s.definition])
            .await?;
        self.touch(s.org);
        Ok(shift_from_row(&row))
    }

    /// Replaces the shift `(s.org, s.id)`; `None` when there is none.
    pub async fn update_shift(&mut self, s: &ShiftValues<'_>) -> Written<Option<ShiftRow>> {
        let sql = format!(
            "UPDATE shifts SET name = $3, definition = $4 WHERE org = $1 AND id = $2 {RETURNING}"
        );
        let row = self
            .tx
            .query_opt(&sql, &[&s.org, &s.id, &s.name, s.definition])
            .await?;
        if row.is_some() {
            self.touch(s.org);
        }
        Ok(row.as_ref().map(shift_from_row))
    }

    /// Deletes a shift (and the assignments to it); returns it as it was.
    pub async fn delete_shift(
        &mut self,
        org: &str,
        id: &str,
    ) -> Result<Option<ShiftRow>, StoreError> {
        let sql = format!("DELETE FROM shifts WHERE org = $1 AND id = $2 {RETURNING}");
        let row = self.tx.query_opt(&sql, &[&org, &id]).await?;
        if row.is_some() {
            self.touch(org);
        }
        Ok(row.as_ref().map(shift_from_row))
    }
}
