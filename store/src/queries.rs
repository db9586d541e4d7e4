//! Read-only queries, for the HTTP API and the service's own views: each
//! function one statement, returning plain rows (serializable) that the
//! caller shapes into its documents.
//!
//! - [`alerts`]: the alert queue, filtered, newest first, keyset-paginated.
//! - [`live`]: what the positions view adds to the in-memory latest fixes
//!   (device kind and label, districts, open alerts).
//! - [`coverage`]: stored coverage reports, justifications, route geometry.
//! - [`track`]: a device's fixes over a time range.
//! - [`config`]: devices, areas, shifts and assignments as stored.
//! - [`reports`]: shift KPIs and daily device summaries.
//! - [`quality`]: the alerts of a time range, for the quality scorer.
//! - [`gauges`]: alert counts and running coverage for the Prometheus gauges.
//! - [`totals`]: what the whole database holds (the demo's progress line).
//! - [`tokens`]: API tokens created through the API (hashes only).
//! - [`audit`]: the audit log of changes to tokens and org configuration.
//!
//! Reads a caller may be limited to some orgs take an [`Orgs`]: the API
//! passes the orgs of the caller's token, and the statement returns nothing
//! of any other org.

pub mod alerts;
pub mod audit;
pub mod config;
pub mod coverage;
pub mod gauges;
pub mod live;
pub mod quality;
pub mod reports;
pub mod tokens;
pub mod totals;
pub mod track;

/// The orgs a read may return: `None`, every org; `Some(orgs)`, only those.
pub type Orgs<'a> = Option<&'a [String]>;
