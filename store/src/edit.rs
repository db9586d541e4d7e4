//! Editing an org's configuration (devices, areas, shifts, assignments) as
//! the API's admins do: one [`ConfigEdit`] is one transaction. Its writes
//! are typed functions that return the rows as stored, and a refusal by a
//! constraint as [`WriteError::Refused`]. [`ConfigEdit::commit`] then bumps
//! `orgs.updated_at` of every org the edit touched (the running engines
//! reload those orgs) and records the change in the audit log, in the same
//! transaction: a change that does not commit leaves no entry, and a
//! committed change always has one. Dropped without commit, nothing happened.
//!
//! - [`devices`], [`areas`], [`shifts`], [`assignments`]: the writes, one
//!   module per kind of object.

pub mod areas;
pub mod assignments;
pub mod devices;
pub mod shifts;

use deadpool_postgres::Transaction;

use crate::StoreError;
use crate::constraint::WriteError;

/// One edit of org configuration, in one transaction (see the module docs).
pub struct ConfigEdit<'a> {
    tx: Transaction<'a>,
    /// The orgs whose configuration changed, in the order first touched.
    touched: Vec<String>,
}

/// What the audit log records of an edit.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    /// The token's name.
    pub actor: &'a str,
    /// `device.create`, `area.update`, `assignment.delete`, …
    pub action: &'a str,
    /// `device/12`, `area/humen/route-a`, …
    pub object: String,
    /// The org the entry is about.
    pub org: &'a str,
    /// The object as stored after the change (before it, for a deletion).
    pub detail: serde_json::Value,
}

impl<'a> ConfigEdit<'a> {
    /// Starts an edit on `client` (a pooled connection).
    pub async fn begin(client: &'a mut deadpool_postgres::Object) -> Result<Self, StoreError> {
        Ok(Self {
            tx: client.transaction().await?,
            touched: Vec::new(),
        })
    }

    /// The edit's transaction, for reads that must see the edit so far
    /// (`store::queries::config` takes it).
    pub fn client(&self) -> &tokio_postgres::Transaction<'a> {
        &self.tx
    }

    /// Bumps every org the edit touched, records `audit`, and commits.
    pub async fn commit(self, audit: AuditEntry<'_>) -> Result<(), StoreError> {
        for org in &self.touched {
            self.tx
                .execute("UPDATE orgs SET updated_at = now() WHERE id = $1", &[org])
                .await?;
        }
        crate::queries::audit::record(
            &*self.tx,
            audit.actor,
            audit.action,
            &audit.object,
            &[audit.org.to_owned()],
            Some(&audit.detail),
        )
        .await?;
        self.tx.commit().await?;
        Ok(())
    }

    /// Marks `org`'s configuration as changed by this edit.
    fn touch(&mut self, org: &str) {
        if !self.touched.iter().any(|o| o == org) {
            self.touched.push(org.to_owned());
        }
    }
}

/// A write's outcome as the edit functions return it.
pub type Written<T> = Result<T, WriteError>;
