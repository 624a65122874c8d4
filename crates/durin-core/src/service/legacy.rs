//! Authenticating tokens imported from Django (see `crate::legacy`).

use std::sync::Arc;

use super::Durin;
use crate::{AuthError, Authenticated, InvalidReason, LegacyToken, Session, Transport};

impl Durin {
    /// Authenticates a legacy token (django-rest-durin, DRF or knox, imported by
    /// `durin import`): its keyed digest under the current key, then under each
    /// previous key, then its knox digest ([`crate::knox_legacy_digest`]). A session
    /// found under a previous key or the knox scheme is re-keyed to the current key
    /// first, so the next request finds it with one lookup. Everything after the
    /// lookup (expiry, revocation, transport, client, renewal, hook) is as for
    /// [`Durin::authenticate`].
    ///
    /// There is no prefix or checksum to check first: every well-shaped legacy token
    /// costs up to `2 + previous keys` store lookups, which is why the HTTP layer accepts
    /// them only when configured to.
    ///
    /// # Errors
    /// As [`Durin::authenticate`].
    pub async fn authenticate_legacy(
        &self,
        token: &LegacyToken,
        transport: Transport,
    ) -> Result<Authenticated, AuthError> {
        let result = self.lookup_legacy(token, transport).await;
        self.inner.metrics.record(&result);
        result
    }

    async fn lookup_legacy(
        &self,
        token: &LegacyToken,
        transport: Transport,
    ) -> Result<Authenticated, AuthError> {
        let hasher = &self.inner.hasher;
        let current = hasher.digest_legacy(token);
        if let Some(session) = self.inner.tokens.get(&current).await?
            && session.digest.ct_eq(&current)
        {
            return self.admit(session, transport).await;
        }
        let older = hasher
            .previous_legacy_digests(token)
            .chain(std::iter::once(token.knox_digest()));
        for old in older {
            let Some(session) = self.inner.tokens.get(&old).await? else {
                continue;
            };
            if !session.digest.ct_eq(&old) {
                continue;
            }
            let mut session: Session = Arc::unwrap_or_clone(session);
            if self.inner.tokens.rekey(&session.id, &old, &current).await? {
                tracing::debug!(session = %session.id, "legacy token re-keyed under the current key");
                session.digest = current;
            }
            return self.admit(Arc::new(session), transport).await;
        }
        Err(AuthError::InvalidToken(InvalidReason::Unknown))
    }
}
