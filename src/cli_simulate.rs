//! `sweepwatch simulate ...`: command-line arguments for the simulator.

use std::time::Duration;

use clap::{Args, Subcommand};
use tokio_util::sync::CancellationToken;

#[derive(Subcommand)]
pub enum SimulateMode {
    /// Drive the devices of a scenario file: routes, beats, breaks, and the
    /// behaviours that raise alerts (silence, SOS, idling, backlogs...).
    Run(Box<RunArgs>),
    /// Publish N devices at R fixes/s for a duration (QoS 1, several connections), then
    /// report what was published and acknowledged by the broker.
    Load(LoadArgs),
}

#[derive(Args)]
pub struct RunArgs {
    /// Scenario file (sweepwatch-scenario/1). Default: the bundled Humen town.
    #[arg(long)]
    scenario: Option<std::path::PathBuf>,
    /// Broker URL (mqtt:// or mqtts://). Default: the configured mqtt.url.
    #[arg(long)]
    url: Option<String>,
    #[arg(long)]
    username: Option<String>,
    #[arg(long, env = "SWEEPWATCH_SIMULATE_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Replay a past shift at this speed (60 = an hour a minute). Without it, real time.
    #[arg(long)]
    speed: Option<f64>,
    /// Replay from this instant (RFC 3339). Default: the latest start of --shift that
    /// ends before now.
    #[arg(long)]
    start: Option<chrono::DateTime<chrono::Utc>>,
    /// The shift whose latest instance a replay starts at.
    #[arg(long, default_value = "day-sweep")]
    shift: String,
    /// Simulated time to run, e.g. 90m, 12h, 3600s.
    #[arg(long, default_value = "12h", value_parser = parse_span)]
    duration: Duration,
    /// Only the first N devices of each kind.
    #[arg(long)]
    per_kind: Option<u32>,
    /// Devices with an owntracks_id publish as OwnTracks.
    #[arg(long)]
    owntracks: bool,
    /// These devices only (comma-separated ids).
    #[arg(long, value_delimiter = ',')]
    devices: Vec<String>,
    /// Clean tracks: no silence, SOS, idling, backlogs, malformed messages...
    #[arg(long)]
    no_behaviours: bool,
    /// Only these behaviours (comma-separated: noise, dropout, silent, backlog,
    /// duplicates, malformed, sos, idle, leave_area, late_start, breaks,
    /// transfer_trips, take_away, off_route, speeding, off_shift, skip_route,
    /// traffic_jam, edge).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// All behaviours but these (comma-separated, as for --only).
    #[arg(long, value_delimiter = ',')]
    without: Vec<String>,
    /// Write what the run planted (troubles and non-troubles, JSON lines) to this
    /// file, for `sweepwatch score`.
    #[arg(long)]
    truth: Option<std::path::PathBuf>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of the vehicles (0 to 1) that report as JT/T 808 terminals to
    /// --jt808-addr instead of publishing on MQTT (cleaners stay on MQTT).
    #[arg(long, default_value_t = 0.0)]
    jt808_share: f64,
    /// The service's JT/T 808 listener (`[jt808] listen`).
    #[arg(long, default_value = "127.0.0.1:7611")]
    jt808_addr: String,
    /// A tunnel: from this simulated time after the start (e.g. 10m), the
    /// terminals keep their positions and send them as one blind-area batch
    /// (0x0704) when they come out after --jt808-tunnel-for.
    #[arg(long, value_parser = parse_span)]
    jt808_tunnel_at: Option<Duration>,
    #[arg(long, value_parser = parse_span, default_value = "2m")]
    jt808_tunnel_for: Duration,
    /// A reconnect storm: at this simulated time after the start every
    /// terminal drops its connection and reconnects at once.
    #[arg(long, value_parser = parse_span)]
    jt808_storm_at: Option<Duration>,
}

/// `90m`, `12h`, `3600s` or plain seconds.
fn parse_span(s: &str) -> Result<Duration, String> {
    let (num, unit) = s
        .find(|c: char| c.is_ascii_alphabetic())
        .map_or((s, "s"), |i| s.split_at(i));
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: expected e.g. 90m, 12h, 3600s"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{s:?}: unit must be s, m or h")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"))
}

impl RunArgs {
    pub fn scenario(&self) -> anyhow::Result<geofence::scenario::ScenarioFile> {
        let text = match &self.scenario {
            Some(p) => {
                std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?
            }
            None => sweepwatch::BUNDLED_SCENARIO.to_owned(),
        };
        let file = geofence::scenario::ScenarioFile::from_json(&text)?;
        file.validate()?;
        Ok(file)
    }

    pub fn options(
        &self,
        file: &geofence::scenario::ScenarioFile,
        default_url: &str,
    ) -> anyhow::Result<simulator::scenario::ScenarioRun> {
        use simulator::scenario::{Behaviours, Clock, DeviceSelection, ScenarioRun};
        let mut run = ScenarioRun::new(simulator::BrokerOptions {
            url: self.url.clone().unwrap_or_else(|| default_url.to_owned()),
            username: self.username.clone(),
            password: self.password.clone(),
            client_id_prefix: "sweepwatch-sim".into(),
        });
        run.seed = self.seed;
        run.duration = self.duration;
        run.owntracks = self.owntracks;
        if let Some(n) = self.per_kind {
            run.devices = DeviceSelection::PerKind(n);
        }
        if !self.devices.is_empty() {
            run.devices = DeviceSelection::Ids(self.devices.clone());
        }
        if self.no_behaviours || !self.only.is_empty() {
            run.behaviours = Behaviours::none();
        }
        for (names, on) in [(&self.only, true), (&self.without, false)] {
            for name in names {
                anyhow::ensure!(
                    run.behaviours.set(name, on),
                    "unknown behaviour {name:?}; known: {}",
                    Behaviours::NAMES.join(", ")
                );
            }
        }
        run.truth = self.truth.clone();
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.jt808_share),
            "--jt808-share {} is not between 0 and 1",
            self.jt808_share
        );
        if self.jt808_share > 0.0 {
            run.terminals = Some(simulator::terminal::TerminalOptions {
                addr: self.jt808_addr.clone(),
                share: self.jt808_share,
                tunnel: self
                    .jt808_tunnel_at
                    .map(|after| simulator::terminal::Tunnel {
                        after,
                        length: self.jt808_tunnel_for,
                    }),
                storm_at: self.jt808_storm_at,
            });
        }
        if let Some(speed) = self.speed {
            let span = chrono::Duration::from_std(self.duration)?;
            let start = match self.start {
                Some(t) => t,
                None => simulator::scenario::latest_shift_start(
                    file,
                    &self.shift,
                    chrono::Utc::now() - span,
                )
                .ok_or_else(|| {
                    anyhow::anyhow!("the scenario has no shift {:?} to replay", self.shift)
                })?,
            };
            run.clock = Clock::Replay { start, speed };
        }
        Ok(run)
    }
}

#[derive(Args)]
pub struct LoadArgs {
    /// Broker URL (mqtt:// or mqtts://). Default: the configured mqtt.url.
    #[arg(long)]
    url: Option<String>,
    #[arg(long)]
    username: Option<String>,
    #[arg(long, env = "SWEEPWATCH_SIMULATE_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Org segment of the topics.
    #[arg(long, default_value = "load")]
    org: String,
    #[arg(long, default_value_t = 10_000)]
    devices: u32,
    /// Target fixes per second, all devices together.
    #[arg(long, default_value_t = 25_000)]
    rate: u32,
    /// Seconds.
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    #[arg(long, default_value_t = 4)]
    connections: u32,
    #[arg(long, default_value_t = 1)]
    qos: u8,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Measure the broker-only ceiling instead: the same load plus a subscriber that only counts.
    #[arg(long)]
    ceiling: bool,
    /// No progress line every second.
    #[arg(long)]
    quiet: bool,
}

impl LoadArgs {
    pub fn options(&self, default_url: &str) -> anyhow::Result<simulator::LoadOptions> {
        Ok(simulator::LoadOptions {
            broker: simulator::BrokerOptions {
                url: self.url.clone().unwrap_or_else(|| default_url.to_owned()),
                username: self.username.clone(),
                password: self.password.clone(),
                client_id_prefix: "sweepwatch-load".into(),
            },
            org: self.org.clone(),
            devices: self.devices,
            rate: self.rate,
            duration: Duration::try_from_secs_f64(self.duration)
                .map_err(|e| anyhow::anyhow!("--duration {}: {e}", self.duration))?,
            connections: self.connections,
            qos: self.qos,
            progress: !self.quiet,
            seed: self.seed,
        })
    }
}

pub async fn run(
    mode: SimulateMode,
    default_url: &str,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    match mode {
        SimulateMode::Run(args) => {
            let file = args.scenario()?;
            let opts = args.options(&file, default_url)?;
            let r = simulator::scenario::run_scenario(&file, &opts, cancel).await?;
            if let Some(path) = &opts.truth {
                println!("ground truth written to {}", path.display());
            }
            println!(
                "simulated {} .. {}: published {} (acked {}): {} fixes, {} backlogs ({} fixes), {} duplicates, {} malformed, {} SOS, {} status, {} OwnTracks",
                r.start,
                r.end,
                r.published,
                r.acknowledged,
                r.counts.fixes,
                r.counts.backlogs,
                r.counts.backlog_fixes,
                r.counts.duplicates,
                r.counts.malformed,
                r.counts.sos,
                r.counts.status,
                r.counts.owntracks
            );
            if let Some(t) = &r.terminals {
                println!(
                    "JT/T 808: {} terminals, {} positions, {} reports and batches answered, {} blind-area batches, {} reconnects, {} resent",
                    t.terminals, t.positions, t.answered, t.batches, t.reconnects, t.resent
                );
            }
            Ok(())
        }
        SimulateMode::Load(args) => {
            let opts = args.options(default_url)?;
            if args.ceiling {
                let r = simulator::run_broker_ceiling(&opts, cancel).await?;
                println!(
                    "broker ceiling: published {} acked {} in {:.2}s ({:.0}/s); subscriber received {} ({:.0}/s)",
                    r.load.published,
                    r.load.acknowledged,
                    r.load.elapsed.as_secs_f64(),
                    r.load.rate,
                    r.received,
                    r.received_rate
                );
            } else {
                let r = simulator::run_load(&opts, cancel).await?;
                println!(
                    "load: published {} acked {} in {:.2}s ({:.0}/s acked by the broker)",
                    r.published,
                    r.acknowledged,
                    r.elapsed.as_secs_f64(),
                    r.rate
                );
            }
            Ok(())
        }
    }
}
