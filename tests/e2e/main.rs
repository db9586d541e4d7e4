//! End-to-end tests of sweepwatch against a real Mosquitto and a real
//! PostgreSQL (and, in `brokers`, RabbitMQ and NATS too). Each test has its own broker (on a free port, with the project's
//! configuration), its own database and its own MQTT client id, so tests run in
//! parallel and never depend on leftovers.

mod api;
mod brokers;
mod chaos;
mod emqx;
mod engine;
mod faults;
mod helpers;
mod ingest;
mod instances;
mod quality;
mod simulated;
mod storage;
mod terminals;
mod tls;
