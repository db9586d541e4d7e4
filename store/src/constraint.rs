//! Writes the database refuses because of a constraint: a duplicate name, a
//! reference to nothing, a range the wrong way round. They are the caller's
//! mistake, not a failure of ours, and are told apart by the constraint's
//! name (`DbError::constraint()`), never by the message's text. The schema
//! names the constraints (`migrations/`); this module is the one place that
//! spells those names.

use crate::StoreError;

/// A constraint of the schema that a caller's write can run into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint {
    /// One device of a name per org: `devices (org, name)`.
    DeviceName,
    /// One device per OwnTracks phone: `devices.owntracks_id`.
    DeviceOwntracksId,
    /// A device kind the schema knows.
    DeviceKind,
    /// One area of an id per org: `areas (org, id)`.
    AreaId,
    /// An area's org exists.
    AreaOrg,
    /// One shift of an id per org: `shifts (org, id)`.
    ShiftId,
    /// A shift's org exists.
    ShiftOrg,
    /// An assignment's device exists.
    AssignmentDevice,
    /// An assignment's area exists in the org.
    AssignmentArea,
    /// An assignment's shift exists in the org.
    AssignmentShift,
    /// `valid_to` after `valid_from`.
    AssignmentRange,
    /// One live (unrevoked) token of a name.
    TokenName,
    /// One token per secret.
    TokenSecret,
    /// A justified stretch starts at 0 or after and ends after it starts.
    JustificationRange,
    /// A constraint not named above.
    Other,
}

impl Constraint {
    /// Every named constraint with its name in the schema.
    pub const NAMED: [(Constraint, &'static str); 14] = [
        (Constraint::DeviceName, "devices_org_name_key"),
        (Constraint::DeviceOwntracksId, "devices_owntracks_id_key"),
        (Constraint::DeviceKind, "devices_kind_check"),
        (Constraint::AreaId, "areas_pkey"),
        (Constraint::AreaOrg, "areas_org_fkey"),
        (Constraint::ShiftId, "shifts_pkey"),
        (Constraint::ShiftOrg, "shifts_org_fkey"),
        (Constraint::AssignmentDevice, "assignments_device_id_fkey"),
        (Constraint::AssignmentArea, "assignments_org_area_id_fkey"),
        (Constraint::AssignmentShift, "assignments_org_shift_id_fkey"),
        (Constraint::AssignmentRange, "assignments_check"),
        (Constraint::TokenName, "api_tokens_live_name"),
        (Constraint::TokenSecret, "api_tokens_sha256_key"),
        (
            Constraint::JustificationRange,
            "coverage_justifications_check",
        ),
    ];

    /// The constraint the server named.
    pub fn from_name(name: &str) -> Self {
        Self::NAMED
            .iter()
            .find(|(_, n)| *n == name)
            .map_or(Constraint::Other, |(c, _)| *c)
    }
}

/// What kind of rule a write broke (SQLSTATE class 23).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// 23505: the value is taken.
    Unique,
    /// 23503: it refers to something that does not exist.
    ForeignKey,
    /// 23514: a check failed.
    Check,
}

/// A write that failed: refused by a constraint, or failed for another reason.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{violation:?} violation of {constraint:?}")]
    Refused {
        violation: Violation,
        constraint: Constraint,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<tokio_postgres::Error> for WriteError {
    fn from(e: tokio_postgres::Error) -> Self {
        let refused = e.as_db_error().and_then(|db| {
            let violation = match db.code().code() {
                "23505" => Violation::Unique,
                "23503" => Violation::ForeignKey,
                "23514" => Violation::Check,
                _ => return None,
            };
            let constraint = db
                .constraint()
                .map_or(Constraint::Other, Constraint::from_name);
            Some(WriteError::Refused {
                violation,
                constraint,
            })
        });
        refused.unwrap_or_else(|| WriteError::Store(StoreError::Db(e)))
    }
}

impl From<deadpool_postgres::PoolError> for WriteError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        WriteError::Store(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_both_ways() {
        for (c, name) in Constraint::NAMED {
            assert_eq!(Constraint::from_name(name), c);
        }
        assert_eq!(Constraint::from_name("fixes_pkey"), Constraint::Other);
    }
}
