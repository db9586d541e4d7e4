//! The ingest metrics (prefix `sweepwatch_`, no per-device labels), registered
//! in the registry the caller passes, so tests and several pipelines in one
//! process do not collide.

use prometheus::{
    GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

use crate::codec::RejectReason;

/// The alert kinds, as metric labels (geofence owns the list).
pub const ALERT_KINDS: [&str; geofence::AlertKind::ALL.len()] = {
    let mut out = [""; geofence::AlertKind::ALL.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = geofence::AlertKind::ALL[i].as_str();
        i += 1;
    }
    out
};

#[derive(Clone)]
pub struct Metrics {
    /// `result` = accepted | rejected | duplicate
    pub messages: IntCounterVec,
    pub rejects: IntCounterVec,
    pub fixes_stored: IntCounter,
    pub fixes_duplicate: IntCounter,
    pub ingest_lag: Histogram,
    pub batch_rows: Histogram,
    pub batch_seconds: Histogram,
    /// Rollups and checkpoints written beside ingest (too large for a batch).
    pub rollup_seconds: Histogram,
    pub db_errors: IntCounter,
    pub queue_depth: IntGauge,
    pub mqtt_connected: IntGauge,
    pub mqtt_reconnects: IntCounter,
    pub mqtt_subscriptions_refused: IntGauge,
    pub devices_registered: IntGauge,
    pub queue_pauses: IntCounter,
    /// 1 while messages are held and nothing was committed for the watchdog's time.
    pub ingest_stalled: IntGauge,
    pub engine_skipped: IntCounter,
    /// The engines' estimated memory and the devices it is for.
    pub engine_bytes: IntGauge,
    pub engine_devices: IntGauge,
    pub alerts_opened: IntCounterVec,
    pub alerts_open: IntGaugeVec,
    pub alerts_unack_oldest: GaugeVec,
    pub devices_online: IntGauge,
    pub shift_coverage: GaugeVec,
    pub shift_elapsed: GaugeVec,
    /// The JT/T 808 listener's.
    pub jt808: crate::jt808::metrics::Jt808Metrics,
}

impl Metrics {
    /// Defines and registers every metric of ingest.
    #[expect(
        clippy::too_many_lines,
        reason = "a flat list of metric definitions, one per field, then their registration: \
                  split, they would only be scattered"
    )]
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let m = Self {
            messages: IntCounterVec::new(
                Opts::new(
                    "sweepwatch_mqtt_messages_total",
                    "MQTT messages processed, by result",
                ),
                &["result"],
            )?,
            rejects: IntCounterVec::new(
                Opts::new(
                    "sweepwatch_mqtt_rejects_total",
                    "MQTT messages or backlog elements rejected, by reason",
                ),
                &["reason"],
            )?,
            fixes_stored: IntCounter::new(
                "sweepwatch_fixes_stored_total",
                "Fixes committed to the database",
            )?,
            fixes_duplicate: IntCounter::new(
                "sweepwatch_fixes_duplicate_total",
                "Fixes not stored because the same device and time was already stored",
            )?,
            ingest_lag: Histogram::with_opts(
                HistogramOpts::new(
                    "sweepwatch_ingest_lag_seconds",
                    "Time from a fix's timestamp to its commit",
                )
                // Fine below a second (live traffic), coarse above (backlogs, replays).
                .buckets(vec![
                    0.002, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2,
                    0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0,
                ]),
            )?,
            batch_rows: Histogram::with_opts(
                HistogramOpts::new(
                    "sweepwatch_db_batch_rows",
                    "Rows (fixes, rejects, statuses) per committed batch",
                )
                .buckets(vec![
                    1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
                ]),
            )?,
            batch_seconds: Histogram::with_opts(
                HistogramOpts::new("sweepwatch_db_batch_seconds", "Time to commit one batch")
                    .buckets(vec![
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    ]),
            )?,
            rollup_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "sweepwatch_db_rollups_seconds",
                    "Time to write rollups and an engine checkpoint too large for a batch, \
                     in a transaction of their own beside ingest",
                )
                .buckets(vec![0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            )?,
            db_errors: IntCounter::new(
                "sweepwatch_db_errors_total",
                "Failed database statements of the writer (retried, or split around a refused message)",
            )?,
            queue_depth: IntGauge::new(
                "sweepwatch_pipeline_queue_depth",
                "MQTT messages received and not yet acknowledged (queued, batching or being committed)",
            )?,
            mqtt_connected: IntGauge::new(
                "sweepwatch_mqtt_connected",
                "1 while connected to the MQTT broker",
            )?,
            mqtt_reconnects: IntCounter::new(
                "sweepwatch_mqtt_connections_total",
                "MQTT connections established",
            )?,
            mqtt_subscriptions_refused: IntGauge::new(
                "sweepwatch_mqtt_subscriptions_refused",
                "Topic filters the broker refused in its last SUBACK (nothing on them is ingested)",
            )?,
            devices_registered: IntGauge::new(
                "sweepwatch_devices_known",
                "Devices this process has resolved",
            )?,
            queue_pauses: IntCounter::new(
                "sweepwatch_mqtt_read_pauses_total",
                "Times reading from the broker paused because the pipeline held its limit (back-pressure)",
            )?,
            ingest_stalled: IntGauge::new(
                "sweepwatch_ingest_stalled",
                "1 while messages are held and nothing has been committed for the stall time although the database answers",
            )?,
            engine_skipped: IntCounter::new(
                "sweepwatch_engine_skipped_total",
                "Messages whose fixes were stored without engine evaluation because what the engine derived could not be stored",
            )?,
            engine_bytes: IntGauge::new(
                "sweepwatch_engine_bytes",
                "Estimated bytes held by the geofence engines (device state, coverage cells, last-served maps)",
            )?,
            engine_devices: IntGauge::new(
                "sweepwatch_engine_devices",
                "Devices with state in the geofence engines",
            )?,
            alerts_opened: IntCounterVec::new(
                Opts::new(
                    "sweepwatch_alerts_opened_total",
                    "Alerts opened by the engine, by kind",
                ),
                &["kind"],
            )?,
            alerts_open: IntGaugeVec::new(
                Opts::new(
                    "sweepwatch_alerts_open",
                    "Alerts not resolved (open or acknowledged), by kind",
                ),
                &["kind"],
            )?,
            alerts_unack_oldest: GaugeVec::new(
                Opts::new(
                    "sweepwatch_alerts_unacknowledged_oldest_seconds",
                    "Age of the oldest open, unacknowledged alert of a kind (0 when none)",
                ),
                &["kind"],
            )?,
            devices_online: IntGauge::new(
                "sweepwatch_devices_online",
                "Devices with a fix received in the last 10 minutes",
            )?,
            shift_coverage: GaugeVec::new(
                Opts::new(
                    "sweepwatch_shift_coverage_ratio",
                    "Covered share of all routes of a running shift instance",
                ),
                &["org", "shift"],
            )?,
            shift_elapsed: GaugeVec::new(
                Opts::new(
                    "sweepwatch_shift_elapsed_ratio",
                    "Elapsed share of a running shift instance",
                ),
                &["org", "shift"],
            )?,
            jt808: crate::jt808::metrics::Jt808Metrics::register(registry)?,
        };
        registry.register(Box::new(m.alerts_open.clone()))?;
        registry.register(Box::new(m.alerts_unack_oldest.clone()))?;
        registry.register(Box::new(m.devices_online.clone()))?;
        registry.register(Box::new(m.shift_coverage.clone()))?;
        registry.register(Box::new(m.shift_elapsed.clone()))?;
        registry.register(Box::new(m.messages.clone()))?;
        registry.register(Box::new(m.rejects.clone()))?;
        registry.register(Box::new(m.fixes_stored.clone()))?;
        registry.register(Box::new(m.fixes_duplicate.clone()))?;
        registry.register(Box::new(m.ingest_lag.clone()))?;
        registry.register(Box::new(m.batch_rows.clone()))?;
        registry.register(Box::new(m.batch_seconds.clone()))?;
        registry.register(Box::new(m.rollup_seconds.clone()))?;
        registry.register(Box::new(m.db_errors.clone()))?;
        registry.register(Box::new(m.queue_depth.clone()))?;
        registry.register(Box::new(m.mqtt_connected.clone()))?;
        registry.register(Box::new(m.mqtt_reconnects.clone()))?;
        registry.register(Box::new(m.mqtt_subscriptions_refused.clone()))?;
        registry.register(Box::new(m.devices_registered.clone()))?;
        registry.register(Box::new(m.alerts_opened.clone()))?;
        registry.register(Box::new(m.ingest_stalled.clone()))?;
        registry.register(Box::new(m.engine_skipped.clone()))?;
        registry.register(Box::new(m.engine_bytes.clone()))?;
        registry.register(Box::new(m.engine_devices.clone()))?;
        registry.register(Box::new(m.queue_pauses.clone()))?;
        // Every label value exists from the start, so rate() works from the first scrape.
        for result in ["accepted", "rejected", "duplicate"] {
            m.messages.with_label_values(&[result]);
        }
        for kind in ALERT_KINDS {
            m.alerts_opened.with_label_values(&[kind]);
            m.alerts_open.with_label_values(&[kind]);
            m.alerts_unack_oldest.with_label_values(&[kind]);
        }
        for r in RejectReason::ALL {
            m.rejects.with_label_values(&[r.as_str()]);
        }
        Ok(m)
    }
}
