//! The engine's behaviour in the pipeline, with no broker: the test town
//! imported into a database of the test's own, each script's messages handed
//! to `ingest::InProcess` (the same decoder, flow, writer, engines and
//! transaction as `sweepwatch serve` over MQTT, with `[mqtt]` and
//! `[pipeline]` at their defaults, as the service of `over_mqtt` runs), and
//! the alert and coverage gauges refreshed by `ingest::gauges::refresh` (what
//! `serve`'s gauges task runs every 5 s). `settled` returns once every message
//! sent is committed with what the engines derived from it, so the tests read
//! the results at once instead of polling.
//!
//! The offline test stays honest without a broker: its fixes are days old
//! (a replay), so its org's timers run on event time only (the writer's
//! wall-clock housekeeping ticks only orgs whose fixes are live), and they
//! run here in the same writer, housekeeping included.

use std::time::Duration;

use testkit::script::{Fix, backlog_payload, backlog_topic};

use super::{alerts, coverage, of};
use crate::helpers::api::import;
use crate::helpers::db::TestDb;
use crate::helpers::eventually;
use crate::helpers::town::{self, ORG, Script, local};

/// Field order is drop order: the writer stops before the database is dropped.
struct Town {
    ingest: ingest::InProcess,
    pool: store::Pool,
    db: TestDb,
}

async fn town() -> Town {
    let db = TestDb::create().await;
    import(&db.url, &town::scenario());
    let target = store::DbTarget::parse(&db.url).unwrap();
    let pool = store::connect_pool(&target, 4).unwrap();
    let ingest = ingest::InProcess::start(
        pool.clone(),
        &ingest::MqttConfig::default(),
        &ingest::PipelineConfig::default(),
    );
    Town { ingest, pool, db }
}

impl Town {
    /// Sends the script's fixes in time order (as devices publishing live)
    /// and waits until they are committed.
    async fn run(&mut self, script: &Script) {
        for (topic, payload) in script.messages(ORG) {
            self.send(&topic, payload).await;
        }
        self.settled(script.len()).await;
    }

    async fn send(&mut self, topic: &str, payload: String) {
        self.ingest.send(topic, payload).await.unwrap();
    }

    /// Waits until everything sent is committed; then at least `fixes` are stored.
    async fn settled(&mut self, fixes: usize) {
        self.ingest.settled().await.unwrap();
        let stored = self.db.count("SELECT count(*) FROM fixes").await;
        assert!(
            stored >= fixes as i64,
            "{stored} fixes stored, {fixes} sent"
        );
    }

    async fn coverage(
        &self,
        route: &str,
        shift: &str,
        date: chrono::NaiveDate,
    ) -> Option<(f64, Vec<(f64, f64)>)> {
        coverage(&self.db, route, shift, date).await
    }

    /// The alert and coverage gauges, refreshed as `serve`'s gauges task does.
    async fn refresh_gauges(&self) {
        ingest::gauges::refresh(&self.pool, self.ingest.metrics(), &[], chrono::Utc::now())
            .await
            .unwrap();
    }

    /// A sample of the pipeline's metrics, as `/metrics` would show it.
    fn metric(&self, sample: &str) -> f64 {
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&self.ingest.registry().gather())
            .unwrap();
        text.lines()
            .find_map(|l| {
                l.strip_prefix(sample)
                    .and_then(|rest| rest.trim().parse().ok())
            })
            .unwrap_or_else(|| panic!("no sample {sample} in the metrics"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweeper_sweeping_80_percent_leaves_the_rest_reported_missed() {
    let mut t = town().await;
    let d = town::test_date();
    let mut s = town::script();
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
    let (fraction, missed) = t
        .coverage("route-a", "day", d)
        .await
        .expect("coverage of route-a");
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
    let mut t = town().await;
    let d = town::test_date();
    let next = d.succ_opt().unwrap();
    let mut s = town::script();
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
    let (fraction, _) = t
        .coverage("wash-n", "night", d)
        .await
        .expect("coverage of wash-n");
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
    let mut t = town().await;
    let d = town::test_date();
    let mut s = town::script();
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
    let alerts = alerts(&t.db).await;
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
    let mut t = town().await;
    let d = town::test_date();
    let mut s = town::script();
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
    let alerts = alerts(&t.db).await;
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
    let mut t = town().await;
    let d = town::test_date();
    let mut s = town::script();
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
    s.sos("wk-1", local(d, 6, 10, 7), (200.0, 600.0), true);
    t.run(&s).await;
    let alerts = alerts(&t.db).await;
    let sos = of(&alerts, "wk-1", "sos");
    assert_eq!(sos.len(), 1, "{alerts:#?}");
    assert_eq!(sos[0].opened_at, local(d, 6, 10, 7));
    assert_eq!(sos[0].state, "open", "an SOS waits for an operator");
    assert_eq!(
        t.metric("sweepwatch_alerts_opened_total{kind=\"sos\"}"),
        1.0
    );
    // The gauges as `serve` refreshes them every 5 s; once is enough after the commit.
    t.refresh_gauges().await;
    assert_eq!(t.metric("sweepwatch_alerts_open{kind=\"sos\"}"), 1.0);
    assert!(t.metric("sweepwatch_alerts_unacknowledged_oldest_seconds{kind=\"sos\"}") >= 0.0);
    // The engines report their size (docs/PERFORMANCE.md: bytes per device).
    eventually(
        Duration::from_secs(15),
        "the engine gauges to count wk-1 and wk-2",
        || async {
            let devices = t.metric("sweepwatch_engine_devices");
            let bytes = t.metric("sweepwatch_engine_bytes");
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
    let mut t = town().await;
    let d = town::test_date();
    let mut live = town::script();
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
    let mut buffered = town::script();
    buffered.walk(
        "sw-1",
        local(d, 6, 3, 45),
        local(d, 6, 7, 30),
        (500.0, 0.0),
        (1000.0, 0.0),
        5,
        true,
    );
    let backlog: Vec<&Fix> = buffered.fixes_of("sw-1").rev().collect();
    for chunk in backlog.chunks(200) {
        t.send(
            &backlog_topic(ORG, "sw-1"),
            backlog_payload(chunk.iter().copied()),
        )
        .await;
    }
    t.settled(live.len() + buffered.len()).await;
    let (fraction, missed) = t
        .coverage("route-a", "day", d)
        .await
        .filter(|c| c.0 > 0.99)
        .expect("coverage of route-a, over 99 %");
    assert!(missed.is_empty(), "{missed:?} ({fraction})");
    let alerts = alerts(&t.db).await;
    assert!(alerts.is_empty(), "spurious alerts: {alerts:#?}");
}

/// A day after a shift instance ended (org clock), its coverage is final: the
/// engine lets go of it, and a device's backlog of that shift arriving later is
/// stored but does not replace the stored coverage with its own few metres.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coverage_is_final_a_day_after_the_shift() {
    let mut t = town().await;
    let d = town::test_date();
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
    let (before, _) = t
        .coverage("route-a", "day", d)
        .await
        .expect("coverage of route-a");
    assert!((before - 0.808).abs() < 0.01, "{before}");

    // sw-1's backlog: a pass over 900..1000 m during that shift, delivered now.
    let mut late = town::script();
    late.walk(
        "sw-1",
        local(d, 9, 0, 0),
        local(d, 9, 0, 45),
        (900.0, 0.0),
        (1000.0, 0.0),
        5,
        true,
    );
    for (topic, payload) in late.messages(ORG) {
        t.send(&topic, payload).await;
    }
    // Committed with whatever the engines derived from it, in one transaction.
    t.settled(s.len() + late.len()).await;
    let (after, missed) = t.coverage("route-a", "day", d).await.unwrap();
    assert_eq!(after, before, "final coverage changed: {missed:?}");
}
