//! `SettingsStore` for `RedisStore`: one string key per (user, client) holding a
//! versioned JSON record (`{"v":1,"settings":{...}}`), written with its entry in the
//! partition's settings index (`{P}:sts`, for `list_settings`) by one script.

use async_trait::async_trait;
use durin_core::{ClientName, SettingsEntry, SettingsStore, StoreError, UserId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::RedisStore;
use crate::record::VERSION;
use crate::scripts::SCRIPTS;

/// The index member of (user, client): the user, a NUL, the client (a client name has
/// no NUL, so the last NUL splits it).
fn member(user: &UserId, client: &ClientName) -> String {
    format!("{user}\0{client}")
}

fn parse_member(member: &str) -> Result<(UserId, ClientName), StoreError> {
    let (user, client) = member
        .rsplit_once('\0')
        .ok_or_else(|| StoreError::Corrupt(format!("settings index member {member:?}")))?;
    Ok((UserId::new(user)?, ClientName::new(client)?))
}

fn decode(raw: &[u8]) -> Result<Map<String, Value>, StoreError> {
    let record: Record = serde_json::from_slice(raw)
        .map_err(|e| StoreError::Corrupt(format!("settings record: {e}")))?;
    if record.v != VERSION {
        return Err(StoreError::Corrupt(format!(
            "settings record version {}; this version of durin-redis reads {VERSION}",
            record.v
        )));
    }
    Ok(record.settings)
}

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
        raw.as_deref().map(decode).transpose()
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
        let part = self.keys.user_part(user);
        if let Some(tag) = part.tag() {
            self.register(tag).await?;
        }
        let mut invocation = SCRIPTS.settings_put.prepare_invoke();
        invocation
            .key(part.settings(user, client))
            .key(part.settings_index())
            .arg(record)
            .arg(member(user, client));
        self.run::<i64>(&invocation).await?;
        Ok(())
    }

    async fn delete_settings(
        &self,
        user: &UserId,
        client: &ClientName,
    ) -> Result<bool, StoreError> {
        let part = self.keys.user_part(user);
        let mut invocation = SCRIPTS.settings_delete.prepare_invoke();
        invocation
            .key(part.settings(user, client))
            .key(part.settings_index())
            .arg(member(user, client));
        let deleted: u64 = self.run(&invocation).await?;
        Ok(deleted > 0)
    }

    async fn list_settings(
        &self,
        after: Option<(&UserId, &ClientName)>,
        limit: u32,
    ) -> Result<Vec<SettingsEntry>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        if after.is_none() {
            self.index_unlisted_settings().await?;
        }
        let min = after.map_or_else(|| "-".to_owned(), |(u, c)| format!("({}", member(u, c)));
        let mut page = Vec::new();
        // Each partition's next `limit` entries, merged: the first `limit` of them all.
        for part in self.parts().await? {
            let members: Vec<String> = self
                .query(
                    redis::cmd("ZRANGEBYLEX")
                        .arg(part.settings_index())
                        .arg(&min)
                        .arg("+")
                        .arg("LIMIT")
                        .arg(0)
                        .arg(limit),
                )
                .await?;
            for member in members {
                let (user, client) = parse_member(&member)?;
                let raw: Option<Vec<u8>> = self
                    .query(redis::cmd("GET").arg(part.settings(&user, &client)))
                    .await?;
                // Deleted since the index was read: nothing to list.
                if let Some(raw) = raw {
                    page.push(SettingsEntry {
                        user,
                        client,
                        settings: decode(&raw)?,
                    });
                }
            }
        }
        Ok(durin_core::settings_page(page, None, limit))
    }
}

impl RedisStore {
    /// On one server, adds to the settings index the records written before it existed
    /// (by an earlier version): a `SCAN` of the settings keys, run at the start of every
    /// `list_settings` walk (idempotent: `ZADD` of a member that is there changes
    /// nothing). A cluster store has had the index from the start.
    async fn index_unlisted_settings(&self) -> Result<(), StoreError> {
        let Some(part) = self.keys.single_part() else {
            return Ok(());
        };
        let head = format!("{}:u:{{", part.prefix());
        let pattern = format!("{}*}}:st:*", glob_escape(&head));
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = self
                .query(
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000),
                )
                .await?;
            let members: Vec<String> = keys
                .iter()
                .filter_map(|key| {
                    let (user, client) = key.strip_prefix(&head)?.rsplit_once("}:st:")?;
                    let (user, client) = (UserId::new(user).ok()?, ClientName::new(client).ok()?);
                    Some(member(&user, &client))
                })
                .collect();
            if !members.is_empty() {
                let mut add = redis::cmd("ZADD");
                add.arg(part.settings_index());
                for m in &members {
                    add.arg(0).arg(m);
                }
                self.query::<i64>(&add).await?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

/// `text` with the glob characters of `SCAN MATCH` escaped.
fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}
