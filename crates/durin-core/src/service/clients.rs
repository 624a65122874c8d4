//! Client policies (cached, changed through the service so every node hears of it),
//! the prefixes they issue, and throttling.

use std::sync::Arc;

use super::Durin;
use crate::{
    AuthError, Authenticated, Client, ClientName, InvalidReason, Invalidation, Rate,
    ThrottleDecision, Timestamp, TokenFormatError,
};

impl Durin {
    /// The client called `name` (cached for the configured client-cache TTL; a change
    /// made through [`Durin::upsert_client`] on any node reaches the cache at once).
    ///
    /// # Errors
    /// [`AuthError::Unavailable`] when the store fails.
    pub async fn client(&self, name: &ClientName) -> Result<Option<Arc<Client>>, AuthError> {
        self.client_at(name, self.now()).await
    }

    pub(crate) async fn client_at(
        &self,
        name: &ClientName,
        now: Timestamp,
    ) -> Result<Option<Arc<Client>>, AuthError> {
        if let Some(client) = self.inner.client_cache.get(name, now) {
            return Ok(Some(client));
        }
        let Some(client) = self.inner.clients.get_client(name).await? else {
            return Ok(None);
        };
        let client = Arc::new(client);
        self.inner.client_cache.put(&client, now);
        Ok(Some(client))
    }

    /// Every client, by name (read from the store).
    ///
    /// # Errors
    /// [`AuthError::Unavailable`].
    pub async fn list_clients(&self) -> Result<Vec<Client>, AuthError> {
        let clients = self.inner.clients.list_clients().await?;
        self.inner.client_cache.set_prefixes(&clients);
        Ok(clients)
    }

    /// Adds a client.
    ///
    /// # Errors
    /// [`AuthError::Conflict`] when the name is taken.
    pub async fn create_client(&self, client: &Client) -> Result<(), AuthError> {
        self.inner.clients.create_client(client).await?;
        self.client_changed(&client.name).await;
        self.inner.client_cache.learn_prefix(client);
        Ok(())
    }

    /// Creates the client or replaces its policy; every node sees the change at once
    /// (this node's cache is updated, the others are told through the bus).
    ///
    /// # Errors
    /// [`AuthError::Unavailable`].
    pub async fn upsert_client(&self, client: &Client) -> Result<(), AuthError> {
        self.inner.clients.upsert_client(client).await?;
        self.client_changed(&client.name).await;
        self.inner.client_cache.learn_prefix(client);
        Ok(())
    }

    /// Deletes a client; its sessions stop authenticating at once on every node (they
    /// are not deleted here: `SessionAdmin::remove_client_sessions` does that). Returns
    /// whether it existed.
    ///
    /// # Errors
    /// [`AuthError::Unavailable`].
    pub async fn delete_client(&self, name: &ClientName) -> Result<bool, AuthError> {
        let existed = self.inner.clients.delete_client(name).await?;
        self.client_changed(name).await;
        Ok(existed)
    }

    async fn client_changed(&self, name: &ClientName) {
        self.inner.client_cache.forget(name);
        if let Some(bus) = &self.inner.config.bus {
            bus.publish(&Invalidation::Client(name.clone())).await;
        }
    }

    /// Refuses a prefix that neither the service nor a known client issues.
    /// Whether this service or a client it has seen issues `prefix` (no I/O).
    pub(crate) fn issues_prefix(&self, prefix: &str) -> bool {
        prefix == self.inner.config.prefix.as_str() || self.inner.client_cache.knows_prefix(prefix)
    }

    pub(crate) async fn check_prefix(&self, prefix: &str) -> Result<(), AuthError> {
        let cache = &self.inner.client_cache;
        if self.issues_prefix(prefix) {
            return Ok(());
        }
        if cache.claim_prefix_reload(self.now()) {
            let clients = self.inner.clients.list_clients().await?;
            cache.set_prefixes(&clients);
            if cache.knows_prefix(prefix) {
                return Ok(());
            }
        }
        tracing::debug!("token prefix not issued here");
        Err(AuthError::InvalidToken(InvalidReason::Format(
            TokenFormatError::ForeignPrefix,
        )))
    }

    /// The rate that applies to `client`: its own, else the default.
    pub fn rate_for(&self, client: &Client) -> Option<Rate> {
        client.throttle_rate.or(self.inner.config.default_rate)
    }

    /// Counts a request of `auth` against its client's rate (else the default rate).
    ///
    /// # Errors
    /// [`AuthError::Throttled`] with the time until capacity frees;
    /// [`AuthError::Unavailable`] when a shared throttle backend fails.
    pub async fn throttle(&self, auth: &Authenticated) -> Result<(), AuthError> {
        let Some(rate) = self.rate_for(&auth.client) else {
            return Ok(());
        };
        let key = format!("uc:{}:{}", auth.client.name, auth.user_id());
        self.throttle_key(&key, rate).await
    }

    /// Counts a request for any key at `rate`. Without a configured throttle everything
    /// is admitted.
    ///
    /// # Errors
    /// As [`Durin::throttle`].
    pub async fn throttle_key(&self, key: &str, rate: Rate) -> Result<(), AuthError> {
        let Some(throttle) = &self.inner.config.throttle else {
            return Ok(());
        };
        let metrics = &self.inner.metrics;
        match throttle.check(key, rate).await? {
            ThrottleDecision::Allowed => {
                metrics.throttle_allowed.increment(1);
                Ok(())
            }
            ThrottleDecision::Limited { retry_after } => {
                metrics.throttle_throttled.increment(1);
                Err(AuthError::Throttled { retry_after })
            }
        }
    }
}
