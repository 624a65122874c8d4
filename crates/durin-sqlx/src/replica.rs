//! Read replicas for [`PostgresStore`](crate::PostgresStore): [`ReplicaOptions`] and the
//! router `TokenStore::get` reads through.
//!
//! Only the hot read, the lookup of a presented token, goes to a replica. Writes, the
//! `LISTEN` connection and every read that decides a write (the insert's eviction, a
//! rotation, the login limit, the throttle) stay on the primary. Two promises hold
//! although a replica lags:
//!
//! - **Read-your-writes.** A lookup that misses on the replica asks the primary, so a
//!   token issued or rotated a moment ago on any node works at once.
//! - **No revoked token through a lagging replica.** Every revocation publishes on the
//!   store's [`PgChannel`](crate::PgChannel) before it returns; the channel stamps the
//!   payload with the primary's WAL position after the commit (`pg_current_wal_lsn()`)
//!   and every node, the publisher included, records a *tombstone* (digest, user, client
//!   or everything → that position) before its caches hear of it. A replica's row that
//!   matches a tombstone its replay position (`pg_last_wal_replay_lsn()`, polled) has not
//!   passed is ignored and the primary asked instead. Without a live subscription (the
//!   channel is down, or the node never subscribed) every read goes to the primary; on
//!   each (re)subscription the primary's position then is a tombstone for everything, so
//!   what was missed while down cannot come back through a replica.
//!
//! A replica that cannot be reached, is no longer in recovery (promoted) or lags more
//! than [`ReplicaOptions::with_max_lag`] is skipped until a poll finds it healthy again.

use std::collections::{HashMap, VecDeque};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use durin_core::{Invalidation, Session, StoreError, TokenDigest};
use sqlx::postgres::{PgConnectOptions, PgPool};

use crate::{Error, PoolConfig};

/// Tombstones kept before they are folded into one for everything (bounds memory when
/// a replica stays behind).
const MAX_TOMBSTONES: usize = 10_000;

/// Where [`PostgresStore`](crate::PostgresStore) reads and listens besides its primary.
///
/// ```no_run
/// # async fn demo() -> Result<(), durin_core::StoreError> {
/// use durin_sqlx::{PoolConfig, PostgresStore, ReplicaOptions};
/// let replicas = ReplicaOptions::new()
///     .with_read_url("postgres://app@replica-1/app")
///     .with_listen_url("postgres://app@primary-direct/app");
/// let store = PostgresStore::connect_with_replicas(
///     "postgres://app@pgbouncer/app",
///     &PoolConfig::default(),
///     &replicas,
/// )
/// .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplicaOptions {
    /// Streaming replicas of the primary the token lookups are spread over.
    pub read_urls: Vec<String>,
    /// The connection the invalidation channel `LISTEN`s on, when not the primary URL:
    /// behind a transaction-mode pooler (PgBouncer `pool_mode=transaction`) `LISTEN`
    /// silently receives nothing, so point this at the primary directly.
    pub listen_url: Option<String>,
    /// A replica further behind than this is skipped (default 1 s).
    pub max_lag: Duration,
    /// How often each replica's replay position and the primary's WAL position are
    /// polled (default 100 ms).
    pub poll_interval: Duration,
}

impl Default for ReplicaOptions {
    fn default() -> Self {
        Self {
            read_urls: Vec::new(),
            listen_url: None,
            max_lag: Duration::from_secs(1),
            poll_interval: Duration::from_millis(100),
        }
    }
}

impl ReplicaOptions {
    /// No replicas, listening on the primary.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a replica.
    #[must_use]
    pub fn with_read_url(mut self, url: impl Into<String>) -> Self {
        self.read_urls.push(url.into());
        self
    }

    /// Sets [`ReplicaOptions::listen_url`].
    #[must_use]
    pub fn with_listen_url(mut self, url: impl Into<String>) -> Self {
        self.listen_url = Some(url.into());
        self
    }

    /// Sets [`ReplicaOptions::max_lag`].
    #[must_use]
    pub fn with_max_lag(mut self, lag: Duration) -> Self {
        self.max_lag = lag;
        self
    }

    /// Sets [`ReplicaOptions::poll_interval`] (at least 10 ms).
    #[must_use]
    pub fn with_poll_interval(mut self, every: Duration) -> Self {
        self.poll_interval = every.max(Duration::from_millis(10));
        self
    }
}

/// `postgres://user:secret@host/db` as `postgres://user:***@host/db`.
pub(crate) fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..scheme_end],
            &rest[..colon],
            &rest[at..]
        ),
        None => url.to_owned(),
    }
}

/// A WAL position (`X/Y`, two hex halves) as a number.
pub(crate) fn parse_lsn(text: &str) -> Option<u64> {
    let (high, low) = text.split_once('/')?;
    let high = u64::from_str_radix(high, 16).ok()?;
    let low = u64::from_str_radix(low, 16).ok()?;
    (high <= u64::from(u32::MAX) && low <= u64::from(u32::MAX)).then_some((high << 32) | low)
}

struct Replica {
    pool: PgPool,
    /// Redacted, for logs and errors.
    url: String,
    /// The last polled `pg_last_wal_replay_lsn()`; the replica is at least this far.
    replay: AtomicU64,
    healthy: AtomicBool,
}

#[derive(Default)]
struct Tombstones {
    /// Everything up to this position (a resubscription, folded tombstones).
    all: u64,
    digests: HashMap<TokenDigest, u64>,
    users: HashMap<String, u64>,
    clients: HashMap<String, u64>,
}

impl Tombstones {
    fn len(&self) -> usize {
        self.digests.len() + self.users.len() + self.clients.len()
    }

    fn raise(slot: &mut u64, lsn: u64) {
        *slot = (*slot).max(lsn);
    }

    fn add(&mut self, invalidation: &Invalidation, lsn: u64) {
        match invalidation {
            Invalidation::Digests(digests) => {
                for digest in digests {
                    Self::raise(self.digests.entry(*digest).or_default(), lsn);
                }
            }
            // The surviving session of a logout-all is tombstoned too: it only costs a
            // primary read.
            Invalidation::User { user, .. } => {
                Self::raise(self.users.entry(user.as_str().to_owned()).or_default(), lsn);
            }
            Invalidation::Client(client) => {
                Self::raise(
                    self.clients.entry(client.as_str().to_owned()).or_default(),
                    lsn,
                );
            }
            _ => Self::raise(&mut self.all, lsn),
        }
        if self.len() > MAX_TOMBSTONES {
            let highest = self
                .digests
                .values()
                .chain(self.users.values())
                .chain(self.clients.values())
                .copied()
                .max()
                .unwrap_or(0);
            self.fold(u64::MAX);
            Self::raise(&mut self.all, highest);
        }
    }

    /// Whether `session`, read from a replica that replayed up to `replay`, may be stale.
    fn hides(&self, session: &Session, replay: u64) -> bool {
        self.all > replay
            || self
                .digests
                .get(&session.digest)
                .is_some_and(|&l| l > replay)
            || self
                .users
                .get(session.user_id.as_str())
                .is_some_and(|&l| l > replay)
            || self
                .clients
                .get(session.client.as_str())
                .is_some_and(|&l| l > replay)
    }

    /// Drops the tombstones at or below `upto`.
    fn fold(&mut self, upto: u64) {
        self.digests.retain(|_, l| *l > upto);
        self.users.retain(|_, l| *l > upto);
        self.clients.retain(|_, l| *l > upto);
    }
}

/// Routes `TokenStore::get` between the replicas and the primary (see the module docs).
pub struct ReplicaRouter {
    replicas: Vec<Replica>,
    next: AtomicUsize,
    max_lag: Duration,
    /// Live subscriptions of this store's channel; none: every read on the primary.
    live: AtomicUsize,
    tombstones: Mutex<Tombstones>,
    /// Samples of the primary's WAL position, oldest first, covering `max_lag`.
    primary: Mutex<VecDeque<(Instant, u64)>>,
    pub(crate) listen: Option<PgConnectOptions>,
    /// `durin_store_reads_total{target="replica"}` and `{target="primary"}`, registered
    /// on the first lookup: a server installs its recorder after it opened the store.
    reads: OnceLock<(metrics::Counter, metrics::Counter)>,
}

impl std::fmt::Debug for ReplicaRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicaRouter")
            .field(
                "replicas",
                &self.replicas.iter().map(|r| &r.url).collect::<Vec<_>>(),
            )
            .field("max_lag", &self.max_lag)
            .finish_non_exhaustive()
    }
}

/// Where a lookup was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Replica(usize),
    Primary,
}

impl ReplicaRouter {
    /// Connects to every read URL (eagerly: a malformed, unreachable or non-replica URL
    /// is an error naming it, password redacted) and starts the poller.
    pub(crate) async fn connect(
        primary: &PgPool,
        config: &PoolConfig,
        options: &ReplicaOptions,
    ) -> Result<Arc<Self>, StoreError> {
        let mut replicas = Vec::with_capacity(options.read_urls.len());
        for url in &options.read_urls {
            let shown = redact(url);
            let (connect, pool) = <sqlx::Postgres as crate::Dialect>::options(url, config)
                .map_err(|e| {
                    StoreError::backend(Error::ReadUrl {
                        url: shown.clone(),
                        reason: e.to_string(),
                    })
                })?;
            let pool = pool.connect_with(connect).await.map_err(|e| {
                StoreError::unavailable(Error::ReadUrl {
                    url: shown.clone(),
                    reason: e.to_string(),
                })
            })?;
            let (recovering,): (bool,) = sqlx::query_as("SELECT pg_is_in_recovery()")
                .fetch_one(&pool)
                .await
                .map_err(|e| {
                    StoreError::unavailable(Error::ReadUrl {
                        url: shown.clone(),
                        reason: e.to_string(),
                    })
                })?;
            if !recovering {
                return Err(StoreError::backend(Error::ReadUrl {
                    url: shown,
                    reason: "not a replica: pg_is_in_recovery() is false".into(),
                }));
            }
            replicas.push(Replica {
                pool,
                url: shown,
                replay: AtomicU64::new(0),
                healthy: AtomicBool::new(false),
            });
        }
        let listen = match &options.listen_url {
            None => None,
            Some(url) => Some(PgConnectOptions::from_str(url).map_err(|e| {
                StoreError::backend(Error::ReadUrl {
                    url: redact(url),
                    reason: e.to_string(),
                })
            })?),
        };
        let router = Arc::new(Self {
            replicas,
            next: AtomicUsize::new(0),
            max_lag: options.max_lag,
            live: AtomicUsize::new(0),
            tombstones: Mutex::new(Tombstones::default()),
            primary: Mutex::new(VecDeque::new()),
            listen,
            reads: OnceLock::new(),
        });
        if !router.replicas.is_empty() {
            tokio::spawn(poll(
                Arc::downgrade(&router),
                primary.clone(),
                options.poll_interval,
            ));
        }
        Ok(router)
    }

    fn reads(&self) -> &(metrics::Counter, metrics::Counter) {
        self.reads.get_or_init(|| {
            (
                metrics::counter!("durin_store_reads_total", "target" => "replica"),
                metrics::counter!("durin_store_reads_total", "target" => "primary"),
            )
        })
    }

    /// A replica to read from: healthy, not behind a tombstone for everything, and only
    /// while a subscription is live.
    fn pick(&self) -> Option<usize> {
        let n = self.replicas.len();
        if n == 0 || self.live.load(Ordering::Acquire) == 0 {
            return None;
        }
        let all = self.tombstones.lock().expect("tombstones").all;
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n).map(|i| (start + i) % n).find(|&i| {
            let r = &self.replicas[i];
            r.healthy.load(Ordering::Acquire) && r.replay.load(Ordering::Acquire) >= all
        })
    }

    /// The session of `digest`: from a replica when one may answer and its row is not
    /// tombstoned, else from `primary`.
    pub(crate) async fn get(
        &self,
        primary: &PgPool,
        digest: &TokenDigest,
    ) -> Result<(Option<Arc<Session>>, Target), StoreError> {
        if let Some(i) = self.pick() {
            let replica = &self.replicas[i];
            // The position is read before the row: the replica is at least this far when
            // it answers, so a tombstone above it may hide the row.
            let replay = replica.replay.load(Ordering::Acquire);
            match crate::tokens::fetch_session(&replica.pool, digest).await {
                Ok(Some(session)) => {
                    // Checked after the read: a tombstone recorded while it ran counts.
                    if !self
                        .tombstones
                        .lock()
                        .expect("tombstones")
                        .hides(&session, replay)
                    {
                        self.reads().0.increment(1);
                        return Ok((Some(session), Target::Replica(i)));
                    }
                }
                // A miss may be a token issued a moment ago: the primary decides.
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(replica = %replica.url, %error, "replica read failed; reading from the primary");
                    replica.healthy.store(false, Ordering::Release);
                }
            }
        }
        self.reads().1.increment(1);
        let session = crate::tokens::fetch_session(primary, digest).await?;
        Ok((session, Target::Primary))
    }

    /// Records what `payload` (an [`Invalidation`]) names, up to the primary's `lsn`.
    /// A payload that is no invalidation tombstones everything.
    pub(crate) fn tombstone(&self, payload: &str, lsn: u64) {
        if self.replicas.is_empty() {
            return;
        }
        let invalidation = Invalidation::decode(payload).unwrap_or(Invalidation::All);
        self.tombstones
            .lock()
            .expect("tombstones")
            .add(&invalidation, lsn);
    }

    /// A subscription went live; what was sent before it may have been missed, so
    /// everything up to `lsn` (the primary's position once it listens) is tombstoned.
    pub(crate) fn subscribed(&self, lsn: u64) {
        self.tombstone_all(lsn);
        self.live.fetch_add(1, Ordering::AcqRel);
    }

    fn tombstone_all(&self, lsn: u64) {
        let mut tombstones = self.tombstones.lock().expect("tombstones");
        Tombstones::raise(&mut tombstones.all, lsn);
    }

    /// A subscription was lost or dropped.
    pub(crate) fn unsubscribed(&self) {
        self.live.fetch_sub(1, Ordering::AcqRel);
    }

    /// Whether a lookup now may go to a replica.
    pub(crate) fn usable(&self) -> bool {
        self.pick().is_some()
    }

    /// Whether any replica is configured.
    pub(crate) fn has_replicas(&self) -> bool {
        !self.replicas.is_empty()
    }

    /// How far behind the primary a replica at `replay` is: the age of the newest
    /// primary sample it has replayed; `None` when it has replayed none kept.
    fn lag(&self, replay: u64, now: Instant) -> Option<Duration> {
        let samples = self.primary.lock().expect("primary samples");
        samples
            .iter()
            .rev()
            .find(|(_, lsn)| *lsn <= replay)
            .map(|(at, _)| now.saturating_duration_since(*at))
    }

    fn sample_primary(&self, lsn: u64, now: Instant) {
        let mut samples = self.primary.lock().expect("primary samples");
        samples.push_back((now, lsn));
        let keep = self.max_lag * 2 + Duration::from_secs(1);
        while samples
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > keep)
            && samples.len() > 1
        {
            samples.pop_front();
        }
    }
}

async fn lsn_of(pool: &PgPool, sql: &'static str) -> Result<Option<u64>, sqlx::Error> {
    let (text,): (Option<String>,) = sqlx::query_as(sql).fetch_one(pool).await?;
    Ok(text.as_deref().and_then(parse_lsn))
}

/// Polls the primary's position and each replica's, marks replicas healthy or not, and
/// drops the tombstones every healthy replica has replayed. Ends with the store.
async fn poll(router: Weak<ReplicaRouter>, primary: PgPool, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(router) = router.upgrade() else {
            return;
        };
        if primary.is_closed() {
            return;
        }
        // The primary first: a replica polled after it and at this position has
        // everything the primary had at this instant.
        let now = Instant::now();
        if let Ok(Some(lsn)) = lsn_of(&primary, "SELECT pg_current_wal_lsn()::text").await {
            router.sample_primary(lsn, now);
        }
        let mut floor = u64::MAX;
        for replica in &router.replicas {
            let state = sqlx::query_as::<_, (bool, Option<String>)>(
                "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text",
            )
            .fetch_one(&replica.pool)
            .await;
            let was = replica.healthy.load(Ordering::Acquire);
            let healthy = match state {
                Ok((true, Some(text))) => match parse_lsn(&text) {
                    Some(replay) => {
                        replica.replay.fetch_max(replay, Ordering::AcqRel);
                        let lag = router.lag(replay, Instant::now());
                        let ok = lag.is_some_and(|lag| lag <= router.max_lag);
                        if !ok && was {
                            tracing::warn!(replica = %replica.url, ?lag, "replica lags; reading from the primary");
                        }
                        ok
                    }
                    None => false,
                },
                Ok((recovering, _)) => {
                    if was {
                        tracing::warn!(replica = %replica.url, recovering, "replica is no longer a streaming replica; reading from the primary");
                    }
                    false
                }
                Err(error) => {
                    if was {
                        tracing::warn!(replica = %replica.url, %error, "replica unreachable; reading from the primary");
                    }
                    false
                }
            };
            if healthy && !was {
                tracing::info!(replica = %replica.url, "replica healthy; reading from it");
            }
            replica.healthy.store(healthy, Ordering::Release);
            if healthy {
                floor = floor.min(replica.replay.load(Ordering::Acquire));
            }
        }
        if floor != u64::MAX {
            let mut tombstones = router.tombstones.lock().expect("tombstones");
            tombstones.fold(floor);
            // A replica behind `floor` (unhealthy now) must catch up to it before it
            // answers again: the dropped tombstones were at or below it.
            Tombstones::raise(&mut tombstones.all, floor);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tombstones_hide_what_they_name_until_replayed() {
        use durin_core::testing::{client, now, session, user};
        let (u, c) = (user(), client());
        let s = session(&u, &c, now());
        let other = session(&user(), &client(), now());
        let mut t = Tombstones::default();
        assert!(!t.hides(&s, 0));
        t.add(&Invalidation::Digests(vec![s.digest]), 100);
        assert!(t.hides(&s, 99) && !t.hides(&s, 100) && !t.hides(&other, 0));
        t.add(
            &Invalidation::User {
                user: u.clone(),
                except: None,
            },
            200,
        );
        t.add(&Invalidation::Client(c.clone()), 300);
        assert!(t.hides(&s, 250) && !t.hides(&s, 300) && !t.hides(&other, 250));
        t.fold(300);
        assert_eq!(t.len(), 0);
        t.add(&Invalidation::All, 400);
        assert!(t.hides(&other, 399) && !t.hides(&other, 400));
        // Past the cap, everything folds into one for everything at the highest.
        let mut t = Tombstones::default();
        for i in 0..=MAX_TOMBSTONES as u64 {
            let mut bytes = [0u8; 32];
            bytes[..8].copy_from_slice(&i.to_be_bytes());
            t.add(
                &Invalidation::Digests(vec![TokenDigest::from_bytes(bytes)]),
                i,
            );
        }
        assert_eq!(t.len(), 0);
        assert_eq!(t.all, MAX_TOMBSTONES as u64);
    }

    #[test]
    fn lsns_parse() {
        assert_eq!(parse_lsn("0/0"), Some(0));
        assert_eq!(parse_lsn("0/126F0A18"), Some(0x126F_0A18));
        assert_eq!(parse_lsn("1/0"), Some(1 << 32));
        assert_eq!(parse_lsn("x"), None);
        assert_eq!(parse_lsn("1/2/3"), None);
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://u:secret@h:5433/db?x=1"),
            "postgres://u:***@h:5433/db?x=1"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
        assert_eq!(redact("nonsense"), "nonsense");
    }
}
