//! A Mosquitto of the test's own, with deploy/mosquitto/sweepwatch.conf.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, unique};

const TUNING: &str = include_str!("../../../deploy/mosquitto/sweepwatch.conf");

pub struct Broker {
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
}

impl Broker {
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(unique("sweepwatch-broker-"));
        std::fs::create_dir_all(&dir).unwrap();
        Self::start_in(free_port(), dir)
    }

    /// Starts (again) on `port`, keeping its state in `dir`.
    pub fn start_in(port: u16, dir: PathBuf) -> Self {
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence_location {}/\n{TUNING}",
                dir.display()
            ),
        )
        .unwrap();
        // Mosquitto drops to the 'mosquitto' user when started as root.
        let _ = Command::new("chown")
            .arg("-R")
            .arg("mosquitto:")
            .arg(&dir)
            .status();
        let bin = [
            "/usr/sbin/mosquitto",
            "/usr/bin/mosquitto",
            "/usr/local/sbin/mosquitto",
        ]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("mosquitto is not installed: run deploy/local/services.sh");
        let quiet = std::env::var_os("TEST_LOG").is_none();
        let child = Command::new(bin)
            .arg("-c")
            .arg(&conf)
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
            .expect("start mosquitto");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            port,
            dir,
            child: Some(child),
        }
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Stops the broker (SIGTERM, so it saves its state) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let _ = child.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
