//! `RedisStore` and its `TokenStore` implementation: every method is one command or one
//! Lua script, so each is atomic on the server.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use durin_core::{
    InsertOutcome, InsertPolicy, RefreshLookup, Refusal, Removal, Rotation, RoutingTag, Session,
    SessionId, StoreError, Timestamp, TokenDigest, TokenStore, UserId, WhenFull,
};
use redis::aio::ConnectionManager;
use redis::{FromRedisValue, Script, ScriptInvocation};

use crate::conn::{Connection, Endpoint};
use crate::error::store_error;
use crate::keys::{Keys, Part};
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
    /// The cluster partitions this process registered already.
    registered: Arc<Mutex<HashSet<RoutingTag>>>,
    /// Whether the cluster holds untagged sessions (`{p}:untagged`), as last seen.
    untagged: Arc<Untagged>,
}

/// What a process knows of `{p}:untagged`, the flag set (for good) when the first
/// pointer key is written: until then a token whose partition holds nothing is unknown
/// after one `GET`, with no pointer lookup. The flag is read again at most once per
/// [`UNTAGGED_RECHECK`] while it is unset.
#[derive(Default)]
struct Untagged {
    seen: AtomicBool,
    checked: Mutex<Option<Instant>>,
}

/// How often a process that has not seen `{p}:untagged` set reads it again: sessions
/// copied into the cluster are found by every process at most this long after.
const UNTAGGED_RECHECK: Duration = Duration::from_secs(1);

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
            registered: Arc::default(),
            untagged: Arc::default(),
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

    /// The key that holds the session whose token has `digest` (`{prefix}:s:<hex>`;
    /// on a cluster `{prefix:<tag>}:s:<hex>`, from the routing tag the digest carries
    /// when [`durin_core::TokenHasher`] computed it from a token), for monitoring and
    /// benchmarks. It names the digest, never the token. `None` on a cluster for a
    /// digest without a routing tag (its partition is known only to a pointer key).
    pub fn session_key(&self, digest: &TokenDigest) -> Option<String> {
        match (self.keys.single_part(), digest.routing_tag()) {
            (Some(part), _) => Some(part.session(digest)),
            (None, Some(tag)) => Some(self.keys.part(tag).session(digest)),
            (None, None) => None,
        }
    }

    /// A session script with the arguments every one takes (the partition's prefix,
    /// grace) in place.
    pub(crate) fn script<'a>(&self, part: &Part, script: &'a Script) -> ScriptInvocation<'a> {
        let mut invocation = script.prepare_invoke();
        invocation
            .arg(part.prefix())
            .arg(self.config.grace_millis());
        invocation
    }

    /// The partition of the session whose token has `digest`: on one server the only
    /// one; on a cluster the one its routing tag names, or (a digest without one, or
    /// nothing there) the one its pointer key names, if any.
    async fn digest_part(&self, digest: &TokenDigest) -> Result<Option<Part>, StoreError> {
        if let Some(part) = self.keys.single_part() {
            return Ok(Some(part));
        }
        self.pointed(self.keys.pointer_digest(digest)).await
    }

    /// The partition of the session with public id `id` (see [`RedisStore::digest_part`]).
    async fn id_part(&self, id: &SessionId) -> Result<Option<Part>, StoreError> {
        if let Some(part) = self.keys.single_part() {
            return Ok(Some(part));
        }
        if let Some(tag) = id.routing_tag() {
            return Ok(Some(self.keys.part(tag)));
        }
        self.pointed(self.keys.pointer_id(id)).await
    }

    /// The partition a pointer key names.
    async fn pointed(&self, pointer: String) -> Result<Option<Part>, StoreError> {
        let tag: Option<String> = self.query(redis::cmd("GET").arg(pointer)).await?;
        Ok(tag
            .as_deref()
            .and_then(RoutingTag::parse)
            .map(|tag| self.keys.part(tag)))
    }

    /// On a cluster, records that `tag`'s partition holds sessions (once per process
    /// and tag), so that purge and the admin listing walk it.
    pub(crate) async fn register(&self, tag: RoutingTag) -> Result<(), StoreError> {
        if self.registered.lock().is_ok_and(|seen| seen.contains(&tag)) {
            return Ok(());
        }
        self.query::<i64>(
            redis::cmd("ZADD")
                .arg(self.keys.parts())
                .arg(0)
                .arg(tag.as_str()),
        )
        .await?;
        if let Ok(mut seen) = self.registered.lock() {
            seen.insert(tag);
        }
        Ok(())
    }

    /// On a cluster, whether pointer keys may exist (`{p}:untagged` is set): read at most
    /// once per [`UNTAGGED_RECHECK`] until it is, then never again.
    async fn untagged_exist(&self) -> Result<bool, StoreError> {
        if self.untagged.seen.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let due = self.untagged.checked.lock().is_ok_and(|mut checked| {
            let due = checked.is_none_or(|at| at.elapsed() >= UNTAGGED_RECHECK);
            if due {
                *checked = Some(Instant::now());
            }
            due
        });
        if !due {
            return Ok(false);
        }
        let set: bool = self
            .query(redis::cmd("EXISTS").arg(self.keys.untagged()))
            .await?;
        if set {
            self.untagged.seen.store(true, Ordering::Relaxed);
        }
        Ok(set)
    }

    /// The partitions that ever held a session (on one server: the only one).
    pub(crate) async fn parts(&self) -> Result<Vec<Part>, StoreError> {
        if let Some(part) = self.keys.single_part() {
            return Ok(vec![part]);
        }
        let tags: Vec<String> = self
            .query(redis::cmd("ZRANGE").arg(self.keys.parts()).arg(0).arg(-1))
            .await?;
        Ok(tags
            .iter()
            .filter_map(|tag| RoutingTag::parse(tag))
            .map(|tag| self.keys.part(tag))
            .collect())
    }

    /// On a cluster, makes `pointer` name `part` unless the id or digest it is for
    /// carries the partition's tag itself (`carried`). Returns the pointer when this
    /// call created it (to take back if the write is refused).
    /// [`StoreError::Conflict`] when it names another partition: the id or digest is
    /// taken there.
    async fn point(
        &self,
        pointer: String,
        carried: Option<RoutingTag>,
        part: &Part,
    ) -> Result<Option<String>, StoreError> {
        let Some(tag) = part.tag() else {
            return Ok(None);
        };
        if carried == Some(tag) {
            return Ok(None);
        }
        if !self.untagged.seen.load(Ordering::Relaxed) {
            // Before the pointer: a process that reads the flag unset cannot miss it.
            let () = self
                .query(redis::cmd("SET").arg(self.keys.untagged()).arg(1))
                .await?;
            self.untagged.seen.store(true, Ordering::Relaxed);
        }
        let created: Option<String> = self
            .query(redis::cmd("SET").arg(&pointer).arg(tag.as_str()).arg("NX"))
            .await?;
        if created.is_some() {
            return Ok(Some(pointer));
        }
        let held: Option<String> = self.query(redis::cmd("GET").arg(&pointer)).await?;
        if held.as_deref() == Some(tag.as_str()) {
            Ok(None)
        } else {
            Err(StoreError::Conflict(
                "session id or digest exists in another partition".into(),
            ))
        }
    }

    /// Deletes pointer keys, best effort (a pointer left behind names a partition that
    /// no longer holds the session: harmless).
    async fn unpoint(&self, pointers: Vec<String>) {
        if !self.keys.is_cluster() {
            return;
        }
        for pointer in pointers {
            if let Err(error) = self.query::<i64>(redis::cmd("DEL").arg(&pointer)).await {
                tracing::debug!(%error, "could not delete a routing pointer");
            }
        }
    }

    /// The pointers of deleted sessions.
    async fn unpoint_sessions(&self, removed: &[Session], how: Removal) {
        if matches!(how, Removal::Revoke { .. }) || !self.keys.is_cluster() {
            return;
        }
        let mut pointers = Vec::new();
        for session in removed {
            pointers.push(self.keys.pointer_id(&session.id));
            pointers.push(self.keys.pointer_digest(&session.digest));
            if let Some(refresh) = &session.refresh {
                pointers.push(self.keys.pointer_digest(&refresh.digest));
            }
        }
        self.unpoint(pointers).await;
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

impl RedisStore {
    /// The insert script in `part`.
    async fn insert_in(
        &self,
        part: &Part,
        session: &Session,
        policy: InsertPolicy,
    ) -> Result<InsertOutcome, StoreError> {
        let (header, body) = encode_session(session);
        let (mode, at) = removal(policy.removal);
        let mut invocation = self.script(part, &SCRIPTS.insert);
        invocation
            .key(part.session(&session.digest))
            .key(part.id(&session.id))
            .key(part.user(&session.user_id))
            .key(part.all())
            .key(part.client_sessions(&session.client))
            .key(part.purge())
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
            invocation.key(part.refresh(&refresh.digest));
        }
        let mut reply: Vec<Vec<u8>> = self.run_durable(&part.id(&session.id), &invocation).await?;
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

    /// The partition a digest's own routing tag names (on one server: the only one).
    fn routed(&self, digest: &TokenDigest) -> Option<Part> {
        self.keys
            .single_part()
            .or_else(|| digest.routing_tag().map(|tag| self.keys.part(tag)))
    }

    /// The refresh lookup script in `part` (nothing without one).
    async fn refresh_in(
        &self,
        part: Option<&Part>,
        digest: &TokenDigest,
    ) -> Result<Option<RefreshLookup>, StoreError> {
        let Some(part) = part else { return Ok(None) };
        let mut invocation = self.script(part, &SCRIPTS.get_by_refresh);
        invocation
            .key(part.refresh(digest))
            .key(part.rotated(digest))
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
        let part = self.keys.user_part(&session.user_id);
        let mut pointers = Vec::new();
        if let Some(tag) = part.tag() {
            self.register(tag).await?;
            let wanted = [
                (self.keys.pointer_id(&session.id), session.id.routing_tag()),
                (
                    self.keys.pointer_digest(&session.digest),
                    session.digest.routing_tag(),
                ),
            ]
            .into_iter()
            .chain(session.refresh.as_ref().map(|refresh| {
                (
                    self.keys.pointer_digest(&refresh.digest),
                    refresh.digest.routing_tag(),
                )
            }));
            for (pointer, carried) in wanted {
                match self.point(pointer, carried, &part).await {
                    Ok(created) => pointers.extend(created),
                    Err(error) => {
                        self.unpoint(pointers).await;
                        return Err(error);
                    }
                }
            }
        }
        let outcome = self.insert_in(&part, session, policy).await;
        if !matches!(outcome, Ok(InsertOutcome::Inserted { .. })) {
            self.unpoint(pointers).await;
        }
        if let Ok(InsertOutcome::Inserted { removed }) = &outcome {
            self.unpoint_sessions(removed, policy.removal).await;
        }
        outcome
    }

    async fn get(&self, digest: &TokenDigest) -> Result<Option<Arc<Session>>, StoreError> {
        // One GET: on a cluster, the digest of a token durin issued names its partition.
        let routed = match (self.keys.single_part(), digest.routing_tag()) {
            (Some(part), _) => Some(part),
            (None, Some(tag)) => Some(self.keys.part(tag)),
            (None, None) => None,
        };
        if let Some(part) = &routed {
            let raw: Option<Vec<u8>> = self
                .query(redis::cmd("GET").arg(part.session(digest)))
                .await?;
            if raw.is_some() || self.keys.single_part().is_some() {
                return Ok(decode_optional(raw)?.map(Arc::new));
            }
        }
        // A token without a routing tag (imported, or issued before): its pointer, if
        // the cluster holds any.
        if routed.is_some() && !self.untagged_exist().await? {
            return Ok(None);
        }
        let Some(part) = self.digest_part(digest).await? else {
            return Ok(None);
        };
        let raw: Option<Vec<u8>> = self
            .query(redis::cmd("GET").arg(part.session(digest)))
            .await?;
        Ok(decode_optional(raw)?.map(Arc::new))
    }

    async fn get_by_id(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let Some(part) = self.id_part(id).await? else {
            return Ok(None);
        };
        let mut invocation = self.script(&part, &SCRIPTS.get_by_id);
        invocation.key(part.id(id)).arg(id.as_str());
        decode_optional(self.run(&invocation).await?)
    }

    async fn get_by_refresh(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<RefreshLookup>, StoreError> {
        let mut found = self
            .refresh_in(self.routed(digest).as_ref(), digest)
            .await?;
        if found.is_none()
            && self.keys.is_cluster()
            && (digest.routing_tag().is_none() || self.untagged_exist().await?)
            && let Some(part) = self.digest_part(digest).await?
        {
            found = self.refresh_in(Some(&part), digest).await?;
        }
        Ok(found)
    }

    async fn list_by_user(&self, user: &UserId) -> Result<Vec<Session>, StoreError> {
        let part = self.keys.user_part(user);
        let mut invocation = self.script(&part, &SCRIPTS.list_user);
        invocation.key(part.user(user));
        decode_all(self.run(&invocation).await?)
    }

    async fn extend(
        &self,
        id: &SessionId,
        expires_at: Option<Timestamp>,
        renewed_at: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        let Some(part) = self.id_part(id).await? else {
            return Ok(None);
        };
        let mut invocation = self.script(&part, &SCRIPTS.extend);
        invocation
            .key(part.id(id))
            .key(part.purge())
            .arg(id.as_str())
            .arg(optional_millis(expires_at))
            .arg(millis(renewed_at));
        decode_optional(self.run(&invocation).await?)
    }

    async fn touch(&self, id: &SessionId, at: Timestamp) -> Result<(), StoreError> {
        let Some(part) = self.id_part(id).await? else {
            return Ok(());
        };
        let mut invocation = self.script(&part, &SCRIPTS.touch);
        invocation
            .key(part.id(id))
            .key(part.purge())
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
        let Some(part) = self.id_part(id).await? else {
            return Ok(false);
        };
        let pointer = self
            .point(self.keys.pointer_digest(new), new.routing_tag(), &part)
            .await?;
        let mut invocation = self.script(&part, &SCRIPTS.rekey);
        invocation
            .key(part.id(id))
            .key(part.session(old))
            .key(part.session(new))
            .key(part.purge())
            .arg(id.as_str())
            .arg(old.to_hex())
            .arg(new.to_hex());
        let done = self.run::<i64>(&invocation).await.map(|n| n == 1);
        if matches!(done, Ok(true)) {
            self.unpoint(vec![self.keys.pointer_digest(old)]).await;
        } else {
            self.unpoint(pointer.into_iter().collect()).await;
        }
        done
    }

    async fn rotate(
        &self,
        id: &SessionId,
        presented: &TokenDigest,
        rotation: &Rotation,
    ) -> Result<Option<Session>, StoreError> {
        let Some(part) = self.id_part(id).await? else {
            return Ok(None);
        };
        let mut pointers = Vec::new();
        for digest in [&rotation.digest, &rotation.refresh_digest] {
            match self
                .point(
                    self.keys.pointer_digest(digest),
                    digest.routing_tag(),
                    &part,
                )
                .await
            {
                Ok(created) => pointers.extend(created),
                Err(error) => {
                    self.unpoint(pointers).await;
                    return Err(error);
                }
            }
        }
        let mut invocation = self.script(&part, &SCRIPTS.rotate);
        invocation
            .key(part.id(id))
            .key(part.refresh(presented))
            .key(part.rotated(presented))
            .key(part.session(&rotation.digest))
            .key(part.refresh(&rotation.refresh_digest))
            .key(part.rotated_set(id))
            .key(part.purge())
            .arg(id.as_str())
            .arg(presented.to_hex())
            .arg(rotation.digest.to_hex())
            .arg(rotation.refresh_digest.to_hex())
            .arg(millis(rotation.refresh_expires_at))
            .arg(optional_millis(rotation.expires_at))
            .arg(millis(rotation.at));
        let rotated = self
            .run_durable(&part.id(id), &invocation)
            .await
            .and_then(decode_optional);
        match &rotated {
            // The presented refresh digest keeps its pointer: reuse is detected by it.
            Ok(Some(_)) => {
                self.unpoint(vec![self.keys.pointer_digest(&rotation.previous_digest)])
                    .await;
            }
            _ => self.unpoint(pointers).await,
        }
        rotated
    }

    async fn remove(&self, id: &SessionId, how: Removal) -> Result<Option<Session>, StoreError> {
        let Some(part) = self.id_part(id).await? else {
            return Ok(None);
        };
        let (mode, at) = removal(how);
        let mut invocation = self.script(&part, &SCRIPTS.remove);
        invocation
            .key(part.id(id))
            .key(part.all())
            .key(part.purge())
            .arg(id.as_str())
            .arg(mode)
            .arg(at);
        let removed = decode_optional(self.run_durable(&part.id(id), &invocation).await?)?;
        if let Some(session) = &removed {
            self.unpoint_sessions(std::slice::from_ref(session), how)
                .await;
        }
        Ok(removed)
    }

    async fn remove_user(
        &self,
        user: &UserId,
        except: Option<&SessionId>,
        how: Removal,
    ) -> Result<Vec<Session>, StoreError> {
        let part = self.keys.user_part(user);
        let (mode, at) = removal(how);
        let mut invocation = self.script(&part, &SCRIPTS.remove_user);
        invocation
            .key(part.user(user))
            .key(part.all())
            .key(part.purge())
            .arg(except.map(SessionId::as_str).unwrap_or_default())
            .arg(mode)
            .arg(at);
        let removed = decode_all(self.run_durable(&part.user(user), &invocation).await?)?;
        self.unpoint_sessions(&removed, how).await;
        Ok(removed)
    }

    /// One script per partition (each step atomic), up to `batch` sessions in all.
    async fn purge_expired(&self, before: Timestamp, batch: u32) -> Result<u64, StoreError> {
        let mut total = 0u64;
        for part in self.parts().await? {
            let left = u64::from(batch).saturating_sub(total);
            if left == 0 {
                break;
            }
            let mut invocation = self.script(&part, &SCRIPTS.purge);
            invocation
                .key(part.purge())
                .key(part.all())
                .arg(millis(before))
                .arg(left);
            total += self.run::<u64>(&invocation).await?;
        }
        Ok(total)
    }
}

#[async_trait]
impl durin_core::Leases for RedisStore {
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

/// Redis as a whole backend: sessions, clients, administration, settings, the shared
/// throttle ([`crate::RedisThrottle`]), the failed-login limit, leases and the invalidation
/// stream. Keys expire by themselves, so there is no housekeeping to run.
#[async_trait]
impl durin_core::Backend for RedisStore {
    fn name(&self) -> &'static str {
        "redis"
    }
    fn tokens(self: Arc<Self>) -> Arc<dyn TokenStore> {
        self
    }
    fn clients(self: Arc<Self>) -> Arc<dyn durin_core::ClientStore> {
        self
    }
    fn admin(self: Arc<Self>) -> Option<Arc<dyn durin_core::SessionAdmin>> {
        Some(self)
    }
    fn settings(self: Arc<Self>) -> Option<Arc<dyn durin_core::SettingsStore>> {
        Some(self)
    }
    fn throttle(self: Arc<Self>) -> Option<Arc<dyn durin_core::Throttle>> {
        Some(Arc::new(crate::RedisThrottle::from_store(&self)))
    }
    fn attempts(self: Arc<Self>) -> Option<Arc<dyn durin_core::AttemptLimiter>> {
        Some(self)
    }
    fn channel(self: Arc<Self>) -> Option<Arc<dyn durin_core::InvalidationChannel>> {
        Some(Arc::new(RedisStore::channel(&self)))
    }
    fn leases(self: Arc<Self>) -> Option<Arc<dyn durin_core::Leases>> {
        Some(self)
    }
}
