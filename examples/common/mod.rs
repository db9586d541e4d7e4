//! What the load benchmarks share: waiting for the service, describing the
//! machine, and cleaning up what a run started.

#![allow(dead_code)]

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
    Pidfile(std::path::PathBuf),
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
        if let Guard::Child(c) = self {
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        match self {
            Guard::Pidfile(p) => {
                if let Ok(pid) = std::fs::read_to_string(&*p) {
                    let _ = Command::new("kill").arg(pid.trim()).status();
                }
            }
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
