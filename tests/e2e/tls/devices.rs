//! Device identity on the local broker: `deploy/local/broker.sh --auth`
//! starts the project's Mosquitto with the password file and ACL that
//! `deploy/mosquitto/mkauth.sh` writes from a device list. Device A may
//! publish its own fixes (the service, logged in as the ingester, stores
//! them); what A publishes on device B's topic never reaches the ingester
//! (MQTT 3.1.1: Mosquitto drops it silently, so the test checks that nothing
//! of it is stored, and that a subscriber allowed to read everything never
//! saw it); and A, subscribed to `sweepwatch/v1/#`, receives nothing of B's.
//! The devices are `mosquitto_pub`/`mosquitto_sub`, clients not ours.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::Dir;
use crate::helpers::db::TestDb;
use crate::helpers::publisher::{fix_json, now_ms};
use crate::helpers::service::Service;
use crate::helpers::{eventually, free_port, unique};

const ORG: &str = "humen";
const INGEST_USER: &str = "sweepwatch-ingest";
const INGEST_PASSWORD: &str = "local-ingest-secret";

/// A broker started by `deploy/local/broker.sh --auth` (a daemon); stopped
/// through its pid file.
struct LocalBroker {
    dir: Dir,
    port: u16,
    url: String,
}

impl LocalBroker {
    fn start(devices: &[&str]) -> Self {
        let dir = Dir::new("sweepwatch-localauth-");
        let list: String = devices.iter().map(|d| format!("{ORG} {d}\n")).collect();
        std::fs::write(dir.join("devices.txt"), list).unwrap();
        let port = free_port();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/local/broker.sh");
        let out = std::process::Command::new(script)
            .arg("--auth")
            .arg(dir.join("devices.txt"))
            .arg(port.to_string())
            .arg(dir.join("broker"))
            .env("INGEST_PASSWORD", INGEST_PASSWORD)
            .output()
            .expect("run deploy/local/broker.sh");
        assert!(
            out.status.success(),
            "broker.sh --auth: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        Self { dir, port, url }
    }

    /// A device's password (credentials.csv), or the ingester's (ingest-password).
    fn password(&self, user: &str) -> String {
        if user == INGEST_USER {
            let pw = std::fs::read_to_string(self.dir.join("broker/auth/ingest-password")).unwrap();
            return pw.trim().to_owned();
        }
        let creds = std::fs::read_to_string(self.dir.join("broker/auth/credentials.csv")).unwrap();
        creds
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{user},")))
            .unwrap_or_else(|| panic!("no password for {user} in credentials.csv"))
            .to_owned()
    }

    /// `mosquitto_pub` as `user` (QoS 1, MQTT 3.1.1 unless `args` say otherwise).
    async fn publish(&self, user: &str, topic: &str, payload: &str, args: &[&str]) -> String {
        let out = Command::new("mosquitto_pub")
            .args(["-p", &self.port.to_string(), "-q", "1"])
            .args(["-u", user, "-P", &self.password(user)])
            .args(["-t", topic, "-m", payload])
            .args(args)
            .output()
            .await
            .expect("run mosquitto_pub");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "mosquitto_pub as {user}: {text}");
        text
    }
}

impl Drop for LocalBroker {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("broker/mosquitto.pid"))
            && let Ok(pid) = pid.trim().parse::<i32>()
        {
            unsafe { libc::kill(pid, libc::SIGTERM) };
            // Let it exit (and write its last snapshot) before its directory goes.
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while unsafe { libc::kill(pid, 0) } == 0 && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// `mosquitto_sub -v` on `sweepwatch/v1/#` as `user`, its output collected.
struct Subscriber {
    lines: Arc<Mutex<Vec<String>>>,
    _child: Child,
}

impl Subscriber {
    async fn start(broker: &LocalBroker, user: &str) -> Self {
        // Line-buffered: into a pipe, stdio would hold its lines back.
        let mut child = Command::new("stdbuf")
            .args([
                "-oL",
                "mosquitto_sub",
                "-d",
                "-v",
                "-q",
                "1",
                "-i",
                &unique("sub-"),
            ])
            .args(["-p", &broker.port.to_string()])
            .args(["-u", user, "-P", &broker.password(user)])
            .args(["-t", "sweepwatch/v1/#"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("run mosquitto_sub");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let sink = lines.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                sink.lock().unwrap().push(line);
            }
        });
        let sub = Self {
            lines,
            _child: child,
        };
        // `-d` prints the SUBACK: the subscription is in place.
        eventually(
            Duration::from_secs(10),
            "mosquitto_sub's SUBACK",
            || async {
                sub.lines()
                    .iter()
                    .any(|l| l.starts_with("Subscribed (mid:"))
                    .then_some(())
            },
        )
        .await;
        sub
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// The messages received, as `topic payload`.
    fn messages(&self) -> Vec<String> {
        let lines = self.lines();
        lines
            .into_iter()
            .filter(|l| l.starts_with("sweepwatch/v1/"))
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_publishes_and_reads_only_its_own_topic() {
    let (a, b) = ("dev-a", "dev-b");
    let broker = tokio::task::block_in_place(|| LocalBroker::start(&[a, b]));
    let db = TestDb::create().await;
    let _svc = Service::start(
        &db.url,
        &broker.url,
        &unique("localauth-"),
        &[
            ("SWEEPWATCH_MQTT_USERNAME", INGEST_USER),
            ("SWEEPWATCH_MQTT_PASSWORD", &broker.password(INGEST_USER)),
        ],
    )
    .await;
    // A, nosy, and a control that may read everything (the ingester's login).
    let nosy = Subscriber::start(&broker, a).await;
    let control = Subscriber::start(&broker, INGEST_USER).await;

    let t0 = now_ms() - 60_000;
    let topic = |d: &str| format!("sweepwatch/v1/{ORG}/{d}/fix");
    let (b_own, a_own, forged, a_last) = (
        fix_json(t0, 22.81, 113.67, 1),
        fix_json(t0 + 1000, 22.82, 113.68, 2),
        fix_json(t0 + 2000, 22.83, 113.69, 666),
        fix_json(t0 + 3000, 22.84, 113.70, 3),
    );
    broker.publish(b, &topic(b), &b_own, &[]).await;
    broker.publish(a, &topic(a), &a_own, &[]).await;
    // A as B: accepted by the broker (3.1.1 has no way to say no), dropped.
    broker.publish(a, &topic(b), &forged, &[]).await;
    // MQTT 5 tells the publisher.
    let v5 = broker
        .publish(a, &topic(b), &forged, &["-V", "mqttv5"])
        .await;
    assert!(v5.contains("Not authorized"), "MQTT 5 PUBACK: {v5}");
    // Published after the forgery: once it is stored, the forgery would be too.
    broker.publish(a, &topic(a), &a_last, &[]).await;

    let per_device = "SELECT d.name, count(*) FROM fixes f JOIN devices d ON d.id = f.device_id \
                      GROUP BY d.name ORDER BY d.name";
    let client = db.client().await;
    eventually(Duration::from_secs(30), "A's last fix stored", || async {
        let n = db.count("SELECT count(*) FROM fixes WHERE seq = 3").await;
        (n == 1).then_some(())
    })
    .await;
    let stored: Vec<(String, i64)> = client
        .query(per_device, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        stored,
        vec![(a.into(), 2), (b.into(), 1)],
        "fixes per device"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM fixes WHERE seq = 666").await,
        0
    );
    assert_eq!(db.count("SELECT count(*) FROM rejected_messages").await, 0);

    // The control saw the three allowed messages and not the forgery: the
    // broker routed everything before A's last fix was stored.
    let seen = eventually(
        Duration::from_secs(10),
        "the control's messages",
        || async {
            let m = control.messages();
            (m.len() >= 3).then_some(m)
        },
    )
    .await;
    assert_eq!(
        seen,
        vec![
            format!("{} {b_own}", topic(b)),
            format!("{} {a_own}", topic(a)),
            format!("{} {a_last}", topic(a)),
        ]
    );
    // A subscribed to everything and may read nothing: not B's fix, not even its own.
    assert_eq!(nosy.messages(), Vec::<String>::new(), "{:?}", nosy.lines());
}
