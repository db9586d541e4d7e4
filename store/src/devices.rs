//! The device registry: `(org, name)` and OwnTracks ids to the integer ids that
//! `fixes` uses. Unknown devices are registered on first sight (kind `unknown`,
//! unassigned), so a firmware roll-out needs no set-up. Ids are cached: a device
//! costs one round trip the first time it is seen by this process, none after.

use std::collections::HashMap;

use tokio_postgres::Client;

use crate::StoreError;

/// How a message names its device.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DeviceKey {
    /// `sweepwatch/v1/{org}/{name}/...`
    Topic { org: String, name: String },
    /// `owntracks/{user}/{device}`: mapped through `devices.owntracks_id`
    /// (`user/device`); when no device has it, one is registered in
    /// `default_org` named `user.device`.
    OwnTracks {
        user: String,
        device: String,
        default_org: String,
    },
}

#[derive(Debug, Default)]
pub struct DeviceRegistry {
    ids: HashMap<DeviceKey, i32>,
    /// id → (org, name) of the device the id belongs to.
    names: HashMap<i32, (String, String)>,
}

impl DeviceRegistry {
    pub fn get(&self, key: &DeviceKey) -> Option<i32> {
        self.ids.get(key).copied()
    }

    /// The org and name of a resolved device.
    pub fn name(&self, id: i32) -> Option<(&str, &str)> {
        self.names.get(&id).map(|(o, n)| (o.as_str(), n.as_str()))
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Makes sure every key has an id, registering the unknown ones. Idempotent
    /// and safe to run concurrently from several processes.
    pub async fn resolve(
        &mut self,
        client: &Client,
        keys: &[&DeviceKey],
    ) -> Result<(), StoreError> {
        let mut orgs = Vec::new();
        let mut names = Vec::new();
        let mut ot_ids = Vec::new();
        let mut wanted = Vec::new();
        for &key in keys {
            if self.ids.contains_key(key) || wanted.contains(&key) {
                continue;
            }
            wanted.push(key);
            match key {
                DeviceKey::Topic { org, name } => {
                    orgs.push(org.clone());
                    names.push(name.clone());
                    ot_ids.push(None);
                }
                DeviceKey::OwnTracks {
                    user,
                    device,
                    default_org,
                } => {
                    orgs.push(default_org.clone());
                    names.push(format!("{user}.{device}"));
                    ot_ids.push(Some(format!("{user}/{device}")));
                }
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        // OwnTracks keys first resolve through an existing mapping.
        let rows = client
            .query(
                "WITH want AS (
                    SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS w(org, name, ot)
                 ), mapped AS (
                    SELECT w.org, w.name, w.ot, d.id FROM want w JOIN devices d ON d.owntracks_id = w.ot
                 ), ins AS (
                    INSERT INTO devices (org, name, owntracks_id)
                    SELECT w.org, w.name, w.ot FROM want w
                    WHERE NOT EXISTS (SELECT 1 FROM mapped m WHERE m.ot = w.ot)
                    ON CONFLICT DO NOTHING
                    RETURNING org, name, id
                 )
                 SELECT w.org, w.name, coalesce(m.id, i.id, d.id), coalesce(dm.org, w.org), coalesce(dm.name, w.name)
                 FROM want w
                 LEFT JOIN mapped m ON m.ot = w.ot
                 LEFT JOIN ins i ON i.org = w.org AND i.name = w.name
                 LEFT JOIN devices d ON d.org = w.org AND d.name = w.name
                 LEFT JOIN devices dm ON dm.id = m.id",
                &[&orgs, &names, &ot_ids],
            )
            .await?;
        let mut by_name: HashMap<(String, String), i32> = HashMap::new();
        for r in &rows {
            if let Some(id) = r.get::<_, Option<i32>>(2) {
                by_name.insert((r.get(0), r.get(1)), id);
                self.names.insert(id, (r.get(3), r.get(4)));
            }
        }
        for key in keys {
            let name_key = match key {
                DeviceKey::Topic { org, name } => (org.clone(), name.clone()),
                DeviceKey::OwnTracks {
                    user,
                    device,
                    default_org,
                } => (default_org.clone(), format!("{user}.{device}")),
            };
            if let Some(&id) = by_name.get(&name_key) {
                self.ids.insert((*key).clone(), id);
            }
        }
        Ok(())
    }
}
