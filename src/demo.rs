//! `sweepwatch demo`: the whole thing on one machine, in one command.
//!
//! Starts a Mosquitto of its own (the installed binary, the project's broker
//! configuration, a free port, state in a temporary directory), recreates the
//! `sweepwatch_demo` database next to the configured one, imports the bundled
//! Humen scenario, runs `serve`, and replays a past shift through the
//! simulator at a speed factor, printing where to look and, every few
//! seconds, what the service has made of it. Ctrl-C stops everything cleanly.

use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::BUNDLED_SCENARIO;
use crate::Config;

pub struct DemoOptions {
    pub shift: String,
    pub speed: f64,
    pub duration: Duration,
    pub seed: u64,
}

/// The demo's Mosquitto (and `serve --own-broker`'s): the test kit's launcher
/// (the installed binary, the project's configuration, a free port, state in
/// a temporary directory), killed and its directory removed when dropped.
pub async fn start_broker() -> anyhow::Result<testkit::Mosquitto> {
    let opts = testkit::mosquitto::Options {
        dir: Some(
            std::env::temp_dir().join(format!("sweepwatch-demo-broker-{}", std::process::id())),
        ),
        // Its own process group: Ctrl-C in the terminal reaches the demo, which
        // drains into the broker before stopping it.
        own_process_group: true,
        show_output: Some(false),
        ..Default::default()
    };
    let started = tokio::task::spawn_blocking(move || testkit::Mosquitto::try_start(opts))
        .await
        .context("broker start task")?;
    started.map_err(|e| match e {
        testkit::mosquitto::StartError::Spawn { bin, source } => {
            anyhow::Error::new(source).context(format!("while starting {}", bin.display()))
        }
        other => anyhow::Error::msg(other.to_string()),
    })
}

/// The configured database URL with the database name replaced.
fn with_dbname(url: &str, name: &str) -> anyhow::Result<String> {
    let mut u = url::Url::parse(url).with_context(|| format!("database url {url:?}"))?;
    u.set_path(&format!("/{name}"));
    Ok(u.to_string())
}

pub async fn run(
    mut cfg: Config,
    opts: DemoOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let broker = start_broker().await?;
    cfg.mqtt.url = format!("mqtt://127.0.0.1:{}", broker.port);
    cfg.mqtt.client_id = "sweepwatch-demo".into();
    cfg.mqtt.orgs = Vec::new();
    cfg.database.url = with_dbname(cfg.database.url.expose_secret(), "sweepwatch_demo")?.into();

    let (pool, file, scenario) = fresh_database(&cfg).await?;
    let demo_tokens = demo_tokens(&mut cfg)?;

    let listener = tokio::net::TcpListener::bind(&cfg.http.addr)
        .await
        .with_context(|| {
            format!(
                "while binding {} (set SWEEPWATCH_HTTP_ADDR to another address)",
                cfg.http.addr
            )
        })?;
    let http = format!("http://{}", listener.local_addr()?);
    let serve = tokio::spawn(crate::app::serve(cfg.clone(), listener, shutdown.clone()));

    let span = chrono::Duration::from_std(opts.duration)?;
    let start =
        simulator::scenario::latest_shift_start(&file, &opts.shift, chrono::Utc::now() - span)
            .with_context(|| format!("the scenario has no shift {:?}", opts.shift))?;
    let mut run = simulator::scenario::ScenarioRun::new(simulator::BrokerOptions {
        url: cfg.mqtt.url.clone(),
        username: None,
        password: None,
        client_id_prefix: "sweepwatch-demo-device".into(),
    });
    run.clock = simulator::scenario::Clock::Replay {
        start,
        speed: opts.speed,
    };
    run.duration = opts.duration;
    run.seed = opts.seed;

    print_banner(
        &file,
        &scenario,
        &opts,
        start,
        &http,
        &cfg,
        &demo_tokens,
        broker.port,
    );

    let sim = tokio::spawn({
        let (file, cancel) = (file.clone(), shutdown.clone());
        async move { simulator::scenario::run_scenario(&file, &run, cancel).await }
    });
    let progress = tokio::spawn(progress_loop(pool.clone(), shutdown.clone()));
    let sim_result = sim.await;
    match sim_result {
        Ok(Ok(r)) if !r.cancelled => println!(
            "\nreplay finished: {} messages published ({} fixes, {} backlogs). The service keeps running; Ctrl-C to stop.",
            r.published, r.counts.fixes, r.counts.backlogs
        ),
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            eprintln!("simulator failed: {e}");
            shutdown.cancel();
        }
        Err(e) => {
            eprintln!("simulator task failed: {e}");
            shutdown.cancel();
        }
    }
    let result = serve.await.context("serve task")?;
    progress.abort();
    drop(broker);
    result
}

/// Every 10 seconds: what has been stored so far.
async fn progress_loop(pool: store::Pool, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(10)) => {}
        }
        let Ok(client) = pool.get().await else {
            continue;
        };
        if let Ok(t) = store::queries::totals::totals(&**client).await {
            println!(
                "[{}] fixes {}  rejects {}  alerts open {} (of {})  mean route coverage {:.0}%",
                t.newest_fix
                    .map(|t| t
                        .with_timezone(&chrono_tz::Asia::Shanghai)
                        .format("%H:%M")
                        .to_string())
                    .unwrap_or_default(),
                t.fixes,
                t.rejects,
                t.unresolved_alerts,
                t.alerts,
                100.0 * t.mean_coverage
            );
        }
    }
}

/// API tokens for the three roles, unless the configuration has its own.
fn demo_tokens(cfg: &mut Config) -> anyhow::Result<Vec<(&'static str, String)>> {
    let mut demo_tokens = Vec::new();
    if cfg.api.tokens.is_empty() {
        for role in ["viewer", "operator", "admin"] {
            let token: String = (0..24)
                .map(|_| format!("{:x}", rand::random::<u8>() % 16))
                .collect();
            demo_tokens.push((role, token));
        }
        let list: Vec<String> = demo_tokens
            .iter()
            .map(|(r, t)| format!("demo-{r}:{r}:{t}"))
            .collect();
        cfg.api.tokens = api::config::parse_token_list(&list.join(","))?;
    }
    Ok(demo_tokens)
}

/// What the demo serves and how to look at it.
#[allow(clippy::too_many_arguments)]
fn print_banner(
    file: &geofence::scenario::ScenarioFile,
    scenario: &geofence::scenario::Scenario,
    opts: &DemoOptions,
    start: chrono::DateTime<chrono::Utc>,
    http: &str,
    cfg: &Config,
    demo_tokens: &[(&str, String)],
    broker_port: u16,
) {
    let wall = opts.duration.as_secs_f64() / opts.speed;
    println!(
        "\nsweepwatch demo: {} ({} areas, {} devices), replaying the {} shift of {} at {}x ({:.0} min).\n",
        file.org.name,
        scenario.areas.len(),
        scenario.devices.len(),
        opts.shift,
        start
            .with_timezone(&scenario.tz)
            .format("%Y-%m-%d %H:%M %Z"),
        opts.speed,
        wall / 60.0
    );
    println!(
        "  dashboard:          {http}/   (sign in with a token below){}",
        if std::path::Path::new(&cfg.web.dir)
            .join("index.html")
            .is_file()
        {
            ""
        } else {
            "  -- not built: cd web && npm ci && npm run build"
        }
    );
    println!("  health, readiness:  {http}/healthz   {http}/readyz");
    println!("  metrics:            {http}/metrics");
    println!(
        "  HTTP API:           {http}/api/v1/openapi.json  (the contract; every call needs a bearer token)"
    );
    for (role, token) in demo_tokens {
        println!("      {role:<9} token: {token}");
    }
    if let Some((_, token)) = demo_tokens.first() {
        println!(
            "      e.g. curl -H 'Authorization: Bearer {token}' '{http}/api/v1/alerts?state=open'"
        );
        println!(
            "           curl -N -H 'Authorization: Bearer {token}' '{http}/api/v1/stream'   (live positions and alerts)"
        );
    }
    println!(
        "  MQTT broker:        {}   (e.g. mosquitto_sub -p {} -t 'sweepwatch/v1/#' -v)",
        cfg.mqtt.url, broker_port
    );
    println!("  database:           psql '{}'", cfg.database.url);
    println!("      alerts:   SELECT kind, state, count(*) FROM alerts GROUP BY 1, 2;");
    println!(
        "      coverage: SELECT route_id, shift_date, round(fraction::numeric, 2) FROM coverage ORDER BY 3;"
    );
    println!(
        "\n  Expect: fixes from {} vehicles and cleaners; alerts for the planted troubles (a silent device,\n  \
         an SOS, a cleaner standing still outside a service station, one leaving her beat, a late start,\n  \
         a tunnel dropout and a store-and-forward backlog); rejects for a few malformed messages;\n  \
         coverage climbing on the routes being swept. Ctrl-C stops everything.\n",
        scenario.devices.len()
    );
}

/// A fresh database with the bundled scenario: replaying the same shift into an
/// old one would only find duplicates.
async fn fresh_database(
    cfg: &Config,
) -> anyhow::Result<(
    store::Pool,
    geofence::scenario::ScenarioFile,
    geofence::scenario::Scenario,
)> {
    let target = cfg.database.target()?;
    store::db::recreate_database(&target).await.context(
        "while creating the demo database (is PostgreSQL running? deploy/local/services.sh)",
    )?;
    let pool = store::connect_pool(&target, cfg.database.pool_size.max(2))?;
    crate::app::migrate(cfg, &pool)
        .await
        .context("while migrating the demo database")?;
    let file = geofence::scenario::ScenarioFile::from_json(BUNDLED_SCENARIO)?;
    let scenario = file.validate()?;
    {
        let mut client = pool.get().await?;
        store::orgconfig::import(&mut client, &file, &scenario)
            .await
            .context("while importing the scenario")?;
    }
    Ok((pool, file, scenario))
}
