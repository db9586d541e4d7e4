//! Devices: register one, change its kind, label or OwnTracks id, delete it
//! (with its fixes' alerts and state, by the schema's cascades).

use super::{ConfigEdit, Written};
use crate::StoreError;
use crate::queries::config::{DEVICE_COLUMNS, DeviceRow};

/// A device to register; `name` is the `{device}` of its MQTT topics.
#[derive(Debug, Clone, Copy)]
pub struct NewDevice<'a> {
    pub org: &'a str,
    pub name: &'a str,
    /// `sweeper`, `washer`, `collector`, `worker` or `unknown`.
    pub kind: &'a str,
    pub label: Option<&'a str>,
    pub owntracks_id: Option<&'a str>,
}

/// What can change of a device (its org and name are its identity on the wire).
#[derive(Debug, Clone, Copy)]
pub struct DeviceChange<'a> {
    pub kind: &'a str,
    pub label: Option<&'a str>,
    pub owntracks_id: Option<&'a str>,
}

impl ConfigEdit<'_> {
    /// Registers a device; a name or OwnTracks id already taken is refused.
    pub async fn create_device(&mut self, d: &NewDevice<'_>) -> Written<DeviceRow> {
        let sql = format!(
            "INSERT INTO devices (org, name, kind, label, owntracks_id) VALUES ($1, $2, $3, $4, $5)
             RETURNING {DEVICE_COLUMNS}"
        );
        let row = self
            .tx
            .query_one(&sql, &[&d.org, &d.name, &d.kind, &d.label, &d.owntracks_id])
            .await?;
        self.touch(d.org);
        Ok(DeviceRow::from_row(&row))
    }

    /// The device's org, the row locked until the edit ends; `None` when
    /// there is no such device.
    pub async fn lock_device(&mut self, id: i32) -> Result<Option<String>, StoreError> {
        let org: Option<String> = self
            .tx
            .query_opt("SELECT org FROM devices WHERE id = $1 FOR UPDATE", &[&id])
            .await?
            .map(|r| r.get(0));
        if let Some(org) = &org {
            self.touch(org);
        }
        Ok(org)
    }

    /// Changes a device; an OwnTracks id already taken is refused.
    pub async fn update_device(
        &mut self,
        id: i32,
        c: &DeviceChange<'_>,
    ) -> Written<Option<DeviceRow>> {
        let sql = format!(
            "UPDATE devices SET kind = $2, label = $3, owntracks_id = $4 WHERE id = $1
             RETURNING {DEVICE_COLUMNS}"
        );
        let row = self
            .tx
            .query_opt(&sql, &[&id, &c.kind, &c.label, &c.owntracks_id])
            .await?
            .map(|r| DeviceRow::from_row(&r));
        if let Some(d) = &row {
            self.touch(&d.org);
        }
        Ok(row)
    }

    /// Deletes a device; returns it as it was.
    pub async fn delete_device(&mut self, id: i32) -> Result<Option<DeviceRow>, StoreError> {
        let sql = format!("DELETE FROM devices WHERE id = $1 RETURNING {DEVICE_COLUMNS}");
        let row = self
            .tx
            .query_opt(&sql, &[&id])
            .await?
            .map(|r| DeviceRow::from_row(&r));
        if let Some(d) = &row {
            self.touch(&d.org);
        }
        Ok(row)
    }
}
