//! Scenario mode: the bundled scenario, the deterministic plan and its behaviours, and
//! a short replay against a real Mosquitto.

mod bundled;
mod plan;
mod replay;
