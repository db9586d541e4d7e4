//! A town with the API: the test scenario imported, a service with one token
//! per role, an HTTP client that speaks bearer tokens, and a script of fixes
//! that leaves alerts, coverage and daily summaries to look at.

use std::time::Duration;

use chrono::NaiveDate;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::broker::Broker;
use super::db::TestDb;
use super::publisher::Publisher;
use super::service::Service;
use super::town::{self, Script, local};
use super::{eventually, unique};

pub const VIEWER: &str = "viewer-token";
pub const OPERATOR: &str = "operator-token";
pub const ADMIN: &str = "admin-token";
pub const TOKENS: &str =
    "wall:viewer:viewer-token,desk-1:operator:operator-token,boss:admin:admin-token";

pub struct ApiTown {
    pub broker: Broker,
    pub db: TestDb,
    pub svc: Service,
    pub http: reqwest::Client,
}

/// An answer: status, content type and body (JSON when it parses, else a string).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Value,
    pub text: String,
}

impl ApiTown {
    pub async fn start() -> Self {
        Self::start_with(&[("SWEEPWATCH_API_TOKENS", TOKENS)]).await
    }

    pub async fn start_with(env: &[(&str, &str)]) -> Self {
        let broker = Broker::start();
        let db = TestDb::create().await;
        import(&db.url, &town::scenario());
        let svc = Service::start(&db.url, &broker.url(), &unique("api-"), env).await;
        Self {
            broker,
            db,
            svc,
            http: reqwest::Client::new(),
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.svc.http));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("HTTP request");
        answer(resp).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// Publishes `msgs` (device, payload) in order and waits until `fixes` are stored.
    pub async fn publish(&self, msgs: &[(String, String)]) {
        let before = self.db.count("SELECT count(*) FROM fixes").await.max(0);
        let mut p = Publisher::connect(self.broker.port).await;
        for (dev, payload) in msgs {
            p.publish(&format!("sweepwatch/v1/humen/{dev}/fix"), payload.clone())
                .await;
        }
        p.flush().await;
        let want = before + msgs.len() as i64;
        eventually(Duration::from_secs(60), "fixes stored", || async {
            (self.db.count("SELECT count(*) FROM fixes").await >= want).then_some(())
        })
        .await;
    }

    /// The standard day ([`standard_day_script`]), published; waits for its
    /// coverage and SOS alert.
    pub async fn standard_day(&self) -> NaiveDate {
        let d = town::test_date();
        self.publish(&device_payloads(&standard_day_script(d)))
            .await;
        eventually(
            Duration::from_secs(20),
            "coverage and the SOS alert",
            || async {
                let cov = self
                    .db
                    .count("SELECT count(*) FROM coverage WHERE route_id = 'route-a'")
                    .await;
                let sos = self
                    .db
                    .count("SELECT count(*) FROM alerts WHERE kind = 'sos'")
                    .await;
                (cov >= 1 && sos >= 1).then_some(())
            },
        )
        .await;
        d
    }

    /// `devices.id` of a device of the town.
    pub async fn device_id(&self, name: &str) -> i32 {
        self.db
            .client()
            .await
            .query_one("SELECT id FROM devices WHERE name = $1", &[&name])
            .await
            .unwrap()
            .get(0)
    }
}

/// The standard day on `d`: sw-1 sweeps 0..800 m of route-a from 06:00 to
/// 06:06 (coverage 80.8 %), wk-1 walks its beat and presses SOS at 06:10:07.
pub fn standard_day_script(d: NaiveDate) -> Script {
    let mut s = town::script();
    s.walk(
        "sw-1",
        local(d, 6, 0, 0),
        local(d, 6, 6, 0),
        (0.0, 0.0),
        (800.0, 0.0),
        5,
        true,
    );
    s.walk(
        "wk-1",
        local(d, 6, 0, 0),
        local(d, 6, 10, 0),
        (0.0, 600.0),
        (200.0, 600.0),
        15,
        true,
    );
    s.sos("wk-1", local(d, 6, 10, 7), (200.0, 600.0), true);
    s
}

/// (device, payload) of a script's fixes, in time order.
pub fn device_payloads(s: &Script) -> Vec<(String, String)> {
    s.fixes()
        .map(|(dev, f)| (dev.to_owned(), f.payload()))
        .collect()
}

pub async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = resp.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        content_type,
        body,
        text,
    }
}

/// `sweepwatch import` of a scenario into `db_url`.
pub fn import(db_url: &str, scenario: &Value) {
    let file = std::env::temp_dir()
        .join(unique("scenario-"))
        .with_extension("json");
    std::fs::write(&file, scenario.to_string()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sweepwatch"))
        .arg("import")
        .arg(&file)
        .env("SWEEPWATCH_DATABASE_URL", db_url)
        .env("SWEEPWATCH_LOG", "warn")
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Answer {
    /// Asserts a problem document with `status` naming `field` in `invalid-params`.
    pub fn assert_invalid(&self, field: &str) {
        assert_eq!(
            self.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            self.text
        );
        assert_eq!(
            self.content_type, "application/problem+json",
            "{}",
            self.text
        );
        let names: Vec<&str> = self.body["invalid-params"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert!(
            names.iter().any(|n| n.contains(field)),
            "no {field} in {}",
            self.text
        );
    }

    pub fn assert_problem(&self, status: StatusCode) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            self.content_type, "application/problem+json",
            "{}",
            self.text
        );
        assert_eq!(self.body["status"], status.as_u16(), "{}", self.text);
    }
}
