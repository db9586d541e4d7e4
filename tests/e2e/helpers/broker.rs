//! A Mosquitto of the test's own, with deploy/mosquitto/sweepwatch.conf:
//! the test kit's launcher ([`testkit::Mosquitto`]).

pub use testkit::Mosquitto as Broker;
