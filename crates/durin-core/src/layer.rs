//! One generic wrapper for the storage traits: [`Layered`] forwards every operation of
//! a [`TokenStore`] and a [`ClientStore`] to the store under it, through a
//! [`StoreLayer`] that sees each call go by.
//!
//! A wrapper that wants to time, count or hold calls writes a `StoreLayer` (one method)
//! instead of retyping every method of the traits, so it cannot forget one: the
//! forwarding is written once, here, and the compiler checks it against the traits
//! (which have no defaulted methods to forget).

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;

use crate::store::RefreshLookup;
use crate::{
    Client, ClientName, ClientStore, InsertOutcome, InsertPolicy, Removal, Rotation, Session,
    SessionId, StoreError, Timestamp, TokenDigest, TokenStore, UserId,
};

/// A storage operation, as [`StoreLayer::around`] sees it go by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// [`TokenStore::insert`].
    Insert,
    /// [`TokenStore::get`].
    Get,
    /// [`TokenStore::get_by_id`].
    GetById,
    /// [`TokenStore::get_by_refresh`].
    GetByRefresh,
    /// [`TokenStore::list_by_user`].
    ListByUser,
    /// [`TokenStore::extend`].
    Extend,
    /// [`TokenStore::touch`].
    Touch,
    /// [`TokenStore::rekey`].
    Rekey,
    /// [`TokenStore::rotate`].
    Rotate,
    /// [`TokenStore::remove`].
    Remove,
    /// [`TokenStore::remove_user`].
    RemoveUser,
    /// [`TokenStore::purge_expired`].
    PurgeExpired,
    /// [`ClientStore::get_client`].
    GetClient,
    /// [`ClientStore::list_clients`].
    ListClients,
    /// [`ClientStore::create_client`].
    CreateClient,
    /// [`ClientStore::upsert_client`].
    UpsertClient,
    /// [`ClientStore::delete_client`].
    DeleteClient,
}

impl Operation {
    /// Every token-store operation, in declaration order.
    pub const TOKEN_STORE: [Operation; 12] = [
        Operation::Insert,
        Operation::Get,
        Operation::GetById,
        Operation::GetByRefresh,
        Operation::ListByUser,
        Operation::Extend,
        Operation::Touch,
        Operation::Rekey,
        Operation::Rotate,
        Operation::Remove,
        Operation::RemoveUser,
        Operation::PurgeExpired,
    ];

    /// The method's name (`insert`, `get_by_id`...): the `operation` label of
    /// `durin_store_operation_seconds`.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Insert => "insert",
            Operation::Get => "get",
            Operation::GetById => "get_by_id",
            Operation::GetByRefresh => "get_by_refresh",
            Operation::ListByUser => "list_by_user",
            Operation::Extend => "extend",
            Operation::Touch => "touch",
            Operation::Rekey => "rekey",
            Operation::Rotate => "rotate",
            Operation::Remove => "remove",
            Operation::RemoveUser => "remove_user",
            Operation::PurgeExpired => "purge_expired",
            Operation::GetClient => "get_client",
            Operation::ListClients => "list_clients",
            Operation::CreateClient => "create_client",
            Operation::UpsertClient => "upsert_client",
            Operation::DeleteClient => "delete_client",
        }
    }
}

/// What a [`Layered`] store does around each operation of the store under it.
pub trait StoreLayer: Send + Sync + 'static {
    /// Runs `call` (operation `op` of the store under the layer) and returns its result,
    /// doing whatever the layer does before and after. A layer must await `call` exactly
    /// once and return its result unchanged.
    fn around<'a, T, F>(
        &'a self,
        op: Operation,
        call: F,
    ) -> impl Future<Output = Result<T, StoreError>> + Send + 'a
    where
        T: Send + 'a,
        F: Future<Output = Result<T, StoreError>> + Send + 'a;
}

/// A store `S` seen through a [`StoreLayer`] `L`: every [`TokenStore`] and
/// [`ClientStore`] operation goes to `S`, through `L::around`.
#[derive(Debug, Default)]
pub struct Layered<S, L> {
    inner: S,
    layer: L,
}

impl<S, L> Layered<S, L> {
    /// `inner` seen through `layer`.
    pub fn new(inner: S, layer: L) -> Self {
        Layered { inner, layer }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The layer.
    pub fn layer(&self) -> &L {
        &self.layer
    }
}

#[async_trait]
impl<S: TokenStore, L: StoreLayer> TokenStore for Layered<S, L> {
    async fn insert(&self, s: &Session, p: InsertPolicy) -> Result<InsertOutcome, StoreError> {
        let call = self.inner.insert(s, p);
        self.layer.around(Operation::Insert, call).await
    }
    async fn get(&self, digest: &TokenDigest) -> Result<Option<Arc<Session>>, StoreError> {
        let call = self.inner.get(digest);
        self.layer.around(Operation::Get, call).await
    }
    async fn get_by_id(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let call = self.inner.get_by_id(id);
        self.layer.around(Operation::GetById, call).await
    }
    async fn get_by_refresh(&self, d: &TokenDigest) -> Result<Option<RefreshLookup>, StoreError> {
        let call = self.inner.get_by_refresh(d);
        self.layer.around(Operation::GetByRefresh, call).await
    }
    async fn list_by_user(&self, user: &UserId) -> Result<Vec<Session>, StoreError> {
        let call = self.inner.list_by_user(user);
        self.layer.around(Operation::ListByUser, call).await
    }
    async fn extend(
        &self,
        id: &SessionId,
        expires_at: Option<Timestamp>,
        at: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        let call = self.inner.extend(id, expires_at, at);
        self.layer.around(Operation::Extend, call).await
    }
    async fn touch(&self, id: &SessionId, at: Timestamp) -> Result<(), StoreError> {
        let call = self.inner.touch(id, at);
        self.layer.around(Operation::Touch, call).await
    }
    async fn rekey(
        &self,
        id: &SessionId,
        old: &TokenDigest,
        new: &TokenDigest,
    ) -> Result<bool, StoreError> {
        let call = self.inner.rekey(id, old, new);
        self.layer.around(Operation::Rekey, call).await
    }
    async fn rotate(
        &self,
        id: &SessionId,
        presented: &TokenDigest,
        rotation: &Rotation,
    ) -> Result<Option<Session>, StoreError> {
        let call = self.inner.rotate(id, presented, rotation);
        self.layer.around(Operation::Rotate, call).await
    }
    async fn remove(&self, id: &SessionId, how: Removal) -> Result<Option<Session>, StoreError> {
        let call = self.inner.remove(id, how);
        self.layer.around(Operation::Remove, call).await
    }
    async fn remove_user(
        &self,
        user: &UserId,
        except: Option<&SessionId>,
        how: Removal,
    ) -> Result<Vec<Session>, StoreError> {
        let call = self.inner.remove_user(user, except, how);
        self.layer.around(Operation::RemoveUser, call).await
    }
    async fn purge_expired(&self, before: Timestamp, batch: u32) -> Result<u64, StoreError> {
        let call = self.inner.purge_expired(before, batch);
        self.layer.around(Operation::PurgeExpired, call).await
    }
}

#[async_trait]
impl<S: ClientStore, L: StoreLayer> ClientStore for Layered<S, L> {
    async fn get_client(&self, name: &ClientName) -> Result<Option<Client>, StoreError> {
        let call = self.inner.get_client(name);
        self.layer.around(Operation::GetClient, call).await
    }
    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        let call = self.inner.list_clients();
        self.layer.around(Operation::ListClients, call).await
    }
    async fn create_client(&self, client: &Client) -> Result<(), StoreError> {
        let call = self.inner.create_client(client);
        self.layer.around(Operation::CreateClient, call).await
    }
    async fn upsert_client(&self, client: &Client) -> Result<(), StoreError> {
        let call = self.inner.upsert_client(client);
        self.layer.around(Operation::UpsertClient, call).await
    }
    async fn delete_client(&self, name: &ClientName) -> Result<bool, StoreError> {
        let call = self.inner.delete_client(name);
        self.layer.around(Operation::DeleteClient, call).await
    }
}
