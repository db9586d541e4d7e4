//! Configuration of the MQTT side and of the pipeline. Defaults work against
//! the local services.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttConfig {
    /// `mqtt://host:1883`, or `mqtts://host:8883` for TLS.
    pub url: String,
    /// Stable client id: the broker keeps this id's persistent session (and the
    /// messages not yet acknowledged) across restarts. One per instance.
    pub client_id: String,
    pub username: Option<String>,
    #[serde(skip_serializing)]
    pub password: Option<String>,
    /// CA certificate (PEM) for `mqtts://`; the system roots when unset.
    pub ca_file: Option<PathBuf>,
    /// Orgs to subscribe to; empty means all.
    pub orgs: Vec<String>,
    /// Also subscribe to `owntracks/+/+`.
    pub owntracks: bool,
    /// Org that OwnTracks phones without a mapping are registered in.
    pub owntracks_org: String,
    pub keep_alive_secs: u64,
    /// Largest MQTT packet accepted from the broker. Must be at least the
    /// broker's own limit: a bigger packet would break the connection on every
    /// redelivery; anything over the contract's 64 KiB is rejected and stored.
    pub max_packet_bytes: usize,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            url: "mqtt://127.0.0.1:1883".into(),
            client_id: "sweepwatch-ingest".into(),
            username: None,
            password: None,
            ca_file: None,
            orgs: Vec::new(),
            owntracks: true,
            owntracks_org: "owntracks".into(),
            keep_alive_secs: 60,
            max_packet_bytes: 2 * 1024 * 1024,
        }
    }
}

impl fmt::Debug for MqttConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttConfig")
            .field("url", &self.url)
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("ca_file", &self.ca_file)
            .field("orgs", &self.orgs)
            .field("owntracks", &self.owntracks)
            .field("owntracks_org", &self.owntracks_org)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// A batch is committed when it holds this many rows...
    pub batch_max_rows: usize,
    /// ...or when its oldest message has waited this long.
    pub batch_max_age_ms: u64,
    /// Reading from the broker pauses while this many messages are held
    /// (queued or being committed) and resumes at half of it. Bounds memory
    /// (~400 bytes per fix message); the broker keeps the rest.
    pub max_held_messages: usize,
    /// The same in payload bytes (backlogs are up to 256 KiB each).
    pub max_held_bytes: usize,
    /// Fixes older than this are rejected (and deleted by retention).
    pub retention_days: u32,
    /// How long shutdown waits for the last batch to commit before giving up
    /// (what is not committed is not acknowledged, so the broker keeps it).
    pub shutdown_grace_secs: u64,
    /// The stall watchdog: messages held and nothing committed for this long,
    /// although the database answers, makes `/readyz` fail and
    /// `sweepwatch_ingest_stalled` 1.
    pub stall_after_secs: u64,
    /// How often the engines' state is checkpointed. A restart replays the
    /// fixes received since the last checkpoint, so this bounds restart time.
    pub checkpoint_interval_ms: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            batch_max_rows: 5000,
            batch_max_age_ms: 50,
            max_held_messages: 32_768,
            max_held_bytes: 64 << 20,
            retention_days: 90,
            shutdown_grace_secs: 15,
            stall_after_secs: 30,
            checkpoint_interval_ms: 10_000,
        }
    }
}
