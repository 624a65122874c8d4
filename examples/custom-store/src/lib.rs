//! How a third party brings its own backend to durin: `VecStore`, a deliberately plain
//! store (a `Vec` of sessions and one of clients behind a mutex) that implements
//! `TokenStore`, `ClientStore` and `SettingsStore`, and `Backend` to hand them to durin.
//! It proves itself with durin-core's conformance suites (`tests/conformance.rs`: two
//! macro calls) and is served over HTTP by the example server's code
//! (`tests/http.rs`): a [`durin_core::Node`] on it runs the cache, the purge and the
//! rest. Optional abilities it leaves out (session administration, leases, a shared
//! throttle, an invalidation channel) each have a trait of their own; without the last
//! three it runs as the only node on its store.
//!
//! A real backend (a key-value service, a document database...) follows the same shape:
//! make each trait method one atomic operation on the backend, and let the suites say
//! whether it is right.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use durin_core::{
    Client, ClientName, ClientStore, InsertOutcome, InsertPolicy, RefreshLookup, Removal, Rotation,
    Session, SessionId, SettingsStore, StoreError, Timestamp, TokenDigest, TokenStore, UserId,
    plan_insert,
};
use serde_json::{Map, Value};

/// Sessions and clients in two vectors behind one lock.
#[derive(Debug, Default)]
pub struct VecStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    sessions: Vec<Session>,
    /// Refresh digests that were rotated away, with their session.
    rotated: Vec<(TokenDigest, SessionId)>,
    clients: Vec<Client>,
    settings: Vec<(UserId, ClientName, Map<String, Value>)>,
}

impl VecStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl State {
    fn position(&self, id: &SessionId) -> Option<usize> {
        self.sessions.iter().position(|s| &s.id == id)
    }

    fn remove(&mut self, id: &SessionId, how: Removal) -> Option<Session> {
        let i = self.position(id)?;
        match how {
            Removal::Delete => {
                self.rotated.retain(|(_, owner)| owner != id);
                Some(self.sessions.remove(i))
            }
            Removal::Revoke { at } => {
                let s = &mut self.sessions[i];
                if s.revoked_at.is_some() {
                    return None;
                }
                let before = s.clone();
                s.revoked_at = Some(at);
                Some(before)
            }
        }
    }

    fn by_user(&self, user: &UserId) -> Vec<Session> {
        let mut mine: Vec<Session> = self
            .sessions
            .iter()
            .filter(|s| &s.user_id == user)
            .cloned()
            .collect();
        mine.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        mine
    }
}

#[async_trait]
impl TokenStore for VecStore {
    async fn insert(
        &self,
        session: &Session,
        policy: InsertPolicy,
    ) -> Result<InsertOutcome, StoreError> {
        let mut state = self.state();
        if state
            .sessions
            .iter()
            .any(|s| s.id == session.id || s.digest == session.digest)
        {
            return Err(StoreError::Conflict("duplicate session".into()));
        }
        // One lock around plan-remove-insert: the whole login is atomic. durin-core
        // decides what to evict or refuse; the store only carries it out.
        let mine = state.by_user(&session.user_id);
        let doomed = match plan_insert(&mine, session, &policy) {
            Ok(doomed) => doomed,
            Err(refusal) => return Ok(InsertOutcome::Refused(refusal)),
        };
        let removed = doomed
            .iter()
            .filter_map(|id| state.remove(id, policy.removal))
            .collect();
        state.sessions.push(session.clone());
        Ok(InsertOutcome::Inserted { removed })
    }

    async fn get(&self, digest: &TokenDigest) -> Result<Option<Arc<Session>>, StoreError> {
        Ok(self
            .state()
            .sessions
            .iter()
            .find(|s| &s.digest == digest)
            .map(|s| Arc::new(s.clone())))
    }

    async fn get_by_id(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        Ok(self.state().sessions.iter().find(|s| &s.id == id).cloned())
    }

    async fn get_by_refresh(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<RefreshLookup>, StoreError> {
        let state = self.state();
        if let Some(s) = state
            .sessions
            .iter()
            .find(|s| s.refresh.as_ref().is_some_and(|r| &r.digest == digest))
        {
            return Ok(Some(RefreshLookup::Current(Box::new(s.clone()))));
        }
        Ok(state
            .rotated
            .iter()
            .find(|(d, _)| d == digest)
            .map(|(_, id)| RefreshLookup::Rotated(id.clone())))
    }

    async fn list_by_user(&self, user: &UserId) -> Result<Vec<Session>, StoreError> {
        Ok(self.state().by_user(user))
    }

    async fn extend(
        &self,
        id: &SessionId,
        expires_at: Option<Timestamp>,
        renewed_at: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        let mut state = self.state();
        let Some(i) = state.position(id) else {
            return Ok(None);
        };
        let s = &mut state.sessions[i];
        if s.revoked_at.is_some() {
            return Ok(None);
        }
        s.expires_at = expires_at;
        s.renewed_at = Some(renewed_at);
        Ok(Some(s.clone()))
    }

    async fn touch(&self, id: &SessionId, at: Timestamp) -> Result<(), StoreError> {
        let mut state = self.state();
        if let Some(i) = state.position(id) {
            state.sessions[i].last_used_at = Some(at);
        }
        Ok(())
    }

    async fn rekey(
        &self,
        id: &SessionId,
        old: &TokenDigest,
        new: &TokenDigest,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        if state.sessions.iter().any(|s| &s.digest == new) {
            return Ok(false);
        }
        match state.position(id) {
            Some(i) if &state.sessions[i].digest == old => {
                state.sessions[i].digest = *new;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn rotate(
        &self,
        id: &SessionId,
        presented: &TokenDigest,
        rotation: &Rotation,
    ) -> Result<Option<Session>, StoreError> {
        let mut state = self.state();
        let Some(i) = state.position(id) else {
            return Ok(None);
        };
        let s = &mut state.sessions[i];
        if !Rotation::applies_to(s, presented) {
            return Ok(None);
        }
        rotation.apply(s);
        let updated = s.clone();
        state.rotated.push((*presented, id.clone()));
        Ok(Some(updated))
    }

    async fn remove(&self, id: &SessionId, how: Removal) -> Result<Option<Session>, StoreError> {
        Ok(self.state().remove(id, how))
    }

    async fn remove_user(
        &self,
        user: &UserId,
        except: Option<&SessionId>,
        how: Removal,
    ) -> Result<Vec<Session>, StoreError> {
        let mut state = self.state();
        let doomed: Vec<SessionId> = state
            .by_user(user)
            .into_iter()
            .map(|s| s.id)
            .filter(|id| Some(id) != except)
            .collect();
        Ok(doomed
            .iter()
            .filter_map(|id| state.remove(id, how))
            .collect())
    }

    async fn purge_expired(&self, before: Timestamp, batch: u32) -> Result<u64, StoreError> {
        let mut state = self.state();
        let doomed: Vec<SessionId> = state
            .sessions
            .iter()
            .filter(|s| s.is_purgeable(before))
            .take(batch as usize)
            .map(|s| s.id.clone())
            .collect();
        for id in &doomed {
            state.remove(id, Removal::Delete);
        }
        Ok(doomed.len() as u64)
    }
}

#[async_trait]
impl ClientStore for VecStore {
    async fn get_client(&self, name: &ClientName) -> Result<Option<Client>, StoreError> {
        Ok(self
            .state()
            .clients
            .iter()
            .find(|c| &c.name == name)
            .cloned())
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        let mut clients = self.state().clients.clone();
        clients.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(clients)
    }

    async fn create_client(&self, client: &Client) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.clients.iter().any(|c| c.name == client.name) {
            return Err(StoreError::Conflict(format!(
                "client {} exists",
                client.name
            )));
        }
        state.clients.push(client.clone());
        Ok(())
    }

    async fn upsert_client(&self, client: &Client) -> Result<(), StoreError> {
        let mut state = self.state();
        state.clients.retain(|c| c.name != client.name);
        state.clients.push(client.clone());
        Ok(())
    }

    async fn delete_client(&self, name: &ClientName) -> Result<bool, StoreError> {
        let mut state = self.state();
        let before = state.clients.len();
        state.clients.retain(|c| &c.name != name);
        Ok(state.clients.len() != before)
    }
}

#[async_trait]
impl SettingsStore for VecStore {
    async fn get_settings(
        &self,
        user: &UserId,
        client: &ClientName,
    ) -> Result<Option<Map<String, Value>>, StoreError> {
        Ok(self
            .state()
            .settings
            .iter()
            .find(|(u, c, _)| u == user && c == client)
            .map(|(_, _, settings)| settings.clone()))
    }

    async fn put_settings(
        &self,
        user: &UserId,
        client: &ClientName,
        settings: &Map<String, Value>,
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        state
            .settings
            .retain(|(u, c, _)| !(u == user && c == client));
        state
            .settings
            .push((user.clone(), client.clone(), settings.clone()));
        Ok(())
    }

    async fn delete_settings(
        &self,
        user: &UserId,
        client: &ClientName,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        let before = state.settings.len();
        state
            .settings
            .retain(|(u, c, _)| !(u == user && c == client));
        Ok(state.settings.len() != before)
    }

    async fn list_settings(
        &self,
        after: Option<(&UserId, &ClientName)>,
        limit: u32,
    ) -> Result<Vec<durin_core::SettingsEntry>, StoreError> {
        let entries = self
            .state()
            .settings
            .iter()
            .map(|(user, client, settings)| durin_core::SettingsEntry {
                user: user.clone(),
                client: client.clone(),
                settings: settings.clone(),
            })
            .collect();
        Ok(durin_core::settings_page(entries, after, limit))
    }
}

/// What durin needs to run a node on this store: its parts. It has no invalidation
/// channel, shared throttle or attempt limiter (it lives in one process's memory), so a
/// node on it runs as the only one (`--single-node`).
#[async_trait]
impl durin_core::Backend for VecStore {
    fn name(&self) -> &'static str {
        "vec"
    }
    fn tokens(self: Arc<Self>) -> Arc<dyn TokenStore> {
        self
    }
    fn clients(self: Arc<Self>) -> Arc<dyn ClientStore> {
        self
    }
    fn settings(self: Arc<Self>) -> Option<Arc<dyn SettingsStore>> {
        Some(self)
    }
}
