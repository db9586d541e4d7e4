//! `sweepwatch simulate ...`: command-line arguments for the simulator.

use std::time::Duration;

use clap::{Args, Subcommand};
use tokio_util::sync::CancellationToken;

#[derive(Subcommand)]
pub enum SimulateMode {
    /// Publish N devices at R fixes/s for a duration (QoS 1, several connections), then
    /// report what was published and acknowledged by the broker.
    Load(LoadArgs),
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
