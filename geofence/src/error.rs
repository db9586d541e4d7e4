//! Typed errors for the geofence crate.

use thiserror::Error;

/// Everything the geofence crate can refuse. Bad input is an expected case:
/// constructors and parsers return one of these, they never panic.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum GeofenceError {
    /// An identifier was empty, too long or held control characters.
    #[error("invalid {what} id {value:?}: {reason}")]
    InvalidId {
        /// which kind of id (area, shift, device)
        what: &'static str,
        /// the offending value
        value: String,
        /// why it was refused
        reason: &'static str,
    },
    /// A coordinate was not finite or out of WGS84 range.
    #[error("coordinate out of range: lon {lon}, lat {lat}")]
    CoordinateOutOfRange {
        /// longitude in degrees
        lon: f64,
        /// latitude in degrees
        lat: f64,
    },
    /// A route polyline had fewer than two distinct points.
    #[error("route {0} needs at least two distinct points")]
    DegenerateLine(String),
    /// A corridor half-width was not strictly positive and finite.
    #[error("area {id}: corridor half-width must be > 0 m, got {width}")]
    InvalidWidth {
        /// area id
        id: String,
        /// the refused width
        width: f64,
    },
    /// `passes_required` was zero.
    #[error("area {0}: passes_required must be at least 1")]
    InvalidPasses(String),
    /// A polygon was invalid (self-intersecting, too few points, hole outside).
    #[error("area {id}: invalid polygon: {reason}")]
    InvalidPolygon {
        /// area id
        id: String,
        /// geo's validation message
        reason: String,
    },
    /// The geometry type does not fit the area kind.
    #[error("area {id}: {reason}")]
    GeometryMismatch {
        /// area id
        id: String,
        /// what was expected
        reason: String,
    },
    /// A GeoJSON feature lacked something or had a wrong type.
    #[error("GeoJSON feature: {0}")]
    GeoJson(String),
    /// A shift definition was inconsistent.
    #[error("shift {id}: {reason}")]
    InvalidShift {
        /// shift id
        id: String,
        /// why
        reason: String,
    },
    /// An assignment referred to something unknown or had an empty range.
    #[error("assignment {device} -> {area}: {reason}")]
    InvalidAssignment {
        /// device key
        device: String,
        /// area id
        area: String,
        /// why
        reason: String,
    },
    /// A coverage snapshot does not fit the loaded routes.
    #[error("restore coverage: {0}")]
    InvalidSnapshot(String),
    /// An org's time zone is not an IANA name.
    #[error("org {org}: time zone {name:?} is not an IANA time zone")]
    UnknownTimeZone {
        /// the org's id
        org: String,
        /// the refused name
        name: String,
    },
    /// A justification referred to an unknown coverage cell or bad range.
    #[error("justify: {0}")]
    InvalidJustification(String),
}
