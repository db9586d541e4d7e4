//! The `sweepwatch serve` binary as a child process of the test.

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use super::{eventually, free_port};

pub struct Service {
    child: Option<Child>,
    pub http: String,
    env: Vec<(String, String)>,
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
        let mut s = Self {
            child: None,
            http: String::new(),
            env,
        };
        s.restart().await;
        s
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
            .stderr(if quiet {
                Stdio::null()
            } else {
                Stdio::inherit()
            })
            .spawn()
            .expect("start sweepwatch serve");
        self.child = Some(child);
        self.wait_ready().await;
    }

    pub async fn wait_ready(&self) {
        let url = format!("{}/readyz", self.http);
        eventually(Duration::from_secs(30), "sweepwatch to be ready", || {
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
    }
}
