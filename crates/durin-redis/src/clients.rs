//! `ClientStore` for `RedisStore`: one hash, client name to versioned JSON record.

use async_trait::async_trait;
use durin_core::{Client, ClientName, ClientStore, StoreError};

use crate::RedisStore;
use crate::record::{decode_client, encode_client};

#[async_trait]
impl ClientStore for RedisStore {
    async fn get_client(&self, name: &ClientName) -> Result<Option<Client>, StoreError> {
        let raw: Option<Vec<u8>> = self
            .query(
                redis::cmd("HGET")
                    .arg(self.keys.clients())
                    .arg(name.as_str()),
            )
            .await?;
        raw.map(|raw| decode_client(name.as_str(), &raw))
            .transpose()
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        let all: Vec<(String, Vec<u8>)> = self
            .query(redis::cmd("HGETALL").arg(self.keys.clients()))
            .await?;
        let mut clients = all
            .iter()
            .map(|(name, raw)| decode_client(name, raw))
            .collect::<Result<Vec<_>, _>>()?;
        clients.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(clients)
    }

    async fn create_client(&self, client: &Client) -> Result<(), StoreError> {
        let created: bool = self
            .query(
                redis::cmd("HSETNX")
                    .arg(self.keys.clients())
                    .arg(client.name.as_str())
                    .arg(encode_client(client)),
            )
            .await?;
        if created {
            Ok(())
        } else {
            Err(StoreError::Conflict(format!(
                "a client named {} exists",
                client.name
            )))
        }
    }

    async fn upsert_client(&self, client: &Client) -> Result<(), StoreError> {
        self.query::<i64>(
            redis::cmd("HSET")
                .arg(self.keys.clients())
                .arg(client.name.as_str())
                .arg(encode_client(client)),
        )
        .await
        .map(drop)
    }

    async fn delete_client(&self, name: &ClientName) -> Result<bool, StoreError> {
        self.query(
            redis::cmd("HDEL")
                .arg(self.keys.clients())
                .arg(name.as_str()),
        )
        .await
    }
}
