//! What the service tells an application: events it may veto, and events it only hears.

use async_trait::async_trait;

use crate::{Client, Session};

/// A step the application may refuse ([`EventHook::approve`]).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Vetoable<'a> {
    /// A token is about to be issued (login, API key, named token); a veto refuses it
    /// and nothing is stored.
    Login {
        /// The session to be stored.
        session: &'a Session,
    },
    /// A token authenticated; a veto refuses the request (a deactivated user, say).
    Authentication {
        /// The session.
        session: &'a Session,
        /// Its client.
        client: &'a Client,
    },
}

/// Something that happened to a session ([`EventHook::observe`]); it cannot be refused.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A token was issued.
    LoggedIn {
        /// The stored session.
        session: &'a Session,
    },
    /// A session's expiry moved forward (renewal or refresh-token rotation).
    Renewed {
        /// The session after renewal.
        session: &'a Session,
    },
    /// An expired token was presented.
    Expired {
        /// The expired session.
        session: &'a Session,
    },
    /// A session ended (logout, logout-all, eviction, revocation, refresh reuse).
    Revoked {
        /// The session as it was.
        session: &'a Session,
    },
}

/// An [`EventHook`]'s refusal, with a reason for the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Veto(pub String);

/// The application's view of the service: it may refuse logins and authentications
/// ([`approve`](EventHook::approve)) and hears what happened to sessions
/// ([`observe`](EventHook::observe)). Both default to doing nothing.
#[async_trait]
pub trait EventHook: Send + Sync + 'static {
    /// Called before a token is issued and after a token authenticated.
    ///
    /// # Errors
    /// A [`Veto`] refuses the login ([`crate::AuthError::Vetoed`]) or the request.
    async fn approve(&self, _step: Vetoable<'_>) -> Result<(), Veto> {
        Ok(())
    }

    /// Called after an event; it cannot change the outcome.
    async fn observe(&self, _event: Event<'_>) {}
}
