//! Chaos at city scale: bursts, backlogs, poison messages, and the broker, the
//! database and the service itself killed or restarted while fixes flow.
//! Each test asserts that every fix published is stored exactly once, that
//! every bad message is kept in `rejected_messages`, and that ingest never
//! stalls: it waits with a deadline *and* fails as soon as nothing has been
//! stored for a while, with the service's metrics in the message.
//!
//! Fixes are published by `mosquitto_pub` (see `helpers::burst`), a client
//! we did not write, unpaced: as fast as the broker takes them.
//!
//! Measured figures (publish rates, drain times) are printed with
//! `--nocapture`: `cargo test --test e2e chaos -- --test-threads=1 --nocapture`.

pub mod backlog;
pub mod broker;
mod burst;
mod check;
mod database;
mod failover;
mod fleet;
mod poison;
mod stall;

pub use check::{Delivery, FIXES, Patience, count, report, settle_and_check, wait_for_fixes};
pub use fleet::{Fleet, ORG, prime};
