//! `RedisStore` and its `TokenStore` implementation: every method is one command or one
//! Lua script, so each is atomic on the server.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use durin_core::{
    InsertOutcome, InsertPolicy, RefreshLookup, Refusal, Removal, Rotation, Session, SessionId,
    StoreError, Timestamp, TokenDigest, TokenStore, UserId, WhenFull,
};
use redis::aio::ConnectionManager;
use redis::{FromRedisValue, Script, ScriptInvocation};

use crate::conn::{Connection, Endpoint};
use crate::error::store_error;
use crate::keys::Keys;
use crate::record::{decode_session, encode_session};
use crate::scripts::SCRIPTS;
use crate::{Error, RedisChannel, RedisConfig};

/// Sessions, clients and the admin listing in Redis, over one multiplexed connection
/// (cheap to clone: clones share it): a [`ConnectionManager`] to one server, or a
/// cluster connection to a Redis Cluster (see [`Connection`]).
///
/// Lookup by token digest is one `GET`; every write is one Lua script, so each
/// [`TokenStore`] method is atomic: 50 racing logins with a cap of 1 leave exactly one
/// session, and a logout-all racing logins leaves nothing issued before it. Redis expires
/// sessions itself, a grace period after they become purgeable; see the crate docs for
/// the key layout, Redis Cluster notes and failure modes.
#[derive(Clone)]
pub struct RedisStore {
    /// Opens the invalidation subscribers' dedicated connections.
    endpoint: Endpoint,
    pub(crate) conn: Connection,
    pub(crate) keys: Keys,
    config: RedisConfig,
}

impl RedisStore {
    /// Connects to `url` with the default [`RedisConfig`]; see
    /// [`RedisStore::connect_with`] for the URLs.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when Redis cannot be reached, [`Error::Redis`] for an
    /// invalid URL.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::connect_with(url, RedisConfig::new()).await
    }

    /// Connects to `url` with `config`, waiting for the first connection. `url` is
    /// `redis://[user:password@]host:port[/db]` (`rediss://` with TLS features of
    /// `redis`) for one server, or `redis+cluster://HOST:PORT[,HOST:PORT...]` for a Redis
    /// Cluster (its query parameters, if any, are ignored here: `config` decides; use
    /// [`RedisStore::open_url`] to read them).
    ///
    /// # Errors
    /// [`Error::Config`] for an unusable configuration, [`Error::Unavailable`] when Redis
    /// cannot be reached, [`Error::Redis`] for an invalid URL.
    pub async fn connect_with(url: &str, config: RedisConfig) -> Result<Self, Error> {
        config.validate()?;
        let (target, _) = RedisConfig::target_of(url)?;
        let endpoint = Endpoint::open(&target, &config)?;
        let conn = endpoint.connect(&config).await?;
        Self::from_parts(endpoint, conn, config)
    }

    /// Prepares a store for `url` without connecting: the first command connects, so an
    /// application can start while Redis is down (its requests fail as unavailable until
    /// Redis answers). Must be called inside a Tokio runtime.
    ///
    /// # Errors
    /// [`Error::Config`] for an unusable configuration, [`Error::Redis`] for an invalid
    /// URL.
    pub fn connect_lazy(url: &str, config: RedisConfig) -> Result<Self, Error> {
        config.validate()?;
        let (target, _) = RedisConfig::target_of(url)?;
        let endpoint = Endpoint::open(&target, &config)?;
        let conn = endpoint.connect_lazy(&config)?;
        Self::from_parts(endpoint, conn, config)
    }

    /// Connects to a store URL with the settings it carries (`?prefix=`,
    /// `&wait_replicas=`; see [`RedisConfig::from_url`]), the defaults otherwise: what
    /// `durin-connect` does with `--database-url`.
    ///
    /// # Errors
    /// As [`RedisStore::connect_with`].
    pub async fn open_url(url: &str) -> Result<Self, Error> {
        let (target, config) = RedisConfig::target_of(url)?;
        config.validate()?;
        let endpoint = Endpoint::open(&target, &config)?;
        let conn = endpoint.connect(&config).await?;
        Self::from_parts(endpoint, conn, config)
    }

    /// [`RedisStore::open_url`] without connecting (see [`RedisStore::connect_lazy`]).
    ///
    /// # Errors
    /// As [`RedisStore::connect_lazy`].
    pub fn open_url_lazy(url: &str) -> Result<Self, Error> {
        let (target, config) = RedisConfig::target_of(url)?;
        config.validate()?;
        let endpoint = Endpoint::open(&target, &config)?;
        let conn = endpoint.connect_lazy(&config)?;
        Self::from_parts(endpoint, conn, config)
    }

    /// A store over a connection of your own (to share it with the rest of the
    /// application). Build it with [`RedisConfig::manager_config`] to get the timeouts;
    /// `client` (the one `conn` was built from) opens the dedicated connections of the
    /// invalidation subscribers ([`RedisStore::channel`]).
    ///
    /// # Errors
    /// [`Error::Config`] for an unusable configuration.
    pub fn new(
        client: redis::Client,
        conn: ConnectionManager,
        config: RedisConfig,
    ) -> Result<Self, Error> {
        Self::from_parts(Endpoint::Single(client), Connection::Single(conn), config)
    }

    fn from_parts(
        endpoint: Endpoint,
        conn: Connection,
        config: RedisConfig,
    ) -> Result<Self, Error> {
        config.validate()?;
        Ok(RedisStore {
            keys: Keys::new(config.prefix(), endpoint.is_cluster()),
            endpoint,
            conn,
            config,
        })
    }

    /// Whether this store talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.endpoint.is_cluster()
    }

    /// The prefix every key starts with: the configured one, made a hash tag
    /// (`{prefix}`) on a cluster unless it holds one already, so that every key of the
    /// store shares one slot.
    pub fn key_prefix(&self) -> &str {
        self.keys.prefix()
    }

    /// The connection (clone it to run commands of your own on it).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The settings.
    pub fn config(&self) -> &RedisConfig {
        &self.config
    }

    /// The invalidation channel of every node sharing this Redis and key prefix: a
    /// stream, `{prefix}:inv`. It publishes on the store's connection; each
    /// subscription opens a connection of its own.
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// # use durin_core::{CachedTokenStore, DigestKey, Durin, InvalidationBus};
    /// # async fn wire(store: Arc<durin_redis::RedisStore>) {
    /// let bus = InvalidationBus::new(Arc::new(store.channel()));
    /// let cached = Arc::new(CachedTokenStore::new(store.clone()).with_bus(&bus));
    /// let durin = Durin::builder(cached, store, DigestKey::generate("k1")).bus(&bus).build();
    /// let subscriber = bus.spawn_subscriber();
    /// // ... serve; at shutdown:
    /// subscriber.shutdown().await;
    /// # }
    /// ```
    pub fn channel(&self) -> RedisChannel {
        RedisChannel::new(
            self.endpoint.clone(),
            self.conn.clone(),
            self.keys.invalidations(),
            &self.config,
        )
    }

    /// The key that holds the session whose token has `digest` (`{prefix}:s:<hex>`),
    /// for monitoring and benchmarks. It names the digest, never the token.
    pub fn session_key(&self, digest: &TokenDigest) -> String {
        self.keys.session(digest)
    }

    /// A session script with the arguments every one takes (prefix, grace) in place.
    pub(crate) fn script<'a>(&self, script: &'a Script) -> ScriptInvocation<'a> {
        let mut invocation = script.prepare_invoke();
        invocation
            .arg(self.keys.prefix())
            .arg(self.config.grace_millis());
        invocation
    }

    pub(crate) async fn run<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        invocation
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)
    }

    /// [`RedisStore::run`] for a write that must be durable before it is acknowledged:
    /// then `WAIT` on the node that took it (see [`RedisConfig::with_wait_replicas`]).
    pub(crate) async fn run_durable<T: FromRedisValue>(
        &self,
        key: &str,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let reply = self.run(invocation).await?;
        self.wait_replicas(key).await?;
        Ok(reply)
    }

    /// Waits until the configured number of replicas of the primary that serves `key`
    /// acknowledged every write this connection sent it; fewer within the wait timeout
    /// is unavailability.
    pub(crate) async fn wait_replicas(&self, key: &str) -> Result<(), StoreError> {
        let wanted = self.config.wait_replicas();
        if wanted == 0 {
            return Ok(());
        }
        let timeout = u64::try_from(self.config.wait_timeout().as_millis()).unwrap_or(u64::MAX);
        let mut wait = redis::cmd("WAIT");
        wait.arg(wanted).arg(timeout.max(1));
        let mut conn = self.conn.clone();
        let acked: u32 = conn.query_at(key, &wait).await.map_err(store_error)?;
        if acked < wanted {
            return Err(StoreError::unavailable(format!(
                "the write reached {acked} of {wanted} replicas within {timeout} ms"
            )));
        }
        Ok(())
    }

    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        cmd.query_async(&mut conn).await.map_err(store_error)
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.keys.prefix())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// `(mode, revocation time)` as the scripts take them.
fn removal(how: Removal) -> (&'static str, String) {
    match how {
        Removal::Delete => ("delete", String::new()),
        Removal::Revoke { at } => ("revoke", millis(at)),
    }
}

fn millis(at: Timestamp) -> String {
    at.as_millis().to_string()
}

fn optional_millis(at: Option<Timestamp>) -> String {
    at.map(millis).unwrap_or_default()
}

pub(crate) fn decode_all(raws: Vec<Vec<u8>>) -> Result<Vec<Session>, StoreError> {
    raws.iter().map(|raw| decode_session(raw)).collect()
}

fn decode_optional(raw: Option<Vec<u8>>) -> Result<Option<Session>, StoreError> {
    raw.map(|raw| decode_session(&raw)).transpose()
}

#[async_trait]
impl TokenStore for RedisStore {
    async fn insert(
        &self,
        session: &Session,
        policy: InsertPolicy,
    ) -> Result<InsertOutcome, StoreError> {
        let (header, body) = encode_session(session);
        let (mode, at) = removal(policy.removal);
        let mut invocation = self.script(&SCRIPTS.insert);
        invocation
            .key(self.keys.session(&session.digest))
            .key(self.keys.id(&session.id))
            .key(self.keys.user(&session.user_id))
            .key(self.keys.all())
            .key(self.keys.client_sessions(&session.client))
            .key(self.keys.purge())
            .arg(header)
            .arg(body)
            .arg(policy.max_live.get())
            .arg(u8::from(policy.single_login))
            .arg(mode)
            .arg(at)
            .arg(millis(policy.now))
            .arg(match policy.when_full {
                WhenFull::EvictOldest => "evict",
                WhenFull::Refuse => "refuse",
            });
        if let Some(refresh) = &session.refresh {
            invocation.key(self.keys.refresh(&refresh.digest));
        }
        let mut reply: Vec<Vec<u8>> = self
            .run_durable(&self.keys.session(&session.digest), &invocation)
            .await?;
        if reply.is_empty() {
            return Err(StoreError::Corrupt(
                "empty reply from the insert script".into(),
            ));
        }
        let status = reply.remove(0);
        match status.as_slice() {
            b"ok" => Ok(InsertOutcome::Inserted {
                removed: decode_all(reply)?,
            }),
            b"full" => Ok(InsertOutcome::Refused(Refusal::Full)),
            b"name" => Ok(InsertOutcome::Refused(Refusal::NameTaken)),
            other => Err(StoreError::Corrupt(format!(
                "insert script status {:?}",
                String::from_utf8_lossy(other)
            ))),
        }
    }

    async fn get(&self, digest: &TokenDigest) -> Result<Option<Arc<Session>>, StoreError> {
        let raw: Option<Vec<u8>> = self
            .query(redis::cmd("GET").arg(self.keys.session(digest)))
            .await?;
        Ok(decode_optional(raw)?.map(Arc::new))
    }

    async fn get_by_id(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let mut invocation = self.script(&SCRIPTS.get_by_id);
        invocation.key(self.keys.id(id)).arg(id.as_str());
        decode_optional(self.run(&invocation).await?)
    }

    async fn get_by_refresh(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<RefreshLookup>, StoreError> {
        let mut invocation = self.script(&SCRIPTS.get_by_refresh);
        invocation
            .key(self.keys.refresh(digest))
            .key(self.keys.rotated(digest))
            .arg(digest.to_hex());
        let (kind, value): (u8, Vec<u8>) = self.run(&invocation).await?;
        match kind {
            1 => Ok(Some(RefreshLookup::Current(Box::new(decode_session(
                &value,
            )?)))),
            2 => String::from_utf8(value)
                .ok()
                .and_then(|id| SessionId::new(id).ok())
                .map(|id| Some(RefreshLookup::Rotated(id)))
                .ok_or_else(|| {
                    StoreError::Corrupt("rotated refresh key holds no session id".into())
                }),
            _ => Ok(None),
        }
    }

    async fn list_by_user(&self, user: &UserId) -> Result<Vec<Session>, StoreError> {
        let mut invocation = self.script(&SCRIPTS.list_user);
        invocation.key(self.keys.user(user));
        decode_all(self.run(&invocation).await?)
    }

    async fn extend(
        &self,
        id: &SessionId,
        expires_at: Option<Timestamp>,
        renewed_at: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        let mut invocation = self.script(&SCRIPTS.extend);
        invocation
            .key(self.keys.id(id))
            .key(self.keys.purge())
            .arg(id.as_str())
            .arg(optional_millis(expires_at))
            .arg(millis(renewed_at));
        decode_optional(self.run(&invocation).await?)
    }

    async fn touch(&self, id: &SessionId, at: Timestamp) -> Result<(), StoreError> {
        let mut invocation = self.script(&SCRIPTS.touch);
        invocation
            .key(self.keys.id(id))
            .key(self.keys.purge())
            .arg(id.as_str())
            .arg(millis(at));
        self.run::<i64>(&invocation).await.map(drop)
    }

    async fn rekey(
        &self,
        id: &SessionId,
        old: &TokenDigest,
        new: &TokenDigest,
    ) -> Result<bool, StoreError> {
        let mut invocation = self.script(&SCRIPTS.rekey);
        invocation
            .key(self.keys.id(id))
            .key(self.keys.session(old))
            .key(self.keys.session(new))
            .key(self.keys.purge())
            .arg(id.as_str())
            .arg(old.to_hex())
            .arg(new.to_hex());
        Ok(self.run::<i64>(&invocation).await? == 1)
    }

    async fn rotate(
        &self,
        id: &SessionId,
        presented: &TokenDigest,
        rotation: &Rotation,
    ) -> Result<Option<Session>, StoreError> {
        let mut invocation = self.script(&SCRIPTS.rotate);
        invocation
            .key(self.keys.id(id))
            .key(self.keys.refresh(presented))
            .key(self.keys.rotated(presented))
            .key(self.keys.session(&rotation.digest))
            .key(self.keys.refresh(&rotation.refresh_digest))
            .key(self.keys.rotated_set(id))
            .key(self.keys.purge())
            .arg(id.as_str())
            .arg(presented.to_hex())
            .arg(rotation.digest.to_hex())
            .arg(rotation.refresh_digest.to_hex())
            .arg(millis(rotation.refresh_expires_at))
            .arg(optional_millis(rotation.expires_at))
            .arg(millis(rotation.at));
        decode_optional(self.run_durable(&self.keys.id(id), &invocation).await?)
    }

    async fn remove(&self, id: &SessionId, how: Removal) -> Result<Option<Session>, StoreError> {
        let (mode, at) = removal(how);
        let mut invocation = self.script(&SCRIPTS.remove);
        invocation
            .key(self.keys.id(id))
            .key(self.keys.all())
            .key(self.keys.purge())
            .arg(id.as_str())
            .arg(mode)
            .arg(at);
        decode_optional(self.run_durable(&self.keys.id(id), &invocation).await?)
    }

    async fn remove_user(
        &self,
        user: &UserId,
        except: Option<&SessionId>,
        how: Removal,
    ) -> Result<Vec<Session>, StoreError> {
        let (mode, at) = removal(how);
        let mut invocation = self.script(&SCRIPTS.remove_user);
        invocation
            .key(self.keys.user(user))
            .key(self.keys.all())
            .key(self.keys.purge())
            .arg(except.map(SessionId::as_str).unwrap_or_default())
            .arg(mode)
            .arg(at);
        decode_all(self.run_durable(&self.keys.user(user), &invocation).await?)
    }

    async fn purge_expired(&self, before: Timestamp, batch: u32) -> Result<u64, StoreError> {
        if batch == 0 {
            return Ok(0);
        }
        let mut invocation = self.script(&SCRIPTS.purge);
        invocation
            .key(self.keys.purge())
            .key(self.keys.all())
            .arg(millis(before))
            .arg(batch);
        self.run(&invocation).await
    }

    fn backend(&self) -> &'static str {
        "redis"
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let until = now.saturating_add(ttl);
        // The key outlives the lease by a margin, so a clock behind Redis's never loses
        // a lease early; a lease nobody renews is dropped by Redis after that.
        let key_ttl = ttl.saturating_add(std::time::Duration::from_secs(60));
        let mut invocation = SCRIPTS.lease_acquire.prepare_invoke();
        invocation
            .key(self.keys.lease(name))
            .arg(holder)
            .arg(millis(now))
            .arg(millis(until))
            .arg(u64::try_from(key_ttl.as_millis()).unwrap_or(u64::MAX));
        let held: i64 = self.run(&invocation).await?;
        Ok(held == 1)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let mut invocation = SCRIPTS.lease_release.prepare_invoke();
        invocation.key(self.keys.lease(name)).arg(holder);
        let _: i64 = self.run(&invocation).await?;
        Ok(())
    }
}
