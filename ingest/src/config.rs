//! Configuration of the MQTT side and of the pipeline. Defaults work against
//! the local services.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize, Serializer};

/// What a secret is printed as (`sweepwatch config`): it shows that the
/// secret is set, never what it is.
pub const REDACTED: &str = "REDACTED";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttConfig {
    /// `mqtt://host:1883`, or `mqtts://host:8883` for TLS.
    pub url: String,
    /// Stable client id: the broker keeps this id's persistent session (and the
    /// messages not yet acknowledged) across restarts. One per instance.
    pub client_id: String,
    pub username: Option<String>,
    /// A secret: `Debug` and `sweepwatch config` show it as [`REDACTED`].
    #[serde(serialize_with = "redacted")]
    pub password: Option<SecretString>,
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
    /// EMQX's JT/T 808 gateway: also subscribe to this filter (its
    /// `up_topic`; by default `jt808/${clientid}/${phone}/up`, so
    /// `jt808/+/+/up`) and take its JSON location reports (`msg_id` 512 and
    /// 1796) as the `[jt808]` listener takes a terminal's. Empty: off.
    pub emqx_jt808_topic: String,
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
            emqx_jt808_topic: String::new(),
        }
    }
}

/// Serializes a secret as [`REDACTED`] (or nothing when unset).
pub fn redacted<S: Serializer>(secret: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => s.serialize_some(REDACTED),
        None => s.serialize_none(),
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

/// The JT/T 808 listener (vehicle terminals over TCP). Off while `listen` is empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Jt808Config {
    /// Address to listen on, e.g. `0.0.0.0:7611`; empty: no listener.
    pub listen: String,
    /// Org that terminals with no device mapped to their phone number are
    /// registered in (as `jt808-{phone}`).
    pub org: String,
    /// Kind given to those devices: `sweeper`, `washer`, `collector`,
    /// `worker` or `unknown`.
    pub kind: String,
    /// Connections held at once; one more is closed as soon as it is accepted.
    pub max_connections: usize,
    /// A connection that sends nothing for this long is closed (terminals
    /// send a heartbeat every 60 s unless configured otherwise).
    pub idle_timeout_secs: u64,
    /// Reports of one connection handed to the pipeline and not yet answered;
    /// at this many the connection stops reading until the oldest commits.
    pub max_in_flight: usize,
    /// Bad frames in a row after which a connection is closed.
    pub max_bad_frames: usize,
    /// Largest split message reassembled (bytes of body).
    pub max_message_bytes: usize,
    /// The work bit of each device kind (`work` of a fix): where the vendor
    /// wired the broom or pump, e.g. `sweeper = { source = "status", bit = 0 }`
    /// (ACC) or `{ source = "extra", id = 0x25, bit = 3 }`. A kind not listed
    /// sends no `work`.
    pub work: std::collections::BTreeMap<String, jt808::WorkBit>,
    /// The same per terminal (by phone number, without leading zeros),
    /// overriding its kind's.
    pub work_by_phone: std::collections::BTreeMap<String, jt808::WorkBit>,
}

impl Default for Jt808Config {
    fn default() -> Self {
        Self {
            listen: String::new(),
            org: "jt808".into(),
            kind: "unknown".into(),
            // A connection holds at most a 4 KiB read, one frame run (2 KiB),
            // two split messages and its in-flight reports: some 150 KiB at
            // worst, so 10,000 terminals stay under 1.5 GiB even if hostile.
            max_connections: 10_000,
            // Three missed heartbeats at the standard's 60 s.
            idle_timeout_secs: 180,
            // Terminals wait for each answer (or time out) before the next
            // report; 8 covers a few pipelined ones and a resent batch.
            max_in_flight: 8,
            max_bad_frames: 16,
            // A blind-area batch of the contract's 1,000 positions is ~45 KB.
            max_message_bytes: 64 * 1024,
            work: Default::default(),
            work_by_phone: Default::default(),
        }
    }
}

impl Jt808Config {
    /// Whether the listener is on.
    pub fn enabled(&self) -> bool {
        !self.listen.trim().is_empty()
    }
}
