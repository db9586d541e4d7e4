//! The `sweepwatch` application: configuration, logging, and the wiring of the
//! crates into the `serve` and `migrate` commands, plus serving the built
//! dispatch dashboard ([`web`]). `main.rs` only parses the command line and
//! calls in here.

pub mod app;
pub mod config;
pub mod demo;
pub mod ha;
pub mod telemetry;
pub mod web;

pub use config::Config;

/// The bundled scenario (scenarios/humen.json): a Dongguan town modelled on Humen.
pub const BUNDLED_SCENARIO: &str = include_str!("../scenarios/humen.json");
