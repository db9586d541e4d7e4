//! A NATS server of the test's own with JetStream and its MQTT listener, run
//! with deploy/nats/sweepwatch.conf itself (names, ports and the store
//! directory from the environment): its own ports and store directory, so
//! tests run in parallel with a server each.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, unique, verbose};

const CONFIG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../deploy/nats/sweepwatch.conf"
);

pub struct Nats {
    /// The MQTT listener.
    pub port: u16,
    pub dir: PathBuf,
    name: String,
    client_port: u16,
    child: Option<Child>,
}

impl Nats {
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(unique("sweepwatch-nats-"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = Self {
            port: free_port(),
            name: unique("sw"),
            client_port: free_port(),
            dir,
            child: None,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let bin = [
            "/usr/sbin/nats-server",
            "/usr/bin/nats-server",
            "/usr/local/bin/nats-server",
        ]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("nats-server is not installed: run deploy/local/services.sh");
        let log = self.dir.join("nats.log");
        let child = Command::new(bin)
            .arg("-c")
            .arg(CONFIG)
            .arg("-l")
            .arg(&log)
            .env("SWEEPWATCH_NATS_NAME", &self.name)
            .env(
                "SWEEPWATCH_NATS_LISTEN",
                format!("127.0.0.1:{}", self.client_port),
            )
            .env("SWEEPWATCH_NATS_MQTT", format!("127.0.0.1:{}", self.port))
            .env("SWEEPWATCH_NATS_STORE", self.dir.join("store"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "nats-server exited with {status}: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "NATS did not listen for MQTT on {} within 30 s; see {}",
                self.port,
                log.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("nats.log")).unwrap_or_default()
    }

    /// SIGKILL: nothing is flushed.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again after [`Nats::stop`] or [`Nats::kill`]: same name,
    /// ports and store directory.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "NATS is still running");
        self.spawn();
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        if verbose() {
            eprintln!("{}", self.log());
        }
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
