//! API keys (django-rest-durin's `apiaccess/`: one per user) and named personal tokens
//! (many per user, each with a name, scopes and expiry, managed by id).

use std::num::NonZeroU32;
use std::time::Duration;

use super::{Durin, Issue, Login, LoginOptions};
use crate::{
    AuthError, Authenticated, ClientName, Session, SessionId, TokenName, UserId, WhenFull,
};

/// How long a named token lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenLifetime {
    /// The tokens client's TTL (the default).
    #[default]
    ClientDefault,
    /// It never expires (unless the client caps lifetimes).
    Never,
    /// This long from now (capped by the client's max lifetime).
    For(Duration),
}

/// A named personal token to create ([`Durin::create_named_token`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedToken {
    /// Its name, unique among the user's live named tokens.
    pub name: TokenName,
    /// Its scopes: each must be one of the tokens client's scopes (or the client allows
    /// `*`). Default none.
    pub scopes: Vec<String>,
    /// Its lifetime.
    pub lifetime: TokenLifetime,
}

impl NamedToken {
    /// The most scopes a named token may carry (after duplicates are dropped).
    pub const MAX_SCOPES: usize = 32;

    /// A token called `name` with no scopes and the client's TTL.
    pub fn new(name: TokenName) -> Self {
        NamedToken {
            name,
            scopes: Vec::new(),
            lifetime: TokenLifetime::ClientDefault,
        }
    }
}

impl Durin {
    /// Whether `session` is a delegated credential: a named token or an API key (a
    /// session of the tokens client or of the API-access client). Delegated credentials
    /// act for their user but may not manage the user's credentials
    /// ([`Durin::authorize_management`]), and a named token's lifetime is fixed at its
    /// creation ([`Durin::renew`] refuses it).
    pub fn is_delegated(&self, session: &Session) -> bool {
        session.name.is_some()
            || Some(&session.client) == self.api_access_client()
            || Some(&session.client) == self.tokens_client()
    }

    /// Least privilege, decided here once: only an interactive session (a login) may
    /// manage the user's credentials and account — list or revoke sessions, end them
    /// all, issue or delete API keys and named tokens, read or write settings. A
    /// delegated credential ([`Durin::is_delegated`]) gets [`AuthError::Forbidden`], so
    /// a leaked or narrowly scoped token can neither mint a stronger one nor end the
    /// user's other sessions.
    ///
    /// # Errors
    /// [`AuthError::Forbidden`] for a named token or an API key.
    pub fn authorize_management(&self, auth: &Authenticated) -> Result<(), AuthError> {
        if self.is_delegated(&auth.session) {
            tracing::debug!(session = %auth.session.id, "a delegated credential may not manage credentials");
            return Err(AuthError::Forbidden);
        }
        Ok(())
    }

    /// [`Durin::create_named_token`] on behalf of `caller` (what `POST tokens/` does):
    /// the caller must be allowed to manage credentials ([`Durin::authorize_management`]),
    /// and when its client restricts scopes, every requested scope must be one the
    /// caller holds (a token never mints a stronger one).
    ///
    /// # Errors
    /// [`AuthError::Forbidden`] for a delegated caller or a scope beyond the caller's;
    /// the errors of [`Durin::create_named_token`].
    pub async fn create_named_token_as(
        &self,
        caller: &Authenticated,
        token: NamedToken,
    ) -> Result<Login, AuthError> {
        self.authorize_management(caller)?;
        if !caller.client.scopes.is_empty()
            && let Some(beyond) = token.scopes.iter().find(|s| !caller.has_scope(s))
        {
            tracing::debug!(scope = %beyond, "a named token may not carry a scope its creator lacks");
            return Err(AuthError::Forbidden);
        }
        self.create_named_token(caller.user_id(), token).await
    }

    /// The user's API key session (the newest unrevoked session of the API-access client).
    ///
    /// # Errors
    /// [`AuthError::NotConfigured`] without an API-access client; [`AuthError::NotFound`].
    pub async fn api_key(&self, user: &UserId) -> Result<Session, AuthError> {
        let api = self.api_client_name()?;
        let now = self.now();
        let mut keys = self.client_sessions(user, api).await?;
        // Prefer a live key; else the newest expired one (so the caller sees it expired).
        keys.sort_by_key(|s| (s.is_live(now), s.created_at));
        keys.pop().ok_or(AuthError::NotFound)
    }

    /// Issues an API key for `user`: one atomic store operation that refuses when the
    /// user holds a live one, so concurrent creations give exactly one key.
    ///
    /// # Errors
    /// [`AuthError::AlreadyExists`] when the user holds a live one;
    /// [`AuthError::NotConfigured`]; the errors of [`Durin::login`].
    pub async fn create_api_key(
        &self,
        user: &UserId,
        options: LoginOptions,
    ) -> Result<Login, AuthError> {
        let api = self.api_client_name()?;
        let client = self.client(api).await?.ok_or(AuthError::UnknownClient)?;
        let scopes = options
            .scopes
            .clone()
            .unwrap_or_else(|| client.scopes.clone());
        if let Some(denied) = scopes.iter().find(|s| !client.allows_scope(s)) {
            tracing::debug!(scope = %denied, "scope not allowed for the API-access client");
            return Err(AuthError::Forbidden);
        }
        let now = self.now();
        let issue = Issue {
            expires_at: client.expiry(now, now),
            max_live: NonZeroU32::MIN,
            when_full: WhenFull::Refuse,
            client,
            scopes,
            name: None,
            options,
        };
        match self.issue(user, issue, now).await {
            Err(AuthError::TokenLimit) => Err(AuthError::AlreadyExists),
            other => other,
        }
    }

    /// Revokes the user's API keys, on every node.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] when there is none; [`AuthError::NotConfigured`].
    pub async fn delete_api_key(&self, user: &UserId) -> Result<(), AuthError> {
        let api = self.api_client_name()?;
        let keys = self.client_sessions(user, api).await?;
        if keys.is_empty() {
            return Err(AuthError::NotFound);
        }
        for key in keys {
            self.revoke(&key.id).await?;
        }
        Ok(())
    }

    /// Issues a named personal token for `user` through the tokens client. Name
    /// uniqueness and the client's `max_tokens_per_user` cap are enforced by the store
    /// in the same atomic step as the insert.
    ///
    /// # Errors
    /// [`AuthError::NotConfigured`] without a tokens client; [`AuthError::UnknownScope`];
    /// [`AuthError::NameTaken`]; [`AuthError::TokenLimit`]; [`AuthError::Vetoed`];
    /// [`AuthError::Unavailable`].
    pub async fn create_named_token(
        &self,
        user: &UserId,
        token: NamedToken,
    ) -> Result<Login, AuthError> {
        let name = self.tokens_client_name()?;
        let client = self.client(name).await?.ok_or(AuthError::UnknownClient)?;
        let mut token = token;
        dedup_scopes(&mut token.scopes);
        if token.scopes.len() > NamedToken::MAX_SCOPES {
            return Err(AuthError::TooManyScopes {
                limit: NamedToken::MAX_SCOPES,
            });
        }
        if let Some(unknown) = token
            .scopes
            .iter()
            .find(|s| !client.scopes.iter().any(|c| c == "*" || c == *s))
        {
            return Err(AuthError::UnknownScope(unknown.clone()));
        }
        let now = self.now();
        let expires_at = match token.lifetime {
            TokenLifetime::ClientDefault => client.expiry(now, now),
            TokenLifetime::Never => client.max_lifetime.map(|cap| now.saturating_add(cap)),
            TokenLifetime::For(ttl) => {
                let end = now.saturating_add(ttl);
                Some(
                    client
                        .max_lifetime
                        .map_or(end, |cap| end.min(now.saturating_add(cap))),
                )
            }
        };
        let issue = Issue {
            expires_at,
            max_live: client.max_tokens_per_user,
            when_full: WhenFull::Refuse,
            client,
            scopes: token.scopes,
            name: Some(token.name),
            options: LoginOptions::default(),
        };
        self.issue(user, issue, now).await
    }

    /// The user's named tokens (unrevoked; expired ones included until purged), oldest
    /// first.
    ///
    /// # Errors
    /// [`AuthError::NotConfigured`]; [`AuthError::Unavailable`].
    pub async fn named_tokens(&self, user: &UserId) -> Result<Vec<Session>, AuthError> {
        let name = self.tokens_client_name()?;
        let mut tokens = self.client_sessions(user, name).await?;
        tokens.retain(|s| s.name.is_some());
        Ok(tokens)
    }

    /// Revokes the named token `id` of `user`, on every node.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] for an unknown id, another user's, or a session that is
    /// not a named token; [`AuthError::NotConfigured`]; [`AuthError::Unavailable`].
    pub async fn revoke_named_token(&self, user: &UserId, id: &SessionId) -> Result<(), AuthError> {
        let client = self.tokens_client_name()?.clone();
        self.revoke_owned(user, id, |s| s.client == client && s.name.is_some())
            .await
    }

    fn api_client_name(&self) -> Result<&ClientName, AuthError> {
        self.api_access_client()
            .ok_or(AuthError::NotConfigured("no API-access client"))
    }

    fn tokens_client_name(&self) -> Result<&ClientName, AuthError> {
        self.tokens_client()
            .ok_or(AuthError::NotConfigured("no named-tokens client"))
    }

    /// The user's unrevoked sessions of `client`, oldest first.
    async fn client_sessions(
        &self,
        user: &UserId,
        client: &ClientName,
    ) -> Result<Vec<Session>, AuthError> {
        let mut sessions = self.sessions(user).await?;
        sessions.retain(|s| &s.client == client);
        Ok(sessions)
    }
}

/// Drops repeated scopes, keeping the first of each in order.
pub(crate) fn dedup_scopes(scopes: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    scopes.retain(|s| seen.insert(s.clone()));
}
