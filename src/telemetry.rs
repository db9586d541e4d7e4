//! Logging set-up: a `tracing` filter, text or JSON lines, to stderr.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

pub fn init(filter: &str, format: &str) -> anyhow::Result<()> {
    let filter =
        EnvFilter::try_new(filter).map_err(|e| anyhow::anyhow!("log filter {filter:?}: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let result = match format {
        "json" => builder.json().flatten_event(true).try_init(),
        "text" => builder.try_init(),
        other => anyhow::bail!("log format {other:?}: use text or json"),
    };
    result.map_err(|e| anyhow::anyhow!("could not install the logger: {e}"))
}
