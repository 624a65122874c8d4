//! `MemoryStore`: sessions and clients in process memory.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use serde_json::{Map, Value};

use crate::{
    Client, ClientName, ClientStore, InsertOutcome, InsertPolicy, RefreshLookup, Removal, Rotation,
    Session, SessionId, SettingsStore, StoreError, Timestamp, TokenDigest, TokenStore, UserId,
    plan_insert,
};

/// Sessions and clients in process memory, behind one lock: every operation is atomic.
///
/// Fit for tests, examples and single-process applications that accept losing sessions
/// on restart. It passes the same conformance suites as the database stores.
#[derive(Default)]
pub struct MemoryStore {
    sessions: Mutex<Sessions>,
    clients: Mutex<BTreeMap<ClientName, Client>>,
    settings: Mutex<HashMap<(UserId, ClientName), Map<String, Value>>>,
    /// Leases by name: (holder, expiry).
    leases: Mutex<HashMap<String, (String, Timestamp)>>,
}

#[derive(Default)]
struct Sessions {
    by_id: HashMap<SessionId, Session>,
    by_digest: HashMap<TokenDigest, SessionId>,
    by_refresh: HashMap<TokenDigest, SessionId>,
    rotated: HashMap<TokenDigest, SessionId>,
    rotated_by_session: HashMap<SessionId, Vec<TokenDigest>>,
    by_user: HashMap<UserId, Vec<SessionId>>,
}

impl Sessions {
    fn insert(&mut self, session: Session) {
        self.by_digest.insert(session.digest, session.id.clone());
        if let Some(refresh) = &session.refresh {
            self.by_refresh.insert(refresh.digest, session.id.clone());
        }
        self.by_user
            .entry(session.user_id.clone())
            .or_default()
            .push(session.id.clone());
        self.by_id.insert(session.id.clone(), session);
    }

    fn delete(&mut self, id: &SessionId) -> Option<Session> {
        let session = self.by_id.remove(id)?;
        self.by_digest.remove(&session.digest);
        if let Some(refresh) = &session.refresh {
            self.by_refresh.remove(&refresh.digest);
        }
        for digest in self.rotated_by_session.remove(id).unwrap_or_default() {
            self.rotated.remove(&digest);
        }
        if let Some(ids) = self.by_user.get_mut(&session.user_id) {
            ids.retain(|other| other != id);
            if ids.is_empty() {
                self.by_user.remove(&session.user_id);
            }
        }
        Some(session)
    }

    /// Removes or revokes; returns the session as it was before.
    fn remove(&mut self, id: &SessionId, how: Removal) -> Option<Session> {
        match how {
            Removal::Delete => self.delete(id),
            Removal::Revoke { at } => {
                let session = self.by_id.get_mut(id)?;
                if session.revoked_at.is_some() {
                    return None;
                }
                let before = session.clone();
                session.revoked_at = Some(at);
                Some(before)
            }
        }
    }

    fn user_sessions(&self, user: &UserId) -> Vec<&Session> {
        let mut sessions: Vec<&Session> = self
            .by_user
            .get(user)
            .into_iter()
            .flatten()
            .filter_map(|id| self.by_id.get(id))
            .collect();
        sessions.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        sessions
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many sessions are held, revoked and expired ones included.
    pub fn len(&self) -> usize {
        self.sessions().by_id.len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn sessions(&self) -> MutexGuard<'_, Sessions> {
        // A panic while holding the lock cannot leave the maps half-updated in a way
        // that matters more than losing the process, so poisoning is ignored.
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn clients(&self) -> MutexGuard<'_, BTreeMap<ClientName, Client>> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A store of this process's memory, for one process: tests, examples, a single-node
/// service that accepts losing sessions on restart.
#[async_trait]
impl crate::Backend for MemoryStore {
    fn name(&self) -> &'static str {
        "memory"
    }
    fn tokens(self: Arc<Self>) -> Arc<dyn TokenStore> {
        self
    }
    fn clients(self: Arc<Self>) -> Arc<dyn ClientStore> {
        self
    }
    fn admin(self: Arc<Self>) -> Option<Arc<dyn crate::SessionAdmin>> {
        Some(self)
    }
    fn settings(self: Arc<Self>) -> Option<Arc<dyn SettingsStore>> {
        Some(self)
    }
    fn leases(self: Arc<Self>) -> Option<Arc<dyn crate::Leases>> {
        Some(self)
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("sessions", &self.len())
            .field("clients", &self.clients().len())
            .finish()
    }
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn insert(
        &self,
        session: &Session,
        policy: InsertPolicy,
    ) -> Result<InsertOutcome, StoreError> {
        let mut sessions = self.sessions();
        if sessions.by_id.contains_key(&session.id)
            || sessions.by_digest.contains_key(&session.digest)
        {
            return Err(StoreError::Conflict("session id or digest exists".into()));
        }
        let existing: Vec<Session> = sessions
            .user_sessions(&session.user_id)
            .into_iter()
            .cloned()
            .collect();
        let doomed = match plan_insert(&existing, session, &policy) {
            Ok(doomed) => doomed,
            Err(refusal) => return Ok(InsertOutcome::Refused(refusal)),
        };
        let removed = doomed
            .iter()
            .filter_map(|id| sessions.remove(id, policy.removal))
            .collect();
        sessions.insert(session.clone());
        Ok(InsertOutcome::Inserted { removed })
    }

    async fn get(&self, digest: &TokenDigest) -> Result<Option<Arc<Session>>, StoreError> {
        let sessions = self.sessions();
        Ok(sessions
            .by_digest
            .get(digest)
            .and_then(|id| sessions.by_id.get(id))
            .map(|s| Arc::new(s.clone())))
    }

    async fn get_by_id(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        Ok(self.sessions().by_id.get(id).cloned())
    }

    async fn get_by_refresh(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<RefreshLookup>, StoreError> {
        let sessions = self.sessions();
        if let Some(session) = sessions
            .by_refresh
            .get(digest)
            .and_then(|id| sessions.by_id.get(id))
        {
            return Ok(Some(RefreshLookup::Current(Box::new(session.clone()))));
        }
        Ok(sessions
            .rotated
            .get(digest)
            .map(|id| RefreshLookup::Rotated(id.clone())))
    }

    async fn list_by_user(&self, user: &UserId) -> Result<Vec<Session>, StoreError> {
        Ok(self
            .sessions()
            .user_sessions(user)
            .into_iter()
            .cloned()
            .collect())
    }

    async fn extend(
        &self,
        id: &SessionId,
        expires_at: Option<Timestamp>,
        renewed_at: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        let mut sessions = self.sessions();
        match sessions.by_id.get_mut(id) {
            Some(session) if session.revoked_at.is_none() => {
                session.expires_at = expires_at;
                session.renewed_at = Some(renewed_at);
                Ok(Some(session.clone()))
            }
            _ => Ok(None),
        }
    }

    async fn touch(&self, id: &SessionId, at: Timestamp) -> Result<(), StoreError> {
        if let Some(session) = self.sessions().by_id.get_mut(id) {
            session.last_used_at = Some(at);
        }
        Ok(())
    }

    async fn rekey(
        &self,
        id: &SessionId,
        old: &TokenDigest,
        new: &TokenDigest,
    ) -> Result<bool, StoreError> {
        let mut sessions = self.sessions();
        if sessions.by_digest.contains_key(new) {
            return Ok(false);
        }
        match sessions.by_id.get_mut(id) {
            Some(session) if session.digest == *old => {
                session.digest = *new;
                sessions.by_digest.remove(old);
                sessions.by_digest.insert(*new, id.clone());
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
        let mut sessions = self.sessions();
        let Some(session) = sessions.by_id.get_mut(id) else {
            return Ok(None);
        };
        if !Rotation::applies_to(session, presented) {
            return Ok(None);
        }
        let old_digest = session.digest;
        rotation.apply(session);
        let updated = session.clone();
        sessions.by_digest.remove(&old_digest);
        sessions.by_digest.insert(rotation.digest, id.clone());
        sessions.by_refresh.remove(presented);
        sessions
            .by_refresh
            .insert(rotation.refresh_digest, id.clone());
        sessions.rotated.insert(*presented, id.clone());
        sessions
            .rotated_by_session
            .entry(id.clone())
            .or_default()
            .push(*presented);
        Ok(Some(updated))
    }

    async fn remove(&self, id: &SessionId, how: Removal) -> Result<Option<Session>, StoreError> {
        Ok(self.sessions().remove(id, how))
    }

    async fn remove_user(
        &self,
        user: &UserId,
        except: Option<&SessionId>,
        how: Removal,
    ) -> Result<Vec<Session>, StoreError> {
        let mut sessions = self.sessions();
        let ids: Vec<SessionId> = sessions
            .user_sessions(user)
            .into_iter()
            .map(|s| s.id.clone())
            .filter(|id| Some(id) != except)
            .collect();
        Ok(ids
            .iter()
            .filter_map(|id| sessions.remove(id, how))
            .collect())
    }

    async fn purge_expired(&self, before: Timestamp, batch: u32) -> Result<u64, StoreError> {
        let mut sessions = self.sessions();
        let doomed: Vec<SessionId> = sessions
            .by_id
            .values()
            .filter(|s| s.is_purgeable(before))
            .take(batch as usize)
            .map(|s| s.id.clone())
            .collect();
        for id in &doomed {
            sessions.delete(id);
        }
        Ok(doomed.len() as u64)
    }
}

#[async_trait]
impl crate::Leases for MemoryStore {
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        let free = leases
            .get(name)
            .is_none_or(|(who, until)| who == holder || *until <= now);
        if free {
            leases.insert(
                name.to_owned(),
                (holder.to_owned(), now.saturating_add(ttl)),
            );
        }
        Ok(free)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let mut leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        if leases.get(name).is_some_and(|(who, _)| who == holder) {
            leases.remove(name);
        }
        Ok(())
    }
}

#[async_trait]
impl ClientStore for MemoryStore {
    async fn get_client(&self, name: &ClientName) -> Result<Option<Client>, StoreError> {
        Ok(self.clients().get(name).cloned())
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        Ok(self.clients().values().cloned().collect())
    }

    async fn create_client(&self, client: &Client) -> Result<(), StoreError> {
        let mut clients = self.clients();
        if clients.contains_key(&client.name) {
            return Err(StoreError::Conflict(format!(
                "a client named {} exists",
                client.name
            )));
        }
        clients.insert(client.name.clone(), client.clone());
        Ok(())
    }

    async fn upsert_client(&self, client: &Client) -> Result<(), StoreError> {
        self.clients().insert(client.name.clone(), client.clone());
        Ok(())
    }

    async fn delete_client(&self, name: &ClientName) -> Result<bool, StoreError> {
        Ok(self.clients().remove(name).is_some())
    }
}

#[async_trait]
impl crate::SessionAdmin for MemoryStore {
    async fn list_sessions(&self, query: &crate::SessionQuery) -> Result<Vec<Session>, StoreError> {
        let sessions = self.sessions();
        let mut page: Vec<&Session> = sessions
            .by_id
            .values()
            .filter(|s| query.user.as_ref().is_none_or(|u| &s.user_id == u))
            .filter(|s| query.client.as_ref().is_none_or(|c| &s.client == c))
            .filter(|s| query.after.as_ref().is_none_or(|after| &s.id > after))
            .collect();
        page.sort_by(|a, b| a.id.cmp(&b.id));
        page.truncate(query.limit as usize);
        Ok(page.into_iter().cloned().collect())
    }

    async fn count_client_sessions(&self, client: &ClientName) -> Result<u64, StoreError> {
        Ok(self
            .sessions()
            .by_id
            .values()
            .filter(|s| &s.client == client)
            .count() as u64)
    }

    async fn remove_client_sessions(&self, client: &ClientName) -> Result<u64, StoreError> {
        let mut sessions = self.sessions();
        let ids: Vec<SessionId> = sessions
            .by_id
            .values()
            .filter(|s| &s.client == client)
            .map(|s| s.id.clone())
            .collect();
        for id in &ids {
            sessions.delete(id);
        }
        Ok(ids.len() as u64)
    }
}

#[async_trait]
impl SettingsStore for MemoryStore {
    async fn get_settings(
        &self,
        user: &UserId,
        client: &ClientName,
    ) -> Result<Option<Map<String, Value>>, StoreError> {
        Ok(self
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(user.clone(), client.clone()))
            .cloned())
    }

    async fn put_settings(
        &self,
        user: &UserId,
        client: &ClientName,
        settings: &Map<String, Value>,
    ) -> Result<(), StoreError> {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((user.clone(), client.clone()), settings.clone());
        Ok(())
    }

    async fn delete_settings(
        &self,
        user: &UserId,
        client: &ClientName,
    ) -> Result<bool, StoreError> {
        Ok(self
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(user.clone(), client.clone()))
            .is_some())
    }

    async fn list_settings(
        &self,
        after: Option<(&UserId, &ClientName)>,
        limit: u32,
    ) -> Result<Vec<crate::SettingsEntry>, StoreError> {
        let entries = self
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|((user, client), settings)| crate::SettingsEntry {
                user: user.clone(),
                client: client.clone(),
                settings: settings.clone(),
            })
            .collect();
        Ok(crate::settings_page(entries, after, limit))
    }
}
