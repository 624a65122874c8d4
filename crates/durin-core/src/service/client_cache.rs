//! The client-policy cache: a handful of clients read on every request, and the token
//! prefixes they issue.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::{Client, ClientName, Invalidation, InvalidationSink, Timestamp};

/// How often an unknown token prefix may make the service re-read the client list.
pub(crate) const PREFIX_RELOAD_EVERY: Duration = Duration::from_secs(5);

/// Clients are configuration, not data: past this many names the cache starts over.
const MAX_CLIENTS: usize = 10_000;

/// FNV-1a for client names: read on every request, a few bytes long, and only names
/// read from the store are ever inserted, so a request cannot fill the map with
/// colliding keys (what SipHash, the default, defends against at several times the cost).
#[derive(Clone, Copy, Default)]
struct NameHashing;

impl std::hash::BuildHasher for NameHashing {
    type Hasher = Fnv1a;

    fn build_hasher(&self) -> Fnv1a {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

/// See [`NameHashing`].
struct Fnv1a(u64);

impl std::hash::Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Client policies cached for `ttl` (time read from the service's `Clock`), and the
/// prefixes of every client seen.
///
/// A plain map behind a read lock: several times cheaper than a general-purpose cache
/// for a handful of keys. Registered with the invalidation bus, so a change made on
/// another node (or by the CLI) reaches this one; bypassed while the bus is down.
pub(crate) struct ClientCache {
    ttl: Duration,
    entries: RwLock<HashMap<ClientName, (Arc<Client>, Timestamp), NameHashing>>,
    trusted: AtomicBool,
    prefixes: RwLock<HashSet<String>>,
    /// A client changed somewhere: the next unknown prefix re-reads the list at once.
    prefixes_stale: AtomicBool,
    prefixes_read_at: Mutex<Option<Timestamp>>,
}

impl ClientCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        ClientCache {
            ttl,
            entries: RwLock::new(HashMap::with_hasher(NameHashing)),
            trusted: AtomicBool::new(true),
            prefixes: RwLock::new(HashSet::new()),
            prefixes_stale: AtomicBool::new(true),
            prefixes_read_at: Mutex::new(None),
        }
    }

    /// The cached policy of `name`, if fresh at `now`.
    pub(crate) fn get(&self, name: &ClientName, now: Timestamp) -> Option<Arc<Client>> {
        if self.ttl.is_zero() || !self.trusted.load(Ordering::Acquire) {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let (client, fetched) = entries.get(name)?;
        (now.duration_since(*fetched) < self.ttl && now >= *fetched).then(|| client.clone())
    }

    /// Caches `client` as read from the store at `now`.
    pub(crate) fn put(&self, client: &Arc<Client>, now: Timestamp) {
        self.learn_prefix(client);
        if self.ttl.is_zero() || !self.trusted.load(Ordering::Acquire) {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_CLIENTS {
            entries.clear();
        }
        entries.insert(client.name.clone(), (client.clone(), now));
    }

    /// Drops `name`.
    pub(crate) fn forget(&self, name: &ClientName) {
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        self.prefixes_stale.store(true, Ordering::Release);
    }

    fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.prefixes_stale.store(true, Ordering::Release);
    }

    /// Remembers the prefix `client` issues.
    pub(crate) fn learn_prefix(&self, client: &Client) {
        if let Some(prefix) = &client.prefix {
            let known = self
                .prefixes
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains(prefix.as_str());
            if !known {
                self.prefixes
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(prefix.as_str().to_owned());
            }
        }
    }

    /// Whether a client seen by this process issues `prefix`.
    pub(crate) fn knows_prefix(&self, prefix: &str) -> bool {
        self.prefixes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(prefix)
    }

    /// Whether an unknown prefix may re-read the client list now: when a client changed
    /// since the last read, or the last read is older than [`PREFIX_RELOAD_EVERY`].
    /// Claims the read, so concurrent callers do not all go to the store.
    pub(crate) fn claim_prefix_reload(&self, now: Timestamp) -> bool {
        let mut read_at = self
            .prefixes_read_at
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let due = self.prefixes_stale.swap(false, Ordering::AcqRel)
            || read_at.is_none_or(|at| now.duration_since(at) >= PREFIX_RELOAD_EVERY);
        if due {
            *read_at = Some(now);
        }
        due
    }

    /// Replaces the known prefixes with those of `clients`.
    pub(crate) fn set_prefixes<'a>(&self, clients: impl IntoIterator<Item = &'a Client>) {
        let set: HashSet<String> = clients
            .into_iter()
            .filter_map(|c| c.prefix.as_ref().map(|p| p.as_str().to_owned()))
            .collect();
        *self.prefixes.write().unwrap_or_else(|e| e.into_inner()) = set;
    }
}

impl InvalidationSink for ClientCache {
    fn apply(&self, invalidation: &Invalidation) {
        match invalidation {
            Invalidation::Client(name) => self.forget(name),
            Invalidation::All => self.clear(),
            Invalidation::Digests(_) | Invalidation::User { .. } => {}
        }
    }

    fn suspend(&self) {
        self.trusted.store(false, Ordering::Release);
        self.clear();
    }

    fn resume(&self) {
        self.clear();
        self.trusted.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web() -> Arc<Client> {
        Arc::new(Client::new(ClientName::new("web").unwrap()))
    }

    #[test]
    fn entries_expire_by_the_clock() {
        let cache = ClientCache::new(Duration::from_secs(5));
        let t0 = Timestamp::from_millis(1_000_000);
        cache.put(&web(), t0);
        let name = ClientName::new("web").unwrap();
        assert!(
            cache
                .get(&name, t0.saturating_add(Duration::from_secs(4)))
                .is_some()
        );
        assert!(
            cache
                .get(&name, t0.saturating_add(Duration::from_secs(5)))
                .is_none()
        );
    }

    #[test]
    fn invalidations_and_suspension_bypass_it() {
        let cache = ClientCache::new(Duration::from_secs(5));
        let t0 = Timestamp::from_millis(1_000_000);
        let name = ClientName::new("web").unwrap();
        cache.put(&web(), t0);
        cache.apply(&Invalidation::Client(name.clone()));
        assert!(cache.get(&name, t0).is_none());
        cache.put(&web(), t0);
        cache.suspend();
        assert!(cache.get(&name, t0).is_none());
        cache.put(&web(), t0);
        assert!(
            cache.get(&name, t0).is_none(),
            "nothing is cached while suspended"
        );
        cache.resume();
        cache.put(&web(), t0);
        assert!(cache.get(&name, t0).is_some());
    }

    #[test]
    fn prefix_reloads_are_rate_limited_unless_a_client_changed() {
        let cache = ClientCache::new(Duration::from_secs(5));
        let t0 = Timestamp::from_millis(1_000_000);
        assert!(cache.claim_prefix_reload(t0));
        assert!(!cache.claim_prefix_reload(t0.saturating_add(Duration::from_secs(1))));
        cache.forget(&ClientName::new("web").unwrap());
        assert!(cache.claim_prefix_reload(t0.saturating_add(Duration::from_secs(2))));
        assert!(cache.claim_prefix_reload(t0.saturating_add(Duration::from_secs(8))));
    }
}
