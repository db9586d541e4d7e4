//! MQTT over TLS with credentials: a Mosquitto of the test's own whose only
//! listener speaks TLS (a certificate for 127.0.0.1 and localhost from a CA
//! the test made) and takes no anonymous client (password file and ACL from
//! `deploy/mosquitto/mkauth.sh`). The service connects with `mqtts://`,
//! `SWEEPWATCH_MQTT_CA_FILE` and its username and password from the
//! environment; a device publishes with `mosquitto_pub`, a client not ours.

use std::process::Command;
use std::time::Duration;

use super::Dir;
use crate::helpers::broker::Broker;
use crate::helpers::certs::Ca;
use crate::helpers::db::TestDb;
use crate::helpers::publisher::{fix_json, now_ms};
use crate::helpers::service::Service;
use crate::helpers::{eventually, free_port, unique};

const INGEST_USER: &str = "sweepwatch-ingest";
const INGEST_PASSWORD: &str = "ingest-secret-1";
const DEVICE: &str = "tls-sw-1";

struct TlsBroker {
    broker: Broker,
    /// The broker's directory (certificates, auth files) outlives it in `broker`.
    dir: std::path::PathBuf,
}

impl TlsBroker {
    fn start() -> Self {
        let dir = Dir::new("sweepwatch-mqtts-");
        let ca = Ca::new("sweepwatch test broker CA");
        let cert = ca.issue(&["127.0.0.1", "localhost"]);
        ca.write(&dir.0, "ca.pem");
        Ca::new("some other CA").write(&dir.0, "other-ca.pem");
        std::fs::write(dir.join("server.crt"), &cert.cert_pem).unwrap();
        std::fs::write(dir.join("server.key"), &cert.key_pem).unwrap();
        std::fs::write(dir.join("devices.txt"), format!("humen {DEVICE}\n")).unwrap();
        let mkauth = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/mosquitto/mkauth.sh");
        let out = Command::new(mkauth)
            .arg(dir.join("devices.txt"))
            .arg(dir.join("auth"))
            .env("INGEST_USER", INGEST_USER)
            .env("INGEST_PASSWORD", INGEST_PASSWORD)
            .output()
            .expect("run mkauth.sh");
        assert!(out.status.success(), "mkauth.sh: {out:?}");
        // The listener's TLS lines follow the helper's `listener` line and the
        // project's tuning; the later allow_anonymous wins.
        let extra = format!(
            "cafile {d}/ca.pem\ncertfile {d}/server.crt\nkeyfile {d}/server.key\n\
             allow_anonymous false\npassword_file {d}/auth/passwd\nacl_file {d}/auth/acl\n",
            d = dir.0.display()
        );
        // The broker removes the directory when it is dropped.
        let path = dir.into_path();
        let broker = Broker::start_in_with(free_port(), path.clone(), &extra);
        Self { broker, dir: path }
    }

    fn url(&self) -> String {
        format!("mqtts://127.0.0.1:{}", self.broker.port)
    }

    fn file(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn password(&self, user: &str) -> String {
        let creds = std::fs::read_to_string(self.dir.join("auth/credentials.csv")).unwrap();
        creds
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{user},")))
            .unwrap_or_else(|| panic!("no password for {user}"))
            .to_owned()
    }

    /// Publishes `lines` (one message each, QoS 1) as the device, over TLS.
    fn publish(&self, lines: &[String]) {
        let mut child = Command::new("mosquitto_pub")
            .args(["-h", "localhost", "-p", &self.broker.port.to_string()])
            .args(["--cafile", &self.file("ca.pem")])
            .args(["-u", DEVICE, "-P", &self.password(DEVICE), "-q", "1"])
            .args(["-t", &format!("sweepwatch/v1/humen/{DEVICE}/fix"), "-l"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run mosquitto_pub");
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all((lines.join("\n") + "\n").as_bytes())
            .unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "mosquitto_pub over TLS: {out:?}");
    }
}

fn env<'a>(ca: &'a str, password: &'a str) -> [(&'static str, &'a str); 3] {
    [
        ("SWEEPWATCH_MQTT_CA_FILE", ca),
        ("SWEEPWATCH_MQTT_USERNAME", INGEST_USER),
        ("SWEEPWATCH_MQTT_PASSWORD", password),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixes_published_over_tls_are_stored() {
    let broker = tokio::task::block_in_place(TlsBroker::start);
    let db = TestDb::create().await;
    let ca = broker.file("ca.pem");
    let _svc = Service::start(
        &db.url,
        &broker.url(),
        &unique("mqtts-"),
        &env(&ca, INGEST_PASSWORD),
    )
    .await; // ready: connected to the broker over TLS, logged in

    let t0 = now_ms() - 60_000;
    let lines: Vec<String> = (0..25)
        .map(|i| fix_json(t0 + i * 1000, 22.8143, 113.6721, i as u64))
        .collect();
    tokio::task::block_in_place(|| broker.publish(&lines));
    eventually(Duration::from_secs(30), "25 fixes stored", || async {
        let n = db
            .count(&format!(
                "SELECT count(*) FROM fixes f JOIN devices d ON d.id = f.device_id \
                 WHERE d.name = '{DEVICE}'"
            ))
            .await;
        (n == 25).then_some(())
    })
    .await;
}

/// `/readyz`'s broker field, once it says `want`.
async fn readyz_broker(svc: &Service, want: &str) -> (u16, serde_json::Value) {
    eventually(
        Duration::from_secs(20),
        "/readyz's broker field",
        || async {
            let r = svc.get("/readyz").await;
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.ok()?;
            (body["broker"] == want).then_some((status, body))
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_of_another_ca_and_a_wrong_password_are_refused_clearly() {
    let broker = tokio::task::block_in_place(TlsBroker::start);
    let db = TestDb::create().await;
    let (ca, other) = (broker.file("ca.pem"), broker.file("other-ca.pem"));

    let svc = Service::start_logged(
        &db.url,
        &broker.url(),
        &unique("mqtts-ca-"),
        &env(&other, INGEST_PASSWORD),
    )
    .await;
    let log = eventually(
        Duration::from_secs(20),
        "the TLS failure logged",
        || async {
            let log = svc.log();
            log.contains("MQTT connection error").then_some(log)
        },
    )
    .await;
    let line = log
        .lines()
        .find(|l| l.contains("MQTT connection error"))
        .unwrap();
    eprintln!("another CA: {line}");
    for want in [
        &format!("TLS handshake with 127.0.0.1:{} failed", broker.broker.port),
        "invalid peer certificate: UnknownIssuer",
        &format!("not issued by the CA in {other} (mqtt.ca_file)"),
        "set mqtt.ca_file (SWEEPWATCH_MQTT_CA_FILE)",
    ] {
        assert!(line.contains(want), "the log line lacks {want:?}: {line}");
    }
    let (status, body) = readyz_broker(&svc, "disconnected").await;
    assert_eq!(status, 503, "{body}");
    drop(svc);

    let svc = Service::start_logged(
        &db.url,
        &broker.url(),
        &unique("mqtts-pw-"),
        &env(&ca, "not-the-password"),
    )
    .await;
    let log = eventually(Duration::from_secs(20), "the refusal logged", || async {
        let log = svc.log();
        log.contains("MQTT connection error").then_some(log)
    })
    .await;
    let line = log
        .lines()
        .find(|l| l.contains("MQTT connection error"))
        .unwrap();
    eprintln!("wrong password: {line}");
    for want in [
        "the broker refused the connection",
        "not authorised (CONNACK 5)",
        "SWEEPWATCH_MQTT_PASSWORD",
    ] {
        assert!(line.contains(want), "the log line lacks {want:?}: {line}");
    }
    let (status, body) = readyz_broker(&svc, "disconnected").await;
    assert_eq!(status, 503, "{body}");
}
