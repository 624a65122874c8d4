//! [`PgChannel`]: cache invalidations between nodes over PostgreSQL `LISTEN`/`NOTIFY`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use durin_core::{InvalidationChannel, StoreError, Subscription};
use sqlx::Row as _;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::sync::OnceCell;

use crate::Error;
use crate::replica::{ReplicaRouter, parse_lsn};

/// `NOTIFY` refuses payloads of 8000 bytes or more (PostgreSQL's
/// `NOTIFY_PAYLOAD_MAX_LENGTH`, for the default 8 kB block size).
const NOTIFY_LIMIT: usize = 8000;
/// PostgreSQL identifiers, channel names included, are at most 63 bytes.
const MAX_NAME: usize = 63;
/// The prefix of the default channel name.
const PREFIX: &str = "durin_inv_";

/// An [`InvalidationChannel`] on PostgreSQL `LISTEN`/`NOTIFY`, for every node sharing a
/// [`PostgresStore`](crate::PostgresStore).
///
/// - `publish` is one `SELECT pg_notify(channel, payload)` on the store's pool: when it
///   returns, PostgreSQL has queued the payload for every session listening then.
/// - `subscribe` opens a connection of its own (the pool's connect options, outside the
///   pool), runs `LISTEN` and returns: from then on every payload is delivered in commit
///   order.
/// - A lost connection is reported, never repaired behind the caller's back: the
///   subscription reads with `PgListener::try_recv`, which reports a dropped connection,
///   and turns it into an error (sqlx's `recv` would reconnect silently and drop what was
///   sent meanwhile). The bus then bypasses its caches until it has subscribed again.
/// - A connection that dies without closing (a network partition, a crashed host) sends
///   nothing, so after [`PgChannel::with_heartbeat`] (default 5 s) of silence the
///   subscription runs `SELECT 1` on its connection; no answer within the same time is
///   a loss too. A dead peer is detected within twice the heartbeat.
///
/// Channel names are database-wide, while durin's tables live in a schema. The default
/// name is derived from the store's `current_schema()`: `durin_inv_<schema>` (lowercase
/// letters, digits and `_`; a schema name that needed changing or cutting to PostgreSQL's
/// 63 bytes gets a hash suffix), so deployments in two schemas of one database never hear
/// each other. It is resolved once, on first use. [`PgChannel::with_name`] sets it.
///
/// **WAL positions.** `publish` appends the primary's WAL position after the caller's
/// commit (`pg_current_wal_lsn()`, in the same statement as the `NOTIFY`) to a JSON
/// object payload as a last member, `"lsn":"X/Y"`, and subscriptions strip it again, so
/// payloads reach the bus unchanged (a reader that does not strip it, an older node,
/// ignores the unknown member). A store with read replicas records the position as a
/// tombstone before the bus sees the payload (see
/// [`ReplicaOptions`](crate::ReplicaOptions)); a payload without one is stamped with the
/// primary's position on arrival.
///
/// **Poolers.** `LISTEN` needs a session of its own: behind a transaction-mode pooler
/// (PgBouncer `pool_mode=transaction`) it silently receives nothing, and the caches
/// would never hear of another node's revocation. Give the listener a direct URL
/// ([`ReplicaOptions::with_listen_url`](crate::ReplicaOptions::with_listen_url)).
///
/// ```no_run
/// # async fn demo(store: durin_sqlx::PostgresStore) {
/// use std::sync::Arc;
/// let bus = durin_core::InvalidationBus::new(Arc::new(store.channel()));
/// let subscriber = bus.spawn_subscriber();
/// # }
/// ```
#[derive(Clone)]
pub struct PgChannel {
    pool: PgPool,
    name: Arc<OnceCell<String>>,
    heartbeat: Duration,
    router: Option<Arc<ReplicaRouter>>,
}

impl std::fmt::Debug for PgChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgChannel")
            .field("name", &self.name.get())
            .field("heartbeat", &self.heartbeat)
            .finish()
    }
}

impl PgChannel {
    /// A channel publishing on `pool`, whose connect options its subscriptions use. The
    /// name is derived from the pool's `current_schema()` on first use.
    pub fn new(pool: PgPool) -> Self {
        PgChannel {
            pool,
            name: Arc::new(OnceCell::new()),
            heartbeat: Duration::from_secs(5),
            router: None,
        }
    }

    /// The channel of a store with replicas or a listen URL of its own.
    pub(crate) fn routed(mut self, router: Option<Arc<ReplicaRouter>>) -> Self {
        self.router = router;
        self
    }

    fn replicas(&self) -> Option<&Arc<ReplicaRouter>> {
        self.router.as_ref().filter(|r| r.has_replicas())
    }

    /// Uses `name` as the channel name instead of the one derived from the schema (every
    /// node of a deployment must use the same).
    ///
    /// # Errors
    /// [`Error::InvalidChannelName`] unless `name` has 1 to 63 bytes and no NUL.
    pub fn with_name(self, name: &str) -> Result<Self, Error> {
        if name.is_empty() || name.len() > MAX_NAME || name.contains('\0') {
            return Err(Error::InvalidChannelName {
                name: name.to_owned(),
            });
        }
        Ok(PgChannel {
            name: Arc::new(OnceCell::new_with(Some(name.to_owned()))),
            ..self
        })
    }

    /// How long a subscription waits in silence before it checks its connection
    /// (`SELECT 1`, which must answer within the same time). Default 5 s; at least 10 ms.
    #[must_use]
    pub fn with_heartbeat(mut self, heartbeat: Duration) -> Self {
        self.heartbeat = heartbeat.max(Duration::from_millis(10));
        self
    }

    /// The channel name: the explicit one, or the one derived from the schema (resolved
    /// once, with one query).
    ///
    /// # Errors
    /// [`StoreError`] when the name must be resolved and the database cannot be reached.
    pub async fn name(&self) -> Result<&str, StoreError> {
        self.name
            .get_or_try_init(|| default_name(&self.pool))
            .await
            .map(String::as_str)
    }
}

/// `durin_inv_<current schema>`, made a safe identifier of at most 63 bytes; a schema
/// name that had to change gets 8 hex characters of its md5, so two schemas never share
/// a channel because their names sanitise or cut alike.
async fn default_name(pool: &PgPool) -> Result<String, StoreError> {
    let (schema, md5): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT current_schema()::text, md5(current_schema()::text)")
            .fetch_one(pool)
            .await
            .map_err(crate::error::map)?;
    Ok(derive_name(
        schema.as_deref().unwrap_or_default(),
        md5.as_deref().unwrap_or_default(),
    ))
}

fn derive_name(schema: &str, md5: &str) -> String {
    let clean: String = schema
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let mut name = format!("{PREFIX}{clean}");
    if clean != schema || name.len() > MAX_NAME {
        let suffix = md5.get(..8).unwrap_or(md5);
        name.truncate(MAX_NAME - suffix.len() - 1);
        name.push('_');
        name.push_str(suffix);
    }
    name
}

#[async_trait]
impl InvalidationChannel for PgChannel {
    async fn publish(&self, payload: &str) -> Result<(), StoreError> {
        if payload.len() >= NOTIFY_LIMIT {
            return Err(StoreError::backend(Error::PayloadTooLong {
                len: payload.len(),
                limit: NOTIFY_LIMIT - 1,
            }));
        }
        let name = self.name().await?;
        let stamp = payload.len() + STAMP_MAX < NOTIFY_LIMIT
            && payload.starts_with("{\"")
            && payload.ends_with('}');
        // One statement: the position is read after the caller's commit, so a replica
        // that replayed past it has the change.
        // `pg_notify` is an output column: it runs exactly once, for the one row.
        let row = sqlx::query(
            "SELECT w.lsn, pg_notify($1, CASE WHEN $3 \
             THEN left($2, -1) || ',\"lsn\":\"' || w.lsn || '\"}' ELSE $2 END) \
             FROM (SELECT pg_current_wal_lsn()::text AS lsn) w",
        )
        .bind(name)
        .bind(payload)
        .bind(stamp)
        .fetch_one(&self.pool)
        .await
        .map_err(crate::error::map)?;
        let lsn: Option<String> = row.try_get(0).map_err(crate::error::map)?;
        // This node's own lookups: the tombstone is in place before the call returns.
        if let Some(router) = self.replicas() {
            let lsn = lsn.as_deref().and_then(parse_lsn).unwrap_or(u64::MAX);
            router.tombstone(payload, lsn);
        }
        Ok(())
    }

    async fn subscribe(&self) -> Result<Box<dyn Subscription>, StoreError> {
        let name = self.name().await?;
        // A pool of one connection of its own: PgListener needs a pool, and a listener
        // must not take (or be starved of) one of the store's connections.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(self.pool.options().get_acquire_timeout())
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(match self.router.as_ref().and_then(|r| r.listen.clone()) {
                Some(listen) => listen,
                None => (*self.pool.connect_options()).clone(),
            });
        let mut listener = PgListener::connect_with(&pool)
            .await
            .map_err(crate::error::map)?;
        // Report a lost connection at once instead of reconnecting first; this
        // subscription is dropped then and the bus subscribes anew.
        listener.eager_reconnect(false);
        listener.ignore_pool_close_event(true);
        listener.listen(name).await.map_err(crate::error::map)?;
        let router = self.replicas().cloned();
        if let Some(router) = &router {
            // What was published before this subscription went live may never reach
            // it: nothing up to the primary's position now is read from a replica.
            let lsn = current_lsn(&mut listener).await?;
            router.subscribed(lsn);
        }
        Ok(Box::new(PgSubscription {
            listener,
            heartbeat: self.heartbeat,
            lost: false,
            router,
        }))
    }
}

/// The longest stamp `publish` appends: `,"lsn":"` + two 8-digit hex halves + `"`.
const STAMP_MAX: usize = 32;

/// `payload` without the stamp `publish` appended, and the position it carried.
fn unstamp(payload: &str) -> (String, Option<u64>) {
    if let Some(head) = payload.strip_suffix("\"}")
        && let Some(at) = head.rfind(",\"lsn\":\"")
        && let Some(lsn) = parse_lsn(&head[at + 8..])
    {
        // The `}` before the stamp's comma closes the object again.
        return (format!("{}}}", &payload[..at]), Some(lsn));
    }
    (payload.to_owned(), None)
}

/// The primary's WAL position, asked on the listener's own connection.
async fn current_lsn(listener: &mut PgListener) -> Result<u64, StoreError> {
    let (lsn,): (Option<String>,) = sqlx::query_as("SELECT pg_current_wal_lsn()::text")
        .fetch_one(listener)
        .await
        .map_err(crate::error::map)?;
    Ok(lsn.as_deref().and_then(parse_lsn).unwrap_or(u64::MAX))
}

struct PgSubscription {
    listener: PgListener,
    heartbeat: Duration,
    /// Set once a loss was reported: the listener must not be used again, since it would
    /// reconnect silently.
    lost: bool,
    /// The store's replica router, told of every payload and of the loss.
    router: Option<Arc<ReplicaRouter>>,
}

impl PgSubscription {
    fn lose(&mut self, error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
        if !self.lost
            && let Some(router) = &self.router
        {
            router.unsubscribed();
        }
        self.lost = true;
        StoreError::unavailable(error)
    }

    /// Hands `raw` to the bus unstamped, after recording its tombstone.
    async fn deliver(&mut self, raw: &str) -> Result<String, StoreError> {
        let (payload, lsn) = unstamp(raw);
        if let Some(router) = self.router.clone() {
            let lsn = match lsn {
                Some(lsn) => lsn,
                // An unstamped payload (an older node): the primary's position now is
                // past the publisher's commit.
                None => match current_lsn(&mut self.listener).await {
                    Ok(lsn) => lsn,
                    Err(error) => return Err(self.lose(error)),
                },
            };
            router.tombstone(&payload, lsn);
        }
        Ok(payload)
    }
}

impl Drop for PgSubscription {
    fn drop(&mut self) {
        if !self.lost
            && let Some(router) = &self.router
        {
            router.unsubscribed();
        }
    }
}

#[async_trait]
impl Subscription for PgSubscription {
    async fn next(&mut self) -> Result<String, StoreError> {
        if self.lost {
            return Err(StoreError::unavailable("the subscription was lost"));
        }
        loop {
            // `try_recv` only awaits sqlx's cancel-safe message read, so a timeout may
            // interrupt it without losing a notification.
            match tokio::time::timeout(self.heartbeat, self.listener.try_recv()).await {
                Ok(Ok(Some(notification))) => return self.deliver(notification.payload()).await,
                Ok(Ok(None)) => return Err(self.lose("the LISTEN connection was lost")),
                Ok(Err(error)) => return Err(self.lose(error)),
                Err(_quiet) => {
                    let ping = sqlx::query("SELECT 1").execute(&mut self.listener);
                    match tokio::time::timeout(self.heartbeat, ping).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(error)) => return Err(self.lose(error)),
                        Err(_) => {
                            return Err(self.lose("the LISTEN connection missed a heartbeat"));
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_come_off() {
        let payload = r#"{"v":1,"kind":"all"}"#;
        let stamped = r#"{"v":1,"kind":"all","lsn":"0/1A2B"}"#;
        assert_eq!(unstamp(stamped), (payload.to_owned(), Some(0x1A2B)));
        assert_eq!(unstamp(payload), (payload.to_owned(), None));
        assert_eq!(unstamp("plain"), ("plain".to_owned(), None));
        let odd = r#"{"lsn":"x"}"#;
        assert_eq!(unstamp(odd), (odd.to_owned(), None));
    }

    #[test]
    fn a_plain_schema_names_the_channel() {
        assert_eq!(derive_name("public", "abc"), "durin_inv_public");
        assert_eq!(derive_name("durin_t_1", "abc"), "durin_inv_durin_t_1");
    }

    #[test]
    fn a_changed_or_cut_schema_name_gets_a_hash() {
        let md5 = "0123456789abcdef0123456789abcdef";
        assert_eq!(derive_name("My-App", md5), "durin_inv_my_app_01234567");
        let long = "s".repeat(80);
        let name = derive_name(&long, md5);
        assert_eq!(name.len(), 63);
        assert!(name.ends_with("_01234567"), "{name}");
        assert_eq!(derive_name("ünï", md5), "durin_inv__n__01234567");
    }

    #[tokio::test]
    async fn explicit_names_are_checked() {
        let pool = PgPoolOptions::new()
            .connect_lazy("postgres://127.0.0.1:1/x")
            .unwrap();
        let channel = PgChannel::new(pool);
        assert!(channel.clone().with_name("").is_err());
        assert!(channel.clone().with_name(&"x".repeat(64)).is_err());
        assert!(channel.clone().with_name("a\0b").is_err());
        let ok = channel.with_name("Mixed Case \"quoted\"").unwrap();
        assert_eq!(
            ok.name.get().map(String::as_str),
            Some("Mixed Case \"quoted\"")
        );
    }
}
