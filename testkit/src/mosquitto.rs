//! A Mosquitto of the caller's own: the installed binary with the project's
//! configuration (`deploy/mosquitto/sweepwatch.conf`, the same file
//! `deploy/local/broker.sh` and the deployments use), a listener on
//! 127.0.0.1 on a free port, anonymous access, its state in a directory of
//! its own. Killed (and its directory removed) when dropped, also on panic.
//!
//! Configuration lines given as `extra` come after the project's, and a later
//! line wins in Mosquitto (`autosave_interval 0`, `allow_anonymous false`).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, unique, verbose};

/// The project's broker tuning (`deploy/mosquitto/sweepwatch.conf`).
pub const PROJECT_CONFIG: &str = include_str!("../../deploy/mosquitto/sweepwatch.conf");

/// How long a fresh broker gets to start listening.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How to start a [`Mosquitto`] (see [`Mosquitto::try_start`]).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The port; a free one when `None` (and another free one, up to five
    /// times, if another process takes it before Mosquitto binds it).
    pub port: Option<u16>,
    /// Where its configuration and state live; a new temporary directory
    /// when `None`. Removed when the broker is dropped.
    pub dir: Option<PathBuf>,
    /// Configuration lines after the project's.
    pub extra: String,
    /// A process group of its own, so that a Ctrl-C in the terminal reaches
    /// only the caller (`sweepwatch demo` drains into the broker before it
    /// stops it).
    pub own_process_group: bool,
    /// Its output on ours (`None`: when `TEST_LOG` is set).
    pub show_output: Option<bool>,
}

/// Why a broker did not start.
#[derive(Debug)]
pub enum StartError {
    /// No `mosquitto` on `$MOSQUITTO`, `$PATH` or the usual places.
    NotInstalled,
    /// Its directory or configuration could not be written.
    Setup(std::io::Error),
    /// The binary would not run.
    Spawn {
        bin: PathBuf,
        source: std::io::Error,
    },
    /// It ran but did not listen on the port in time.
    NotListening { port: u16 },
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotInstalled => f.write_str(
                "mosquitto is not installed: run deploy/local/services.sh (or install the mosquitto package)",
            ),
            Self::Setup(e) => write!(f, "while preparing the broker's directory: {e}"),
            Self::Spawn { bin, source } => write!(f, "while starting {}: {source}", bin.display()),
            Self::NotListening { port } => {
                write!(f, "mosquitto did not start listening on 127.0.0.1:{port}")
            }
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Setup(e) | Self::Spawn { source: e, .. } => Some(e),
            _ => None,
        }
    }
}

pub struct Mosquitto {
    pub port: u16,
    pub dir: PathBuf,
    bin: PathBuf,
    extra: String,
    own_process_group: bool,
    show_output: bool,
    child: Option<Child>,
}

impl Mosquitto {
    /// Starts a broker on a free port and waits until it takes connections.
    /// Panics if it cannot (tests); see [`Mosquitto::try_start`].
    pub fn start() -> Self {
        Self::start_with("")
    }

    /// Starts with `extra` configuration lines after the project's.
    pub fn start_with(extra: &str) -> Self {
        Self::must(Options {
            extra: extra.to_owned(),
            ..Options::default()
        })
    }

    /// Starts on `port`, keeping its state in `dir`.
    pub fn start_in(port: u16, dir: PathBuf) -> Self {
        Self::start_in_with(port, dir, "")
    }

    pub fn start_in_with(port: u16, dir: PathBuf, extra: &str) -> Self {
        Self::must(Options {
            port: Some(port),
            dir: Some(dir),
            extra: extra.to_owned(),
            ..Options::default()
        })
    }

    fn must(opts: Options) -> Self {
        Self::try_start(opts).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts a broker as `opts` says and waits (blocking, at most 10 s)
    /// until it listens.
    pub fn try_start(opts: Options) -> Result<Self, StartError> {
        let bin = find_binary().ok_or(StartError::NotInstalled)?;
        let dir = match opts.dir {
            Some(d) => d,
            None => std::env::temp_dir().join(unique("sweepwatch-broker-")),
        };
        std::fs::create_dir_all(&dir).map_err(StartError::Setup)?;
        let mut broker = Self {
            port: opts.port.unwrap_or_else(free_port),
            dir,
            bin,
            extra: opts.extra,
            own_process_group: opts.own_process_group,
            show_output: opts.show_output.unwrap_or_else(verbose),
            child: None,
        };
        // A free port can be taken between our probe and Mosquitto's bind:
        // then it exits at once, and another free port is tried.
        let tries = if opts.port.is_some() { 1 } else { 5 };
        let mut last = None;
        for _ in 0..tries {
            match broker.spawn() {
                Ok(()) => return Ok(broker),
                Err(e @ StartError::NotListening { .. }) => {
                    last = Some(e);
                    broker.port = free_port();
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("at least one try"))
    }

    fn spawn(&mut self) -> Result<(), StartError> {
        let (port, dir) = (self.port, &self.dir);
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence_location {}/\n{PROJECT_CONFIG}\n{}\n",
                dir.display(),
                self.extra
            ),
        )
        .map_err(StartError::Setup)?;
        // Mosquitto drops to the 'mosquitto' user when started as root: that
        // user must own (and so read and write) its directory.
        if unsafe { libc::geteuid() } == 0 {
            let _ = Command::new("chown")
                .arg("-R")
                .arg("mosquitto:")
                .arg(dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let output = || {
            if self.show_output {
                Stdio::inherit()
            } else {
                Stdio::null()
            }
        };
        let mut cmd = Command::new(&self.bin);
        cmd.arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(output())
            .stderr(output());
        if self.own_process_group {
            cmd.process_group(0);
        }
        let mut child = cmd.spawn().map_err(|source| StartError::Spawn {
            bin: self.bin.clone(),
            source,
        })?;
        let deadline = Instant::now() + READY_TIMEOUT;
        // When the port is open but speaks no plain MQTT (a TLS listener), the
        // broker is taken as ready once it has stayed alive a while after that:
        // one that could not bind the port exits at once.
        let mut open_since: Option<Instant> = None;
        loop {
            match probe(port) {
                Probe::Mqtt => {
                    self.child = Some(child);
                    return Ok(());
                }
                Probe::OpenNoMqtt => {
                    let since = *open_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= Duration::from_millis(500)
                        && matches!(child.try_wait(), Ok(None))
                    {
                        self.child = Some(child);
                        return Ok(());
                    }
                }
                Probe::Closed => open_since = None,
            }
            let exited = matches!(child.try_wait(), Ok(Some(_)));
            if exited || Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(StartError::NotListening { port });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// The broker's process id while it runs (for CPU accounting).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops the broker (SIGTERM, so it saves its state) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let _ = child.wait();
        }
    }

    /// SIGKILL: the broker keeps only what its last persistence snapshot holds.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again after [`Mosquitto::stop`] or [`Mosquitto::kill`]: same
    /// port, same directory (so the same persistence file), same configuration.
    /// Panics if it does not listen again.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the broker is still running");
        self.spawn().unwrap_or_else(|e| panic!("{e}"));
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

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An MQTT 3.1.1 CONNECT (clean session, keep-alive 10 s) for `id`.
fn connect_packet(id: &str) -> Vec<u8> {
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 10];
    body.extend_from_slice(&(id.len() as u16).to_be_bytes());
    body.extend_from_slice(id.as_bytes());
    let mut p = vec![0x10, body.len() as u8];
    p.extend(body);
    p
}

/// What answers on a port.
enum Probe {
    /// An MQTT broker: a CONNACK (whatever its code) to a plain CONNECT.
    Mqtt,
    /// Something accepts connections there but answered no CONNACK within a
    /// second (a TLS listener; or another process's port).
    OpenNoMqtt,
    /// Nothing listens.
    Closed,
}

fn probe(port: u16) -> Probe {
    match connack_code(port) {
        Ok(Some(_)) => Probe::Mqtt,
        Ok(None) => Probe::OpenNoMqtt,
        Err(()) => Probe::Closed,
    }
}

/// The CONNACK's return code for a CONNECT to 127.0.0.1:`port`: `Err` when
/// nothing listens, `Ok(None)` when no CONNACK came within a second.
fn connack_code(port: u16) -> Result<Option<u8>, ()> {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s =
        std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).map_err(|_| ())?;
    let answer = (|| {
        s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
        s.write_all(&connect_packet(&unique("testkit-probe-")))
            .ok()?;
        let mut ack = [0u8; 4];
        s.read_exact(&mut ack).ok()?;
        let _ = s.write_all(&[0xE0, 0]); // DISCONNECT
        (ack[0] == 0x20).then_some(ack[3])
    })();
    Ok(answer)
}

/// `$MOSQUITTO`, else `mosquitto` on `$PATH`, else the packages' places.
fn find_binary() -> Option<PathBuf> {
    if let Some(b) = std::env::var_os("MOSQUITTO") {
        return Some(PathBuf::from(b));
    }
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("mosquitto"))
            .find(|b| b.is_file())
    });
    on_path.or_else(|| {
        [
            "/usr/sbin/mosquitto",
            "/usr/bin/mosquitto",
            "/usr/local/sbin/mosquitto",
        ]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| Path::new(p).is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connack(port: u16) -> u8 {
        connack_code(port).unwrap().expect("a CONNACK")
    }

    #[test]
    fn a_broker_takes_mqtt_connections_with_the_project_config() {
        let b = Mosquitto::start();
        assert_eq!(connack(b.port), 0, "accepted");
        let conf = std::fs::read_to_string(b.dir.join("mosquitto.conf")).unwrap();
        assert!(conf.contains(PROJECT_CONFIG), "the project's configuration");
    }

    #[test]
    fn extra_lines_win_over_the_project_config() {
        let b = Mosquitto::start_with("allow_anonymous false");
        assert_eq!(connack(b.port), 5, "not authorised");
    }

    #[test]
    fn kill_and_restart_keep_the_port_and_drop_removes_the_dir() {
        let mut b = Mosquitto::start();
        let (port, dir) = (b.port, b.dir.clone());
        b.kill();
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
        b.restart();
        assert_eq!(connack(port), 0);
        b.save();
        assert!(b.persistence_file().is_file());
        drop(b);
        assert!(!dir.exists(), "the directory is removed on drop");
    }

    #[test]
    fn a_tls_listener_is_ready_once_it_stays_up() {
        // A TLS listener answers no plain CONNECT.
        let dir = std::env::temp_dir().join(unique("testkit-tls-"));
        std::fs::create_dir_all(&dir).unwrap();
        let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
        std::fs::write(dir.join("server.crt"), key.cert.pem()).unwrap();
        std::fs::write(dir.join("server.key"), key.signing_key.serialize_pem()).unwrap();
        let b = Mosquitto::try_start(Options {
            dir: Some(dir.clone()),
            extra: format!(
                "certfile {d}/server.crt\nkeyfile {d}/server.key",
                d = dir.display()
            ),
            ..Options::default()
        })
        .unwrap();
        assert!(b.pid().is_some());
        assert!(matches!(probe(b.port), Probe::OpenNoMqtt));
    }

    #[test]
    fn a_taken_port_is_an_error_not_a_hang() {
        // Another process listens there: Mosquitto cannot bind it and exits,
        // and the open port must not pass for a broker.
        let blocker = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = blocker.local_addr().unwrap().port();
        let err = Mosquitto::try_start(Options {
            port: Some(port),
            ..Options::default()
        });
        match err {
            Err(StartError::NotListening { port: p }) => assert_eq!(p, port),
            Ok(b) => panic!("started on a taken port {}", b.port),
            Err(e) => panic!("unexpected error {e}"),
        }
        drop(blocker);
    }
}
