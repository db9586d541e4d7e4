//! Integration tests of the geofence crate: one test binary, shared helpers.

mod coverage;
mod engine_misc;
mod helpers;
mod props;
mod rules;
mod shifts;
mod working_area;
