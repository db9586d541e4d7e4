//! Validated string identifiers: area ids, shift ids, device keys, org ids.

use crate::error::GeofenceError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest id we accept (import files and MQTT topics stay well below this).
const MAX_ID_LEN: usize = 128;

fn check(what: &'static str, value: &str) -> Result<(), GeofenceError> {
    let reason = if value.is_empty() {
        Some("empty")
    } else if value.len() > MAX_ID_LEN {
        Some("longer than 128 bytes")
    } else if value.chars().any(char::is_control) {
        Some("contains control characters")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(GeofenceError::InvalidId {
            what,
            value: value.chars().take(MAX_ID_LEN).collect(),
            reason,
        }),
        None => Ok(()),
    }
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validate and wrap an id (non-empty, at most 128 bytes, no control characters).
            pub fn new(value: impl Into<String>) -> Result<Self, GeofenceError> {
                let value = value.into();
                check($what, &value)?;
                Ok(Self(value))
            }
            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = GeofenceError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }
        impl TryFrom<&str> for $name {
            type Error = GeofenceError;
            fn try_from(value: &str) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// An area id from the import file, e.g. `route-hm-012`.
    AreaId,
    "area"
);
string_id!(
    /// A shift id, e.g. `shift-day`.
    ShiftId,
    "shift"
);
string_id!(
    /// A device key, `org/device`, e.g. `humen/sw-001`.
    DeviceKey,
    "device"
);

/// An org (town or tenant): `[a-z0-9-]{1,32}`, as in MQTT topics and the API.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgId(String);

impl OrgId {
    pub fn parse(s: &str) -> Option<Self> {
        let ok = (1..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        ok.then(|| Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_validate() {
        assert!(AreaId::new("route-hm-012").is_ok());
        assert!(AreaId::new("").is_err());
        assert!(DeviceKey::new("a\nb").is_err());
        assert!(ShiftId::new("x".repeat(129)).is_err());
        let parsed: Result<DeviceKey, _> = serde_json::from_str("\"\"");
        assert!(parsed.is_err());
    }
}
