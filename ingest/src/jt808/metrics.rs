//! The `sweepwatch_jt808_*` metrics (no per-terminal labels).

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// Why a connection ended: a closed set, it is a metric label.
pub const CLOSE_REASONS: [&str; 6] = ["closed", "logout", "idle", "garbage", "error", "shutdown"];

/// Bad-frame reasons, from [`jt808::FrameError`] plus reassembly and bodies.
pub const BAD_FRAME_REASONS: [&str; 10] = [
    "bad_escape",
    "truncated_header",
    "bad_check_code",
    "body_length_mismatch",
    "too_long",
    "bad_phone",
    "no_flags",
    "garbage",
    "reassembly",
    "bad_message",
];

/// Answers sent (0x8001 results, and 0x8100 registrations).
pub const ANSWERS: [&str; 6] = [
    "ok",
    "failure",
    "bad_message",
    "not_supported",
    "registered",
    "unregistered",
];

#[derive(Clone)]
pub struct Jt808Metrics {
    pub connections: IntGauge,
    pub refused: IntCounter,
    pub closed: IntCounterVec,
    pub bad_frames: IntCounterVec,
    pub answers: IntCounterVec,
    pub ack_seconds: Histogram,
}

impl Jt808Metrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let m = Self {
            connections: IntGauge::new(
                "sweepwatch_jt808_connections",
                "JT/T 808 terminal connections open",
            )?,
            refused: IntCounter::new(
                "sweepwatch_jt808_connections_refused_total",
                "JT/T 808 connections closed at once because the listener held its limit",
            )?,
            closed: IntCounterVec::new(
                Opts::new(
                    "sweepwatch_jt808_disconnects_total",
                    "JT/T 808 connections ended, by reason",
                ),
                &["reason"],
            )?,
            bad_frames: IntCounterVec::new(
                Opts::new(
                    "sweepwatch_jt808_bad_frames_total",
                    "JT/T 808 frames that were not frames, or not their message (kept in rejected_messages), by reason",
                ),
                &["reason"],
            )?,
            answers: IntCounterVec::new(
                Opts::new(
                    "sweepwatch_jt808_answers_total",
                    "JT/T 808 platform answers sent, by result",
                ),
                &["result"],
            )?,
            ack_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "sweepwatch_jt808_ack_seconds",
                    "Time from a location report's arrival to its answer (after commit)",
                )
                .buckets(vec![
                    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ]),
            )?,
        };
        registry.register(Box::new(m.connections.clone()))?;
        registry.register(Box::new(m.refused.clone()))?;
        registry.register(Box::new(m.closed.clone()))?;
        registry.register(Box::new(m.bad_frames.clone()))?;
        registry.register(Box::new(m.answers.clone()))?;
        registry.register(Box::new(m.ack_seconds.clone()))?;
        for r in CLOSE_REASONS {
            m.closed.with_label_values(&[r]);
        }
        for r in BAD_FRAME_REASONS {
            m.bad_frames.with_label_values(&[r]);
        }
        for r in ANSWERS {
            m.answers.with_label_values(&[r]);
        }
        Ok(m)
    }
}

/// The label of a frame error.
pub fn frame_reason(e: &jt808::FrameError) -> &'static str {
    use jt808::FrameError as E;
    match e {
        E::BadEscape(_) => "bad_escape",
        E::TruncatedHeader { .. } => "truncated_header",
        E::BadCheckCode { .. } => "bad_check_code",
        E::BodyLengthMismatch { .. } => "body_length_mismatch",
        E::TooLong { .. } => "too_long",
        E::BadPhone(_) => "bad_phone",
        E::NoFlags => "no_flags",
        E::Garbage { .. } => "garbage",
    }
}

/// The label of a 0x8001 result.
pub fn answer_label(r: jt808::ResponseResult) -> &'static str {
    use jt808::ResponseResult as R;
    match r {
        R::Ok | R::AlarmAck => "ok",
        R::Failure => "failure",
        R::BadMessage => "bad_message",
        R::NotSupported => "not_supported",
    }
}
