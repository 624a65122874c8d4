//! Test doubles for the suites and for applications' own tests: a store wrapper that
//! counts (and can hold) reads, and an in-process invalidation channel with fault
//! injection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use tokio::sync::{Notify, broadcast, watch};

use std::future::Future;

use crate::{
    InsertOutcome, InsertPolicy, InvalidationChannel, Layered, Operation, RefreshLookup, Removal,
    Rotation, Session, SessionId, StoreError, StoreLayer, Subscription, Timestamp, TokenDigest,
    TokenStore, UserId,
};

/// Wraps a token store, counting the reads (`get`) that reach it, so a test can assert
/// that a cached path did not touch the backend; it can also hold the next read until
/// released, to stage a read racing a write. Client reads are counted too, when the
/// wrapped store is a [`crate::ClientStore`].
pub type CountingStore<S> = Layered<S, Counting>;

/// The [`StoreLayer`] of [`CountingStore`].
#[derive(Debug, Default)]
pub struct Counting {
    gets: AtomicUsize,
    client_reads: AtomicUsize,
    hold_next_get: std::sync::Mutex<Option<Arc<Notify>>>,
}

impl<S> Layered<S, Counting> {
    /// Wraps `inner`, counting.
    pub fn counting(inner: S) -> Self {
        Layered::new(inner, Counting::default())
    }

    /// How many `get`s reached the wrapped store.
    pub fn gets(&self) -> usize {
        self.layer().gets.load(Ordering::SeqCst)
    }

    /// How many client reads (`get_client`, `list_clients`) reached the wrapped store.
    pub fn client_reads(&self) -> usize {
        self.layer().client_reads.load(Ordering::SeqCst)
    }

    /// The next `get` reads its answer, then waits for `release` before returning it.
    pub fn hold_next_get(&self, release: Arc<Notify>) {
        *self
            .layer()
            .hold_next_get
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(release);
    }
}

impl StoreLayer for Counting {
    async fn around<'a, T, F>(&'a self, op: Operation, call: F) -> Result<T, StoreError>
    where
        T: Send + 'a,
        F: Future<Output = Result<T, StoreError>> + Send + 'a,
    {
        {
            match op {
                Operation::GetClient | Operation::ListClients => {
                    self.client_reads.fetch_add(1, Ordering::SeqCst);
                    call.await
                }
                Operation::Get => {
                    self.gets.fetch_add(1, Ordering::SeqCst);
                    let found = call.await;
                    let hold = self
                        .hold_next_get
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .take();
                    if let Some(release) = hold {
                        // The read has its (soon stale) answer; the test writes meanwhile.
                        release.notified().await;
                    }
                    found
                }
                _ => call.await,
            }
        }
    }
}

/// A deliberately broken token store, for proving that a concurrency test can fail:
/// `remove_user` lists the user's sessions, waits `pause`, then removes them one by one
/// (a non-atomic list-then-delete), so logins landing in between survive a logout-all
/// that a session issued before them did not yet feel. Every other operation is the
/// wrapped store's.
#[derive(Debug)]
pub struct ListThenRemove<S> {
    inner: S,
    pause: std::time::Duration,
}

impl<S> ListThenRemove<S> {
    /// Wraps `inner`; `remove_user` waits `pause` between listing and removing.
    pub fn new(inner: S, pause: std::time::Duration) -> Self {
        ListThenRemove { inner, pause }
    }
}

#[async_trait]
impl<S: TokenStore> TokenStore for ListThenRemove<S> {
    async fn insert(&self, s: &Session, p: InsertPolicy) -> Result<InsertOutcome, StoreError> {
        self.inner.insert(s, p).await
    }
    async fn get(&self, digest: &TokenDigest) -> Result<Option<Arc<Session>>, StoreError> {
        self.inner.get(digest).await
    }
    async fn get_by_id(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        self.inner.get_by_id(id).await
    }
    async fn get_by_refresh(&self, d: &TokenDigest) -> Result<Option<RefreshLookup>, StoreError> {
        self.inner.get_by_refresh(d).await
    }
    async fn list_by_user(&self, user: &UserId) -> Result<Vec<Session>, StoreError> {
        self.inner.list_by_user(user).await
    }
    async fn extend(
        &self,
        id: &SessionId,
        e: Option<Timestamp>,
        at: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        self.inner.extend(id, e, at).await
    }
    async fn touch(&self, id: &SessionId, at: Timestamp) -> Result<(), StoreError> {
        self.inner.touch(id, at).await
    }
    async fn rekey(
        &self,
        id: &SessionId,
        o: &TokenDigest,
        n: &TokenDigest,
    ) -> Result<bool, StoreError> {
        self.inner.rekey(id, o, n).await
    }
    async fn rotate(
        &self,
        id: &SessionId,
        p: &TokenDigest,
        r: &Rotation,
    ) -> Result<Option<Session>, StoreError> {
        self.inner.rotate(id, p, r).await
    }
    async fn remove(&self, id: &SessionId, how: Removal) -> Result<Option<Session>, StoreError> {
        self.inner.remove(id, how).await
    }
    async fn remove_user(
        &self,
        u: &UserId,
        e: Option<&SessionId>,
        how: Removal,
    ) -> Result<Vec<Session>, StoreError> {
        let listed = self.inner.list_by_user(u).await?;
        tokio::time::sleep(self.pause).await;
        let mut removed = Vec::new();
        for s in listed {
            if Some(&s.id) != e
                && s.revoked_at.is_none()
                && let Some(gone) = self.inner.remove(&s.id, how).await?
            {
                removed.push(gone);
            }
        }
        Ok(removed)
    }
    async fn purge_expired(&self, before: Timestamp, batch: u32) -> Result<u64, StoreError> {
        self.inner.purge_expired(before, batch).await
    }
}

/// An in-process [`InvalidationChannel`] (a tokio broadcast): several `Durin` services in
/// one process behave like several nodes. [`MemoryChannel::drop_subscriptions`] and
/// [`MemoryChannel::set_down`] stage the faults a real channel has.
#[derive(Debug, Clone)]
pub struct MemoryChannel {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    sender: broadcast::Sender<String>,
    kill: watch::Sender<u64>,
    down: AtomicBool,
    published: AtomicUsize,
}

impl Default for MemoryChannel {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryChannel {
    /// A channel with no subscriber yet.
    pub fn new() -> Self {
        MemoryChannel {
            shared: Arc::new(Shared {
                sender: broadcast::channel(4096).0,
                kill: watch::Sender::new(0),
                down: AtomicBool::new(false),
                published: AtomicUsize::new(0),
            }),
        }
    }

    /// Ends every live subscription with an error (a dropped connection).
    pub fn drop_subscriptions(&self) {
        self.shared.kill.send_modify(|n| *n += 1);
    }

    /// While down, publishing and subscribing fail (and live subscriptions are dropped).
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
        if down {
            self.drop_subscriptions();
        }
    }

    /// How many payloads were published successfully.
    pub fn published(&self) -> usize {
        self.shared.published.load(Ordering::SeqCst)
    }

    fn check_up(&self) -> Result<(), StoreError> {
        if self.shared.down.load(Ordering::SeqCst) {
            Err(StoreError::unavailable("the memory channel is down"))
        } else {
            Ok(())
        }
    }
}

struct MemorySubscription {
    receiver: broadcast::Receiver<String>,
    kill: watch::Receiver<u64>,
}

#[async_trait]
impl Subscription for MemorySubscription {
    async fn next(&mut self) -> Result<String, StoreError> {
        tokio::select! {
            _ = self.kill.changed() => Err(StoreError::unavailable("subscription dropped")),
            message = self.receiver.recv() => message.map_err(|e| {
                // Lagged or closed: messages were missed.
                StoreError::unavailable(format!("subscription lost: {e}"))
            }),
        }
    }
}

#[async_trait]
impl InvalidationChannel for MemoryChannel {
    async fn publish(&self, payload: &str) -> Result<(), StoreError> {
        self.check_up()?;
        // No subscriber is not an error: nobody has anything to forget.
        let _ = self.shared.sender.send(payload.to_owned());
        self.shared.published.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn subscribe(&self) -> Result<Box<dyn Subscription>, StoreError> {
        self.check_up()?;
        let mut kill = self.shared.kill.subscribe();
        kill.mark_unchanged();
        Ok(Box::new(MemorySubscription {
            receiver: self.shared.sender.subscribe(),
            kill,
        }))
    }
}
