//! The `Durin` service: issue, authenticate, renew, refresh, revoke.
//!
//! This file holds the service, issuing and authenticating; the other operations live
//! beside it by concept: `sessions.rs` (renew, refresh, logout, listing, revoking,
//! purging), `clients.rs` (client policies, prefixes, throttling), `api_keys.rs` (API keys
//! and named tokens), `settings.rs`, `events.rs` and `builder.rs` (the settings).

mod api_keys;
mod builder;
mod client_cache;
mod clients;
mod events;
mod legacy;
mod sessions;
mod settings;

use std::sync::Arc;

pub use api_keys::{NamedToken, TokenLifetime};
pub use builder::{DEFAULT_SETTINGS_LIMIT, DurinBuilder, ExpiredPolicy};
pub use events::{Event, EventHook, Veto, Vetoable};
pub use sessions::{PURGE_LEASE, PurgeRun};

use self::builder::Config;
use self::client_cache::ClientCache;
use crate::{
    AuthError, Authenticated, Client, ClientName, ClientStore, Clock, DigestKey, InsertPolicy,
    InvalidReason, RefreshState, Refusal, Removal, Renewal, RoutingTag, Session, SessionId,
    Timestamp, TokenDigest, TokenHasher, TokenName, TokenStore, TokenString, Transport, UserId,
    WhenFull,
};

/// Options of one login.
#[derive(Debug, Clone, Default)]
pub struct LoginOptions {
    /// Scopes to request; `None` = the client's scopes. Each must be allowed by the
    /// client, or the login is refused with [`AuthError::Forbidden`].
    pub scopes: Option<Vec<String>>,
    /// Whatever the application wants to keep with the session (device, address...).
    pub context: serde_json::Map<String, serde_json::Value>,
    /// Header (default) or cookie.
    pub transport: Transport,
    /// Revoke every other session of the user, all clients.
    pub single_login: bool,
}

/// A successful login: the token (shown once), the session, the client.
#[derive(Debug, Clone)]
pub struct Login {
    /// The new token. It is never stored: hand it to the client now.
    pub token: TokenString,
    /// The new refresh token, when the client issues them.
    pub refresh_token: Option<TokenString>,
    /// The stored session.
    pub session: Session,
    /// The client's policy.
    pub client: Arc<Client>,
}

/// The durin service. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Durin {
    inner: Arc<Inner>,
}

struct Inner {
    tokens: Arc<dyn TokenStore>,
    clients: Arc<dyn ClientStore>,
    hasher: TokenHasher,
    config: Config,
    client_cache: Arc<ClientCache>,
    metrics: ServiceMetrics,
}

/// Counters registered once, so the hot path does not look metrics up by name.
///
/// `durin_authentications_total{outcome, reason}`: `outcome` is what the caller is told
/// (`ok`, `invalid`, `expired`, `revoked`, `forbidden`, `unavailable`; the HTTP layer
/// adds `throttled` and its own `forbidden`), `reason` the finer cause from a fixed set.
/// Both are `&'static str` from this code, never from a request (docs/metrics.md).
struct ServiceMetrics {
    ok: metrics::Counter,
    malformed: metrics::Counter,
    foreign_prefix: metrics::Counter,
    unknown: metrics::Counter,
    client_gone: metrics::Counter,
    wrong_transport: metrics::Counter,
    refresh_reused: metrics::Counter,
    expired: metrics::Counter,
    revoked: metrics::Counter,
    vetoed: metrics::Counter,
    forbidden: metrics::Counter,
    unavailable: metrics::Counter,
    other: metrics::Counter,
    issued: metrics::Counter,
    throttle_allowed: metrics::Counter,
    throttle_throttled: metrics::Counter,
    purge_ran: metrics::Counter,
    purge_skipped: metrics::Counter,
    purge_failed: metrics::Counter,
    purged: metrics::Counter,
}

impl ServiceMetrics {
    fn new() -> Self {
        let auth = |outcome: &'static str, reason: &'static str| {
            metrics::counter!(
                "durin_authentications_total",
                "outcome" => outcome,
                "reason" => reason
            )
        };
        let throttle = |decision: &'static str| metrics::counter!("durin_throttle_decisions_total", "decision" => decision);
        let purge =
            |result: &'static str| metrics::counter!("durin_purge_runs_total", "result" => result);
        ServiceMetrics {
            ok: auth("ok", "ok"),
            malformed: auth("invalid", "malformed"),
            foreign_prefix: auth("invalid", "foreign_prefix"),
            unknown: auth("invalid", "unknown"),
            client_gone: auth("invalid", "client_gone"),
            wrong_transport: auth("invalid", "wrong_transport"),
            refresh_reused: auth("invalid", "refresh_reused"),
            expired: auth("expired", "expired"),
            revoked: auth("revoked", "revoked"),
            vetoed: auth("invalid", "vetoed"),
            forbidden: auth("forbidden", "client"),
            unavailable: auth("unavailable", "store"),
            other: auth("invalid", "other"),
            issued: metrics::counter!("durin_tokens_issued_total"),
            throttle_allowed: throttle("allowed"),
            throttle_throttled: throttle("throttled"),
            purge_ran: purge("ran"),
            purge_skipped: purge("skipped"),
            purge_failed: purge("failed"),
            purged: metrics::counter!("durin_sessions_purged_total"),
        }
    }

    fn record(&self, result: &Result<Authenticated, AuthError>) {
        let counter = match result {
            Ok(_) => &self.ok,
            Err(AuthError::InvalidToken(reason)) => match reason {
                InvalidReason::Format(crate::TokenFormatError::ForeignPrefix) => {
                    &self.foreign_prefix
                }
                InvalidReason::Format(_) => &self.malformed,
                InvalidReason::Unknown => &self.unknown,
                InvalidReason::Revoked => &self.revoked,
                InvalidReason::ClientGone => &self.client_gone,
                InvalidReason::WrongTransport => &self.wrong_transport,
                InvalidReason::RefreshReused => &self.refresh_reused,
            },
            Err(AuthError::Expired) => &self.expired,
            Err(AuthError::Vetoed(_)) => &self.vetoed,
            Err(AuthError::Forbidden) => &self.forbidden,
            Err(AuthError::Unavailable(_)) => &self.unavailable,
            Err(_) => &self.other,
        };
        counter.increment(1);
    }
}

impl std::fmt::Debug for Durin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Durin")
            .field("prefix", &self.inner.config.prefix)
            .field("key_id", &self.inner.hasher.current().id())
            .field("api_access_client", &self.inner.config.api_access_client)
            .field("tokens_client", &self.inner.config.tokens_client)
            .finish_non_exhaustive()
    }
}

/// What to issue: everything a new session needs besides its user.
struct Issue {
    client: Arc<Client>,
    scopes: Vec<String>,
    expires_at: Option<Timestamp>,
    name: Option<TokenName>,
    options: LoginOptions,
    max_live: std::num::NonZeroU32,
    when_full: WhenFull,
}

impl Durin {
    /// Starts building a service over a token store, a client store and the current
    /// digest key.
    pub fn builder(
        tokens: Arc<dyn TokenStore>,
        clients: Arc<dyn ClientStore>,
        key: DigestKey,
    ) -> DurinBuilder {
        DurinBuilder::new(tokens, clients, key)
    }

    /// The token store.
    pub fn tokens(&self) -> &Arc<dyn TokenStore> {
        &self.inner.tokens
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.config.clock
    }

    /// The digests of tokens: current key and previous keys.
    pub fn hasher(&self) -> &TokenHasher {
        &self.inner.hasher
    }

    /// The API-access client's name, if configured.
    pub fn api_access_client(&self) -> Option<&ClientName> {
        self.inner.config.api_access_client.as_ref()
    }

    /// The named-tokens client's name, if configured.
    pub fn tokens_client(&self) -> Option<&ClientName> {
        self.inner.config.tokens_client.as_ref()
    }

    fn now(&self) -> Timestamp {
        self.inner.config.clock.now()
    }

    /// Issues a new token for `user` through `client`.
    ///
    /// The (user, client) pair keeps at most the client's `max_tokens_per_user` live
    /// tokens: the oldest beyond it are revoked in the same atomic store call.
    ///
    /// # Errors
    /// [`AuthError::UnknownClient`], [`AuthError::Forbidden`] for a scope the client does
    /// not allow, [`AuthError::Vetoed`] by the hook, [`AuthError::Unavailable`].
    #[tracing::instrument(level = "debug", skip_all, fields(user = %user, client = %client_name))]
    pub async fn login(
        &self,
        user: &UserId,
        client_name: &ClientName,
        options: LoginOptions,
    ) -> Result<Login, AuthError> {
        let client = self
            .client(client_name)
            .await?
            .ok_or(AuthError::UnknownClient)?;
        let scopes = match &options.scopes {
            Some(requested) => {
                if let Some(denied) = requested.iter().find(|s| !client.allows_scope(s)) {
                    tracing::debug!(scope = %denied, "scope not allowed for client");
                    return Err(AuthError::Forbidden);
                }
                requested.clone()
            }
            None => client.scopes.clone(),
        };
        let now = self.now();
        let issue = Issue {
            expires_at: client.expiry(now, now),
            max_live: client.max_tokens_per_user,
            when_full: WhenFull::EvictOldest,
            client,
            scopes,
            name: None,
            options,
        };
        self.issue(user, issue, now).await
    }

    /// Stores a new session for `user` under `issue`'s policy and hands out its token.
    async fn issue(&self, user: &UserId, issue: Issue, now: Timestamp) -> Result<Login, AuthError> {
        let client = issue.client;
        let prefix = client.prefix_or(&self.inner.config.prefix);
        // The tokens and the id carry the user's routing tag (for sharded stores).
        let tag = RoutingTag::for_user(user);
        let token = TokenString::generate_routed(prefix, tag);
        let refresh_token = client
            .refresh_ttl
            .map(|_| TokenString::generate_routed(prefix, tag));
        let session = Session {
            id: SessionId::generate_routed(tag),
            user_id: user.clone(),
            client: client.name.clone(),
            digest: self.inner.hasher.digest(&token),
            created_at: now,
            expires_at: issue.expires_at,
            renewed_at: None,
            last_used_at: None,
            scopes: issue.scopes,
            context: issue.options.context,
            transport: issue.options.transport,
            revoked_at: None,
            refresh: refresh_token.as_ref().map(|rt| RefreshState {
                digest: self.inner.hasher.digest(rt),
                expires_at: client.refresh_expiry(now, now),
            }),
            name: issue.name,
        };
        if let Some(hook) = &self.inner.config.hook {
            hook.approve(Vetoable::Login { session: &session })
                .await
                .map_err(|Veto(reason)| AuthError::Vetoed(reason))?;
        }
        let policy = InsertPolicy {
            max_live: issue.max_live,
            when_full: issue.when_full,
            single_login: issue.options.single_login,
            removal: self.removal(now),
            now,
        };
        let removed = self
            .inner
            .tokens
            .insert(&session, policy)
            .await?
            .into_removed()
            .map_err(|refusal| match refusal {
                Refusal::Full => AuthError::TokenLimit,
                Refusal::NameTaken => AuthError::NameTaken,
            })?;
        self.inner.metrics.issued.increment(1);
        tracing::info!(session = %session.id, user = %user, client = %client.name, "token issued");
        self.observe(Event::LoggedIn { session: &session }).await;
        for old in &removed {
            self.observe(Event::Revoked { session: old }).await;
        }
        Ok(Login {
            token,
            refresh_token,
            session,
            client,
        })
    }

    /// Authenticates a token: prefix, digest, lookup, expiry, sliding renewal, hook.
    ///
    /// A token whose prefix neither the service nor any client issues is refused before
    /// any I/O (the client list is re-read at most every 5 seconds, or at once after a
    /// client changed, to learn prefixes of clients created elsewhere).
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] (unknown, foreign prefix, revoked, wrong transport,
    /// client gone), [`AuthError::Expired`], [`AuthError::Vetoed`],
    /// [`AuthError::Unavailable`].
    pub async fn authenticate(
        &self,
        token: &TokenString,
        transport: Transport,
    ) -> Result<Authenticated, AuthError> {
        // The common request: a known prefix, a cache hit, nothing to write or ask.
        // Synchronous, so it neither allocates nor moves the larger future below.
        let digest = self
            .issues_prefix(token.prefix())
            .then(|| self.inner.hasher.digest(token));
        let cached = digest.as_ref().and_then(|digest| {
            self.inner
                .config
                .hit_path
                .as_ref()?
                .get_cached(digest)
                .filter(|session| session.digest.ct_eq(digest))
        });
        if let Some(session) = cached.as_ref()
            && let Some(client) = self.admit_at_once(session, transport)
        {
            self.inner.metrics.ok.increment(1);
            let session = Arc::clone(session);
            return Ok(Authenticated { session, client });
        }
        // Everything else (store reads, renewals, the hook) in a boxed future, which
        // the common request does not carry.
        let result = Box::pin(self.lookup(token, transport, digest, cached)).await;
        self.inner.metrics.record(&result);
        result
    }

    /// `digest` is the token's digest when its prefix is known here, `cached` the
    /// session the cache held for it.
    async fn lookup(
        &self,
        token: &TokenString,
        transport: Transport,
        digest: Option<TokenDigest>,
        cached: Option<Arc<Session>>,
    ) -> Result<Authenticated, AuthError> {
        let digest = match digest {
            Some(digest) => digest,
            None => {
                self.check_prefix(token.prefix()).await?;
                self.inner.hasher.digest(token)
            }
        };
        if let Some(session) = cached {
            return self.admit(session, transport).await;
        }
        let session = match self.inner.tokens.get(&digest).await? {
            Some(session) if session.digest.ct_eq(&digest) => session,
            _ => self
                .find_under_previous_keys(token, &digest)
                .await?
                .ok_or(AuthError::InvalidToken(InvalidReason::Unknown))?,
        };
        self.admit(session, transport).await
    }

    /// The client of a cached session that passes every check with nothing to wait for
    /// (not expired or revoked, the right transport, its client's policy cached, no
    /// sliding renewal or last-use write due, no hook to ask): the common request, with
    /// no store call and no allocation. `None` sends the session through [`admit`]
    /// (`Self::admit`), which decides the same way and does what is due.
    fn admit_at_once(&self, session: &Session, transport: Transport) -> Option<Arc<Client>> {
        if self.inner.config.hook.is_some() {
            return None;
        }
        let now = self.now();
        self.precheck(session, transport, now).ok()?;
        let client = self.inner.client_cache.get(&session.client, now)?;
        self.due(session, &client, now)
            .is_nothing()
            .then_some(client)
    }

    /// The admission rules that need no I/O, in one place for the cache-hit path and the
    /// store path: expiry, revocation, transport.
    fn precheck(
        &self,
        session: &Session,
        transport: Transport,
        now: Timestamp,
    ) -> Result<(), AuthError> {
        if session.is_expired(now) {
            Err(AuthError::Expired)
        } else if session.revoked_at.is_some() {
            Err(AuthError::InvalidToken(InvalidReason::Revoked))
        } else if session.transport != transport && !self.inner.config.cross_transport {
            Err(AuthError::InvalidToken(InvalidReason::WrongTransport))
        } else {
            Ok(())
        }
    }

    /// The writes an admitted session is due (sliding renewal, last use), decided
    /// without I/O for both paths: the hit path answers only when nothing is due.
    fn due(&self, session: &Session, client: &Client, now: Timestamp) -> Due {
        let renew_to = match client.renewal {
            // A named token's lifetime is fixed at creation: never slid.
            Renewal::Sliding { min_interval } if session.name.is_none() => {
                let last = session.renewed_at.unwrap_or(session.created_at);
                let next = client.expiry(session.created_at, now);
                (now.duration_since(last) >= min_interval && next > session.expires_at)
                    .then_some(next)
            }
            _ => None,
        };
        let touch = self.inner.config.track_last_used.is_some_and(|debounce| {
            session
                .last_used_at
                .is_none_or(|at| now.duration_since(at) >= debounce)
        });
        Due { renew_to, touch }
    }

    /// Everything after the lookup, shared by every way a session is found: expiry,
    /// revocation, transport, client, sliding renewal, last use, the hook.
    pub(crate) async fn admit(
        &self,
        mut session: Arc<Session>,
        transport: Transport,
    ) -> Result<Authenticated, AuthError> {
        let now = self.now();
        match self.precheck(&session, transport, now) {
            Err(AuthError::Expired) => {
                self.on_expired(&session, now).await?;
                return Err(AuthError::Expired);
            }
            checked => checked?,
        }
        let client = self
            .client_at(&session.client, now)
            .await?
            .ok_or(AuthError::InvalidToken(InvalidReason::ClientGone))?;
        let due = self.due(&session, &client, now);
        if let Some(next) = due.renew_to {
            let renewed = self
                .inner
                .tokens
                .extend(&session.id, next, now)
                .await?
                .ok_or(AuthError::InvalidToken(InvalidReason::Revoked))?;
            self.observe(Event::Renewed { session: &renewed }).await;
            session = Arc::new(renewed);
        }
        if due.touch {
            // Best effort: a failed bookkeeping write must not refuse a valid token.
            match self.inner.tokens.touch(&session.id, now).await {
                Ok(()) => Arc::make_mut(&mut session).last_used_at = Some(now),
                Err(error) => tracing::warn!(%error, "could not record last use"),
            }
        }
        if let Some(hook) = &self.inner.config.hook {
            hook.approve(Vetoable::Authentication {
                session: &session,
                client: &client,
            })
            .await
            .map_err(|Veto(reason)| AuthError::Vetoed(reason))?;
        }
        Ok(Authenticated { session, client })
    }

    /// Parses `token` (no I/O on a malformed one) and authenticates it.
    ///
    /// # Errors
    /// As [`Durin::authenticate`]; a malformed token is [`AuthError::InvalidToken`].
    pub async fn authenticate_str(
        &self,
        token: &str,
        transport: Transport,
    ) -> Result<Authenticated, AuthError> {
        let token = TokenString::parse(token)?;
        self.authenticate(&token, transport).await
    }

    fn removal(&self, now: Timestamp) -> Removal {
        if self.inner.config.audit {
            Removal::Revoke { at: now }
        } else {
            Removal::Delete
        }
    }

    async fn find_under_previous_keys(
        &self,
        token: &TokenString,
        current: &TokenDigest,
    ) -> Result<Option<Arc<Session>>, AuthError> {
        for old in self.inner.hasher.previous_digests(token) {
            let Some(session) = self.inner.tokens.get(&old).await? else {
                continue;
            };
            if !session.digest.ct_eq(&old) {
                continue;
            }
            let mut session = Arc::unwrap_or_clone(session);
            if self.inner.tokens.rekey(&session.id, &old, current).await? {
                tracing::debug!(session = %session.id, "re-digested under the current key");
                session.digest = *current;
            }
            return Ok(Some(Arc::new(session)));
        }
        Ok(None)
    }

    async fn on_expired(&self, session: &Session, now: Timestamp) -> Result<(), AuthError> {
        self.observe(Event::Expired { session }).await;
        if self.inner.config.expired_policy == ExpiredPolicy::Remove && session.revoked_at.is_none()
        {
            self.inner
                .tokens
                .remove(&session.id, self.removal(now))
                .await?;
        }
        Ok(())
    }

    async fn observe(&self, event: Event<'_>) {
        match event {
            Event::Renewed { session } => {
                tracing::debug!(session = %session.id, expires_at = ?session.expires_at, "renewed")
            }
            Event::Expired { session } => tracing::debug!(session = %session.id, "expired"),
            Event::Revoked { session } => {
                tracing::info!(session = %session.id, user = %session.user_id, "revoked")
            }
            Event::LoggedIn { .. } => {}
        }
        if let Some(hook) = &self.inner.config.hook {
            hook.observe(event).await;
        }
    }
}

/// The writes an admitted session is due ([`Durin::due`]).
struct Due {
    /// A sliding renewal to this expiry.
    renew_to: Option<Option<Timestamp>>,
    /// A last-use write.
    touch: bool,
}

impl Due {
    fn is_nothing(&self) -> bool {
        self.renew_to.is_none() && !self.touch
    }
}
