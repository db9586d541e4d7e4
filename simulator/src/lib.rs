//! The sweepwatch fleet simulator.
//!
//! Parts:
//! - [`mqtt`]: broker settings (`mqtt://` / `mqtts://` URLs, credentials) turned into
//!   rumqttc options.
//! - [`load`]: load mode. Simulated devices (`load-000001`, ...) move around Humen,
//!   Dongguan and publish contract-v1 fixes (`sweepwatch/v1/{org}/{device}/fix`, QoS 1)
//!   over several MQTT connections at a paced target rate; the run reports what was
//!   published and acknowledged. A counting subscriber measures the broker-only
//!   ceiling alongside it.
//!
//! - [`scenario`]: scenario mode. The devices of a scenario file (`sweepwatch-scenario/1`)
//!   drive their routes and walk their beats on their shifts, with switchable behaviours
//!   (GPS noise, tunnels, silent devices, store-and-forward backlogs, duplicates,
//!   malformed messages, SOS, idling, leaving the area, late starts, breaks, transfer
//!   trips, taking a vehicle away, working off route, speeding, working off shift,
//!   skipping a route, traffic jams, edges). A pure
//!   [`scenario::Planner`] produces the messages and the ground truth (what it planted);
//!   [`scenario::run_scenario`] publishes them paced by a real-time or replay clock.
//! - [`terminal`]: JT/T 808 terminals for a share of a scenario's vehicles (register,
//!   authenticate, reports answered one by one, blind-area batches after a tunnel,
//!   a reconnect storm), reporting to the service's listener over TCP.
//! - [`quality`]: the ground truth's format and the scorer that holds alerts against it
//!   (precision, recall and open-time error per kind).
//!
//! Data flow in load mode: a per-connection [`load::fleet::Fleet`] produces fix JSON,
//! a paced publish task hands it to that connection's rumqttc client, and the
//! connection's event loop task writes it and counts the broker's PUBACKs.

pub mod humen;
pub mod load;
pub mod mqtt;
pub mod quality;
pub mod scenario;
pub mod terminal;

pub use load::{
    CeilingReport, CountHandle, CountOptions, LoadCounters, LoadError, LoadExtras, LoadOptions,
    LoadReport, count_subscriber, run_broker_ceiling, run_load, run_load_with,
    start_count_subscriber,
};
pub use mqtt::{BrokerOptions, BrokerUrlError};
pub use scenario::{RunReport, ScenarioRun, SimError, run_scenario};
