//! The engine in the pipeline: scenarios published over MQTT, asserting on the
//! alerts and coverage stored. Fix times are a few days in the past (a replay),
//! so the engine runs on event time alone.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

use crate::helpers::broker::Broker;
use crate::helpers::db::TestDb;
use crate::helpers::publisher::Publisher;
use crate::helpers::service::Service;
use crate::helpers::town::{self, fix_at, local};
use crate::helpers::{eventually, unique};

/// Fixes of several devices, published in time order (as they would arrive live).
#[derive(Default)]
struct Script {
    msgs: BTreeMap<(DateTime<Utc>, String), String>,
    fixes: usize,
}

impl Script {
    fn fix(&mut self, dev: &str, ts: DateTime<Utc>, x: f64, y: f64, speed: f64, work: bool) {
        self.msgs
            .insert((ts, dev.to_owned()), fix_at(ts, x, y, speed, work));
        self.fixes += 1;
    }

    /// A device walking from `a` to `b` (metres) over `from..to`, a fix every `every` seconds.
    #[allow(clippy::too_many_arguments)]
    fn walk(
        &mut self,
        dev: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        a: (f64, f64),
        b: (f64, f64),
        every: i64,
        work: bool,
    ) {
        let total = (to - from).num_seconds().max(1);
        let dist = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
        let speed = dist / total as f64 * 3.6;
        let mut t = 0;
        while t <= total {
            let f = t as f64 / total as f64;
            self.fix(
                dev,
                from + chrono::Duration::seconds(t),
                a.0 + f * (b.0 - a.0),
                a.1 + f * (b.1 - a.1),
                speed,
                work,
            );
            t += every;
        }
    }

    /// Standing at `p` (with a metre or two of GPS jitter) over `from..to`.
    fn stay(
        &mut self,
        dev: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        p: (f64, f64),
        every: i64,
        work: bool,
    ) {
        let mut t = from;
        let mut i = 0.0f64;
        while t <= to {
            self.fix(
                dev,
                t,
                p.0 + (i * 1.7).sin() * 2.0,
                p.1 + (i * 1.3).cos() * 2.0,
                0.0,
                work,
            );
            t += chrono::Duration::seconds(every);
            i += 1.0;
        }
    }

    async fn publish(&self, p: &mut Publisher) {
        for ((_, dev), payload) in &self.msgs {
            p.publish(&format!("sweepwatch/v1/humen/{dev}/fix"), payload.clone())
                .await;
        }
        p.flush().await;
    }
}

struct Town {
    broker: Broker,
    db: TestDb,
    svc: Service,
}

async fn town() -> Town {
    town_with(&[]).await
}

async fn town_with(env: &[(&str, &str)]) -> Town {
    let broker = Broker::start();
    let db = TestDb::create().await;
    let file = std::env::temp_dir()
        .join(unique("scenario-"))
        .with_extension("json");
    std::fs::write(&file, town::scenario().to_string()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sweepwatch"))
        .arg("import")
        .arg(&file)
        .env("SWEEPWATCH_DATABASE_URL", &db.url)
        .env("SWEEPWATCH_LOG", "warn")
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svc = Service::start(&db.url, &broker.url(), &unique("engine-"), env).await;
    Town { broker, db, svc }
}

impl Town {
    async fn run(&self, script: &Script) {
        let mut p = Publisher::connect(self.broker.port).await;
        script.publish(&mut p).await;
        self.wait_stored(script.fixes as i64).await;
    }

    async fn wait_stored(&self, n: i64) {
        eventually(
            Duration::from_secs(60),
            &format!("{n} fixes stored"),
            || async { (self.db.count("SELECT count(*) FROM fixes").await >= n).then_some(()) },
        )
        .await;
    }

    /// (device, kind, state, opened_at, cleared_at, message), oldest first.
    async fn alerts(&self) -> Vec<Alert> {
        let rows = self
            .db
            .client()
            .await
            .query(
                "SELECT d.name, a.kind, a.state, a.opened_at, a.cleared_at, a.message, a.district, a.chief, a.shift_date
                 FROM alerts a JOIN devices d ON d.id = a.device_id ORDER BY a.opened_at, d.name, a.kind",
                &[],
            )
            .await
            .unwrap();
        rows.iter()
            .map(|r| Alert {
                device: r.get(0),
                kind: r.get(1),
                state: r.get(2),
                opened_at: r.get(3),
                cleared_at: r.get(4),
                message: r.get(5),
                district: r.get(6),
                chief: r.get(7),
                shift_date: r.get(8),
            })
            .collect()
    }

    /// (fraction, missed stretches as (from_m, to_m)) of a route in a shift instance.
    async fn coverage(
        &self,
        route: &str,
        shift: &str,
        date: NaiveDate,
    ) -> Option<(f64, Vec<(f64, f64)>)> {
        let row = self
            .db
            .client()
            .await
            .query_opt(
                "SELECT fraction, report FROM coverage WHERE route_id = $1 AND shift_id = $2 AND shift_date = $3",
                &[&route, &shift, &date],
            )
            .await
            .unwrap()?;
        let report: serde_json::Value = row.get(1);
        let missed = report["missed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["from_m"].as_f64().unwrap(), s["to_m"].as_f64().unwrap()))
            .collect();
        Some((row.get(0), missed))
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Alert {
    device: String,
    kind: String,
    state: String,
    opened_at: DateTime<Utc>,
    cleared_at: Option<DateTime<Utc>>,
    message: String,
    district: Option<String>,
    chief: Option<String>,
    shift_date: Option<NaiveDate>,
}

fn of<'a>(alerts: &'a [Alert], device: &str, kind: &str) -> Vec<&'a Alert> {
    alerts
        .iter()
        .filter(|a| a.device == device && a.kind == kind)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweeper_sweeping_80_percent_leaves_the_rest_reported_missed() {
    let t = town().await;
    let d = town::test_date();
    let mut s = Script::default();
    // Broom down from 0 to 800 m of the 1,000 m route at 8 km/h, a fix every 5 s.
    s.walk(
        "sw-1",
        local(d, 6, 0, 0),
        local(d, 6, 6, 0),
        (0.0, 0.0),
        (800.0, 0.0),
        5,
        true,
    );
    t.run(&s).await;
    let (fraction, missed) = eventually(Duration::from_secs(10), "coverage of route-a", || {
        t.coverage("route-a", "day", d)
    })
    .await;
    // Exact geometry: the pass line buffered by the 8 m half-width covers [0, 808] m
    // of the collinear 1,000 m route.
    let exact = 808.0 / 1000.0;
    assert!(
        (fraction - exact).abs() < 0.01,
        "coverage {fraction}, exact {exact}"
    );
    assert_eq!(missed.len(), 1, "{missed:?}");
    assert!(
        (missed[0].0 - 808.0).abs() < 10.0 && (missed[0].1 - 1000.0).abs() < 5.0,
        "{missed:?}"
    );
    // The daily summary counts the working time.
    let working: f64 = t
        .db
        .client()
        .await
        .query_one("SELECT working_s FROM device_daily dd JOIN devices d ON d.id = dd.device_id WHERE d.name = 'sw-1'", &[])
        .await
        .unwrap()
        .get(0);
    assert!((working - 360.0).abs() < 1.0, "working {working} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_night_wash_across_midnight_counts_to_the_night_it_started() {
    let t = town().await;
    let d = town::test_date();
    let next = d.succ_opt().unwrap();
    let mut s = Script::default();
    s.walk(
        "wa-1",
        local(d, 23, 50, 0),
        local(next, 0, 10, 0),
        (0.0, 300.0),
        (1000.0, 300.0),
        5,
        true,
    );
    t.run(&s).await;
    let (fraction, _) = eventually(Duration::from_secs(10), "coverage of wash-n", || {
        t.coverage("wash-n", "night", d)
    })
    .await;
    assert!(
        fraction > 0.99,
        "the whole wash route was driven: {fraction}"
    );
    assert!(
        t.coverage("wash-n", "night", next).await.is_none(),
        "counted to the next day's instance"
    );
    assert_eq!(t.db.count("SELECT count(*) FROM coverage").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cleaner_standing_still_raises_a_welfare_idle_but_not_in_a_service_station() {
    let t = town().await;
    let d = town::test_date();
    let mut s = Script::default();
    // wk-1: walks, stands 25 min outside any rest zone, walks on.
    s.walk(
        "wk-1",
        local(d, 6, 0, 0),
        local(d, 6, 5, 0),
        (0.0, 600.0),
        (300.0, 600.0),
        15,
        true,
    );
    s.stay(
        "wk-1",
        local(d, 6, 5, 15),
        local(d, 6, 30, 0),
        (300.0, 600.0),
        30,
        true,
    );
    s.walk(
        "wk-1",
        local(d, 6, 30, 30),
        local(d, 6, 40, 0),
        (300.0, 600.0),
        (300.0, 850.0),
        15,
        true,
    );
    // wk-2: walks to the service station, rests 25 min inside it, walks on.
    s.walk(
        "wk-2",
        local(d, 6, 0, 0),
        local(d, 6, 5, 0),
        (200.0, 720.0),
        (520.0, 720.0),
        15,
        true,
    );
    s.stay(
        "wk-2",
        local(d, 6, 5, 15),
        local(d, 6, 30, 0),
        (520.0, 720.0),
        30,
        true,
    );
    s.walk(
        "wk-2",
        local(d, 6, 30, 30),
        local(d, 6, 40, 0),
        (520.0, 720.0),
        (100.0, 720.0),
        15,
        true,
    );
    t.run(&s).await;
    let alerts = t.alerts().await;
    let idle = of(&alerts, "wk-1", "idle");
    assert_eq!(idle.len(), 1, "{alerts:#?}");
    let a = idle[0];
    // Opens 20 minutes (the workers' threshold) after the dwell began, clears when she
    // walks on. The dwell begins at the first fix within `idle_radius_m` (20 m) plus the
    // fix's accuracy (4 m) of where she stands (issue 13: a dwell survives GPS noise),
    // so her last step of the walk, 15 m short at 06:04:45, already counts: 30 s before
    // the first fix of the stay.
    let opened = (a.opened_at - local(d, 6, 5, 15)).num_seconds();
    assert!(
        (1170..=1240).contains(&opened),
        "opened {opened} s into the stop"
    );
    assert_eq!(a.state, "resolved");
    // Clears once she is more than 20 m from where she stood.
    assert_eq!(
        a.cleared_at
            .map(|c| c >= local(d, 6, 30, 30) && c <= local(d, 6, 32, 0)),
        Some(true),
        "{a:?}"
    );
    assert!(
        a.message.to_lowercase().contains("welfare"),
        "message: {}",
        a.message
    );
    assert_eq!(
        (a.district.as_deref(), a.chief.as_deref()),
        (Some("D1"), Some("Chen Wei"))
    );
    assert!(
        of(&alerts, "wk-2", "idle").is_empty(),
        "rest in a service station raised {alerts:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_goes_silent_is_offline_on_time_until_its_next_fix() {
    let t = town().await;
    let d = town::test_date();
    let mut s = Script::default();
    // wk-1 walks all along (its fixes move the org's clock); wk-2 is silent 06:10-06:30.
    s.walk(
        "wk-1",
        local(d, 6, 0, 0),
        local(d, 6, 40, 0),
        (0.0, 600.0),
        (500.0, 600.0),
        20,
        true,
    );
    s.walk(
        "wk-2",
        local(d, 6, 0, 0),
        local(d, 6, 10, 0),
        (0.0, 800.0),
        (150.0, 800.0),
        20,
        true,
    );
    s.walk(
        "wk-2",
        local(d, 6, 30, 0),
        local(d, 6, 40, 0),
        (150.0, 800.0),
        (300.0, 800.0),
        20,
        true,
    );
    t.run(&s).await;
    let alerts = t.alerts().await;
    let off = of(&alerts, "wk-2", "offline");
    assert_eq!(off.len(), 1, "{alerts:#?}");
    assert_eq!(
        off[0].opened_at,
        local(d, 6, 20, 0),
        "offline opens 10 min after the last fix"
    );
    assert_eq!(
        off[0].cleared_at,
        Some(local(d, 6, 30, 0)),
        "and clears with the next fix"
    );
    assert_eq!(off[0].state, "resolved");
    assert_eq!(off[0].shift_date, Some(d));
    assert!(of(&alerts, "wk-1", "offline").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sos_stays_open_and_only_a_long_excursion_is_off_area() {
    let t = town().await;
    let d = town::test_date();
    let mut s = Script::default();
    s.walk(
        "wk-1",
        local(d, 6, 0, 0),
        local(d, 6, 30, 0),
        (0.0, 600.0),
        (400.0, 600.0),
        15,
        true,
    );
    // wk-2: out of the beat (y < 500) for 2 min (under the 3-min debounce), back, then out for 5 min.
    s.walk(
        "wk-2",
        local(d, 6, 0, 0),
        local(d, 6, 5, 0),
        (100.0, 700.0),
        (100.0, 520.0),
        15,
        true,
    );
    s.stay(
        "wk-2",
        local(d, 6, 5, 15),
        local(d, 6, 7, 0),
        (100.0, 440.0),
        15,
        true,
    );
    s.stay(
        "wk-2",
        local(d, 6, 7, 15),
        local(d, 6, 12, 0),
        (100.0, 560.0),
        15,
        true,
    );
    s.stay(
        "wk-2",
        local(d, 6, 12, 15),
        local(d, 6, 17, 15),
        (100.0, 440.0),
        15,
        true,
    );
    s.walk(
        "wk-2",
        local(d, 6, 17, 30),
        local(d, 6, 30, 0),
        (100.0, 560.0),
        (400.0, 800.0),
        15,
        true,
    );
    // wk-1 presses SOS once.
    let (lon, lat) = town::pt(200.0, 600.0);
    s.msgs.insert(
        (local(d, 6, 10, 7), "wk-1".into()),
        serde_json::json!({"ts": local(d, 6, 10, 7).timestamp_millis(), "lat": lat, "lon": lon, "work": true, "sos": true}).to_string(),
    );
    s.fixes += 1;
    t.run(&s).await;
    let alerts = t.alerts().await;
    let sos = of(&alerts, "wk-1", "sos");
    assert_eq!(sos.len(), 1, "{alerts:#?}");
    assert_eq!(sos[0].opened_at, local(d, 6, 10, 7));
    assert_eq!(sos[0].state, "open", "an SOS waits for an operator");
    assert_eq!(
        t.svc
            .metric("sweepwatch_alerts_opened_total{kind=\"sos\"}")
            .await,
        1.0
    );
    eventually(
        Duration::from_secs(15),
        "the open-alert gauge to count the SOS",
        || async {
            (t.svc.metric("sweepwatch_alerts_open{kind=\"sos\"}").await == 1.0).then_some(())
        },
    )
    .await;
    assert!(
        t.svc
            .metric("sweepwatch_alerts_unacknowledged_oldest_seconds{kind=\"sos\"}")
            .await
            >= 0.0
    );
    // The engines report their size (docs/PERFORMANCE.md: bytes per device).
    eventually(
        Duration::from_secs(15),
        "the engine gauges to count wk-1 and wk-2",
        || async {
            let devices = t.svc.metric("sweepwatch_engine_devices").await;
            let bytes = t.svc.metric("sweepwatch_engine_bytes").await;
            (devices >= 2.0 && bytes >= 200.0 * devices).then_some(())
        },
    )
    .await;
    let off = of(&alerts, "wk-2", "off_area");
    assert_eq!(
        off.len(),
        1,
        "one alert for the 5-minute excursion, none for the 2-minute one: {alerts:#?}"
    );
    let opened = (off[0].opened_at - local(d, 6, 12, 15)).num_seconds();
    assert!(
        (180..=200).contains(&opened),
        "opened {opened} s after leaving"
    );
    assert_eq!(off[0].state, "resolved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_out_of_order_backlog_completes_coverage_without_spurious_alerts() {
    let t = town().await;
    let d = town::test_date();
    let mut live = Script::default();
    live.walk(
        "sw-1",
        local(d, 6, 0, 0),
        local(d, 6, 3, 40),
        (0.0, 0.0),
        (500.0, 0.0),
        5,
        true,
    );
    t.run(&live).await;
    // The second half was buffered (a tunnel) and arrives later, newest first.
    let mut buffered = Script::default();
    buffered.walk(
        "sw-1",
        local(d, 6, 3, 45),
        local(d, 6, 7, 30),
        (500.0, 0.0),
        (1000.0, 0.0),
        5,
        true,
    );
    let backlog: Vec<&String> = buffered.msgs.values().rev().collect();
    let mut p = Publisher::connect(t.broker.port).await;
    for chunk in backlog.chunks(200) {
        let body = format!(
            "[{}]",
            chunk
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(",")
        );
        p.publish("sweepwatch/v1/humen/sw-1/fixes", body).await;
    }
    p.flush().await;
    t.wait_stored((live.fixes + buffered.fixes) as i64).await;
    let (fraction, missed) = eventually(Duration::from_secs(10), "coverage", || async {
        t.coverage("route-a", "day", d).await.filter(|c| c.0 > 0.99)
    })
    .await;
    assert!(missed.is_empty(), "{missed:?} ({fraction})");
    let alerts = t.alerts().await;
    assert!(alerts.is_empty(), "spurious alerts: {alerts:#?}");
}

/// A morning of the test town that raises idle and offline alerts and sweeps
/// route A: the sweeper sweeps, stands 14 min off work, goes silent, sweeps the
/// rest; wk-1 walks all morning (moving the org's clock); wk-2 walks, stands, walks on.
fn morning(d: NaiveDate) -> Script {
    let mut s = Script::default();
    // The sweeper is then silent 06:20-06:35 (offline) and sweeps the rest.
    s.walk(
        "sw-1",
        local(d, 6, 35, 0),
        local(d, 6, 38, 0),
        (800.0, 0.0),
        (1000.0, 0.0),
        5,
        true,
    );
    s.walk(
        "sw-1",
        local(d, 6, 0, 0),
        local(d, 6, 6, 0),
        (0.0, 0.0),
        (800.0, 0.0),
        5,
        true,
    );
    s.stay(
        "sw-1",
        local(d, 6, 6, 5),
        local(d, 6, 20, 0),
        (800.0, 0.0),
        10,
        false,
    );
    s.walk(
        "wk-1",
        local(d, 6, 0, 0),
        local(d, 6, 40, 0),
        (0.0, 600.0),
        (500.0, 600.0),
        20,
        true,
    );
    s.walk(
        "wk-2",
        local(d, 6, 0, 0),
        local(d, 6, 10, 0),
        (0.0, 800.0),
        (150.0, 800.0),
        20,
        true,
    );
    s.stay(
        "wk-2",
        local(d, 6, 10, 20),
        local(d, 6, 35, 0),
        (150.0, 800.0),
        30,
        true,
    );
    s.walk(
        "wk-2",
        local(d, 6, 35, 20),
        local(d, 6, 40, 0),
        (150.0, 800.0),
        (300.0, 800.0),
        20,
        true,
    );
    s
}

/// The same shift, with the service SIGKILLed and restarted in the middle,
/// stores the same alerts and coverage as an uninterrupted run: rebuilt by
/// replaying every stored fix (no checkpoint yet) ...
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_in_the_middle_of_a_shift_changes_nothing() {
    restart_mid_shift(&[]).await;
}

/// ... and rebuilt from a checkpoint plus the fixes received after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_from_a_checkpoint_changes_nothing() {
    let dir = std::env::temp_dir().join(unique("cfg-"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sweepwatch.toml");
    std::fs::write(&file, "[pipeline]\ncheckpoint_interval_ms = 100\n").unwrap();
    restart_mid_shift(&[("SWEEPWATCH_CONFIG", file.to_str().unwrap())]).await;
    let _ = std::fs::remove_dir_all(dir);
}

async fn restart_mid_shift(env: &[(&str, &str)]) {
    let d = town::test_date();
    let s = morning(d);

    let reference = town().await;
    reference.run(&s).await;

    let mut t = town_with(env).await;
    let msgs: Vec<(&(DateTime<Utc>, String), &String)> = s.msgs.iter().collect();
    let (first, second) = msgs.split_at(msgs.len() / 2);
    let mut p = Publisher::connect(t.broker.port).await;
    for ((_, dev), payload) in first {
        p.publish(
            &format!("sweepwatch/v1/humen/{dev}/fix"),
            (*payload).clone(),
        )
        .await;
    }
    p.flush().await;
    t.wait_stored(first.len() as i64).await;
    // Let the housekeeping tick checkpoint (when configured to), then kill without warning.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let checkpoints = t.db.count("SELECT count(*) FROM device_state").await;
    assert_eq!(
        checkpoints > 0,
        !env.is_empty(),
        "checkpoint rows: {checkpoints}"
    );
    t.svc.kill();
    for ((_, dev), payload) in second {
        p.publish(
            &format!("sweepwatch/v1/humen/{dev}/fix"),
            (*payload).clone(),
        )
        .await;
    }
    p.flush().await;
    t.svc.restart().await;
    t.wait_stored(s.fixes as i64).await;

    let strip = |v: Vec<Alert>| {
        v.into_iter()
            .map(|a| (a.device, a.kind, a.state, a.opened_at, a.cleared_at))
            .collect::<Vec<_>>()
    };
    let want = strip(reference.alerts().await);
    assert!(!want.is_empty(), "the scenario raises alerts");
    eventually(
        Duration::from_secs(10),
        "the same alerts after the restart",
        || async {
            let got = strip(t.alerts().await);
            (got == want).then_some(())
        },
    )
    .await;
    let want_cov = reference.coverage("route-a", "day", d).await.unwrap();
    let got_cov = t.coverage("route-a", "day", d).await.unwrap();
    assert!(
        (want_cov.0 - got_cov.0).abs() < 1e-9,
        "{want_cov:?} vs {got_cov:?}"
    );
    assert_eq!(want_cov.1.len(), got_cov.1.len());
}

/// The same fixes published as fast as possible and paced out (a replay at two
/// different speeds) store exactly the same alerts and coverage: the engine's
/// clock is the fixes', not the wall's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_publishing_speed_does_not_change_the_results() {
    let d = town::test_date();
    let s = morning(d);

    let fast = town().await;
    fast.run(&s).await;

    let slow = town().await;
    let mut p = Publisher::connect(slow.broker.port).await;
    for (i, ((_, dev), payload)) in s.msgs.iter().enumerate() {
        p.publish(&format!("sweepwatch/v1/humen/{dev}/fix"), payload.clone())
            .await;
        if i % 10 == 0 {
            p.flush().await; // each group lands in its own batch
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    p.flush().await;
    slow.wait_stored(s.fixes as i64).await;

    let strip = |v: Vec<Alert>| {
        v.into_iter()
            .map(|a| (a.device, a.kind, a.state, a.opened_at, a.cleared_at))
            .collect::<Vec<_>>()
    };
    let want = strip(fast.alerts().await);
    assert!(
        want.iter().any(|a| a.1 == "idle") && want.iter().any(|a| a.1 == "offline"),
        "{want:#?}"
    );
    eventually(
        Duration::from_secs(10),
        "the same alerts at both speeds",
        || async { (strip(slow.alerts().await) == want).then_some(()) },
    )
    .await;
    assert_eq!(
        fast.coverage("route-a", "day", d).await,
        slow.coverage("route-a", "day", d).await
    );
}

/// A day after a shift instance ended (org clock), its coverage is final: the
/// engine lets go of it, and a device's backlog of that shift arriving later is
/// stored but does not replace the stored coverage with its own few metres.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coverage_is_final_a_day_after_the_shift() {
    let t = town().await;
    let d = town::test_date();
    let mut s = Script::default();
    s.walk(
        "sw-1",
        local(d, 6, 0, 0),
        local(d, 6, 6, 0),
        (0.0, 0.0),
        (800.0, 0.0),
        5,
        true,
    );
    // Two days later the org's clock has moved on (another device reports).
    s.walk(
        "wk-1",
        local(d + chrono::Days::new(2), 7, 0, 0),
        local(d + chrono::Days::new(2), 7, 2, 0),
        (100.0, 100.0),
        (120.0, 100.0),
        10,
        true,
    );
    t.run(&s).await;
    let (before, _) = eventually(Duration::from_secs(10), "coverage of route-a", || {
        t.coverage("route-a", "day", d)
    })
    .await;
    assert!((before - 0.808).abs() < 0.01, "{before}");

    // sw-1's backlog: a pass over 900..1000 m during that shift, delivered now.
    let mut late = Script::default();
    late.walk(
        "sw-1",
        local(d, 9, 0, 0),
        local(d, 9, 0, 45),
        (900.0, 0.0),
        (1000.0, 0.0),
        5,
        true,
    );
    let mut p = Publisher::connect(t.broker.port).await;
    late.publish(&mut p).await;
    t.wait_stored((s.fixes + late.fixes) as i64).await;
    // Give the writer a moment to have written effects, if it (wrongly) had any.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (after, missed) = t.coverage("route-a", "day", d).await.unwrap();
    assert_eq!(after, before, "final coverage changed: {missed:?}");
}
