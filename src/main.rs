//! The `sweepwatch` command line: parses arguments and calls the library.

mod cli_score;
mod cli_simulate;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use sweepwatch::{Config, app, telemetry};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "sweepwatch",
    version,
    about = "Real-time fleet telemetry for city sanitation"
)]
struct Cli {
    /// TOML configuration file (default: $SWEEPWATCH_CONFIG, else built-in defaults).
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest from MQTT, store, and serve the HTTP API (health, readiness, metrics).
    Serve {
        /// For tests (the dashboard's): start a Mosquitto of its own (the
        /// demo's, the project's configuration on a free port) instead of
        /// connecting to `mqtt.url`, and print `broker: mqtt://…` and
        /// `http: http://…` (the bound address: `http.addr` may have port 0) on stdout.
        #[arg(long, hide = true)]
        own_broker: bool,
    },
    /// Create the database if needed and apply schema migrations, then exit.
    Migrate,
    /// Print the effective configuration (defaults, file, environment) as TOML.
    Config,
    /// Validate a scenario file (areas, shifts, devices, assignments, rules) and
    /// load it into the database in one transaction.
    Import {
        /// A `sweepwatch-scenario/1` JSON file.
        file: PathBuf,
        /// Only validate; change nothing.
        #[arg(long)]
        check: bool,
    },
    /// Run the whole thing locally: a broker of its own, the demo database with the
    /// bundled Humen scenario, the service, and a past shift replayed at speed.
    Demo {
        /// The shift to replay (day-sweep, night-wash, clean-city-day).
        #[arg(long, default_value = "day-sweep")]
        shift: String,
        /// Replay speed: simulated seconds per second.
        #[arg(long, default_value_t = 60.0)]
        speed: f64,
        /// Simulated time to replay, in hours.
        #[arg(long, default_value_t = 12.0)]
        hours: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Publish a simulated fleet to a broker.
    Simulate {
        #[command(subcommand)]
        mode: cli_simulate::SimulateMode,
    },
    /// Score the alerts stored for a simulated run against its ground truth
    /// (`simulate run --truth FILE`): precision, recall and open-time error per kind,
    /// every false and missed alert. Exits non-zero below the thresholds given.
    Score(cli_score::ScoreArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let loaded = Config::load(cli.config.as_deref())?;
    if let Command::Config = cli.command {
        for w in &loaded.warnings {
            eprintln!("warning: {w}");
        }
        print!("{}", loaded.config.to_toml());
        return Ok(());
    }
    let log_filter_set = loaded.is_set("log.filter");
    let mut cfg = loaded.config;
    if matches!(cli.command, Command::Demo { .. }) && !log_filter_set {
        // The demo prints its own progress; keep the log to what needs attention.
        cfg.log.filter = "warn".into();
    }
    telemetry::init(&cfg.log.filter, &cfg.log.format)?;
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let runtime = tokio::runtime::Runtime::new().context("while starting the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve { own_broker } => serve(cfg, own_broker).await,
            Command::Migrate => migrate(cfg).await,
            Command::Import { file, check } => import(cfg, &file, check).await,
            Command::Demo {
                shift,
                speed,
                hours,
                seed,
            } => {
                anyhow::ensure!(
                    speed > 0.0 && hours > 0.0,
                    "--speed and --hours must be positive"
                );
                let shutdown = CancellationToken::new();
                tokio::spawn(cancel_on_signal(shutdown.clone()));
                let opts = sweepwatch::demo::DemoOptions {
                    shift,
                    speed,
                    duration: std::time::Duration::from_secs_f64(hours * 3600.0),
                    seed,
                };
                sweepwatch::demo::run(cfg, opts, shutdown).await
            }
            Command::Simulate { mode } => {
                let cancel = CancellationToken::new();
                tokio::spawn(cancel_on_signal(cancel.clone()));
                cli_simulate::run(mode, &cfg.mqtt.url, cancel).await
            }
            Command::Score(args) => cli_score::run(args, &cfg.database.target()?).await,
            Command::Config => unreachable!("handled above"),
        }
    })
}

async fn serve(mut cfg: Config, own_broker: bool) -> anyhow::Result<()> {
    raise_open_files_limit();
    let broker = match own_broker {
        true => {
            let broker = sweepwatch::demo::start_broker().await?;
            cfg.mqtt.url = broker.url();
            println!("broker: {}", broker.url());
            Some(broker)
        }
        false => None,
    };
    let listener = tokio::net::TcpListener::bind(&cfg.http.addr)
        .await
        .with_context(|| format!("while binding the HTTP address {}", cfg.http.addr))?;
    if own_broker {
        println!("http: http://{}", listener.local_addr()?);
    }
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    let result = app::serve(cfg, listener, shutdown).await;
    // The broker goes after the service has drained into it and disconnected.
    drop(broker);
    result
}

/// A server holds a socket per terminal, per HTTP client and per database
/// connection: the usual soft limit on open files (1,024) is less than the
/// `[jt808] max_connections` of 10,000, so the soft limit is raised to the
/// hard one (which only the administrator can raise; see OPERATIONS.md).
fn raise_open_files_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!(limit, "open files limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open files limit"),
    }
}

async fn migrate(cfg: Config) -> anyhow::Result<()> {
    let target = cfg.database.target()?;
    if store::create_database_if_missing(&target)
        .await
        .with_context(|| format!("while creating the database {}", target.describe()))?
    {
        tracing::info!("created the database");
    }
    let pool = store::connect_pool(&target, 1)?;
    let report = app::migrate(&cfg, &pool).await.context("while migrating")?;
    println!(
        "schema at version {} ({} applied now; {})",
        report.version,
        report.applied.len(),
        if report.timescale {
            "TimescaleDB"
        } else {
            "plain PostgreSQL"
        }
    );
    Ok(())
}

async fn import(cfg: Config, file: &std::path::Path, check: bool) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("while reading {}", file.display()))?;
    let parsed = geofence::scenario::ScenarioFile::from_json(&text)?;
    let scenario = parsed.validate()?;
    if check {
        println!(
            "{}: valid ({} areas, {} shifts, {} devices, {} assignments)",
            file.display(),
            scenario.areas.len(),
            scenario.shifts.len(),
            scenario.devices.len(),
            scenario.assignments.len()
        );
        return Ok(());
    }
    let target = cfg.database.target()?;
    store::create_database_if_missing(&target)
        .await
        .with_context(|| format!("while creating the database {}", target.describe()))?;
    let pool = store::connect_pool(&target, 1)?;
    app::migrate(&cfg, &pool).await.context("while migrating")?;
    let mut client = pool
        .get()
        .await
        .context("while connecting to the database")?;
    let report = store::orgconfig::import(&mut client, &parsed, &scenario)
        .await
        .context("while importing")?;
    println!(
        "imported org {}: {} areas, {} shifts, {} devices, {} assignments",
        report.org, report.areas, report.shifts, report.devices, report.assignments
    );
    Ok(())
}

/// SIGINT or SIGTERM starts a graceful shutdown; a second one exits at once.
async fn cancel_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("could not install signal handlers");
        return;
    };
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    tracing::info!("shutdown requested: finishing what was received");
    shutdown.cancel();
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    tracing::warn!("second signal: exiting without waiting");
    std::process::exit(130);
}
