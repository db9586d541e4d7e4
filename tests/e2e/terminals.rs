//! JT/T 808 terminals end to end: a real `sweepwatch serve` with its listener
//! on, a real PostgreSQL, terminals built on the codec's encoders. The promise
//! under test: a position is answered (0x8001) only once it is committed, and
//! every position is stored exactly once whatever the terminal resends.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use jt808::{Message, ResponseResult};

use crate::helpers::broker::Broker;
use crate::helpers::db::{SERVER, TestDb};
use crate::helpers::proxy::Proxy;
use crate::helpers::service::Service;
use crate::helpers::terminal::{Terminal, report};
use crate::helpers::{eventually, free_port, unique};

struct Setup {
    _broker: Broker,
    db: TestDb,
    svc: Service,
    addr: String,
    _proxy: Option<Proxy>,
    _dir: Option<std::path::PathBuf>,
}

/// A service with the listener on, `toml` as its configuration file, and the
/// database reached through `proxy` when given.
async fn start(toml: &str, proxy: Option<Proxy>) -> Setup {
    let broker = Broker::start();
    let db = TestDb::create().await;
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let dir = std::env::temp_dir().join(unique("jt808cfg-"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sweepwatch.toml");
    std::fs::write(&file, toml).unwrap();
    let db_url = match &proxy {
        Some(p) => db
            .url
            .replace(SERVER, &format!("postgres://postgres@127.0.0.1:{}", p.port)),
        None => db.url.clone(),
    };
    let svc = Service::start(
        &db_url,
        &broker.url(),
        &unique("jt808-"),
        &[
            ("SWEEPWATCH_JT808_LISTEN", &addr),
            ("SWEEPWATCH_CONFIG", file.to_str().unwrap()),
        ],
    )
    .await;
    Setup {
        _broker: broker,
        db,
        svc,
        addr,
        _proxy: proxy,
        _dir: Some(dir),
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if let Some(d) = self._dir.take() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Whole seconds (JT/T 808 times have no fraction), some minutes ago.
fn base() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp() - 3600, 0).unwrap()
}

async fn stored(db: &TestDb, phone: &str) -> Vec<DateTime<Utc>> {
    db.client()
        .await
        .query(
            "SELECT f.ts FROM fixes f JOIN devices d ON d.id = f.device_id
             WHERE d.jt808_phone = $1 ORDER BY f.ts",
            &[&phone],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn rejects(db: &TestDb, reason: &str) -> Vec<(String, Vec<u8>, String)> {
    db.client()
        .await
        .query(
            "SELECT topic, payload, detail FROM rejected_messages WHERE reason = $1 ORDER BY id",
            &[&reason],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

const LONG: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jt808_a_terminal_killed_mid_batch_resends_and_every_position_is_stored_once() {
    let s = start("[jt808]\norg = \"humen\"\nkind = \"sweeper\"\n[jt808.work]\nsweeper = { source = \"status\", bit = 0 }\n", None).await;
    let phone = "13800138000";
    let t0 = base();
    let mut t = Terminal::connect(&s.addr, phone).await;

    // Before authenticating, a report is refused (the terminal keeps it).
    assert_eq!(t.report(report(t0, 0)).await, ResponseResult::Failure);
    assert!(stored(&s.db, phone).await.is_empty());

    let code = t.register().await;
    assert!(code.len() >= 16, "a code hard to guess: {code:?}");
    assert_eq!(t.authenticate("wrong").await, ResponseResult::Failure);
    assert_eq!(t.authenticate(&code).await, ResponseResult::Ok);
    let (org, name, kind): (String, String, String) = {
        let r =
            s.db.client()
                .await
                .query_one(
                    "SELECT org, name, kind FROM devices WHERE jt808_phone = $1",
                    &[&phone],
                )
                .await
                .unwrap();
        (r.get(0), r.get(1), r.get(2))
    };
    assert_eq!(
        (org.as_str(), name.as_str(), kind.as_str()),
        ("humen", "jt808-13800138000", "sweeper")
    );

    // Live reports: each answer comes only once the fix is in the database.
    for i in 0..10u32 {
        let mut r = report(t0 + TimeDelta::seconds(i64::from(i)), i);
        r.status |= jt808::STATUS_ACC;
        assert_eq!(t.report(r).await, ResponseResult::Ok);
        assert_eq!(
            stored(&s.db, phone).await.len(),
            i as usize + 1,
            "answered before its commit"
        );
    }
    let work: bool =
        s.db.client()
            .await
            .query_one("SELECT bool_and(work) FROM fixes", &[])
            .await
            .unwrap()
            .get(0);
    assert!(work, "ACC is the configured work bit of sweepers");

    // A blind-area batch (split into packages), the socket dropped at once.
    let blind: Vec<_> = (0..300u32)
        .map(|i| report(t0 + TimeDelta::seconds(100 + i64::from(i)), i))
        .collect();
    t.send(&Terminal::batch(blind.clone())).await;
    drop(t);

    // Reconnect; a terminal may skip registration and authenticate with its code.
    let mut t = Terminal::connect(&s.addr, phone).await;
    assert_eq!(t.authenticate(&code).await, ResponseResult::Ok);
    let serial = t.send(&Terminal::batch(blind)).await;
    let a = t.answer(serial, LONG).await.expect("batch answered");
    assert_eq!((a.msg_id, a.result), (0x0704, ResponseResult::Ok));
    assert_eq!(stored(&s.db, phone).await.len(), 310);
    // A live report resent (its answer was lost) is stored once.
    assert_eq!(t.report(report(t0, 0)).await, ResponseResult::Ok);
    // Registering again gives the same code.
    assert_eq!(t.register().await, code);

    let want: BTreeSet<DateTime<Utc>> = (0..10)
        .chain(100..400)
        .map(|i| t0 + TimeDelta::seconds(i))
        .collect();
    let got = stored(&s.db, phone).await;
    assert_eq!(got.len(), want.len(), "each position exactly once");
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), want);
    assert_eq!(
        s.svc
            .metric("sweepwatch_jt808_answers_total{result=\"failure\"}")
            .await,
        2.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jt808_no_answer_while_the_database_is_down_and_answers_in_order_after() {
    let proxy = Proxy::start("127.0.0.1:5432").await;
    // Two reports in flight per connection: the third waits unread. Without the
    // ingest lease (a single instance that never steps down) the connection
    // lives through the outage; with it, see the next test.
    let s = start(
        "[ha]\nenabled = false\n[jt808]\nmax_in_flight = 2\n",
        Some(proxy),
    )
    .await;
    let proxy = s._proxy.as_ref().unwrap();
    let phone = "13900000001";
    let t0 = base();
    let mut t = Terminal::connect(&s.addr, phone).await;
    let code = t.register().await;
    assert_eq!(t.authenticate(&code).await, ResponseResult::Ok);

    proxy.cut();
    let mut serials = Vec::new();
    for i in 0..5u32 {
        serials.push(
            t.send(&Message::Location(report(
                t0 + TimeDelta::seconds(i64::from(i)),
                i,
            )))
            .await,
        );
    }
    // Nothing is answered while nothing can be committed.
    assert!(
        t.recv(Duration::from_secs(3)).await.is_none(),
        "a report was answered while the database was down"
    );
    assert!(stored(&s.db, phone).await.is_empty());
    // The connection stopped reading at its bound: two held, three unread.
    assert_eq!(s.svc.metric("sweepwatch_pipeline_queue_depth").await, 2.0);
    proxy.restore();
    for serial in serials {
        let a = t.answer(serial, Duration::from_secs(60)).await;
        assert_eq!(
            a.map(|a| a.result),
            Some(ResponseResult::Ok),
            "report {serial} answered, in order, after the restore"
        );
    }
    assert_eq!(stored(&s.db, phone).await.len(), 5);
    // The heartbeat is answered too (the connection survived).
    let hb = t.send(&Message::Heartbeat).await;
    assert!(t.answer(hb, LONG).await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jt808_garbage_and_bad_frames_cost_only_themselves() {
    let s = start(
        "[jt808]\nmax_bad_frames = 6\nmax_message_bytes = 2048\n",
        None,
    )
    .await;
    let phone = "13900000002";
    let t0 = base();
    let mut t = Terminal::connect(&s.addr, phone).await;
    let code = t.register().await;
    assert_eq!(t.authenticate(&code).await, ResponseResult::Ok);

    // A valid frame with its check code broken, a bad escape, an impossible length.
    let mut wire = jt808::encode(
        &jt808::Header::new(0x0002, jt808::Version::V2013, t.phone.clone(), 900),
        &Message::Heartbeat,
    )
    .unwrap();
    let n = wire.len();
    wire[n - 2] ^= 0x55;
    t.send_raw(&wire).await;
    t.send_raw(&[0x7E, 0x00, 0x02, 0x7D, 0x03, 0x7E]).await;
    t.send_raw(&[0x7E, 0x02, 0x00, 0x03, 0xFF, 0x01, 0x7E])
        .await;
    // A run longer than any frame (the frame size bound), then a valid report.
    let mut long = vec![0x7E];
    long.extend(std::iter::repeat_n(0x11, jt808::MAX_FRAME_LEN + 10));
    t.send_raw(&long).await;
    assert_eq!(t.report(report(t0, 0)).await, ResponseResult::Ok);
    // An unknown message is answered "not supported" and kept.
    let unknown = t
        .send(&Message::Unknown {
            msg_id: 0x0900,
            body: vec![1, 2, 3],
        })
        .await;
    assert_eq!(
        t.answer(unknown, LONG).await.map(|a| a.result),
        Some(ResponseResult::NotSupported)
    );
    // A split message over max_message_bytes is refused as a whole.
    let big: Vec<_> = (0..100u32)
        .map(|i| report(t0 + TimeDelta::seconds(10 + i64::from(i)), i))
        .collect();
    t.send(&Terminal::batch(big)).await;
    eventually(LONG, "the bad frames kept", || async {
        (rejects(&s.db, "jt808_bad_frame").await.len() >= 4).then_some(())
    })
    .await;
    let bad = rejects(&s.db, "jt808_bad_frame").await;
    assert_eq!(bad[0].1, wire, "the raw bytes are kept, flags included");
    assert!(bad[0].2.contains("check code"), "{}", bad[0].2);
    assert!(bad[1].2.contains("escape"), "{}", bad[1].2);
    assert!(bad.iter().any(|b| b.2.contains("too long")), "{bad:?}");
    eventually(
        LONG,
        "the unsupported message and the oversized batch kept",
        || async {
            let u = rejects(&s.db, "jt808_unsupported").await;
            let m = rejects(&s.db, "jt808_bad_message").await;
            (u.len() == 1 && !m.is_empty()).then_some(())
        },
    )
    .await;
    assert!(
        s.svc
            .metric("sweepwatch_jt808_bad_frames_total{reason=\"bad_check_code\"}")
            .await
            >= 1.0
    );

    // A connection that sends only garbage is closed past the limit...
    let mut g = Terminal::connect(&s.addr, "1").await;
    for _ in 0..10 {
        g.send_raw(&[0x7E, 0xDE, 0xAD, 0xBE, 0xEF, 0x7E]).await;
    }
    assert!(g.closed_within(LONG).await, "garbage connection kept open");
    // ... and the listener, and the good terminal, go on.
    assert_eq!(
        t.report(report(t0 + TimeDelta::seconds(1), 1)).await,
        ResponseResult::Ok
    );
    assert_eq!(stored(&s.db, phone).await.len(), 2);
    assert_eq!(
        s.svc
            .metric("sweepwatch_jt808_disconnects_total{reason=\"garbage\"}")
            .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jt808_a_connection_past_the_limit_is_closed_and_the_others_go_on() {
    let s = start("[jt808]\nmax_connections = 3\n", None).await;
    let mut held = Vec::new();
    for i in 0..3 {
        let mut t = Terminal::connect(&s.addr, &format!("1500000000{i}")).await;
        let hb = t.send(&Message::Heartbeat).await;
        assert!(t.answer(hb, LONG).await.is_some());
        held.push(t);
    }
    let mut fourth = Terminal::connect(&s.addr, "15000000009").await;
    assert!(
        fourth.closed_within(LONG).await,
        "a fourth connection was kept"
    );
    assert_eq!(
        s.svc
            .metric("sweepwatch_jt808_connections_refused_total")
            .await,
        1.0
    );
    for t in &mut held {
        let hb = t.send(&Message::Heartbeat).await;
        assert!(
            t.answer(hb, LONG).await.is_some(),
            "a held connection broke"
        );
    }
    // One leaves: there is room again.
    drop(held.pop());
    eventually(LONG, "a connection accepted again", || {
        let addr = s.addr.clone();
        async move {
            let mut t = Terminal::connect(&addr, "15000000008").await;
            let hb = t.send(&Message::Heartbeat).await;
            t.answer(hb, Duration::from_secs(2)).await.map(|_| ())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jt808_a_silent_connection_is_closed_after_the_idle_timeout() {
    let s = start("[jt808]\nidle_timeout_secs = 1\n", None).await;
    let mut silent = Terminal::connect(&s.addr, "16000000001").await;
    let mut talking = Terminal::connect(&s.addr, "16000000002").await;
    let started = std::time::Instant::now();
    // The talking one sends a heartbeat every 300 ms for 2.5 s and stays.
    for _ in 0..8 {
        let hb = talking.send(&Message::Heartbeat).await;
        assert!(
            talking.answer(hb, LONG).await.is_some(),
            "a talking terminal was dropped"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(started.elapsed() > Duration::from_secs(2));
    assert!(
        silent.closed_within(LONG).await,
        "an idle connection was kept"
    );
    assert_eq!(
        s.svc
            .metric("sweepwatch_jt808_disconnects_total{reason=\"idle\"}")
            .await,
        1.0
    );
}

/// 5,000 terminals connected at once (issue 16), each registering,
/// authenticating and reporting, through a pipeline that holds at most 64
/// messages: reading pauses and resumes, and every position is stored once
/// and answered. The test process needs a socket per terminal: it raises its
/// soft limit on open files to the hard one, as `sweepwatch serve` does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jt808_five_thousand_terminals_at_once() {
    let started = std::time::Instant::now();
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap();
    let terminals = 5000u32;
    assert!(
        limit > u64::from(terminals) + 256,
        "the hard limit on open files ({limit}) is too low for {terminals} terminals"
    );
    let s = start("[pipeline]\nmax_held_messages = 64\n", None).await;
    let reports = 5u32;
    let t0 = base();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..terminals {
        let addr = s.addr.clone();
        tasks.spawn(async move {
            let mut t = Terminal::connect(&addr, &format!("188000{n:05}")).await;
            let code = register_patiently(&mut t).await;
            authenticate_patiently(&mut t, &code).await;
            for i in 0..reports {
                let r = report(t0 + TimeDelta::seconds(i64::from(i)), n);
                match ask_until_answered(&mut t, &Message::Location(r)).await {
                    Message::PlatformResponse(a) => assert_eq!(a.result, ResponseResult::Ok),
                    other => panic!("unexpected {other:?}"),
                }
            }
            t
        });
    }
    let mut open = Vec::new();
    while let Some(t) = tasks.join_next().await {
        open.push(t.unwrap());
    }
    assert_eq!(
        s.db.count("SELECT count(*) FROM fixes").await,
        i64::from(terminals * reports)
    );
    assert_eq!(
        s.db.count("SELECT count(*) FROM devices WHERE jt808_phone IS NOT NULL")
            .await,
        i64::from(terminals)
    );
    assert!(s.svc.metric("sweepwatch_mqtt_read_pauses_total").await >= 1.0);
    // All of them are connected at once, none refused.
    assert_eq!(open.len(), terminals as usize);
    assert_eq!(
        s.svc.metric("sweepwatch_jt808_connections").await,
        f64::from(terminals)
    );
    assert_eq!(
        s.svc
            .metric("sweepwatch_jt808_connections_refused_total")
            .await,
        0.0
    );
    eprintln!(
        "{terminals} terminals, {} positions: {:.1} s",
        terminals * reports,
        started.elapsed().as_secs_f64()
    );
}

/// A terminal's wait for an answer before it asks again, as real terminals
/// do after their reply timeout: a registration storm queues for the
/// database pool and for the pipeline (frames wait while it is paused), and
/// a look-up that waits past the listener's 10 s limit is dropped.
const RETRY_AFTER: Duration = Duration::from_secs(12);

/// Sends `m` until it is answered; a late answer to an earlier try (answers
/// come in order) is skipped, as a terminal skips answers to serials it no
/// longer waits for.
async fn ask_until_answered(t: &mut Terminal, m: &Message) -> Message {
    for _ in 0..5 {
        let serial = t.send(m).await;
        let deadline = tokio::time::Instant::now() + RETRY_AFTER;
        while let Some((_, answer)) = t
            .recv(deadline.saturating_duration_since(tokio::time::Instant::now()))
            .await
        {
            let answers = match &answer {
                Message::RegistrationResponse(r) => r.serial,
                Message::PlatformResponse(r) => r.serial,
                other => panic!("unexpected {other:?}"),
            };
            if answers == serial {
                return answer;
            }
        }
    }
    panic!("never answered: {m:?}")
}

async fn register_patiently(t: &mut Terminal) -> String {
    let m = Message::Registration(jt808::Registration {
        province: 44,
        city: 1900,
        manufacturer: "SWEEP".into(),
        model: "T1".into(),
        terminal_id: "T000001".into(),
        plate_color: 1,
        plate: "粤S12345".into(),
    });
    match ask_until_answered(t, &m).await {
        Message::RegistrationResponse(r) => r.auth_code,
        other => panic!("unexpected {other:?}"),
    }
}

async fn authenticate_patiently(t: &mut Terminal, code: &str) {
    let m = Message::Authentication(jt808::Authentication {
        code: code.into(),
        identity: None,
    });
    match ask_until_answered(t, &m).await {
        Message::PlatformResponse(r) => assert_eq!(r.result, ResponseResult::Ok),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jt808_a_step_down_closes_the_terminals_and_their_resent_reports_are_stored_once() {
    // With the ingest lease (the default), losing the database is losing the
    // lease: the instance steps down and closes the terminals' port, since a
    // standby may take over. Unanswered reports are resent after reconnecting.
    let proxy = Proxy::start("127.0.0.1:5432").await;
    let s = start("[jt808]\nmax_in_flight = 2\n", Some(proxy)).await;
    let proxy = s._proxy.as_ref().unwrap();
    let phone = "13900000002";
    let t0 = base();
    let mut t = Terminal::connect(&s.addr, phone).await;
    let code = t.register().await;
    assert_eq!(t.authenticate(&code).await, ResponseResult::Ok);
    assert_eq!(t.report(report(t0, 0)).await, ResponseResult::Ok);

    proxy.cut();
    let reports: Vec<_> = (1..4u32)
        .map(|i| report(t0 + TimeDelta::seconds(i64::from(i)), i))
        .collect();
    for r in &reports {
        t.send(&Message::Location(r.clone())).await;
    }
    assert!(
        t.closed_within(Duration::from_secs(15)).await,
        "the connection was not closed when the instance stepped down"
    );
    proxy.restore();
    // Active again (the lease taken back), the terminal reconnects and resends.
    eventually(Duration::from_secs(30), "the port open again", || async {
        tokio::net::TcpStream::connect(&s.addr)
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    let mut t = Terminal::connect(&s.addr, phone).await;
    assert_eq!(t.authenticate(&code).await, ResponseResult::Ok);
    assert_eq!(t.report(report(t0, 0)).await, ResponseResult::Ok);
    for r in reports {
        assert_eq!(t.report(r).await, ResponseResult::Ok);
    }
    let want: BTreeSet<DateTime<Utc>> = (0..4).map(|i| t0 + TimeDelta::seconds(i)).collect();
    let got = stored(&s.db, phone).await;
    assert_eq!(got.len(), want.len(), "each position exactly once");
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), want);
    assert_eq!(
        s.svc.metric("sweepwatch_ingest_lease_lost_total").await,
        1.0
    );
}

/// The simulated town with a share of its vehicles as JT/T 808 terminals
/// (`sweepwatch simulate run --jt808-share`): the uniforms publish on MQTT,
/// the terminals register, authenticate, report and wait for each answer,
/// drive through a tunnel (a blind-area batch when they come out) and all
/// drop and reconnect at once (a storm), resending what was unanswered.
/// Every position the plan gave a terminal is stored exactly once, on the
/// device mapped to its phone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jt808_the_simulated_town_with_terminals_stores_every_position_once() {
    use simulator::scenario::{Behaviours, Clock, DeviceSelection, MessageKind, ScenarioRun};
    use simulator::terminal::{TerminalOptions, Tunnel, fix_report, location_reports};
    use std::collections::{BTreeMap, BTreeSet};

    let s = start("[jt808]\norg = \"humen\"\n", None).await;
    let file = geofence::scenario::ScenarioFile::from_json(sweepwatch::BUNDLED_SCENARIO).unwrap();
    let mut run = ScenarioRun::new(simulator::BrokerOptions {
        url: s._broker.url(),
        username: None,
        password: None,
        client_id_prefix: unique("simterm-"),
    });
    let hour = chrono::Duration::hours(1);
    let begin =
        simulator::scenario::latest_shift_start(&file, "day-sweep", Utc::now() - hour).unwrap();
    run.clock = Clock::Replay {
        start: begin,
        speed: 120.0,
    };
    run.duration = Duration::from_secs(20 * 60);
    run.devices = DeviceSelection::PerKind(4);
    run.behaviours = Behaviours::none();
    for b in ["noise", "backlog", "duplicates", "sos", "dropout"] {
        assert!(run.behaviours.set(b, true), "{b}");
    }
    run.terminals = Some(TerminalOptions {
        addr: s.addr.clone(),
        share: 0.5,
        tunnel: Some(Tunnel {
            after: Duration::from_secs(5 * 60),
            length: Duration::from_secs(3 * 60),
        }),
        storm_at: Some(Duration::from_secs(12 * 60)),
    });

    // The plan, made again independently: what each terminal must store.
    let plan = simulator::scenario::plan(&file, &run).unwrap();
    let ids: Vec<String> = plan
        .messages
        .iter()
        .map(|m| m.device.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let phones = simulator::terminal::terminal_phones(&file, &ids, 0.5);
    assert_eq!(
        phones.len(),
        6,
        "half of 4 sweepers, 4 washers and 4 collectors"
    );
    let mut want: BTreeMap<String, BTreeSet<DateTime<Utc>>> = BTreeMap::new();
    for m in plan
        .messages
        .iter()
        .filter(|m| phones.contains_key(&m.device))
    {
        let reports = match m.kind {
            MessageKind::Fix | MessageKind::Duplicate | MessageKind::Sos => {
                fix_report(&m.payload).into_iter().collect()
            }
            MessageKind::Backlog => location_reports(&m.payload),
            _ => Vec::new(),
        };
        for r in reports {
            want.entry(m.device.clone())
                .or_default()
                .insert(r.time.to_utc().unwrap());
        }
    }
    // The operator maps each terminal's phone to its device.
    let client = s.db.client().await;
    for (device, phone) in &phones {
        client
            .execute(
                "INSERT INTO devices (org, name, kind, jt808_phone) VALUES ('humen', $1, 'unknown', $2)",
                &[device, &phone.as_str()],
            )
            .await
            .unwrap();
    }

    let report =
        simulator::scenario::run_scenario(&file, &run, tokio_util::sync::CancellationToken::new())
            .await
            .unwrap();
    let t = report.terminals.expect("terminals ran");
    eprintln!("{t:?}");
    assert_eq!(t.terminals, 6);
    assert!(
        t.batches >= 6,
        "every terminal came out of the tunnel: {t:?}"
    );
    assert!(
        t.reconnects >= 6,
        "every terminal reconnected in the storm: {t:?}"
    );

    // Answered means committed: everything is stored by now.
    let mut got: BTreeMap<String, BTreeSet<DateTime<Utc>>> = BTreeMap::new();
    let rows = client
        .query(
            "SELECT d.name, f.ts FROM fixes f JOIN devices d ON d.id = f.device_id WHERE d.jt808_phone IS NOT NULL",
            &[],
        )
        .await
        .unwrap();
    for r in &rows {
        got.entry(r.get(0)).or_default().insert(r.get(1));
    }
    assert_eq!(
        rows.len(),
        want.values().map(BTreeSet::len).sum::<usize>(),
        "each position once"
    );
    assert_eq!(got, want);
    assert_eq!(
        s.db.count("SELECT count(*) FROM rejected_messages").await,
        0
    );
    // The uniforms came through the broker.
    assert!(s.db.count("SELECT count(*) FROM fixes f JOIN devices d ON d.id = f.device_id WHERE d.jt808_phone IS NULL").await > 0);
}
