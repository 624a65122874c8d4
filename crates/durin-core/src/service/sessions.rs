//! Renewing, rotating, listing and ending sessions.

use super::{Durin, Event, Login};

/// The name of the lease nodes sharing a store take turns on for the purge
/// ([`Durin::purge_expired_leased`]).
pub const PURGE_LEASE: &str = "durin:purge";

/// What one [`Durin::purge_expired_leased`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PurgeRun {
    /// This node held the lease and purged this many sessions.
    Ran(u64),
    /// Another node holds the lease; nothing was done.
    Skipped,
}
use crate::{
    AuthError, Authenticated, InvalidReason, RefreshLookup, Renewal, Rotation, RoutingTag, Session,
    SessionId, TokenString, UserId,
};

impl Durin {
    /// Moves the session's expiry to now + the client's TTL, capped by its max lifetime
    /// (`POST refresh/`). The token stays the same.
    ///
    /// A named token's lifetime is fixed when it is created, so it is never renewed (it
    /// would otherwise take the tokens client's TTL, `never` by default).
    ///
    /// # Errors
    /// [`AuthError::RenewalNotAllowed`] for clients with [`Renewal::None`] and for named
    /// tokens; [`AuthError::InvalidToken`] when the session was revoked meanwhile.
    pub async fn renew(&self, auth: &Authenticated) -> Result<Session, AuthError> {
        if auth.client.renewal == Renewal::None || auth.session.name.is_some() {
            return Err(AuthError::RenewalNotAllowed);
        }
        let now = self.now();
        let expires_at = auth.client.expiry(auth.session.created_at, now);
        let session = self
            .inner
            .tokens
            .extend(&auth.session.id, expires_at, now)
            .await?
            .ok_or(AuthError::InvalidToken(InvalidReason::Revoked))?;
        self.observe(Event::Renewed { session: &session }).await;
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
        let now = self.now();
        let refresh_live = session.refresh.as_ref().is_some_and(|r| r.expires_at > now);
        if !refresh_live || !Rotation::applies_to(&session, &presented) {
            return Err(AuthError::InvalidToken(InvalidReason::Unknown));
        }
        let client = self
            .client(&session.client)
            .await?
            .ok_or(AuthError::InvalidToken(InvalidReason::ClientGone))?;
        let prefix = client.prefix_or(&self.inner.config.prefix);
        let tag = RoutingTag::for_user(&session.user_id);
        let token = TokenString::generate_routed(prefix, tag);
        let new_refresh = TokenString::generate_routed(prefix, tag);
        let rotation = Rotation {
            previous_digest: session.digest,
            digest: self.inner.hasher.digest(&token),
            refresh_digest: self.inner.hasher.digest(&new_refresh),
            refresh_expires_at: client.refresh_expiry(session.created_at, now),
            expires_at: client.expiry(session.created_at, now),
            at: now,
        };
        match self
            .inner
            .tokens
            .rotate(&session.id, &presented, &rotation)
            .await?
        {
            Some(session) => {
                self.observe(Event::Renewed { session: &session }).await;
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

    /// Ends the session `auth` is authenticated with, at once, on every node.
    ///
    /// # Errors
    /// [`AuthError::Unavailable`].
    pub async fn logout(&self, auth: &Authenticated) -> Result<(), AuthError> {
        self.revoke(&auth.session.id).await.map(drop)
    }

    /// Ends every session of `user`, all clients, API key and named tokens included.
    /// Returns how many.
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
        self.revoke_owned(user, id, |_| true).await
    }

    /// Revokes session `id` if it belongs to `user`, is not revoked and `matches`.
    pub(crate) async fn revoke_owned(
        &self,
        user: &UserId,
        id: &SessionId,
        matches: impl Fn(&Session) -> bool,
    ) -> Result<(), AuthError> {
        match self.inner.tokens.get_by_id(id).await? {
            Some(session)
                if &session.user_id == user
                    && session.revoked_at.is_none()
                    && matches(&session) => {}
            _ => return Err(AuthError::NotFound),
        }
        match self.revoke(id).await? {
            Some(_) => Ok(()),
            None => Err(AuthError::NotFound),
        }
    }

    /// Revokes session `id` whoever owns it (administration), on every node. Returns
    /// the session as it was, or `None` when there was none.
    ///
    /// # Errors
    /// [`AuthError::Unavailable`].
    pub async fn revoke(&self, id: &SessionId) -> Result<Option<Session>, AuthError> {
        let now = self.now();
        let removed = self.inner.tokens.remove(id, self.removal(now)).await?;
        if let Some(old) = &removed {
            self.observe(Event::Revoked { session: old }).await;
        }
        Ok(removed)
    }

    /// Deletes sessions that expired (or were revoked) longer ago than the grace period,
    /// in batches. Returns how many.
    ///
    /// # Errors
    /// [`AuthError::Unavailable`].
    /// Counts the run in `durin_purge_runs_total{result="ran"|"failed"}` and what it
    /// deleted in `durin_sessions_purged_total`.
    pub async fn purge_expired(&self) -> Result<u64, AuthError> {
        let before = self.now().saturating_sub(self.inner.config.expired_grace);
        let batch = self.inner.config.purge_batch;
        let metrics = &self.inner.metrics;
        let mut total = 0;
        loop {
            let n = match self.inner.tokens.purge_expired(before, batch).await {
                Ok(n) => n,
                Err(e) => {
                    metrics.purge_failed.increment(1);
                    return Err(e.into());
                }
            };
            total += n;
            metrics.purged.increment(n);
            if n < u64::from(batch) {
                metrics.purge_ran.increment(1);
                return Ok(total);
            }
        }
    }

    /// [`Durin::purge_expired`], taking turns with the other nodes on this store: it runs
    /// only when `holder` (this node's random name) takes or renews the store's purge
    /// lease ([`PURGE_LEASE`], through `leases`, the backend's [`crate::Leases`]) for `lease`,
    /// and is skipped while another node holds it. The lease is kept, not released
    /// after the run: with `lease` equal to the purge interval, one node purges per
    /// interval and renews its lease at its next run; when it stops (or dies), another
    /// node takes over once the lease has expired, at most `lease` later
    /// ([`Durin::release_purge_lease`] hands it over at once).
    ///
    /// Counts `durin_purge_runs_total{result="skipped"}` when skipped, `failed` when the
    /// lease cannot be asked for, and otherwise as [`Durin::purge_expired`].
    ///
    /// # Errors
    /// [`AuthError::Unavailable`].
    pub async fn purge_expired_leased(
        &self,
        leases: &dyn crate::Leases,
        holder: &str,
        lease: std::time::Duration,
    ) -> Result<PurgeRun, AuthError> {
        let metrics = &self.inner.metrics;
        let now = self.now();
        match leases.acquire_lease(PURGE_LEASE, holder, lease, now).await {
            Ok(true) => Ok(PurgeRun::Ran(self.purge_expired().await?)),
            Ok(false) => {
                metrics.purge_skipped.increment(1);
                Ok(PurgeRun::Skipped)
            }
            Err(e) => {
                metrics.purge_failed.increment(1);
                Err(e.into())
            }
        }
    }

    /// Gives the purge lease back if `holder` holds it (a node that stops), so another
    /// node's next run may purge without waiting for the lease to expire.
    ///
    /// # Errors
    /// [`AuthError::Unavailable`] (the lease then ends at its expiry).
    pub async fn release_purge_lease(
        &self,
        leases: &dyn crate::Leases,
        holder: &str,
    ) -> Result<(), AuthError> {
        Ok(leases.release_lease(PURGE_LEASE, holder).await?)
    }

    async fn remove_user(
        &self,
        user: &UserId,
        except: Option<&SessionId>,
    ) -> Result<u64, AuthError> {
        let now = self.now();
        let removed = self
            .inner
            .tokens
            .remove_user(user, except, self.removal(now))
            .await?;
        for old in &removed {
            self.observe(Event::Revoked { session: old }).await;
        }
        Ok(removed.len() as u64)
    }

    async fn revoke_family(&self, id: &SessionId) -> Result<(), AuthError> {
        tracing::warn!(session = %id, "rotated refresh token reused; revoking the session");
        self.revoke(id).await.map(drop)
    }
}
