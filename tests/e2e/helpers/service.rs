//! The `sweepwatch serve` binary as a child process of the test, and
//! [`run`] for its one-shot commands (`migrate`, ...).

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::Duration;

use super::{eventually, free_port, unique};

pub struct Service {
    child: Option<Child>,
    pub http: String,
    env: Vec<(String, String)>,
    /// Where stderr (the log) goes, when the test reads it.
    log: Option<PathBuf>,
    /// `/readyz`, or `/healthz` for a service that is not meant to get ready.
    wait_for: &'static str,
}

impl Service {
    /// Starts `sweepwatch serve` against `db_url` and `mqtt_url` with a stable
    /// MQTT client id, and waits until it is ready.
    pub async fn start(
        db_url: &str,
        mqtt_url: &str,
        client_id: &str,
        extra_env: &[(&str, &str)],
    ) -> Self {
        let mut s = Self::new(db_url, mqtt_url, client_id, extra_env);
        s.restart().await;
        s
    }

    /// Like [`Service::start`], but the log goes to a file ([`Service::log`])
    /// and it waits only until HTTP is up (`/healthz`): for tests of a
    /// service that cannot get ready (a broker it must refuse).
    pub async fn start_logged(
        db_url: &str,
        mqtt_url: &str,
        client_id: &str,
        extra_env: &[(&str, &str)],
    ) -> Self {
        let mut s = Self::new(db_url, mqtt_url, client_id, extra_env);
        s.log = Some(std::env::temp_dir().join(unique("sweepwatch-log-")));
        s.wait_for = "/healthz";
        s.restart().await;
        s
    }

    fn new(db_url: &str, mqtt_url: &str, client_id: &str, extra_env: &[(&str, &str)]) -> Self {
        let mut env: Vec<(String, String)> = vec![
            ("SWEEPWATCH_DATABASE_URL".into(), db_url.into()),
            ("SWEEPWATCH_MQTT_URL".into(), mqtt_url.into()),
            ("SWEEPWATCH_MQTT_CLIENT_ID".into(), client_id.into()),
            (
                "SWEEPWATCH_LOG".into(),
                std::env::var("TEST_LOG_FILTER").unwrap_or_else(|_| "info".into()),
            ),
        ];
        env.extend(
            extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        Self {
            child: None,
            http: String::new(),
            env,
            log: None,
            wait_for: "/readyz",
        }
    }

    /// What the service logged so far (only with [`Service::start_logged`]).
    pub fn log(&self) -> String {
        let path = self.log.as_ref().expect("started with start_logged");
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// (Re)starts the process with the same configuration and a new HTTP port.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "still running");
        let port = free_port();
        self.http = format!("http://127.0.0.1:{port}");
        let quiet = std::env::var_os("TEST_LOG").is_none();
        let child = Command::new(env!("CARGO_BIN_EXE_sweepwatch"))
            .arg("serve")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("SWEEPWATCH_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .stdout(if quiet {
                Stdio::null()
            } else {
                Stdio::inherit()
            })
            .stderr(match &self.log {
                Some(path) => std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .expect("open the service's log file")
                    .into(),
                None if quiet => Stdio::null(),
                None => Stdio::inherit(),
            })
            .spawn()
            .expect("start sweepwatch serve");
        self.child = Some(child);
        self.wait_ready().await;
    }

    pub async fn wait_ready(&self) {
        let url = format!("{}{}", self.http, self.wait_for);
        let what = format!("sweepwatch to answer {}", self.wait_for);
        eventually(Duration::from_secs(30), &what, || {
            let url = url.clone();
            async move {
                let r = reqwest::get(&url).await.ok()?;
                r.status().is_success().then_some(())
            }
        })
        .await;
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        reqwest::get(format!("{}{path}", self.http))
            .await
            .expect("HTTP request")
    }

    /// The value of one sample in `/metrics`, e.g. `sweepwatch_mqtt_messages_total{result="duplicate"}`.
    pub async fn metric(&self, sample: &str) -> f64 {
        let text = self.get("/metrics").await.text().await.unwrap();
        text.lines()
            .find_map(|l| {
                l.strip_prefix(sample)
                    .and_then(|rest| rest.trim().parse().ok())
            })
            .unwrap_or_else(|| panic!("no sample {sample} in /metrics"))
    }

    /// SIGKILL: no chance to flush or acknowledge anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM, and the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "sweepwatch did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
        if let Some(path) = &self.log {
            if std::env::var_os("TEST_LOG").is_some() {
                eprintln!("{}", self.log());
            }
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Runs `sweepwatch ARGS` with `env` added and waits for it (at most
/// `timeout`, then it is killed and the test fails): its exit status and
/// output. Backtraces off, so stderr holds what a user sees.
pub async fn run(args: &[&str], env: &[(&str, &str)], timeout: Duration) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_sweepwatch"));
    cmd.args(args)
        .envs(env.iter().copied())
        .env("RUST_BACKTRACE", "0")
        .env("RUST_LIB_BACKTRACE", "0")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    tokio::time::timeout(timeout, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("sweepwatch {args:?} did not finish within {timeout:?}"))
        .expect("run sweepwatch")
}
