//! `GET /api/v1/stream`: Server-Sent Events of position updates (coalesced:
//! at most one per device per second, the newest wins) and alert
//! transitions (the engine opening and clearing alerts, operators
//! acknowledging and resolving them), filterable by org and district.
//!
//! Each `position` carries the device's display state (`crate::display`),
//! and a `state` event says when it changes without a fix: an alert opened or
//! resolved, or the org's clock passing the device's `offline_after_s`
//! (looked at every [`RECHECK`]).
//!
//! Each client reads its own receiver of the live view's broadcast, which
//! never waits for anyone: a client that falls more than the broadcast's
//! buffer behind is told so and dropped, and ingest never slows down.
//!
//! A client sees only the orgs of its token (`?org=` naming another is 404),
//! and a token holds at most `stream_max_per_token` streams at once
//! ([`StreamSlots`]): one more is answered 429. The streams of a token that
//! is revoked end within a second, with a `revoked` event.

use std::collections::{HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use live::{AlertUpdate, LiveEvent, Position};
use serde::Deserialize;
use serde_json::json;
use store::effects::StoredTransition;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::AppState;
use crate::auth::tokens::Source;
use crate::auth::{Auth, Caller, Role};
use crate::display::{self, StateTracker};
use crate::error::ApiError;
use crate::extract::Q;
use crate::positions::DirectoryCache;

/// Positions of one device are sent at most this often.
const COALESCE: Duration = Duration::from_secs(1);

/// Display states that change with the clock alone (offline) are looked at
/// this often: one pass over the live view per stream, a millisecond or two
/// for 10,000 devices.
const RECHECK: Duration = Duration::from_secs(5);

/// Cancelled when the server shuts down: open streams end so it can.
#[derive(Clone)]
pub struct StreamShutdown(pub CancellationToken);

/// A client refused for holding too many streams retries after this.
const SLOT_RETRY_S: u64 = 5;

/// The streams each token holds open.
pub struct StreamSlots {
    max_per_token: usize,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

/// One open stream of a token; freed when the stream ends (the client went
/// away, fell behind, or the server shuts down).
pub struct Slot {
    open: Arc<Mutex<HashMap<String, usize>>>,
    token: String,
}

impl StreamSlots {
    pub fn new(max_per_token: usize) -> Self {
        Self {
            max_per_token,
            open: Arc::default(),
        }
    }

    /// A slot for `token`, unless it holds the most it may.
    pub fn take(&self, token: &str) -> Option<Slot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(token.to_owned()).or_insert(0);
        if *n >= self.max_per_token {
            return None;
        }
        *n += 1;
        Some(Slot {
            open: self.open.clone(),
            token: token.to_owned(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.token) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.token);
            }
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    pub org: Option<String>,
    pub district: Option<String>,
}

struct Client {
    rx: tokio::sync::broadcast::Receiver<LiveEvent>,
    q: StreamQuery,
    /// The orgs to send (`None`: every org): the token's, or the one asked for.
    orgs: Option<Vec<String>>,
    _slot: Slot,
    /// Devices in the district asked for (None: no district filter).
    in_district: Option<HashSet<i32>>,
    last_sent: HashMap<i32, Instant>,
    pending: HashMap<i32, Arc<Position>>,
    outbox: VecDeque<Event>,
    tick: tokio::time::Interval,
    /// Display states as this client knows them.
    states: StateTracker,
    /// When states were last looked at; `None`: an alert changed, look now.
    rechecked: Option<Instant>,
    live: Arc<::live::LiveView>,
    shutdown: CancellationToken,
    /// The tokens, and which one opened this stream: checked every tick, so
    /// a revocation ends the stream as it ends the token's requests.
    token: Option<(Arc<Auth>, Source)>,
    done: bool,
}

/// Server-Sent Events: `position` (a device's latest fix with its display
/// `state`, at most one per device per second), `state` (`device_id`, `org`,
/// `state`: a device's display state changed without a fix), `alert` (an alert opened or cleared by the engine, or
/// acknowledged or resolved by an operator: `alert_id`, `org`, `device_id`,
/// `kind`, `state`, `at`, `district`, `actor`, …), `dropped` (the client
/// fell too far behind and is disconnected) and `revoked` (the token was
/// revoked; the stream ends within a second of it). It never ends otherwise.
#[utoipa::path(get, path = "/api/v1/stream", tag = "live", operation_id = "stream",
    params(StreamQuery),
    responses(
        (status = 200, description = "An endless stream of events", body = String, content_type = "text/event-stream"),
        (status = 422, description = "A filter that does not validate", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "The token holds as many streams as it may (or another limit is spent); retry after `Retry-After` seconds", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
// One axum extractor per concern (slots, directory, tokens, shutdown) is
// what makes the arguments many; bundling them would only hide that.
#[allow(clippy::too_many_arguments)]
pub async fn stream(
    State(state): State<Arc<AppState>>,
    Extension(slots): Extension<Arc<StreamSlots>>,
    Extension(dir): Extension<Arc<DirectoryCache>>,
    auth: Option<Extension<Arc<Auth>>>,
    source: Option<Extension<Source>>,
    caller: Caller,
    shutdown: Option<Extension<StreamShutdown>>,
    Q(q): Q<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    caller.require(Role::Viewer)?;
    let orgs = caller.orgs_for(q.org.as_deref())?;
    let slot = slots.take(&caller.name).ok_or(ApiError::TooManyRequests {
        retry_after_s: SLOT_RETRY_S,
        why: "this token holds as many live streams as it may (api.stream_max_per_token); \
                  close one, or retry after Retry-After seconds",
    })?;
    let client = state.pool.get().await?;
    let (version, alert_rows) = tokio::try_join!(
        store::queries::live::directory_version(&**client),
        store::queries::live::unresolved_alert_kinds(&**client)
    )?;
    let directory = dir.get(&client, version).await?;
    drop(client);
    // The district's devices from the shared directory (the districts of
    // their assigned areas), not a query of every assignment per stream:
    // 50 streams reconnecting at once each read 100,000 rows before.
    let in_district: Option<HashSet<i32>> = q.district.as_ref().map(|d| {
        directory
            .values()
            .filter(|dev| dev.info.districts.contains(d))
            .map(|dev| dev.info.device_id)
            .collect()
    });
    let known = state.live.snapshot();
    let states = StateTracker::new(
        directory,
        display::open_alerts(alert_rows),
        known.positions.iter().map(|p| &**p),
        |p| {
            wanted(
                orgs.as_deref(),
                q.district.as_deref(),
                in_district.as_ref(),
                (&p.org, Some(p.device_id), None),
            )
        },
        chrono::Utc::now(),
    );
    drop(known);
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let client = Client {
        rx: state.live.subscribe(),
        q,
        orgs,
        _slot: slot,
        in_district,
        last_sent: HashMap::new(),
        pending: HashMap::new(),
        outbox: VecDeque::new(),
        tick,
        states,
        rechecked: Some(Instant::now()),
        live: state.live.clone(),
        shutdown: shutdown.map(|s| s.0.0).unwrap_or_default(),
        token: auth.zip(source).map(|(a, s)| (a.0, s.0)),
        done: false,
    };
    let events =
        futures_util::stream::unfold(
            client,
            |mut c| async move { c.next().await.map(|e| (Ok(e), c)) },
        );
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Whether a stream of `orgs` (`None`: every org) and `district` (with its
/// devices `in_district`) sends an event of `org`, about device `device_id`
/// or in `district`.
fn wanted(
    orgs: Option<&[String]>,
    district: Option<&str>,
    in_district: Option<&HashSet<i32>>,
    (org, device_id, event_district): (&str, Option<i32>, Option<&str>),
) -> bool {
    orgs.is_none_or(|orgs| orgs.iter().any(|o| o == org))
        && match district {
            None => true,
            Some(d) => {
                event_district == Some(d)
                    || device_id.is_some_and(|id| in_district.is_some_and(|s| s.contains(&id)))
            }
        }
}

impl Client {
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.outbox.pop_front() {
                return Some(e);
            }
            if self.done {
                return None;
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => self.done = true,
                r = self.rx.recv() => match r {
                    Ok(LiveEvent::Position(p)) => self.position(p),
                    Ok(LiveEvent::Alert(t)) => self.alert(&t),
                    Ok(LiveEvent::AlertUpdate(u)) => self.alert_update(&u),
                    Err(RecvError::Lagged(n)) => {
                        // Too slow: say so and hang up; the client reconnects and
                        // reads /positions to catch up.
                        self.outbox.push_back(
                            Event::default().event("dropped").data(json!({"missed": n}).to_string()),
                        );
                        self.done = true;
                    }
                    Err(RecvError::Closed) => self.done = true,
                },
                _ = self.tick.tick() => {
                    self.flush_due();
                    self.recheck_states();
                    self.check_token().await;
                }
            }
        }
    }

    fn wanted(&self, org: &str, device_id: Option<i32>, district: Option<&str>) -> bool {
        wanted(
            self.orgs.as_deref(),
            self.q.district.as_deref(),
            self.in_district.as_ref(),
            (org, device_id, district),
        )
    }

    fn position(&mut self, p: Arc<Position>) {
        if !self.wanted(&p.org, Some(p.device_id), None) {
            return;
        }
        let due = self
            .last_sent
            .get(&p.device_id)
            .is_none_or(|t| t.elapsed() >= COALESCE);
        if due {
            self.pending.remove(&p.device_id);
            self.send_position(&p);
        } else {
            self.pending.insert(p.device_id, p);
        }
    }

    /// Ends the stream when its token was revoked (through any instance: the
    /// cache is read again when older than half a second).
    async fn check_token(&mut self) {
        let Some((auth, source)) = &self.token else {
            return;
        };
        auth.tokens.refresh_if_stale().await;
        if !auth.tokens.is_live(*source) {
            self.outbox
                .push_back(Event::default().event("revoked").data("{}"));
            self.done = true;
        }
    }

    fn flush_due(&mut self) {
        let due: Vec<i32> = self
            .pending
            .keys()
            .filter(|id| {
                self.last_sent
                    .get(id)
                    .is_none_or(|t| t.elapsed() >= COALESCE)
            })
            .copied()
            .collect();
        for id in due {
            if let Some(p) = self.pending.remove(&id) {
                self.send_position(&p);
            }
        }
    }

    fn send_position(&mut self, p: &Position) {
        self.last_sent.insert(p.device_id, Instant::now());
        let state = self.states.position(p, chrono::Utc::now());
        let mut data = serde_json::to_value(p).unwrap_or_default();
        data["state"] = json!(state.as_str());
        let data = data.to_string();
        self.outbox
            .push_back(Event::default().event("position").data(data));
    }

    /// Sends a `state` event for each wanted device whose display state
    /// changed without a fix: right after an alert changed, else every
    /// [`RECHECK`].
    fn recheck_states(&mut self) {
        if self.rechecked.is_some_and(|t| t.elapsed() < RECHECK) {
            return;
        }
        self.rechecked = Some(Instant::now());
        // Shared with the other streams (no copy); the tracker looks only
        // at the devices this stream follows.
        let snapshot = self.live.snapshot();
        let positions = snapshot.positions.iter().map(|p| &**p);
        for (p, s) in self.states.changed(positions, chrono::Utc::now()) {
            if self.wanted(&p.org, Some(p.device_id), None) {
                let data = json!({"device_id": p.device_id, "org": p.org, "state": s.as_str()});
                self.outbox
                    .push_back(Event::default().event("state").data(data.to_string()));
            }
        }
    }

    fn alert(&mut self, t: &StoredTransition) {
        let c = &t.change;
        if let Some(id) = c.device_id {
            self.states.alert(id, c.kind, c.open);
            self.rechecked = None;
        }
        if !self.wanted(&c.org, c.device_id, c.district.as_deref()) {
            return;
        }
        let data = json!({
            "alert_id": t.alert_id, "org": c.org, "device_id": c.device_id, "kind": c.kind,
            "state": if c.open { "open" } else { "resolved" }, "at": c.at,
            "lat": c.lat, "lon": c.lon, "area_id": c.area_id, "district": c.district,
            "grid": c.grid, "chief": c.chief, "shift_id": c.shift_id, "shift_date": c.shift_date,
            "message": c.message, "actor": "engine", "recurrence": c.recurrence,
            "reopen_count": t.reopen_count, "covered_fraction": c.covered_fraction,
            "coverage_url": store::queries::alerts::coverage_url(
                c.kind, &c.org, c.area_id.as_deref(), c.shift_id.as_deref(), c.shift_date),
        });
        self.outbox
            .push_back(Event::default().event("alert").data(data.to_string()));
    }

    /// An operator's ack or resolve: an `alert` event like the engine's, with
    /// the new state, who did it and their note.
    fn alert_update(&mut self, u: &AlertUpdate) {
        if let Some(id) = u.device_id
            && u.state == "resolved"
        {
            self.states.alert(id, &u.kind, false);
            self.rechecked = None;
        }
        if !self.wanted(&u.org, u.device_id, u.district.as_deref()) {
            return;
        }
        let data = json!({
            "alert_id": u.alert_id, "org": u.org, "device_id": u.device_id, "kind": u.kind,
            "state": u.state, "at": u.at, "district": u.district, "actor": u.actor,
            "note": u.note,
        });
        self.outbox
            .push_back(Event::default().event("alert").data(data.to_string()));
    }
}
