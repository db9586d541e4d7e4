//! A Mosquitto of the test's own, with deploy/mosquitto/sweepwatch.conf.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, unique};

const TUNING: &str = include_str!("../../../deploy/mosquitto/sweepwatch.conf");

pub struct Broker {
    pub port: u16,
    pub dir: PathBuf,
    /// Configuration lines after the project's (a later line wins in Mosquitto).
    extra: String,
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
        Self::start_in_with(port, dir, "")
    }

    /// Starts with `extra` configuration lines after the project's.
    pub fn start_with(extra: &str) -> Self {
        let dir = std::env::temp_dir().join(unique("sweepwatch-broker-"));
        std::fs::create_dir_all(&dir).unwrap();
        Self::start_in_with(free_port(), dir, extra)
    }

    pub fn start_in_with(port: u16, dir: PathBuf, extra: &str) -> Self {
        let mut broker = Self {
            port,
            dir,
            extra: extra.to_owned(),
            child: None,
        };
        broker.spawn();
        broker
    }

    fn spawn(&mut self) {
        let (port, dir) = (self.port, &self.dir);
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence_location {}/\n{TUNING}\n{}\n",
                dir.display(),
                self.extra
            ),
        )
        .unwrap();
        // Mosquitto drops to the 'mosquitto' user when started as root.
        let _ = Command::new("chown")
            .arg("-R")
            .arg("mosquitto:")
            .arg(dir)
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
        self.child = Some(child);
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

impl Broker {
    /// SIGKILL: the broker keeps only what its last persistence snapshot holds.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Starts it again after [`Broker::stop`] or [`Broker::kill`]: same port,
    /// same directory (so the same persistence file), same configuration.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the broker is still running");
        self.spawn();
    }

    /// The persistence file Mosquitto restores its sessions from.
    pub fn persistence_file(&self) -> PathBuf {
        self.dir.join("mosquitto.db")
    }

    /// Makes Mosquitto write its persistence file now (SIGUSR1) and waits
    /// until a file written after this call is in place.
    pub fn save(&self) {
        let child = self.child.as_ref().expect("the broker is running");
        let file = self.persistence_file();
        let modified = || std::fs::metadata(&file).and_then(|m| m.modified()).ok();
        let before = modified();
        // Coarse file times (and a snapshot written in the same tick) must not
        // pass for the new file: wait until the clock has moved past it.
        std::thread::sleep(Duration::from_millis(20));
        unsafe { libc::kill(child.id() as i32, libc::SIGUSR1) };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            // Mosquitto writes `mosquitto.db.new`, then renames it.
            let writing = self.dir.join("mosquitto.db.new").exists();
            if !writing && modified().is_some() && modified() != before {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "mosquitto did not write {} within 60 s of SIGUSR1",
                file.display()
            );
            std::thread::sleep(Duration::from_millis(20));
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
