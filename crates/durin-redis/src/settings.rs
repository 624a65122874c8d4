//! `SettingsStore` for `RedisStore`: one string key per (user, client) holding a
//! versioned JSON record (`{"v":1,"settings":{...}}`), written with one `SET`.

use async_trait::async_trait;
use durin_core::{ClientName, SettingsStore, StoreError, UserId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::RedisStore;
use crate::record::VERSION;

#[derive(Serialize)]
struct RecordRef<'a> {
    v: u32,
    settings: &'a Map<String, Value>,
}

#[derive(Deserialize)]
struct Record {
    v: u32,
    settings: Map<String, Value>,
}

#[async_trait]
impl SettingsStore for RedisStore {
    async fn get_settings(
        &self,
        user: &UserId,
        client: &ClientName,
    ) -> Result<Option<Map<String, Value>>, StoreError> {
        let raw: Option<Vec<u8>> = self
            .query(redis::cmd("GET").arg(self.keys.user_part(user).settings(user, client)))
            .await?;
        let Some(raw) = raw else { return Ok(None) };
        let record: Record = serde_json::from_slice(&raw)
            .map_err(|e| StoreError::Corrupt(format!("settings record: {e}")))?;
        if record.v != VERSION {
            return Err(StoreError::Corrupt(format!(
                "settings record version {}; this version of durin-redis reads {VERSION}",
                record.v
            )));
        }
        Ok(Some(record.settings))
    }

    async fn put_settings(
        &self,
        user: &UserId,
        client: &ClientName,
        settings: &Map<String, Value>,
    ) -> Result<(), StoreError> {
        let record = serde_json::to_vec(&RecordRef {
            v: VERSION,
            settings,
        })
        .map_err(StoreError::backend)?;
        let () = self
            .query(
                redis::cmd("SET")
                    .arg(self.keys.user_part(user).settings(user, client))
                    .arg(record),
            )
            .await?;
        Ok(())
    }

    async fn delete_settings(
        &self,
        user: &UserId,
        client: &ClientName,
    ) -> Result<bool, StoreError> {
        let deleted: u64 = self
            .query(redis::cmd("DEL").arg(self.keys.user_part(user).settings(user, client)))
            .await?;
        Ok(deleted > 0)
    }
}
