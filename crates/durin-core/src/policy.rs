//! Store policy, computed in one place: which sessions an insert evicts or why it is
//! refused, and what a refresh-token rotation records.
//!
//! Stores do not decide policy; they run [`plan_insert`] (or the rotation's
//! [`Rotation::apply`]) inside their own atomic step (a transaction under a per-user lock,
//! one mutex, a Lua script's compare-and-set) and execute the result. A store that cannot
//! call Rust inside its atomic step (Redis runs Lua) reads the user's sessions, plans here,
//! and commits only if nothing changed meanwhile.

use std::num::NonZeroU32;

use crate::{RefreshState, Session, SessionId, Timestamp, TokenDigest};

/// What removing a session means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Delete the record.
    Delete,
    /// Audit mode: keep the record with `revoked_at` set, so it never authenticates
    /// again but stays listed for audit until purged.
    Revoke {
        /// The revocation time to record.
        at: Timestamp,
    },
}

/// What an insert does when the (user, client) pair already holds its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Remove the oldest live sessions of the pair (a login: the newest token wins).
    EvictOldest,
    /// Refuse the insert (an API key, a named token: the user must revoke one first).
    Refuse,
}

/// The policy of one insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsertPolicy {
    /// After the insert, the (user, client) pair holds at most this many live sessions,
    /// the new one included.
    pub max_live: NonZeroU32,
    /// Evict or refuse when the pair is full.
    pub when_full: WhenFull,
    /// Remove every other live session of the user, all clients (single-login).
    pub single_login: bool,
    /// How removed sessions are removed.
    pub removal: Removal,
    /// "Now", to tell live sessions from expired ones.
    pub now: Timestamp,
}

/// Why an insert was refused. Nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The (user, client) pair holds its cap and the policy is [`WhenFull::Refuse`].
    #[error("the token limit is reached")]
    Full,
    /// The user holds a live named token of this name.
    #[error("a token with this name exists")]
    NameTaken,
}

/// What an insert did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    /// The session is stored; these sessions were removed to make room (evicted, or
    /// every other one under single-login).
    Inserted {
        /// The removed sessions, as they were.
        removed: Vec<Session>,
    },
    /// Nothing was written.
    Refused(Refusal),
}

impl InsertOutcome {
    /// The removed sessions of an insert that happened.
    ///
    /// # Errors
    /// The [`Refusal`] of an insert that did not.
    pub fn into_removed(self) -> Result<Vec<Session>, Refusal> {
        match self {
            InsertOutcome::Inserted { removed } => Ok(removed),
            InsertOutcome::Refused(why) => Err(why),
        }
    }
}

/// Which of `existing` (every session of the new session's user, in any order, expired
/// and revoked ones included) an insert of `new` under `policy` removes, or why it is
/// refused.
///
/// - A named session whose name a live session of the user carries: [`Refusal::NameTaken`].
/// - Single-login: every live session of the user goes.
/// - Otherwise, when the (user, client) pair holds `max_live` live sessions or more: the
///   oldest go (by creation, then id) so that `max_live` remain with the new one, or
///   [`Refusal::Full`] under [`WhenFull::Refuse`].
///
/// Expired and revoked sessions never count and are never removed here (purging does
/// that), so an eviction never deletes the record that answers "expired".
///
/// # Errors
/// The [`Refusal`].
pub fn plan_insert(
    existing: &[Session],
    new: &Session,
    policy: &InsertPolicy,
) -> Result<Vec<SessionId>, Refusal> {
    let mut live: Vec<&Session> = existing
        .iter()
        .filter(|s| s.user_id == new.user_id && s.id != new.id && s.is_live(policy.now))
        .collect();
    if let Some(name) = &new.name
        && live.iter().any(|s| s.name.as_ref() == Some(name))
    {
        return Err(Refusal::NameTaken);
    }
    if policy.single_login {
        return Ok(live.iter().map(|s| s.id.clone()).collect());
    }
    live.retain(|s| s.client == new.client);
    let room = policy.max_live.get() as usize - 1;
    if live.len() <= room {
        return Ok(Vec::new());
    }
    if policy.when_full == WhenFull::Refuse {
        return Err(Refusal::Full);
    }
    live.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    let excess = live.len() - room;
    Ok(live[..excess].iter().map(|s| s.id.clone()).collect())
}

/// The new credentials of a session after a refresh-token rotation, computed by the
/// service; a store applies them with [`Rotation::apply`] when the presented refresh
/// digest is still current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// Digest of the access token being replaced (caches forget it).
    pub previous_digest: TokenDigest,
    /// Digest of the new access token.
    pub digest: TokenDigest,
    /// Digest of the new refresh token.
    pub refresh_digest: TokenDigest,
    /// Expiry of the new refresh token.
    pub refresh_expires_at: Timestamp,
    /// New expiry of the access token.
    pub expires_at: Option<Timestamp>,
    /// The rotation time (recorded as `renewed_at`).
    pub at: Timestamp,
}

impl Rotation {
    /// Whether a session may be rotated by a client presenting `presented`: it is not
    /// revoked and `presented` is its current refresh digest.
    pub fn applies_to(session: &Session, presented: &TokenDigest) -> bool {
        session.revoked_at.is_none()
            && session
                .refresh
                .as_ref()
                .is_some_and(|r| r.digest.ct_eq(presented))
    }

    /// Writes the rotation into `session`: the new access digest and expiry, the new
    /// refresh token, `renewed_at`. The store also remembers the presented refresh
    /// digest as rotated (so a reuse is recognised) and re-indexes both digests.
    pub fn apply(&self, session: &mut Session) {
        session.digest = self.digest;
        session.expires_at = self.expires_at;
        session.renewed_at = Some(self.at);
        session.refresh = Some(RefreshState {
            digest: self.refresh_digest,
            expires_at: self.refresh_expires_at,
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{ClientName, TokenName, Transport, UserId};

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn session(id: &str, client: &str, created: i64) -> Session {
        Session {
            id: SessionId::new(id).unwrap(),
            user_id: UserId::new("u").unwrap(),
            client: ClientName::new(client).unwrap(),
            digest: TokenDigest::from_bytes([0; 32]),
            created_at: at(created),
            expires_at: Some(at(created).saturating_add(Duration::from_secs(3600))),
            renewed_at: None,
            last_used_at: None,
            scopes: Vec::new(),
            context: serde_json::Map::new(),
            transport: Transport::Header,
            revoked_at: None,
            refresh: None,
            name: None,
        }
    }

    fn policy(max: u32, when_full: WhenFull) -> InsertPolicy {
        InsertPolicy {
            max_live: NonZeroU32::new(max).unwrap(),
            when_full,
            single_login: false,
            removal: Removal::Delete,
            now: at(10_000),
        }
    }

    #[track_caller]
    fn check(
        existing: &[Session],
        new: &Session,
        p: InsertPolicy,
        expected: Result<&[&str], Refusal>,
    ) {
        let plan = plan_insert(existing, new, &p);
        let plan = plan
            .as_ref()
            .map(|ids| ids.iter().map(SessionId::as_str).collect::<Vec<_>>())
            .map_err(|e| *e);
        assert_eq!(plan, expected.map(<[&str]>::to_vec));
    }

    #[test]
    fn the_oldest_of_the_pair_are_evicted() {
        let existing = [
            session("b", "web", 2),
            session("a", "web", 1),
            session("c", "cli", 0),
        ];
        let new = session("n", "web", 3);
        check(
            &existing,
            &new,
            policy(1, WhenFull::EvictOldest),
            Ok(&["a", "b"]),
        );
        check(
            &existing,
            &new,
            policy(2, WhenFull::EvictOldest),
            Ok(&["a"]),
        );
        check(&existing, &new, policy(3, WhenFull::EvictOldest), Ok(&[]));
        check(
            &existing,
            &new,
            policy(2, WhenFull::Refuse),
            Err(Refusal::Full),
        );
        check(&existing, &new, policy(3, WhenFull::Refuse), Ok(&[]));
    }

    #[test]
    fn expired_and_revoked_sessions_neither_count_nor_go() {
        let mut expired = session("a", "web", 1);
        expired.expires_at = Some(at(5));
        let mut revoked = session("b", "web", 2);
        revoked.revoked_at = Some(at(3));
        let new = session("n", "web", 3);
        check(
            &[expired, revoked],
            &new,
            policy(1, WhenFull::Refuse),
            Ok(&[]),
        );
    }

    #[test]
    fn single_login_removes_every_live_session_of_the_user() {
        let mut other_user = session("z", "web", 0);
        other_user.user_id = UserId::new("v").unwrap();
        let existing = [session("a", "web", 1), session("b", "cli", 2), other_user];
        let p = InsertPolicy {
            single_login: true,
            ..policy(5, WhenFull::EvictOldest)
        };
        check(&existing, &session("n", "web", 3), p, Ok(&["a", "b"]));
    }

    #[test]
    fn a_live_name_is_taken_and_an_expired_one_is_free() {
        let mut named = session("a", "tokens", 1);
        named.name = Some(TokenName::new("laptop").unwrap());
        let mut new = session("n", "tokens", 3);
        new.name = Some(TokenName::new("laptop").unwrap());
        check(
            &[named.clone()],
            &new,
            policy(10, WhenFull::Refuse),
            Err(Refusal::NameTaken),
        );
        named.expires_at = Some(at(5));
        check(&[named], &new, policy(10, WhenFull::Refuse), Ok(&[]));
    }
}
