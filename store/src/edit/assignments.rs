//! Assignments: a device to an area in a shift over a time range, all of one
//! org (the device's). The caller checks the references first, with
//! [`ConfigEdit::device_org`], [`ConfigEdit::has_area`] and
//! [`ConfigEdit::has_shift`], to name what is missing; the schema's foreign
//! keys refuse what slips past.

use chrono::{DateTime, Utc};

use super::{ConfigEdit, Written};
use crate::StoreError;
use crate::queries::config::{AssignmentRow, assignment_from_row};

/// An assignment as stored.
#[derive(Debug, Clone, Copy)]
pub struct AssignmentValues<'a> {
    /// The device's org.
    pub org: &'a str,
    pub device_id: i32,
    pub area_id: &'a str,
    pub shift_id: &'a str,
    pub valid_from: DateTime<Utc>,
    /// Exclusive; `None`: open-ended.
    pub valid_to: Option<DateTime<Utc>>,
}

/// The columns of an [`AssignmentRow`] (as `queries::config` reads them), of
/// the rows that the statement's `WITH s AS (…)` wrote: the table itself does
/// not show them until the statement ends.
const RETURNED: &str = "SELECT s.id, s.org, s.device_id, d.name, s.area_id, s.shift_id, \
    s.valid_from, s.valid_to FROM s JOIN devices d ON d.id = s.device_id";

impl ConfigEdit<'_> {
    /// The org of device `id`, if there is one.
    pub async fn device_org(&self, id: i32) -> Result<Option<String>, StoreError> {
        Ok(self
            .tx
            .query_opt("SELECT org FROM devices WHERE id = $1", &[&id])
            .await?
            .map(|r| r.get(0)))
    }

    /// Whether `org` has the area `id`.
    pub async fn has_area(&self, org: &str, id: &str) -> Result<bool, StoreError> {
        let sql = "SELECT 1 FROM areas WHERE org = $1 AND id = $2";
        Ok(self.tx.query_opt(sql, &[&org, &id]).await?.is_some())
    }

    /// Whether `org` has the shift `id`.
    pub async fn has_shift(&self, org: &str, id: &str) -> Result<bool, StoreError> {
        let sql = "SELECT 1 FROM shifts WHERE org = $1 AND id = $2";
        Ok(self.tx.query_opt(sql, &[&org, &id]).await?.is_some())
    }

    /// Adds an assignment.
    pub async fn create_assignment(&mut self, a: &AssignmentValues<'_>) -> Written<AssignmentRow> {
        let sql = format!(
            "WITH s AS (
                 INSERT INTO assignments (org, device_id, area_id, shift_id, valid_from, valid_to)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING *) {RETURNED}"
        );
        let row = self
            .tx
            .query_one(
                &sql,
                &[
                    &a.org,
                    &a.device_id,
                    &a.area_id,
                    &a.shift_id,
                    &a.valid_from,
                    &a.valid_to,
                ],
            )
            .await?;
        self.touch(a.org);
        Ok(assignment_from_row(&row))
    }

    /// The org of assignment `id`, the row locked until the edit ends; `None`
    /// when there is no such assignment.
    pub async fn lock_assignment(&mut self, id: i64) -> Result<Option<String>, StoreError> {
        let org: Option<String> = self
            .tx
            .query_opt(
                "SELECT org FROM assignments WHERE id = $1 FOR UPDATE",
                &[&id],
            )
            .await?
            .map(|r| r.get(0));
        if let Some(org) = &org {
            self.touch(org);
        }
        Ok(org)
    }

    /// Replaces assignment `id` (it may move to another org with its device).
    pub async fn update_assignment(
        &mut self,
        id: i64,
        a: &AssignmentValues<'_>,
    ) -> Written<Option<AssignmentRow>> {
        let sql = format!(
            "WITH s AS (
                 UPDATE assignments SET org = $2, device_id = $3, area_id = $4, shift_id = $5,
                     valid_from = $6, valid_to = $7 WHERE id = $1 RETURNING *) {RETURNED}"
        );
        let row = self
            .tx
            .query_opt(
                &sql,
                &[
                    &id,
                    &a.org,
                    &a.device_id,
                    &a.area_id,
                    &a.shift_id,
                    &a.valid_from,
                    &a.valid_to,
                ],
            )
            .await?;
        if row.is_some() {
            self.touch(a.org);
        }
        Ok(row.as_ref().map(assignment_from_row))
    }

    /// Deletes assignment `id`; returns it as it was.
    pub async fn delete_assignment(
        &mut self,
        id: i64,
    ) -> Result<Option<AssignmentRow>, StoreError> {
        let sql =
            format!("WITH s AS (DELETE FROM assignments WHERE id = $1 RETURNING *) {RETURNED}");
        let row = self.tx.query_opt(&sql, &[&id]).await?;
        if let Some(r) = &row {
            self.touch(r.get::<_, &str>(1));
        }
        Ok(row.as_ref().map(assignment_from_row))
    }
}
