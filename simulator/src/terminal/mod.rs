//! JT/T 808 terminals in a scenario run: a share of the vehicles (street
//! cleaners' uniforms stay on MQTT) report over TCP to the service's JT/T 808
//! listener instead of publishing on MQTT, built on the `jt808` crate's
//! encoder, as real vehicle terminals do:
//!
//! - register (0x0100) once and keep the authentication code, authenticate
//!   (0x0102) on every connection;
//! - a location report (0x0200) for each fix, a blind-area batch (0x0704)
//!   for each store-and-forward backlog; heartbeats (0x0002) for status;
//! - at most [`WINDOW`] reports unanswered at once: each waits for its
//!   platform general response (0x8001), and what is unanswered when the
//!   connection drops is sent again after reconnecting (the service stores
//!   a position once, whatever is resent);
//! - in a tunnel (a stretch of simulated time, [`Tunnel`]) positions are
//!   kept and sent as one blind-area batch when the vehicle comes out;
//! - a reconnect storm ([`TerminalOptions::storm_at`]): every terminal drops
//!   its connection at the same moment and reconnects at once.
//!
//! Malformed messages of the plan are MQTT-only and are not sent.

mod link;
mod report;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use geofence::DeviceKind;
use geofence::scenario::ScenarioFile;
use jt808::{LocationReport, Phone};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::scenario::{MessageKind, PlannedMessage, SimError};

pub use crate::scenario::TerminalReport;

pub use report::{fix_report, location_reports};

/// Reports a terminal keeps unanswered at once (the listener's default
/// `max_in_flight` is 8).
pub const WINDOW: usize = 8;
/// Reports in one 0x0704 frame: 30 reports of 30 bytes stay under the
/// standard's 1,023-byte body, so a batch is never split into packages.
pub const BATCH_REPORTS: usize = 30;

/// Which vehicles are terminals and what happens to them.
#[derive(Debug, Clone)]
pub struct TerminalOptions {
    /// The service's `[jt808] listen` address, e.g. `127.0.0.1:7611`.
    pub addr: String,
    /// Share of the selected vehicles (0 to 1) that are terminals: the first
    /// of them in id order.
    pub share: f64,
    /// A tunnel every terminal drives through.
    pub tunnel: Option<Tunnel>,
    /// Simulated time after the start at which every terminal drops its
    /// connection and reconnects at once.
    pub storm_at: Option<Duration>,
}

/// A blind area in simulated time: from `after` the start, for `length`.
#[derive(Debug, Clone, Copy)]
pub struct Tunnel {
    pub after: Duration,
    pub length: Duration,
}

impl TerminalReport {
    fn add(&mut self, o: &TerminalReport) {
        self.terminals += o.terminals;
        self.positions += o.positions;
        self.answered += o.answered;
        self.batches += o.batches;
        self.reconnects += o.reconnects;
        self.resent += o.resent;
    }
}

/// The terminals among `ids`: the first `share` of the vehicles, in id
/// order, each with a phone number (`139` and eight digits of its place).
pub fn terminal_phones(file: &ScenarioFile, ids: &[String], share: f64) -> BTreeMap<String, Phone> {
    let mut vehicles: Vec<&String> = ids
        .iter()
        .filter(|id| {
            file.devices
                .iter()
                .any(|d| &d.id == *id && d.kind != DeviceKind::Worker)
        })
        .collect();
    vehicles.sort();
    let n = (vehicles.len() as f64 * share.clamp(0.0, 1.0)).round() as usize;
    vehicles
        .into_iter()
        .take(n)
        .enumerate()
        .map(|(i, id)| {
            let phone = Phone::new(&format!("139{i:08}")).expect("11 digits");
            (id.clone(), phone)
        })
        .collect()
}

/// What a terminal is told to do.
#[derive(Debug)]
enum Cmd {
    /// A fix at simulated time `at`.
    Fix(DateTime<Utc>, LocationReport),
    /// A store-and-forward backlog.
    Batch(Vec<LocationReport>),
    Heartbeat,
    /// Drop the connection and reconnect at once.
    Storm,
}

/// The running terminals of a scenario run.
pub struct Terminals {
    senders: HashMap<String, mpsc::Sender<Cmd>>,
    tasks: JoinSet<Result<TerminalReport, SimError>>,
    storm: Option<DateTime<Utc>>,
}

impl Terminals {
    /// Starts a terminal for each of `phones` (device → phone), reporting to
    /// `opts.addr`; `start` is the run's simulated start.
    pub fn start(
        opts: &TerminalOptions,
        phones: &BTreeMap<String, Phone>,
        start: DateTime<Utc>,
    ) -> Self {
        let span = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        let tunnel = opts.tunnel.map(|t| {
            let from = start + span(t.after);
            (from, from + span(t.length))
        });
        let mut senders = HashMap::new();
        let mut tasks = JoinSet::new();
        for (device, phone) in phones {
            let (tx, rx) = mpsc::channel(64);
            senders.insert(device.clone(), tx);
            let t = link::Terminal::new(opts.addr.clone(), phone.clone(), tunnel);
            tasks.spawn(t.run(rx));
        }
        Self {
            senders,
            tasks,
            storm: opts.storm_at.map(|s| start + span(s)),
        }
    }

    /// Whether `device` is a terminal.
    pub fn has(&self, device: &str) -> bool {
        self.senders.contains_key(device)
    }

    /// Hands a planned message of a terminal's device to it (waiting while
    /// the terminal is behind); first sets off the storm when it is due.
    pub async fn send(&mut self, m: &PlannedMessage) -> Result<(), SimError> {
        if self.storm.is_some_and(|s| m.at >= s) {
            self.storm = None;
            for tx in self.senders.values() {
                let _ = tx.send(Cmd::Storm).await;
            }
        }
        let Some(tx) = self.senders.get(&m.device) else {
            return Ok(());
        };
        let cmd = match m.kind {
            MessageKind::Fix | MessageKind::Duplicate | MessageKind::Sos => {
                match fix_report(&m.payload) {
                    Some(r) => Cmd::Fix(m.at, r),
                    None => return Ok(()),
                }
            }
            MessageKind::Backlog => Cmd::Batch(location_reports(&m.payload)),
            MessageKind::Status => Cmd::Heartbeat,
            _ => return Ok(()),
        };
        if tx.send(cmd).await.is_err() {
            // The terminal ended early: its error comes out of `finish`.
            self.senders.remove(&m.device);
        }
        Ok(())
    }

    /// Lets every terminal send what it holds, wait for its answers and log
    /// out; adds up what they did.
    pub async fn finish(mut self) -> Result<TerminalReport, SimError> {
        self.senders.clear();
        let mut total = TerminalReport::default();
        let mut failure = None;
        while let Some(r) = self.tasks.join_next().await {
            match r? {
                Ok(report) => total.add(&report),
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(total),
        }
    }
}

#[cfg(test)]
mod tests;
