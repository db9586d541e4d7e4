//! What the load benchmarks share: waiting for the service, describing the
//! machine, and cleaning up what a run started. The broker, a database of the
//! run's own and free ports are the workspace's test kit's (`testkit`). [`scrape`] reads the service's
//! metrics and memory, [`machine`] the load average and who used the CPU, and
//! [`proxy`] is a TCP proxy to cut the service off its database.

#![allow(dead_code)]

pub mod city;
pub mod machine;
pub mod proxy;
pub mod scrape;

use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Waits until `GET {http}/readyz` answers 2xx (at most `secs`).
pub async fn wait_ready(http: &str, secs: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Ok(r) = reqwest::get(format!("{http}/readyz")).await
            && r.status().is_success()
        {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "service not ready after {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// Cleans up what a benchmark started, also on error.
pub enum Guard {
    /// A named database kept between runs (`api_bench --reuse`), dropped.
    Database(String),
    Child(Child),
}

impl Guard {
    pub fn pid(&self) -> u32 {
        match self {
            Guard::Child(c) => c.id(),
            _ => 0,
        }
    }

    /// Stops a child with SIGTERM and waits for it.
    pub fn stop(&mut self) {
        let _ = self.terminate();
    }

    /// Stops a child with SIGTERM and waits for it: how it exited (`None` when
    /// this guard holds no child).
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        if let Guard::Child(c) = self {
            // SAFETY: kill(2) on the pid of a child we have not yet waited for.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            return c.wait().ok();
        }
        None
    }

    /// Whether a child has exited (false for other guards).
    pub fn has_exited(&mut self) -> bool {
        if let Guard::Child(c) = self {
            return matches!(c.try_wait(), Ok(Some(_)));
        }
        false
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        match self {
            Guard::Database(name) => {
                let _ = Command::new("psql")
                    .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc"])
                    .arg(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .status();
            }
            Guard::Child(c) => {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// The directory name every broker of this run has (see
/// `ingest_bench`'s `Bench::ours`: it tells this run's broker apart).
pub fn broker_dir_name() -> String {
    format!("sweepwatch-bench-{}", std::process::id())
}

/// A Mosquitto with the project's configuration on a free port (the test
/// kit's launcher): its URL, and the broker (stopped when dropped).
pub fn start_broker() -> anyhow::Result<(String, testkit::Mosquitto)> {
    let broker = testkit::Mosquitto::try_start(testkit::mosquitto::Options {
        dir: Some(std::env::temp_dir().join(broker_dir_name())),
        ..Default::default()
    })?;
    Ok((broker.url(), broker))
}

/// `bin serve` on a free port with `env` (logging at warn): its base URL and
/// a guard that stops it. Does not wait for it to be ready.
pub fn start_serve(bin: &str, env: &[(&str, &str)]) -> anyhow::Result<(String, Guard)> {
    start_serve_logged(bin, env, None)
}

/// [`start_serve`], its log (stdout and stderr, at `info`) appended to `log`
/// when given, so what the service said during a run can be read afterwards.
pub fn start_serve_logged(
    bin: &str,
    env: &[(&str, &str)],
    log: Option<&std::path::Path>,
) -> anyhow::Result<(String, Guard)> {
    use std::process::Stdio;
    let addr = format!("127.0.0.1:{}", testkit::free_port());
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .envs(env.iter().copied())
        .env("SWEEPWATCH_HTTP_ADDR", &addr);
    match log {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            cmd.env("SWEEPWATCH_LOG", "info")
                .stdout(file.try_clone()?)
                .stderr(file);
        }
        None => {
            cmd.env("SWEEPWATCH_LOG", "warn").stdout(Stdio::null());
        }
    }
    let child = cmd.spawn()?;
    Ok((format!("http://{addr}"), Guard::Child(child)))
}

/// The release binary the benchmarks run (they measure it, never a debug build).
pub fn release_bin() -> anyhow::Result<String> {
    let bin = format!("{}/target/release/sweepwatch", env!("CARGO_MANIFEST_DIR"));
    anyhow::ensure!(
        std::path::Path::new(&bin).exists(),
        "build first: cargo build --release --bin sweepwatch"
    );
    Ok(bin)
}

/// `bin <args>` (a one-shot command: `migrate`, `import`) on `db_url`; its
/// output in the error when it fails.
pub fn sweepwatch_cli(bin: &str, db_url: &str, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(bin)
        .args(args)
        .env("SWEEPWATCH_DATABASE_URL", db_url)
        .env("SWEEPWATCH_LOG", "warn")
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "sweepwatch {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
