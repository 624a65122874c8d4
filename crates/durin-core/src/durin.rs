//! The `Durin` service: issue, authenticate, renew, refresh, revoke.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::{
    AuthError, Authenticated, Client, ClientName, ClientStore, Clock, DigestKey, InsertPolicy,
    InvalidReason, Rate, RefreshLookup, RefreshState, Removal, Renewal, Rotation, Session,
    SessionId, SystemClock, Throttle, ThrottleDecision, Timestamp, TokenDigest, TokenHasher,
    TokenPrefix, TokenStore, TokenString, Transport, UserId,
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

/// Something that happened to a session, for an [`EventHook`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A token is about to be issued (a veto refuses the login).
    Login {
        /// The session to be stored.
        session: &'a Session,
    },
    /// A token authenticated (a veto refuses the request).
    Authenticated {
        /// The session.
        session: &'a Session,
        /// Its client.
        client: &'a Client,
    },
    /// A session's expiry moved forward.
    Renewed {
        /// The session after renewal.
        session: &'a Session,
    },
    /// An expired token was presented.
    Expired {
        /// The expired session.
        session: &'a Session,
    },
    /// A session was revoked (logout, logout-all, eviction, refresh reuse).
    Revoked {
        /// The session as it was.
        session: &'a Session,
    },
}

/// An [`EventHook`]'s refusal, with a reason for the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Veto(pub String);

/// Observes session events and may veto logins and authentications (a deactivated
/// user, say). Vetoes of other events are ignored.
#[async_trait]
pub trait EventHook: Send + Sync + 'static {
    /// Called for each event.
    ///
    /// # Errors
    /// A [`Veto`] refuses a `Login` or `Authenticated` event.
    async fn on_event(&self, event: Event<'_>) -> Result<(), Veto>;
}

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

/// Builds a [`Durin`]; every setter documents its default.
#[must_use]
pub struct DurinBuilder {
    tokens: Arc<dyn TokenStore>,
    clients: Arc<dyn ClientStore>,
    hasher: TokenHasher,
    clock: Arc<dyn Clock>,
    prefix: TokenPrefix,
    throttle: Option<Arc<dyn Throttle>>,
    default_rate: Option<Rate>,
    expired_policy: ExpiredPolicy,
    expired_grace: Duration,
    audit: bool,
    track_last_used: Option<Duration>,
    hook: Option<Arc<dyn EventHook>>,
    api_access_client: Option<ClientName>,
    client_cache_ttl: Duration,
    cross_transport: bool,
    purge_batch: u32,
}

impl DurinBuilder {
    /// The clock. Default: [`SystemClock`].
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
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
        self.prefix = prefix;
        self
    }

    /// The throttle for [`Durin::throttle`]. Default: none (nothing is throttled).
    pub fn throttle(mut self, throttle: Arc<dyn Throttle>) -> Self {
        self.throttle = Some(throttle);
        self
    }

    /// The rate for clients without one. Default: none (such clients are unthrottled).
    pub fn default_rate(mut self, rate: Option<Rate>) -> Self {
        self.default_rate = rate;
        self
    }

    /// What to do with an expired session when presented. Default: [`ExpiredPolicy::Keep`].
    pub fn expired_policy(mut self, policy: ExpiredPolicy) -> Self {
        self.expired_policy = policy;
        self
    }

    /// How long after expiry (or revocation) [`Durin::purge_expired`] keeps a session, so
    /// its token answers "expired" rather than "invalid". Default: 1 hour.
    pub fn expired_grace(mut self, grace: Duration) -> Self {
        self.expired_grace = grace;
        self
    }

    /// Audit mode: revoked and evicted sessions are kept with `revoked_at` set until
    /// purged, instead of deleted. Default: off.
    pub fn audit_mode(mut self, on: bool) -> Self {
        self.audit = on;
        self
    }

    /// Records `last_used_at`, written at most once per `debounce` per session.
    /// Default: off (no write on the request path).
    pub fn track_last_used(mut self, debounce: Option<Duration>) -> Self {
        self.track_last_used = debounce;
        self
    }

    /// The event hook. Default: none (events go to `tracing` only).
    pub fn hook(mut self, hook: Arc<dyn EventHook>) -> Self {
        self.hook = Some(hook);
        self
    }

    /// The client whose tokens are API keys ([`Durin::api_key`] and friends).
    /// Default: none (the API-key operations answer [`AuthError::NotConfigured`]).
    pub fn api_access_client(mut self, client: Option<ClientName>) -> Self {
        self.api_access_client = client;
        self
    }

    /// How long a client's policy is cached in this process. Default: 5 seconds; zero
    /// disables the cache (one client read per request).
    pub fn client_cache_ttl(mut self, ttl: Duration) -> Self {
        self.client_cache_ttl = ttl;
        self
    }

    /// Accept header-issued tokens in a cookie and the reverse. Default: off.
    pub fn cross_transport(mut self, allow: bool) -> Self {
        self.cross_transport = allow;
        self
    }

    /// Sessions deleted per store call by [`Durin::purge_expired`]. Default: 1000.
    pub fn purge_batch(mut self, batch: u32) -> Self {
        self.purge_batch = batch.max(1);
        self
    }

    /// Builds the service.
    pub fn build(self) -> Durin {
        Durin {
            inner: Arc::new(Inner {
                tokens: self.tokens,
                clients: self.clients,
                hasher: self.hasher,
                clock: self.clock,
                prefix: self.prefix,
                throttle: self.throttle,
                default_rate: self.default_rate,
                expired_policy: self.expired_policy,
                expired_grace: self.expired_grace,
                audit: self.audit,
                track_last_used: self.track_last_used,
                hook: self.hook,
                api_access_client: self.api_access_client,
                client_cache_ttl: self.client_cache_ttl,
                client_cache: std::sync::RwLock::new(std::collections::HashMap::new()),
                cross_transport: self.cross_transport,
                purge_batch: self.purge_batch,
            }),
        }
    }
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
    clock: Arc<dyn Clock>,
    prefix: TokenPrefix,
    throttle: Option<Arc<dyn Throttle>>,
    default_rate: Option<Rate>,
    expired_policy: ExpiredPolicy,
    expired_grace: Duration,
    audit: bool,
    track_last_used: Option<Duration>,
    hook: Option<Arc<dyn EventHook>>,
    api_access_client: Option<ClientName>,
    client_cache_ttl: Duration,
    /// A handful of clients, read on every request: a plain map behind a read lock is
    /// several times cheaper than a general-purpose cache here.
    client_cache: std::sync::RwLock<std::collections::HashMap<ClientName, (Arc<Client>, Instant)>>,
    cross_transport: bool,
    purge_batch: u32,
}

impl std::fmt::Debug for Durin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Durin")
            .field("prefix", &self.inner.prefix)
            .field("key_id", &self.inner.hasher.current().id())
            .field("api_access_client", &self.inner.api_access_client)
            .finish_non_exhaustive()
    }
}

impl Durin {
    /// Starts building a service over a token store, a client store and the current
    /// digest key.
    pub fn builder(
        tokens: Arc<dyn TokenStore>,
        clients: Arc<dyn ClientStore>,
        key: DigestKey,
    ) -> DurinBuilder {
        DurinBuilder {
            tokens,
            clients,
            hasher: TokenHasher::new(key),
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
            client_cache_ttl: Duration::from_secs(5),
            cross_transport: false,
            purge_batch: 1000,
        }
    }

    /// The token store.
    pub fn tokens(&self) -> &Arc<dyn TokenStore> {
        &self.inner.tokens
    }

    /// The client store. After changing a client through it, call
    /// [`Durin::forget_client`] so this process sees the change at once.
    pub fn clients(&self) -> &Arc<dyn ClientStore> {
        &self.inner.clients
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The API-access client's name, if configured.
    pub fn api_access_client(&self) -> Option<&ClientName> {
        self.inner.api_access_client.as_ref()
    }

    /// The rate that applies to `client`: its own, else the default.
    pub fn rate_for(&self, client: &Client) -> Option<Rate> {
        client.throttle_rate.or(self.inner.default_rate)
    }

    /// The client called `name` (cached for the configured client-cache TTL).
    ///
    /// # Errors
    /// [`AuthError::Unavailable`] when the store fails.
    pub async fn client(&self, name: &ClientName) -> Result<Option<Arc<Client>>, AuthError> {
        let ttl = self.inner.client_cache_ttl;
        if !ttl.is_zero() {
            let cache = self
                .inner
                .client_cache
                .read()
                .unwrap_or_else(|e| e.into_inner());
            if let Some((client, fetched)) = cache.get(name)
                && fetched.elapsed() < ttl
            {
                return Ok(Some(client.clone()));
            }
        }
        let Some(client) = self.inner.clients.get_client(name).await? else {
            return Ok(None);
        };
        let client = Arc::new(client);
        if !ttl.is_zero() {
            let mut cache = self
                .inner
                .client_cache
                .write()
                .unwrap_or_else(|e| e.into_inner());
            if cache.len() >= 10_000 {
                // Clients are configuration, not data: a flood of names is a misuse.
                cache.clear();
            }
            cache.insert(name.clone(), (client.clone(), Instant::now()));
        }
        Ok(Some(client))
    }

    /// Drops `name` from this process's client cache.
    pub fn forget_client(&self, name: &ClientName) {
        self.inner
            .client_cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
    }

    /// Issues a new token for `user` through `client`.
    ///
    /// The (user, client) pair keeps at most the client's `max_tokens_per_user` live
    /// tokens: the oldest beyond it are revoked in the same atomic store call.
    ///
    /// # Errors
    /// [`AuthError::UnknownClient`], [`AuthError::Forbidden`] for a scope the client does
    /// not allow, [`AuthError::Vetoed`] by the hook, [`AuthError::Unavailable`].
    #[tracing::instrument(level = "debug", skip_all, fields(user = %user, client = %client_name, session))]
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
        let scopes = match options.scopes {
            Some(requested) => {
                if let Some(denied) = requested.iter().find(|s| !client.allows_scope(s)) {
                    tracing::debug!(scope = %denied, "scope not allowed for client");
                    return Err(AuthError::Forbidden);
                }
                requested
            }
            None => client.scopes.clone(),
        };
        let now = self.inner.clock.now();
        let prefix = client.prefix.as_ref().unwrap_or(&self.inner.prefix);
        let token = TokenString::generate(prefix);
        let refresh_token = client.refresh_ttl.map(|_| TokenString::generate(prefix));
        let session = Session {
            id: SessionId::generate(),
            user_id: user.clone(),
            client: client.name.clone(),
            digest: self.inner.hasher.digest(&token),
            created_at: now,
            expires_at: expiry_for(&client, now, now),
            renewed_at: None,
            last_used_at: None,
            scopes,
            context: options.context,
            transport: options.transport,
            revoked_at: None,
            refresh: refresh_token.as_ref().map(|rt| RefreshState {
                digest: self.inner.hasher.digest(rt),
                expires_at: refresh_expiry_for(&client, now, now),
            }),
        };
        tracing::Span::current().record("session", tracing::field::display(&session.id));
        if let Some(hook) = &self.inner.hook {
            hook.on_event(Event::Login { session: &session })
                .await
                .map_err(|Veto(reason)| AuthError::Vetoed(reason))?;
        }
        let policy = InsertPolicy {
            max_per_client: client.max_tokens_per_user.max(1),
            single_login: options.single_login,
            removal: self.removal(now),
            now,
        };
        let removed = self.inner.tokens.insert(&session, policy).await?;
        tracing::info!(session = %session.id, user = %user, client = %client.name, "login");
        for old in &removed {
            self.revoked(old).await;
        }
        Ok(Login {
            token,
            refresh_token,
            session,
            client,
        })
    }

    /// Authenticates a token: digest, lookup, expiry, sliding renewal, hook.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] (unknown, revoked, wrong transport, client gone),
    /// [`AuthError::Expired`], [`AuthError::Vetoed`], [`AuthError::Unavailable`].
    #[tracing::instrument(level = "debug", skip_all, fields(session))]
    pub async fn authenticate(
        &self,
        token: &TokenString,
        transport: Transport,
    ) -> Result<Authenticated, AuthError> {
        let digest = self.inner.hasher.digest(token);
        let mut session = match self.inner.tokens.get(&digest).await? {
            Some(session) if session.digest.ct_eq(&digest) => session,
            _ => self
                .find_under_previous_keys(token, &digest)
                .await?
                .ok_or(AuthError::InvalidToken(InvalidReason::Unknown))?,
        };
        tracing::Span::current().record("session", tracing::field::display(&session.id));
        let now = self.inner.clock.now();
        if session.is_expired(now) {
            self.on_expired(&session, now).await?;
            return Err(AuthError::Expired);
        }
        if session.revoked_at.is_some() {
            return Err(AuthError::InvalidToken(InvalidReason::Revoked));
        }
        if session.transport != transport && !self.inner.cross_transport {
            return Err(AuthError::InvalidToken(InvalidReason::WrongTransport));
        }
        let client = self
            .client(&session.client)
            .await?
            .ok_or(AuthError::InvalidToken(InvalidReason::ClientGone))?;
        if let Renewal::Sliding { min_interval } = client.renewal {
            let last = session.renewed_at.unwrap_or(session.created_at);
            let next = expiry_for(&client, session.created_at, now);
            if now.duration_since(last) >= min_interval && next > session.expires_at {
                session = self
                    .inner
                    .tokens
                    .extend(&session.id, next, now)
                    .await?
                    .ok_or(AuthError::InvalidToken(InvalidReason::Revoked))?;
                self.event(Event::Renewed { session: &session }).await;
            }
        }
        if let Some(debounce) = self.inner.track_last_used {
            let due = session
                .last_used_at
                .is_none_or(|at| now.duration_since(at) >= debounce);
            if due {
                // Best effort: a failed bookkeeping write must not refuse a valid token.
                match self.inner.tokens.touch(&session.id, now).await {
                    Ok(()) => session.last_used_at = Some(now),
                    Err(error) => tracing::warn!(%error, "could not record last use"),
                }
            }
        }
        if let Some(hook) = &self.inner.hook {
            hook.on_event(Event::Authenticated {
                session: &session,
                client: &client,
            })
            .await
            .map_err(|Veto(reason)| AuthError::Vetoed(reason))?;
        }
        Ok(Authenticated {
            user_id: session.user_id.clone(),
            session,
            client,
        })
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

    /// Counts a request of `auth` against its client's rate (else the default rate).
    ///
    /// # Errors
    /// [`AuthError::Throttled`] with the time until capacity frees;
    /// [`AuthError::Unavailable`] when a shared throttle backend fails.
    pub async fn throttle(&self, auth: &Authenticated) -> Result<(), AuthError> {
        let Some(rate) = self.rate_for(&auth.client) else {
            return Ok(());
        };
        let key = format!("uc:{}:{}", auth.client.name, auth.user_id);
        self.throttle_key(&key, rate).await
    }

    /// Counts a request for any key at `rate` (login failures per username, say).
    /// Without a configured throttle everything is admitted.
    ///
    /// # Errors
    /// As [`Durin::throttle`].
    pub async fn throttle_key(&self, key: &str, rate: Rate) -> Result<(), AuthError> {
        let Some(throttle) = &self.inner.throttle else {
            return Ok(());
        };
        match throttle.check(key, rate).await? {
            ThrottleDecision::Allowed => Ok(()),
            ThrottleDecision::Limited { retry_after } => Err(AuthError::Throttled { retry_after }),
        }
    }

    /// Moves the session's expiry to now + the client's TTL, capped by its max lifetime
    /// (`POST refresh/`). The token stays the same.
    ///
    /// # Errors
    /// [`AuthError::RenewalNotAllowed`] for clients with [`Renewal::None`];
    /// [`AuthError::InvalidToken`] when the session was revoked meanwhile.
    pub async fn renew(&self, auth: &Authenticated) -> Result<Session, AuthError> {
        if auth.client.renewal == Renewal::None {
            return Err(AuthError::RenewalNotAllowed);
        }
        let now = self.inner.clock.now();
        let expires_at = expiry_for(&auth.client, auth.session.created_at, now);
        let session = self
            .inner
            .tokens
            .extend(&auth.session.id, expires_at, now)
            .await?
            .ok_or(AuthError::InvalidToken(InvalidReason::Revoked))?;
        self.event(Event::Renewed { session: &session }).await;
        Ok(session)
    }

    /// Rotates a refresh token: a new access token and a new refresh token; the old pair
    /// stops working. Presenting an already-rotated refresh token revokes the session.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] for an unknown, expired, reused or revoked refresh
    /// token; [`AuthError::Unavailable`].
    pub async fn refresh(&self, refresh_token: &TokenString) -> Result<Login, AuthError> {
        let presented = self.inner.hasher.digest(refresh_token);
        let session = match self.inner.tokens.get_by_refresh(&presented).await? {
            None => return Err(AuthError::InvalidToken(InvalidReason::Unknown)),
            Some(RefreshLookup::Rotated(id)) => {
                self.revoke_family(&id).await?;
                return Err(AuthError::InvalidToken(InvalidReason::RefreshReused));
            }
            Some(RefreshLookup::Current(session)) => *session,
        };
        let now = self.inner.clock.now();
        let refresh_live = session
            .refresh
            .as_ref()
            .is_some_and(|r| r.expires_at > now && r.digest.ct_eq(&presented));
        if !refresh_live || session.revoked_at.is_some() {
            return Err(AuthError::InvalidToken(InvalidReason::Unknown));
        }
        let client = self
            .client(&session.client)
            .await?
            .ok_or(AuthError::InvalidToken(InvalidReason::ClientGone))?;
        let prefix = client.prefix.as_ref().unwrap_or(&self.inner.prefix);
        let token = TokenString::generate(prefix);
        let new_refresh = TokenString::generate(prefix);
        let rotation = Rotation {
            digest: self.inner.hasher.digest(&token),
            refresh_digest: self.inner.hasher.digest(&new_refresh),
            refresh_expires_at: refresh_expiry_for(&client, session.created_at, now),
            expires_at: expiry_for(&client, session.created_at, now),
            at: now,
        };
        match self
            .inner
            .tokens
            .rotate(&session.id, &presented, &rotation)
            .await?
        {
            Some(session) => {
                self.event(Event::Renewed { session: &session }).await;
                Ok(Login {
                    token,
                    refresh_token: Some(new_refresh),
                    session,
                    client,
                })
            }
            None => {
                // A racing rotation won with the same refresh token: one of the two
                // presenters holds a copy, so the family goes.
                self.revoke_family(&session.id).await?;
                Err(AuthError::InvalidToken(InvalidReason::RefreshReused))
            }
        }
    }

    /// Ends the session `auth` is authenticated with, at once.
    ///
    /// # Errors
    /// [`AuthError::Unavailable`].
    pub async fn logout(&self, auth: &Authenticated) -> Result<(), AuthError> {
        let now = self.inner.clock.now();
        if let Some(old) = self
            .inner
            .tokens
            .remove(&auth.session.id, self.removal(now))
            .await?
        {
            self.revoked(&old).await;
        }
        Ok(())
    }

    /// Ends every session of `user`, all clients, API key included. Returns how many.
    ///
    /// # Errors
    /// [`AuthError::Unavailable`].
    pub async fn logout_all(&self, user: &UserId) -> Result<u64, AuthError> {
        self.remove_user(user, None).await
    }

    /// Ends every session of `user` but `keep`. Returns how many.
    ///
    /// # Errors
    /// [`AuthError::Unavailable`].
    pub async fn logout_all_except(
        &self,
        user: &UserId,
        keep: &SessionId,
    ) -> Result<u64, AuthError> {
        self.remove_user(user, Some(keep)).await
    }

    /// The sessions of `user` that have not been revoked, oldest first (expired ones
    /// included until purged, flagged by [`Session::is_expired`]).
    ///
    /// # Errors
    /// [`AuthError::Unavailable`].
    pub async fn sessions(&self, user: &UserId) -> Result<Vec<Session>, AuthError> {
        let mut sessions = self.inner.tokens.list_by_user(user).await?;
        sessions.retain(|s| s.revoked_at.is_none());
        Ok(sessions)
    }

    /// Revokes the session `id` of `user`; `current` is the caller's own session, which
    /// must be ended with [`Durin::logout`] instead.
    ///
    /// # Errors
    /// [`AuthError::CurrentSession`] when `id` is `current`; [`AuthError::NotFound`]
    /// when no live session `id` belongs to `user`; [`AuthError::Unavailable`].
    pub async fn revoke_session(
        &self,
        user: &UserId,
        id: &SessionId,
        current: Option<&SessionId>,
    ) -> Result<(), AuthError> {
        if current == Some(id) {
            return Err(AuthError::CurrentSession);
        }
        match self.inner.tokens.get_by_id(id).await? {
            Some(session) if &session.user_id == user && session.revoked_at.is_none() => {}
            _ => return Err(AuthError::NotFound),
        }
        let now = self.inner.clock.now();
        match self.inner.tokens.remove(id, self.removal(now)).await? {
            Some(old) => {
                self.revoked(&old).await;
                Ok(())
            }
            None => Err(AuthError::NotFound),
        }
    }

    /// Revokes session `id` whoever owns it (administration). Returns whether it existed.
    ///
    /// # Errors
    /// [`AuthError::Unavailable`].
    pub async fn revoke(&self, id: &SessionId) -> Result<bool, AuthError> {
        let now = self.inner.clock.now();
        match self.inner.tokens.remove(id, self.removal(now)).await? {
            Some(old) => {
                self.revoked(&old).await;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The user's API key session (the newest unrevoked session of the API-access client).
    ///
    /// # Errors
    /// [`AuthError::NotConfigured`] without an API-access client; [`AuthError::NotFound`].
    pub async fn api_key(&self, user: &UserId) -> Result<Session, AuthError> {
        let api = self.api_client_name()?;
        let now = self.inner.clock.now();
        let mut keys = self.api_sessions(user, api).await?;
        // Prefer a live key; else the newest expired one (so the caller sees it expired).
        keys.sort_by_key(|s| (s.is_live(now), s.created_at));
        keys.pop().ok_or(AuthError::NotFound)
    }

    /// Issues an API key for `user`.
    ///
    /// # Errors
    /// [`AuthError::AlreadyExists`] when the user holds a live one;
    /// [`AuthError::NotConfigured`]; the errors of [`Durin::login`].
    pub async fn create_api_key(
        &self,
        user: &UserId,
        options: LoginOptions,
    ) -> Result<Login, AuthError> {
        let api = self.api_client_name()?.clone();
        let now = self.inner.clock.now();
        if self
            .api_sessions(user, &api)
            .await?
            .iter()
            .any(|s| s.is_live(now))
        {
            return Err(AuthError::AlreadyExists);
        }
        self.login(user, &api, options).await
    }

    /// Revokes the user's API keys.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] when there is none; [`AuthError::NotConfigured`].
    pub async fn delete_api_key(&self, user: &UserId) -> Result<(), AuthError> {
        let api = self.api_client_name()?;
        let keys = self.api_sessions(user, api).await?;
        if keys.is_empty() {
            return Err(AuthError::NotFound);
        }
        let now = self.inner.clock.now();
        for key in keys {
            if let Some(old) = self.inner.tokens.remove(&key.id, self.removal(now)).await? {
                self.revoked(&old).await;
            }
        }
        Ok(())
    }

    /// Deletes sessions that expired (or were revoked) longer ago than the grace period,
    /// in batches. Returns how many.
    ///
    /// # Errors
    /// [`AuthError::Unavailable`].
    pub async fn purge_expired(&self) -> Result<u64, AuthError> {
        let before = self
            .inner
            .clock
            .now()
            .saturating_sub(self.inner.expired_grace);
        let mut total = 0;
        loop {
            let n = self
                .inner
                .tokens
                .purge_expired(before, self.inner.purge_batch)
                .await?;
            total += n;
            if n < u64::from(self.inner.purge_batch) {
                return Ok(total);
            }
        }
    }

    fn api_client_name(&self) -> Result<&ClientName, AuthError> {
        self.inner
            .api_access_client
            .as_ref()
            .ok_or(AuthError::NotConfigured("no API-access client"))
    }

    async fn api_sessions(
        &self,
        user: &UserId,
        api: &ClientName,
    ) -> Result<Vec<Session>, AuthError> {
        let mut sessions = self.sessions(user).await?;
        sessions.retain(|s| &s.client == api);
        Ok(sessions)
    }

    fn removal(&self, now: Timestamp) -> Removal {
        if self.inner.audit {
            Removal::Revoke { at: now }
        } else {
            Removal::Delete
        }
    }

    async fn remove_user(
        &self,
        user: &UserId,
        except: Option<&SessionId>,
    ) -> Result<u64, AuthError> {
        let now = self.inner.clock.now();
        let removed = self
            .inner
            .tokens
            .remove_user(user, except, self.removal(now))
            .await?;
        for old in &removed {
            self.revoked(old).await;
        }
        Ok(removed.len() as u64)
    }

    async fn revoke_family(&self, id: &SessionId) -> Result<(), AuthError> {
        tracing::warn!(session = %id, "rotated refresh token reused; revoking the session");
        let now = self.inner.clock.now();
        if let Some(old) = self.inner.tokens.remove(id, self.removal(now)).await? {
            self.revoked(&old).await;
        }
        Ok(())
    }

    async fn find_under_previous_keys(
        &self,
        token: &TokenString,
        current: &TokenDigest,
    ) -> Result<Option<Session>, AuthError> {
        for old in self.inner.hasher.previous_digests(token) {
            let Some(mut session) = self.inner.tokens.get(&old).await? else {
                continue;
            };
            if !session.digest.ct_eq(&old) {
                continue;
            }
            if self.inner.tokens.rekey(&session.id, &old, current).await? {
                tracing::debug!(session = %session.id, "re-digested under the current key");
                session.digest = *current;
            }
            return Ok(Some(session));
        }
        Ok(None)
    }

    async fn on_expired(&self, session: &Session, now: Timestamp) -> Result<(), AuthError> {
        self.event(Event::Expired { session }).await;
        if self.inner.expired_policy == ExpiredPolicy::Remove && session.revoked_at.is_none() {
            self.inner
                .tokens
                .remove(&session.id, self.removal(now))
                .await?;
        }
        Ok(())
    }

    async fn revoked(&self, session: &Session) {
        self.event(Event::Revoked { session }).await;
    }

    async fn event(&self, event: Event<'_>) {
        match event {
            Event::Renewed { session } => {
                tracing::debug!(session = %session.id, expires_at = ?session.expires_at, "renewed")
            }
            Event::Expired { session } => tracing::debug!(session = %session.id, "expired"),
            Event::Revoked { session } => {
                tracing::info!(session = %session.id, user = %session.user_id, "revoked")
            }
            _ => {}
        }
        if let Some(hook) = &self.inner.hook {
            // Vetoes only count for logins and authentications, which call the hook
            // themselves.
            let _ = hook.on_event(event).await;
        }
    }
}

/// The expiry of a session of `client` created at `created`, (re)newed at `now`:
/// now + TTL, capped at created + max lifetime.
fn expiry_for(client: &Client, created: Timestamp, now: Timestamp) -> Option<Timestamp> {
    let ttl_end = client.token_ttl.map(|ttl| now.saturating_add(ttl));
    let cap = client.max_lifetime.map(|cap| created.saturating_add(cap));
    match (ttl_end, cap) {
        (Some(end), Some(cap)) => Some(end.min(cap)),
        (end, cap) => end.or(cap),
    }
}

/// The expiry of a refresh token issued at `now`: now + refresh TTL, capped likewise.
fn refresh_expiry_for(client: &Client, created: Timestamp, now: Timestamp) -> Timestamp {
    let end = now.saturating_add(client.refresh_ttl.unwrap_or_default());
    match client.max_lifetime {
        Some(cap) => end.min(created.saturating_add(cap)),
        None => end,
    }
}
