//! The service's settings, with their defaults in one place, and the builder that sets
//! them.

use std::sync::Arc;
use std::time::Duration;

use super::client_cache::ClientCache;
use super::{Durin, EventHook, Inner, ServiceMetrics};
use crate::{
    CacheLookup, ClientName, ClientStore, Clock, DigestKey, InvalidationBus, Rate, SettingsStore,
    SystemClock, Throttle, TokenHasher, TokenPrefix, TokenStore,
};

/// What the service does with an expired session when its token is presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpiredPolicy {
    /// Keep it (no write on the request path); it keeps answering "expired" until
    /// [`Durin::purge_expired`] deletes it after the grace period. The default.
    #[default]
    Keep,
    /// Remove it at its first rejection (deleted, or marked revoked in audit mode), as
    /// django-rest-durin does; later presentations answer "invalid".
    Remove,
}

/// The largest settings object [`Durin::put_settings`] accepts by default: 16 KiB of
/// JSON.
pub const DEFAULT_SETTINGS_LIMIT: usize = 16 * 1024;

/// Every setting of the service. The builder fills it; the service reads it.
pub(crate) struct Config {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) prefix: TokenPrefix,
    pub(crate) throttle: Option<Arc<dyn Throttle>>,
    pub(crate) default_rate: Option<Rate>,
    pub(crate) expired_policy: ExpiredPolicy,
    pub(crate) expired_grace: Duration,
    pub(crate) audit: bool,
    pub(crate) track_last_used: Option<Duration>,
    pub(crate) hook: Option<Arc<dyn EventHook>>,
    pub(crate) api_access_client: Option<ClientName>,
    pub(crate) tokens_client: Option<ClientName>,
    pub(crate) client_cache_ttl: Duration,
    pub(crate) cross_transport: bool,
    pub(crate) purge_batch: u32,
    pub(crate) settings: Option<Arc<dyn SettingsStore>>,
    pub(crate) settings_limit: usize,
    pub(crate) bus: Option<Arc<InvalidationBus>>,
    pub(crate) hit_path: Option<Arc<dyn CacheLookup>>,
}

impl Default for Config {
    /// The secure defaults, in this one place.
    fn default() -> Self {
        Config {
            clock: Arc::new(SystemClock),
            prefix: TokenPrefix::default(),
            throttle: None,
            default_rate: None,
            expired_policy: ExpiredPolicy::Keep,
            expired_grace: Duration::from_secs(3600),
            audit: false,
            track_last_used: None,
            hook: None,
            api_access_client: None,
            tokens_client: None,
            client_cache_ttl: Duration::from_secs(5),
            cross_transport: false,
            purge_batch: 1000,
            settings: None,
            settings_limit: DEFAULT_SETTINGS_LIMIT,
            bus: None,
            hit_path: None,
        }
    }
}

/// Builds a [`Durin`]. Every setter documents its default and takes a plain value: a
/// knob left unset keeps its default.
#[must_use]
pub struct DurinBuilder {
    tokens: Arc<dyn TokenStore>,
    clients: Arc<dyn ClientStore>,
    hasher: TokenHasher,
    config: Config,
}

impl DurinBuilder {
    pub(crate) fn new(
        tokens: Arc<dyn TokenStore>,
        clients: Arc<dyn ClientStore>,
        key: DigestKey,
    ) -> Self {
        DurinBuilder {
            tokens,
            clients,
            hasher: TokenHasher::new(key),
            config: Config::default(),
        }
    }

    /// The token cache's synchronous hit path, tried before any store call: a cache
    /// hit is then answered without a boxed future or an allocation. Give the same
    /// `CachedTokenStore` that is the token store
    /// (`Durin::builder(cache.clone(), ..).hit_path(cache)`); [`crate::Node`] does.
    /// Default: none (every lookup goes through the token store, cache included).
    pub fn hit_path(mut self, cache: Arc<dyn CacheLookup>) -> Self {
        self.config.hit_path = Some(cache);
        self
    }

    /// The clock. Default: [`SystemClock`].
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.config.clock = clock;
        self
    }

    /// A previous digest key, still accepted for verification; tokens found under it
    /// are re-digested under the current key. Default: none.
    pub fn previous_key(mut self, key: DigestKey) -> Self {
        self.hasher = self.hasher.with_previous(key);
        self
    }

    /// The prefix of issued tokens, unless a client sets its own. Default: `durin`.
    pub fn prefix(mut self, prefix: TokenPrefix) -> Self {
        self.config.prefix = prefix;
        self
    }

    /// The throttle for [`Durin::throttle`]. Default: none (nothing is throttled). With
    /// several nodes, give it a shared one (PostgreSQL, SQLite or Redis) so a rate holds
    /// across all of them.
    pub fn throttle(mut self, throttle: Arc<dyn Throttle>) -> Self {
        self.config.throttle = Some(throttle);
        self
    }

    /// The rate for clients without one. Default: none (such clients are unthrottled).
    pub fn default_rate(mut self, rate: Rate) -> Self {
        self.config.default_rate = Some(rate);
        self
    }

    /// What to do with an expired session when presented. Default: [`ExpiredPolicy::Keep`].
    pub fn expired_policy(mut self, policy: ExpiredPolicy) -> Self {
        self.config.expired_policy = policy;
        self
    }

    /// How long after expiry (or revocation) [`Durin::purge_expired`] keeps a session, so
    /// its token answers "expired" rather than "invalid". Default: 1 hour.
    pub fn expired_grace(mut self, grace: Duration) -> Self {
        self.config.expired_grace = grace;
        self
    }

    /// Audit mode: revoked and evicted sessions are kept with `revoked_at` set until
    /// purged, instead of deleted. Default: off.
    pub fn audit_mode(mut self) -> Self {
        self.config.audit = true;
        self
    }

    /// Records `last_used_at`, written at most once per `debounce` per session.
    /// Default: off (no write on the request path).
    pub fn track_last_used(mut self, debounce: Duration) -> Self {
        self.config.track_last_used = Some(debounce);
        self
    }

    /// The event hook. Default: none (events go to `tracing` only).
    pub fn hook(mut self, hook: Arc<dyn EventHook>) -> Self {
        self.config.hook = Some(hook);
        self
    }

    /// The client whose tokens are API keys ([`Durin::api_key`] and friends).
    /// Default: none (the API-key operations answer [`crate::AuthError::NotConfigured`]).
    pub fn api_access_client(mut self, client: ClientName) -> Self {
        self.config.api_access_client = Some(client);
        self
    }

    /// The client of named personal tokens ([`Durin::create_named_token`] and friends).
    /// Default: none (those operations answer [`crate::AuthError::NotConfigured`]).
    pub fn tokens_client(mut self, client: ClientName) -> Self {
        self.config.tokens_client = Some(client);
        self
    }

    /// How long a client's policy is cached in this process. Default: 5 seconds; zero
    /// disables the cache (one client read per request). With a [`bus`](Self::bus), a
    /// change made anywhere reaches the cache at once; the TTL is the last bound.
    pub fn client_cache_ttl(mut self, ttl: Duration) -> Self {
        self.config.client_cache_ttl = ttl;
        self
    }

    /// Accepts header-issued tokens in a cookie and the reverse. Default: off.
    pub fn allow_cross_transport(mut self) -> Self {
        self.config.cross_transport = true;
        self
    }

    /// Sessions deleted per store call by [`Durin::purge_expired`]. Default: 1000.
    pub fn purge_batch(mut self, batch: u32) -> Self {
        self.config.purge_batch = batch.max(1);
        self
    }

    /// Where per-(user, client) settings live ([`Durin::settings`]). Default: none (the
    /// settings operations answer [`crate::AuthError::NotConfigured`]).
    pub fn settings_store(mut self, store: Arc<dyn SettingsStore>) -> Self {
        self.config.settings = Some(store);
        self
    }

    /// The largest settings object accepted, in bytes of JSON. Default: 16 KiB.
    pub fn settings_limit(mut self, bytes: usize) -> Self {
        self.config.settings_limit = bytes;
        self
    }

    /// The invalidation bus shared with the token cache: client changes made through
    /// this service are published on it, and other nodes' reach the client-policy
    /// cache. Default: none (one process).
    pub fn bus(mut self, bus: &Arc<InvalidationBus>) -> Self {
        self.config.bus = Some(bus.clone());
        self
    }

    /// Builds the service.
    pub fn build(self) -> Durin {
        let client_cache = Arc::new(ClientCache::new(self.config.client_cache_ttl));
        if let Some(bus) = &self.config.bus {
            bus.register(client_cache.clone());
        }
        Durin {
            inner: Arc::new(Inner {
                tokens: self.tokens,
                clients: self.clients,
                hasher: self.hasher,
                config: self.config,
                client_cache,
                metrics: ServiceMetrics::new(),
            }),
        }
    }
}
