//! Ready answers of `GET /positions` without filters, one per org set,
//! shared by every request for it.
//!
//! A command centre has many screens, each asking for every device every few
//! seconds; for 100,000 devices an answer is 38 MB and tens of milliseconds
//! of CPU to build, more while the machine ingests 10,000 fixes a second. So
//! the unfiltered answer of each org set asked for recently is kept built:
//! a request takes the last one while it is less than [`MAX_AGE`] old (the
//! live view as it was when that answer was built), else builds one (one
//! build at a time per org set: requests arriving meanwhile wait for it and
//! take it). Only answers that took [`WORTH_SHARING`] or more to build are
//! reused: a town's answer (a millisecond) is always built for the request,
//! so there a new fix shows at once. The refresher ([`super::spawn_refresher`]) rebuilds every
//! answer asked for within [`KEEP_WARM`] once it is [`REFRESH_AFTER`] old, so
//! a screen polling every few seconds finds one ready; one build a second
//! however many screens ask. Answers not asked for within [`DROP_AFTER`]
//! are dropped, and at most [`MAX_SLOTS`] org sets are kept (beyond that a
//! request builds its own answer, as a filtered request always does).

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

/// The oldest answer a request is given.
pub const MAX_AGE: Duration = Duration::from_secs(2);
/// The refresher rebuilds an answer once it is this old.
pub const REFRESH_AFTER: Duration = Duration::from_secs(1);
/// How long after it was last asked for an answer is kept fresh.
pub const KEEP_WARM: Duration = Duration::from_secs(15);
/// How long after it was last asked for an answer is dropped.
pub const DROP_AFTER: Duration = Duration::from_secs(60);
/// Org sets whose answers are kept.
pub const MAX_SLOTS: usize = 64;
/// Answers built faster than this are not reused (nor refreshed).
pub const WORTH_SHARING: Duration = Duration::from_millis(20);

/// Ready answers by key (the caller's org set).
pub struct Answers<K> {
    slots: Mutex<HashMap<K, Arc<Slot>>>,
}

struct Slot {
    /// The last answer built, when its build started and how long it took.
    ready: Mutex<Option<(Bytes, Instant, Duration)>>,
    asked: Mutex<Instant>,
    /// Held while an answer is built.
    building: tokio::sync::Mutex<()>,
}

impl Slot {
    fn younger_than(&self, age: Duration) -> Option<Bytes> {
        let ready = self.ready.lock().unwrap_or_else(|e| e.into_inner());
        ready
            .as_ref()
            .filter(|(_, built, took)| *took >= WORTH_SHARING && built.elapsed() < age)
            .map(|(body, _, _)| body.clone())
    }

    fn worth_sharing(&self) -> bool {
        let ready = self.ready.lock().unwrap_or_else(|e| e.into_inner());
        ready
            .as_ref()
            .is_some_and(|(_, _, took)| *took >= WORTH_SHARING)
    }

    fn asked(&self) -> Instant {
        *self.asked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Builds an answer (the caller holds `building`) and keeps it.
    async fn build<E, Fut>(&self, build: impl FnOnce() -> Fut) -> Result<Bytes, E>
    where
        Fut: Future<Output = Result<Vec<u8>, E>>,
    {
        let started = Instant::now();
        let body = Bytes::from(build().await?);
        let took = started.elapsed();
        *self.ready.lock().unwrap_or_else(|e| e.into_inner()) = Some((body.clone(), started, took));
        Ok(body)
    }
}

impl<K> Default for Answers<K> {
    fn default() -> Self {
        Self {
            slots: Mutex::default(),
        }
    }
}

impl<K: Hash + Eq + Clone> Answers<K> {
    /// The answer for `key`: the last one built if younger than
    /// [`MAX_AGE`], else one `build` makes now (shared with the requests
    /// that arrive while it is made).
    pub async fn get<E, Fut>(&self, key: K, build: impl FnOnce() -> Fut) -> Result<Bytes, E>
    where
        Fut: Future<Output = Result<Vec<u8>, E>>,
    {
        let Some(slot) = self.slot(key) else {
            return Ok(Bytes::from(build().await?));
        };
        *slot.asked.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        if let Some(body) = slot.younger_than(MAX_AGE) {
            return Ok(body);
        }
        let _building = slot.building.lock().await;
        // Built by another request while this one waited?
        if let Some(body) = slot.younger_than(MAX_AGE) {
            return Ok(body);
        }
        slot.build(build).await
    }

    /// The keys whose answers the refresher should rebuild now (worth
    /// sharing, asked for within [`KEEP_WARM`], [`REFRESH_AFTER`] old or
    /// more); drops the answers not asked for within [`DROP_AFTER`].
    pub fn due(&self) -> Vec<K> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.retain(|_, s| s.asked().elapsed() < DROP_AFTER);
        slots
            .iter()
            .filter(|(_, s)| {
                s.worth_sharing()
                    && s.asked().elapsed() < KEEP_WARM
                    && s.younger_than(REFRESH_AFTER).is_none()
            })
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Rebuilds the answer for `key`, unless a request is building it.
    pub async fn refresh<E, Fut>(&self, key: &K, build: impl FnOnce() -> Fut) -> Result<(), E>
    where
        Fut: Future<Output = Result<Vec<u8>, E>>,
    {
        let slot = {
            let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            match slots.get(key) {
                Some(s) => s.clone(),
                None => return Ok(()),
            }
        };
        let Ok(_building) = slot.building.try_lock() else {
            return Ok(());
        };
        slot.build(build).await.map(|_| ())
    }

    /// The slot of `key`, made if there is room.
    fn slot(&self, key: K) -> Option<Arc<Slot>> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = slots.get(&key) {
            return Some(s.clone());
        }
        if slots.len() >= MAX_SLOTS {
            return None;
        }
        let s = Arc::new(Slot {
            ready: Mutex::new(None),
            asked: Mutex::new(Instant::now()),
            building: tokio::sync::Mutex::new(()),
        });
        slots.insert(key, s.clone());
        Some(s)
    }

    /// How many org sets have a slot (for the tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A build that counts itself and answers its number.
    async fn counting(n: &AtomicUsize) -> Result<Vec<u8>, Infallible> {
        let i = n.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(i.to_string().into_bytes())
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_is_shared_until_it_is_too_old_then_built_again() {
        let a = Answers::<&str>::default();
        let builds = AtomicUsize::new(0);
        assert_eq!(a.get("o", || counting(&builds)).await.unwrap(), "1");
        tokio::time::sleep(MAX_AGE - Duration::from_millis(200)).await;
        assert_eq!(a.get("o", || counting(&builds)).await.unwrap(), "1");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            a.get("o", || counting(&builds)).await.unwrap(),
            "2",
            "older than MAX_AGE (counted from the start of its build): built again"
        );
        // Another org set has its own answer.
        assert_eq!(a.get("p", || counting(&builds)).await.unwrap(), "3");
    }

    #[tokio::test(start_paused = true)]
    async fn a_cheap_answer_is_built_for_every_request_and_not_refreshed() {
        let a = Answers::<&str>::default();
        let builds = AtomicUsize::new(0);
        let cheap = || async {
            let i = builds.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(WORTH_SHARING - Duration::from_millis(1)).await;
            Ok::<_, Infallible>(i.to_string().into_bytes())
        };
        assert_eq!(a.get("o", cheap).await.unwrap(), "1");
        assert_eq!(a.get("o", cheap).await.unwrap(), "2");
        tokio::time::sleep(REFRESH_AFTER).await;
        assert!(a.due().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn requests_that_arrive_during_a_build_wait_for_it() {
        let a = Arc::new(Answers::<&str>::default());
        let builds = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (a, builds) = (a.clone(), builds.clone());
                tokio::spawn(async move { a.get("o", || counting(&builds)).await.unwrap() })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), "1");
        }
        assert_eq!(
            builds.load(Ordering::SeqCst),
            1,
            "twenty requests, one build"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_refresher_keeps_asked_answers_fresh_and_drops_forgotten_ones() {
        let a = Answers::<&str>::default();
        let builds = AtomicUsize::new(0);
        a.get("o", || counting(&builds)).await.unwrap();
        assert!(a.due().is_empty(), "just built");
        tokio::time::sleep(REFRESH_AFTER).await;
        assert_eq!(a.due(), ["o"]);
        a.refresh(&"o", || counting(&builds)).await.unwrap();
        assert!(a.due().is_empty());
        // A request after the refresh gets the refreshed answer, no build.
        assert_eq!(a.get("o", || counting(&builds)).await.unwrap(), "2");
        // Not asked for KEEP_WARM: no longer refreshed; for DROP_AFTER: gone.
        tokio::time::sleep(KEEP_WARM).await;
        assert!(a.due().is_empty());
        assert_eq!(a.len(), 1);
        tokio::time::sleep(DROP_AFTER - KEEP_WARM).await;
        assert!(a.due().is_empty());
        assert_eq!(a.len(), 0);
        // A key without a slot is not refreshed (nor made).
        a.refresh(&"x", || counting(&builds)).await.unwrap();
        assert_eq!(builds.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn beyond_max_slots_a_request_builds_its_own_answer() {
        let a = Answers::<usize>::default();
        let builds = AtomicUsize::new(0);
        for k in 0..MAX_SLOTS {
            a.get(k, || counting(&builds)).await.unwrap();
        }
        assert_eq!(a.len(), MAX_SLOTS);
        let before = builds.load(Ordering::SeqCst);
        for _ in 0..3 {
            a.get(MAX_SLOTS, || counting(&builds)).await.unwrap();
        }
        assert_eq!(a.len(), MAX_SLOTS, "no slot beyond the limit");
        assert_eq!(
            builds.load(Ordering::SeqCst) - before,
            3,
            "each request built its own"
        );
        // The kept ones are still shared (the last one built is fresh).
        a.get(MAX_SLOTS - 1, || counting(&builds)).await.unwrap();
        assert_eq!(builds.load(Ordering::SeqCst) - before, 3);
    }
}
