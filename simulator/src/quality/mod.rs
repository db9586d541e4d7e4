//! Alert quality: the ground truth a scenario run plants ([`truth`]), and the scorer
//! that holds alerts against it ([`score`]: precision, recall and open-time error per
//! kind, with every false and every missed alert explained; [`report`] prints it).
//!
//! The same scorer serves `sweepwatch score` (alerts read from the database) and the
//! in-process tests (alerts folded from a [`geofence::Engine`] with
//! [`geofence::Cases`]). See `docs/QUALITY.md`.

pub mod report;
pub mod score;
pub mod truth;

pub use score::{FalseAlert, Hit, KindScore, Missed, ObservedAlert, Score, debounce_s, score};
pub use truth::{
    FORMAT, FixIntervalSecs, InstanceRef, Line, Planted, RunDevice, RunInfo, Truth, TruthError,
};
