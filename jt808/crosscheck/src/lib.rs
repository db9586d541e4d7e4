//! Tests only: see `tests/cross_check.rs`.
