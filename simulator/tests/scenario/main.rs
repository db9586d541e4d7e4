//! Scenario mode: the bundled scenario, the deterministic plan and its behaviours, and
//! a short replay against a real Mosquitto.

#[path = "../load/broker.rs"]
#[allow(dead_code)]
mod broker;
mod bundled;
mod plan;
mod replay;
