//! The tokens the API knows: the configuration file's (fixed for the life of
//! the process) and the database's (created and revoked through the API),
//! and when each was last used.
//!
//! Database tokens are cached in memory. The cache is read again when a
//! request finds it older than [`REFRESH`], and at once after this instance
//! changes a token, so a revocation (through any instance) is effective
//! within a second without a database round trip per request. "Last used"
//! is kept in memory per request and written to the database every
//! `token_last_used_flush_s` (one statement for every token used), by a
//! background task ([`spawn_flusher`]) and by the refreshes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::Role;
use crate::config::TokenConfig;

/// How old the cache of database tokens may be before a request reads it
/// again: half the one second a revocation may take to bite, so a reload
/// that is under way when the second starts still ends in time.
pub const REFRESH: Duration = Duration::from_millis(500);
/// A reload that takes longer is abandoned (the old cache stays).
const RELOAD_TIMEOUT: Duration = Duration::from_secs(2);
/// A failing reload is logged at most this often.
const WARN_EVERY: Duration = Duration::from_secs(30);

/// Where a token comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The configuration file or `SWEEPWATCH_API_TOKENS`: the index among them.
    Config(usize),
    /// `api_tokens.id`.
    Db(i64),
}

/// A token that authenticates.
#[derive(Debug, Clone)]
pub struct Known {
    pub source: Source,
    pub name: String,
    pub role: Role,
    /// `None`: every org.
    pub orgs: Option<Vec<String>>,
    sha256: [u8; 32],
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Whether `s` is a SHA-256 in hex (either case).
pub fn is_sha256_hex(s: &str) -> bool {
    from_hex(s).is_some()
}

fn from_hex(hex_digest: &str) -> Option<[u8; 32]> {
    hex::decode(hex_digest.trim()).ok()?.try_into().ok()
}

fn orgs_of(orgs: &[String]) -> Option<Vec<String>> {
    (!orgs.is_empty()).then(|| orgs.to_vec())
}

#[derive(Default)]
struct ReloadState {
    flushed_at: Option<Instant>,
    warned_at: Option<Instant>,
}

pub struct TokenSet {
    config: Vec<Known>,
    pool: Option<store::Pool>,
    db: RwLock<Arc<Vec<Known>>>,
    loaded_at: Mutex<Option<Instant>>,
    reload: tokio::sync::Mutex<ReloadState>,
    used: Mutex<HashMap<Source, DateTime<Utc>>>,
    /// Database tokens used since the last flush.
    unflushed: Mutex<HashMap<i64, DateTime<Utc>>>,
    flush_every: Duration,
}

impl TokenSet {
    /// The configured tokens, and the database's when `pool` is given.
    pub fn new(config: &[TokenConfig], pool: Option<store::Pool>, flush_every: Duration) -> Self {
        let config = config
            .iter()
            .enumerate()
            .filter_map(|(i, t)| {
                let Some(sha256) = from_hex(&t.sha256) else {
                    tracing::error!(
                        token = t.name,
                        "ignoring a token whose sha256 is not 64 hex digits"
                    );
                    return None;
                };
                Some(Known {
                    source: Source::Config(i),
                    name: t.name.clone(),
                    role: t.role,
                    orgs: orgs_of(&t.orgs),
                    sha256,
                })
            })
            .collect();
        Self {
            config,
            pool,
            db: RwLock::default(),
            loaded_at: Mutex::default(),
            reload: tokio::sync::Mutex::default(),
            used: Mutex::default(),
            unflushed: Mutex::default(),
            flush_every,
        }
    }

    /// The configuration's tokens.
    pub fn configured(&self) -> &[Known] {
        &self.config
    }

    /// Whether a token could authenticate at all (none configured, none stored).
    pub fn is_empty(&self) -> bool {
        self.config.is_empty() && self.db.read().unwrap_or_else(|e| e.into_inner()).is_empty()
    }

    /// The token whose secret is `token`. Every known hash is compared in
    /// full (no early exit), configuration's and database's alike.
    pub fn find(&self, token: &str) -> Option<Known> {
        let hash = digest(token);
        let db = self.db.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut found = None;
        for k in self.config.iter().chain(db.iter()) {
            let diff = k
                .sha256
                .iter()
                .zip(hash.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 && found.is_none() {
                found = Some(k.clone());
            }
        }
        found
    }

    /// Whether the token from `source` still authenticates: a configured one
    /// always; a database one while the cache holds it (not revoked).
    pub fn is_live(&self, source: Source) -> bool {
        match source {
            Source::Config(_) => true,
            Source::Db(id) => self
                .db
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .any(|k| k.source == Source::Db(id)),
        }
    }

    /// Notes that `source` was used now (in memory).
    pub fn used(&self, source: Source) {
        let now = Utc::now();
        self.used
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(source, now);
        if let Source::Db(id) = source {
            self.unflushed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, now);
        }
    }

    /// When `source` was last used by this process.
    pub fn last_used(&self, source: Source) -> Option<DateTime<Utc>> {
        self.used
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&source)
            .copied()
    }

    fn stale(&self) -> bool {
        self.loaded_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none_or(|t| t.elapsed() >= REFRESH)
    }

    /// Reads the database's tokens again if the cache is older than
    /// [`REFRESH`]. Concurrent requests do not queue behind a reload under
    /// way: they use the cache as it is (at most [`REFRESH`] plus one query old).
    pub async fn refresh_if_stale(&self) {
        if self.pool.is_none() || !self.stale() {
            return;
        }
        let Ok(mut state) = self.reload.try_lock() else {
            return;
        };
        if self.stale() {
            self.reload_locked(&mut state).await;
        }
    }

    /// Reads the database's tokens now (after this instance changed one).
    pub async fn reload(&self) {
        if self.pool.is_none() {
            return;
        }
        let mut state = self.reload.lock().await;
        self.reload_locked(&mut state).await;
    }

    async fn reload_locked(&self, state: &mut ReloadState) {
        let Some(pool) = &self.pool else { return };
        let flush = state
            .flushed_at
            .is_none_or(|t| t.elapsed() >= self.flush_every);
        let work = async {
            let client = pool.get().await.map_err(store::StoreError::from)?;
            if flush {
                self.flush(&client).await?;
            }
            store::queries::tokens::live_hashes(&**client).await
        };
        match tokio::time::timeout(RELOAD_TIMEOUT, work).await {
            Ok(Ok(rows)) => {
                let known: Vec<Known> = rows
                    .into_iter()
                    .filter_map(|r| {
                        Some(Known {
                            source: Source::Db(r.id),
                            role: Role::parse(&r.role)?,
                            orgs: orgs_of(&r.orgs),
                            sha256: from_hex(&r.sha256)?,
                            name: r.name,
                        })
                    })
                    .collect();
                *self.db.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(known);
                if flush {
                    state.flushed_at = Some(Instant::now());
                }
            }
            failed => {
                if state.warned_at.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
                    state.warned_at = Some(Instant::now());
                    let why = match failed {
                        Ok(Err(e)) => e.describe(),
                        _ => format!("no answer within {RELOAD_TIMEOUT:?}"),
                    };
                    tracing::warn!(
                        error = why,
                        "could not read the API tokens; using the last ones read"
                    );
                }
            }
        }
        // A failure is retried after REFRESH too, not by every request.
        *self.loaded_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }

    /// Writes the "last used" times gathered since the last flush now, unless
    /// there are none: called every `flush_every` by [`spawn_flusher`], so
    /// they reach the database even when no request comes to refresh the cache.
    pub async fn flush_pending(&self) {
        let Some(pool) = &self.pool else { return };
        if self
            .unflushed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
        {
            return;
        }
        let mut state = self.reload.lock().await;
        let work = async {
            let client = pool.get().await.map_err(store::StoreError::from)?;
            self.flush(&client).await
        };
        match tokio::time::timeout(RELOAD_TIMEOUT, work).await {
            Ok(Ok(())) => state.flushed_at = Some(Instant::now()),
            failed => {
                if state.warned_at.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
                    state.warned_at = Some(Instant::now());
                    let why = match failed {
                        Ok(Err(e)) => e.describe(),
                        _ => format!("no answer within {RELOAD_TIMEOUT:?}"),
                    };
                    tracing::warn!(
                        error = why,
                        "could not store when API tokens were last used"
                    );
                }
            }
        }
    }

    /// How often "last used" times are written.
    pub fn flush_every(&self) -> Duration {
        self.flush_every
    }

    /// Writes the "last used" times gathered since the last flush.
    async fn flush(&self, client: &tokio_postgres::Client) -> Result<(), store::StoreError> {
        let pending: Vec<(i64, DateTime<Utc>)> = self
            .unflushed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .collect();
        if let Err(e) = store::queries::tokens::touch(client, &pending).await {
            // Put them back for the next flush (newer uses win).
            let mut unflushed = self.unflushed.lock().unwrap_or_else(|e| e.into_inner());
            for (id, at) in pending {
                unflushed.entry(id).or_insert(at);
            }
            return Err(e);
        }
        Ok(())
    }
}

/// Flushes `auth`'s "last used" times every `flush_every` until `auth` is
/// dropped (the router is gone). Outside a Tokio runtime, does nothing: the
/// refreshes of the cache flush them then.
pub fn spawn_flusher(auth: &Arc<super::Auth>) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let every = auth.tokens.flush_every();
    let weak = Arc::downgrade(auth);
    rt.spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(auth) = weak.upgrade() else { return };
            auth.tokens.flush_pending().await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_tokens_are_found_by_their_secret_with_their_orgs() {
        let cfg = crate::config::parse_token_list("a:viewer@humen:s3cret,b:admin:other").unwrap();
        let set = TokenSet::new(&cfg, None, Duration::from_secs(60));
        let a = set.find("s3cret").unwrap();
        assert_eq!((a.name.as_str(), a.role), ("a", Role::Viewer));
        assert_eq!(a.orgs, Some(vec!["humen".to_owned()]));
        assert_eq!(set.find("other").unwrap().orgs, None);
        assert!(set.find("s3cre").is_none());
        assert!(set.last_used(a.source).is_none());
        set.used(a.source);
        assert!(set.last_used(a.source).is_some());
    }
}
