//! The `sweepwatch` application: configuration, logging, and the wiring of the
//! crates into the `serve` and `migrate` commands. `main.rs` only parses the
//! command line and calls in here.

pub mod app;
pub mod config;
pub mod telemetry;

pub use config::Config;
