//! Two towns in one service, for the tenancy tests: humen (org A) and
//! changan (org B) with the same configuration (same area, shift and device
//! names, so only the org tells them apart), each with a day of fixes that
//! leaves positions, alerts (an SOS), coverage and daily summaries; tokens of
//! every role for every org and for humen only.

use std::time::Duration;

use chrono::NaiveDate;
use serde_json::{Value, json};

use crate::helpers::api::{ApiTown, TOKENS, device_payloads, import, standard_day_script};
use crate::helpers::broker::Broker;
use crate::helpers::db::TestDb;
use crate::helpers::publisher::Publisher;
use crate::helpers::service::Service;
use crate::helpers::town;
use crate::helpers::{eventually, unique};

/// The org the scoped tokens may see.
pub const A: &str = "humen";
/// The other org. Sorted before A, so that "the first org" is never A by luck.
pub const B: &str = "changan";

pub const A_VIEWER: &str = "a-viewer-token";
pub const A_OPERATOR: &str = "a-operator-token";
pub const A_ADMIN: &str = "a-admin-token";
pub const B_ADMIN: &str = "b-admin-token";

/// The unscoped tokens of [`TOKENS`], three limited to humen, one to changan.
pub fn tokens() -> String {
    format!(
        "{TOKENS},a-viewer:viewer@humen:{A_VIEWER},a-operator:operator@humen:{A_OPERATOR},\
         a-admin:admin@humen:{A_ADMIN},b-admin:admin@changan:{B_ADMIN}"
    )
}

/// The test town's scenario under another org id.
pub fn scenario_of(org: &str) -> Value {
    let mut s = town::scenario();
    s["org"] = json!({"id": org, "name": format!("{org} (test)"), "timezone": "Asia/Shanghai"});
    s
}

pub struct Towns {
    pub t: ApiTown,
    pub date: NaiveDate,
}

impl Towns {
    /// Both towns imported, the service started (generous rate limits: the
    /// matrix makes hundreds of calls), and a day of fixes in each.
    pub async fn start(extra_env: &[(&str, &str)]) -> Self {
        let broker = Broker::start();
        let db = TestDb::create().await;
        import(&db.url, &scenario_of(A));
        import(&db.url, &scenario_of(B));
        let tokens = tokens();
        let mut env = vec![
            ("SWEEPWATCH_API_TOKENS", tokens.as_str()),
            ("SWEEPWATCH_API_RATE_PER_S", "1000"),
            ("SWEEPWATCH_API_RATE_BURST", "100000"),
        ];
        env.extend_from_slice(extra_env);
        let svc = Service::start(&db.url, &broker.url(), &unique("towns-"), &env).await;
        let t = ApiTown {
            broker,
            db,
            svc,
            http: reqwest::Client::new(),
        };
        let date = town::test_date();
        let towns = Self { t, date };
        towns.day().await;
        towns
    }

    /// Publishes `msgs` (device, payload) to `org`'s topics.
    pub async fn publish_to(&self, org: &str, msgs: &[(String, String)]) {
        let mut p = Publisher::connect(self.t.broker.port).await;
        for (dev, payload) in msgs {
            p.publish(&format!("sweepwatch/v1/{org}/{dev}/fix"), payload.clone())
                .await;
        }
        p.flush().await;
    }

    /// In each town, sw-1 sweeps part of route-a and wk-1 presses SOS; waits
    /// for both towns' coverage, SOS and daily summaries.
    async fn day(&self) {
        let d = self.date;
        // The standard day (sorted by time, as devices would publish it live).
        let msgs = device_payloads(&standard_day_script(d));
        for org in [A, B] {
            self.publish_to(org, &msgs).await;
        }
        let db = &self.t.db;
        eventually(
            Duration::from_secs(60),
            "coverage, SOS and daily summaries in both towns",
            || async {
                let cov = db
                    .count("SELECT count(DISTINCT org) FROM coverage WHERE route_id = 'route-a'")
                    .await;
                let sos = db
                    .count("SELECT count(DISTINCT org) FROM alerts WHERE kind = 'sos'")
                    .await;
                let daily = db
                    .count(
                        "SELECT count(DISTINCT d.org) FROM device_daily dd JOIN devices d ON d.id = dd.device_id",
                    )
                    .await;
                (cov == 2 && sos == 2 && daily == 2).then_some(())
            },
        )
        .await;
    }

    /// `devices.id` of `name` in `org`.
    pub async fn device_id(&self, org: &str, name: &str) -> i32 {
        self.one(
            "SELECT id FROM devices WHERE org = $1 AND name = $2",
            &[&org, &name],
        )
        .await
    }

    /// The first column of the one row `sql` returns.
    pub async fn one<T: for<'a> tokio_postgres::types::FromSql<'a>>(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> T {
        self.t
            .db
            .client()
            .await
            .query_one(sql, params)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .get(0)
    }
}
