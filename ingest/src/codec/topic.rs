//! Topic grammar of the MQTT contract, version 1, and the validated names in it.

use std::fmt;

pub use geofence::OrgId;

/// What a topic addresses, once parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topic {
    /// `sweepwatch/v1/{org}/{device}/fix`
    Fix(DeviceAddr),
    /// `sweepwatch/v1/{org}/{device}/fixes`
    Fixes(DeviceAddr),
    /// `sweepwatch/v1/{org}/{device}/status`
    Status(DeviceAddr),
    /// `owntracks/{user}/{device}`
    OwnTracks {
        user: DeviceName,
        device: DeviceName,
    },
}

/// A device name as it appears in topics: `[A-Za-z0-9_.-]{1,64}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceName(String);

/// A device's full address: its org and its name within the org.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceAddr {
    pub org: OrgId,
    pub device: DeviceName,
}

impl DeviceName {
    pub fn parse(s: &str) -> Option<Self> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        ok.then(|| Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeviceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for DeviceAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.org, self.device)
    }
}

impl Topic {
    /// Parses a topic, or says why it is not one of the contract's.
    pub fn parse(topic: &str) -> Result<Self, String> {
        let parts: Vec<&str> = topic.split('/').collect();
        match parts.as_slice() {
            ["sweepwatch", "v1", org, device, leaf] => {
                let org = OrgId::parse(org).ok_or_else(|| format!("invalid org {org:?}"))?;
                let device = DeviceName::parse(device)
                    .ok_or_else(|| format!("invalid device name {device:?}"))?;
                let addr = DeviceAddr { org, device };
                match *leaf {
                    "fix" => Ok(Topic::Fix(addr)),
                    "fixes" => Ok(Topic::Fixes(addr)),
                    "status" => Ok(Topic::Status(addr)),
                    other => Err(format!("unknown message type {other:?}")),
                }
            }
            ["owntracks", user, device] => Ok(Topic::OwnTracks {
                user: DeviceName::parse(user)
                    .ok_or_else(|| format!("invalid OwnTracks user {user:?}"))?,
                device: DeviceName::parse(device)
                    .ok_or_else(|| format!("invalid OwnTracks device {device:?}"))?,
            }),
            _ => Err("not a sweepwatch/v1 or owntracks topic".to_owned()),
        }
    }
}

/// The subscription filters for a set of orgs (empty: all orgs), plus OwnTracks.
pub fn subscription_filters(orgs: &[String], owntracks: bool) -> Vec<String> {
    let mut filters: Vec<String> = if orgs.is_empty() {
        vec!["sweepwatch/v1/+/+/+".to_owned()]
    } else {
        orgs.iter()
            .map(|o| format!("sweepwatch/v1/{o}/+/+"))
            .collect()
    };
    if owntracks {
        filters.push("owntracks/+/+".to_owned());
    }
    filters
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_contract_topics() {
        let t = Topic::parse("sweepwatch/v1/humen/sw-001/fix").unwrap();
        assert_eq!(t.to_string_for_test(), "fix humen/sw-001");
        assert!(matches!(
            Topic::parse("sweepwatch/v1/humen/sw-001/fixes"),
            Ok(Topic::Fixes(_))
        ));
        assert!(matches!(
            Topic::parse("sweepwatch/v1/humen/sw-001/status"),
            Ok(Topic::Status(_))
        ));
        assert!(matches!(
            Topic::parse("owntracks/li/phone"),
            Ok(Topic::OwnTracks { .. })
        ));
    }

    #[test]
    fn refuses_bad_topics() {
        for bad in [
            "sweepwatch/v1/Humen/sw/fix",
            "sweepwatch/v1/humen/sw 1/fix",
            "sweepwatch/v1/humen/sw/position",
            "sweepwatch/v2/humen/sw/fix",
            "sweepwatch/v1//sw/fix",
            "owntracks/li/phone/event",
            "",
        ] {
            assert!(Topic::parse(bad).is_err(), "{bad}");
        }
        let long = format!("sweepwatch/v1/{}/d/fix", "a".repeat(33));
        assert!(Topic::parse(&long).is_err());
    }

    #[test]
    fn filters_per_org() {
        assert_eq!(
            subscription_filters(&[], false),
            vec!["sweepwatch/v1/+/+/+"]
        );
        assert_eq!(
            subscription_filters(&["a".into(), "b".into()], true),
            vec![
                "sweepwatch/v1/a/+/+",
                "sweepwatch/v1/b/+/+",
                "owntracks/+/+"
            ]
        );
    }

    impl Topic {
        fn to_string_for_test(&self) -> String {
            match self {
                Topic::Fix(a) => format!("fix {a}"),
                Topic::Fixes(a) => format!("fixes {a}"),
                Topic::Status(a) => format!("status {a}"),
                Topic::OwnTracks { user, device } => format!("owntracks {user}/{device}"),
            }
        }
    }
}
