//! Runs a load (or the broker-only ceiling) against a broker and prints the figures.
//!
//! ```text
//! cargo run --release -p simulator --example load -- \
//!     --url mqtt://127.0.0.1:1883 --rate 60000 --devices 10000 --connections 4 \
//!     --duration 20 [--qos 1] [--ceiling] [--progress]
//! ```

use std::time::Duration;

use anyhow::{Context, bail};
use simulator::{BrokerOptions, LoadOptions, run_broker_ceiling, run_load};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut opts = LoadOptions {
        broker: BrokerOptions {
            url: "mqtt://127.0.0.1:1883".into(),
            username: None,
            password: None,
            client_id_prefix: "sweepwatch-load".into(),
        },
        org: "humen".into(),
        devices: 10_000,
        rate: 60_000,
        duration: Duration::from_secs(20),
        connections: 4,
        qos: 1,
        progress: false,
        seed: 1,
    };
    let mut ceiling = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => opts.broker.url = value()?,
            "--org" => opts.org = value()?,
            "--rate" => opts.rate = value()?.parse()?,
            "--devices" => opts.devices = value()?.parse()?,
            "--connections" => opts.connections = value()?.parse()?,
            "--duration" => opts.duration = Duration::try_from_secs_f64(value()?.parse()?)?,
            "--qos" => opts.qos = value()?.parse()?,
            "--seed" => opts.seed = value()?.parse()?,
            "--progress" => opts.progress = true,
            "--ceiling" => ceiling = true,
            other => bail!("unknown argument {other}"),
        }
    }
    let cancel = CancellationToken::new();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.cancel();
        }
    });
    if ceiling {
        let r = run_broker_ceiling(&opts, cancel).await?;
        println!(
            "ceiling: published {} acked {} in {:.2}s ({:.0}/s acked); subscriber received {} in {:.2}s ({:.0}/s)",
            r.load.published,
            r.load.acknowledged,
            r.load.elapsed.as_secs_f64(),
            r.load.rate,
            r.received,
            r.elapsed.as_secs_f64(),
            r.received_rate
        );
    } else {
        let r = run_load(&opts, cancel).await?;
        println!(
            "load: published {} acked {} in {:.2}s ({:.0}/s acked); fixes {} .. {}",
            r.published,
            r.acknowledged,
            r.elapsed.as_secs_f64(),
            r.rate,
            r.first_ts.map(|t| t.to_rfc3339()).unwrap_or_default(),
            r.last_ts.map(|t| t.to_rfc3339()).unwrap_or_default(),
        );
    }
    Ok(())
}
