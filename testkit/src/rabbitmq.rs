//! A RabbitMQ node of the test's own, with its MQTT plugin and
//! deploy/rabbitmq/sweepwatch.conf: its own node name, ports, data and log
//! directories, Erlang cookie and enabled-plugins file, so it never touches
//! the system's node (`rabbit@localhost`, 5672) or Mosquitto's 1883, and
//! tests run in parallel with a node each.
//!
//! A node takes 5-15 s to boot on the 2-core CI machine: each test that
//! needs one pays that once (twice when it restarts it).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, unique, verbose};

const TUNING: &str = include_str!("../../deploy/rabbitmq/sweepwatch.conf");

/// The server script of Debian's `rabbitmq-server` package, run directly (the
/// `/usr/sbin` wrapper would switch to the `rabbitmq` user and the system
/// node's directories).
const SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";

pub struct RabbitMq {
    /// The MQTT listener.
    pub port: u16,
    pub dir: PathBuf,
    node: String,
    amqp_port: u16,
    dist_port: u16,
    child: Option<Child>,
}

impl RabbitMq {
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(unique("sweepwatch-rabbitmq-"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut node = Self {
            port: free_port(),
            node: format!("{}@localhost", unique("sw")),
            amqp_port: free_port(),
            dist_port: free_port(),
            dir,
            child: None,
        };
        node.write_config();
        node.spawn();
        node
    }

    fn write_config(&self) {
        let (dir, port, amqp) = (&self.dir, self.port, self.amqp_port);
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!(
                "listeners.tcp.default = 127.0.0.1:{amqp}\n\
                 mqtt.listeners.tcp.default = 127.0.0.1:{port}\n\
                 mqtt.allow_anonymous = true\n\
                 {TUNING}\n"
            ),
        )
        .unwrap();
        std::fs::write(dir.join("enabled_plugins"), "[rabbitmq_mqtt].\n").unwrap();
        // An empty environment file instead of the system's
        // /etc/rabbitmq/rabbitmq-env.conf (which names the system node).
        std::fs::write(dir.join("rabbitmq-env.conf"), "").unwrap();
    }

    fn spawn(&mut self) {
        assert!(
            Path::new(SERVER).exists(),
            "RabbitMQ is not installed: run deploy/local/services.sh"
        );
        let dir = &self.dir;
        let quiet = !verbose();
        let child = Command::new(SERVER)
            // The Erlang cookie is written to (and read from) $HOME.
            .env("HOME", dir)
            .env("RABBITMQ_CONF_ENV_FILE", dir.join("rabbitmq-env.conf"))
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_PORT", self.amqp_port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", dir.join("log"))
            .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq.conf"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .stdin(Stdio::null())
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
            // The script waits for the Erlang VM, its child: a group of their
            // own lets `kill` reach the VM itself.
            .process_group(0)
            .spawn()
            .expect("start rabbitmq-server");
        self.child = Some(child);
        // The MQTT listener opens once the node has booted and recovered its
        // queues (the sessions' messages).
        let deadline = Instant::now() + Duration::from_secs(90);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "rabbitmq-server exited with {status} before listening on {}; see {}",
                    self.port,
                    dir.join("log").display()
                );
            }
            assert!(
                Instant::now() < deadline,
                "RabbitMQ did not listen for MQTT on {} within 90 s; see {}",
                self.port,
                dir.join("log").display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `signal` to the script and the Erlang VM (their process group).
    fn signal_group(&self, signal: i32) {
        if let Some(child) = &self.child {
            unsafe { libc::kill(-(child.id() as i32), signal) };
        }
    }

    /// SIGKILL of the Erlang VM and its script: nothing is flushed.
    pub fn kill(&mut self) {
        self.signal_group(libc::SIGKILL);
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
            self.wait_group_gone(&child);
        }
    }

    /// Waits until no process of the node's group is left (the VM may
    /// outlive its script by a moment), so the ports are free again.
    fn wait_group_gone(&self, child: &Child) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while unsafe { libc::kill(-(child.id() as i32), 0) } == 0 {
            assert!(
                Instant::now() < deadline,
                "RabbitMQ's processes did not exit"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the node again after [`RabbitMq::stop`] or [`RabbitMq::kill`]:
    /// same name, ports and directories, so it recovers its own data.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "RabbitMQ is still running");
        self.spawn();
    }
}

impl Drop for RabbitMq {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
