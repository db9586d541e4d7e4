//! An org's time zone: the default DESIGN.md names, and the one way a stored
//! or written name becomes a [`Tz`]. An unknown name is an error that names
//! the org; it never silently becomes the default.

use chrono_tz::Tz;

use crate::error::GeofenceError;

/// The time zone of an org whose scenario names none (DESIGN.md, Domain,
/// Shifts), and of an engine before its org's configuration is installed.
pub const DEFAULT_TIME_ZONE: Tz = chrono_tz::Asia::Shanghai;

/// The IANA time zone `name` of `org`.
pub fn org_time_zone(org: &str, name: &str) -> Result<Tz, GeofenceError> {
    name.parse().map_err(|_| GeofenceError::UnknownTimeZone {
        org: org.to_owned(),
        name: name.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_time_zone_is_an_error_naming_the_org() {
        assert_eq!(
            org_time_zone("humen", "Europe/Berlin"),
            Ok(chrono_tz::Europe::Berlin)
        );
        let e = org_time_zone("humen", "Mars/Olympus").unwrap_err();
        assert_eq!(
            e.to_string(),
            "org humen: time zone \"Mars/Olympus\" is not an IANA time zone"
        );
    }
}
