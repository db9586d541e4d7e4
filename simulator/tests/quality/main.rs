//! Alert quality, in process: each planted trouble raises exactly one case of its
//! kind and each planted non-trouble raises nothing, scored with the same function
//! as `sweepwatch score`, through the service's codec and engine (see `harness`).

mod common;
mod harness;
mod non_troubles;
mod scorer;
mod troubles;
