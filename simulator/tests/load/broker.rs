//! A throwaway Mosquitto for one test: its own config in a temp dir, a free loopback
//! port, killed (and the dir removed) when the guard drops, also on panic.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The installed broker; `MOSQUITTO` overrides it.
const DEFAULT_BINARY: &str = "/usr/sbin/mosquitto";
/// How long a fresh broker gets to start listening.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Mosquitto {
    child: Child,
    dir: PathBuf,
    pub port: u16,
}

impl Mosquitto {
    /// Starts a broker on a free port and waits until it accepts connections.
    pub fn start() -> Self {
        Self::start_with("allow_anonymous true\n")
    }

    /// The same, with `extra` lines in its config.
    pub fn start_with(extra: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let binary = std::env::var("MOSQUITTO").unwrap_or_else(|_| DEFAULT_BINARY.to_owned());
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("sweepwatch-sim-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir for mosquitto");
        // A port taken between our probe and mosquitto's bind makes it exit: try again.
        for _ in 0..5 {
            let port = free_port();
            let conf = dir.join("mosquitto.conf");
            let config = format!(
                "listener {port} 127.0.0.1\npersistence false\n\
                 max_inflight_messages 0\nmax_queued_messages 0\nlog_dest none\n{extra}"
            );
            std::fs::write(&conf, config).expect("write mosquitto.conf");
            let child = Command::new(&binary)
                .arg("-c")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {binary}: {e} (install mosquitto)"));
            let mut broker = Self {
                child,
                dir: dir.clone(),
                port,
            };
            if broker.wait_ready() {
                return broker;
            }
            // Dropping `broker` here would remove the dir we still need.
            let _ = broker.child.kill();
            let _ = broker.child.wait();
            std::mem::forget(broker);
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!("mosquitto did not start");
    }

    /// Stops the broker now (its dir goes when the guard drops).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Polls the port until it accepts a connection; false if the broker exited or the
    /// deadline passed.
    fn wait_ready(&mut self) -> bool {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return false;
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}
