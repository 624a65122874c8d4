//! `SessionAdmin` for `RedisStore`: keyset pages over sorted sets of ids (score 0, so
//! `ZRANGEBYLEX` walks them in id order), counting and removal in bounded chunks, one
//! partition after another on a cluster.

use async_trait::async_trait;
use durin_core::{ClientName, Session, SessionAdmin, SessionQuery, StoreError};

use crate::RedisStore;
use crate::scripts::SCRIPTS;
use crate::store::decode_all;

/// Index members one script call handles when counting or removing, so that no call
/// blocks Redis for long however many sessions a client has.
const CHUNK: u32 = 500;

#[async_trait]
impl SessionAdmin for RedisStore {
    /// By user: the user's partition. Otherwise one script per partition for each page
    /// (on a cluster: every partition, merged in id order); each step is atomic, a page
    /// across partitions is not a snapshot.
    async fn list_sessions(&self, query: &SessionQuery) -> Result<Vec<Session>, StoreError> {
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        if let Some(user) = &query.user {
            // A user has a handful of sessions: read them all, then filter and page here.
            let part = self.keys.user_part(user);
            let mut invocation = self.script(&part, &SCRIPTS.list_user);
            invocation.key(part.user(user));
            let mut page = decode_all(self.run(&invocation).await?)?;
            page.retain(|s| query.client.as_ref().is_none_or(|c| &s.client == c));
            page.retain(|s| query.after.as_ref().is_none_or(|after| &s.id > after));
            page.sort_by(|a, b| a.id.cmp(&b.id));
            page.truncate(query.limit as usize);
            return Ok(page);
        }
        let mut page = Vec::new();
        for part in self.parts().await? {
            let index = match &query.client {
                Some(client) => part.client_sessions(client),
                None => part.all(),
            };
            let mut invocation = self.script(&part, &SCRIPTS.list_index);
            invocation
                .key(index)
                .arg(
                    query
                        .after
                        .as_ref()
                        .map(|id| id.as_str())
                        .unwrap_or_default(),
                )
                .arg(query.limit);
            page.extend(decode_all(self.run(&invocation).await?)?);
        }
        page.sort_by(|a, b| a.id.cmp(&b.id));
        page.truncate(query.limit as usize);
        Ok(page)
    }

    async fn count_client_sessions(&self, client: &ClientName) -> Result<u64, StoreError> {
        let mut total = 0;
        for part in self.parts().await? {
            let index = part.client_sessions(client);
            let mut after = String::new();
            loop {
                let mut invocation = self.script(&part, &SCRIPTS.count_index);
                invocation.key(&index).arg(&after).arg(CHUNK);
                let (count, last): (u64, String) = self.run(&invocation).await?;
                total += count;
                if last.is_empty() {
                    break;
                }
                after = last;
            }
        }
        Ok(total)
    }

    async fn remove_client_sessions(&self, client: &ClientName) -> Result<u64, StoreError> {
        let mut total = 0;
        for part in self.parts().await? {
            let index = part.client_sessions(client);
            loop {
                let mut invocation = self.script(&part, &SCRIPTS.remove_index);
                invocation
                    .key(&index)
                    .key(part.all())
                    .key(part.purge())
                    .arg(CHUNK);
                let (removed, seen): (u64, u64) = self.run(&invocation).await?;
                total += removed;
                if seen == 0 {
                    break;
                }
            }
        }
        Ok(total)
    }
}
