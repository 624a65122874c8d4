//! `SettingsStore` on both databases: one row per (user, client) in `durin_settings`,
//! written with one upsert.

use durin_core::{ClientName, Clock as _, SettingsStore, StoreError, SystemClock, UserId};
use serde_json::{Map, Value};

use crate::SqlStore;
use crate::dialect::{Arg as _, Dialect, get};
use crate::error::map;

#[async_trait::async_trait]
impl<D: Dialect> SettingsStore for SqlStore<D> {
    async fn get_settings(
        &self,
        user: &UserId,
        client: &ClientName,
    ) -> Result<Option<Map<String, Value>>, StoreError> {
        let row =
            sqlx::query("SELECT settings FROM durin_settings WHERE user_id = $1 AND client = $2")
                .arg_str(user.as_str())
                .arg_str(client.as_str())
                .fetch_optional(self.db())
                .await
                .map_err(map)?;
        row.map(|row| crate::rows::json("settings", &get::<D, String>(&row, 0)?))
            .transpose()
    }

    async fn put_settings(
        &self,
        user: &UserId,
        client: &ClientName,
        settings: &Map<String, Value>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO durin_settings (user_id, client, settings, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, client) DO UPDATE SET \
             settings = excluded.settings, updated_at = excluded.updated_at",
        )
        .arg_str(user.as_str())
        .arg_str(client.as_str())
        .arg(crate::rows::to_json(settings)?)
        .arg(SystemClock.now().as_millis())
        .execute(self.db())
        .await
        .map_err(map)?;
        Ok(())
    }

    async fn delete_settings(
        &self,
        user: &UserId,
        client: &ClientName,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM durin_settings WHERE user_id = $1 AND client = $2")
            .arg_str(user.as_str())
            .arg_str(client.as_str())
            .execute(self.db())
            .await
            .map_err(map)?;
        Ok(D::rows_affected(&done) > 0)
    }

    async fn list_settings(
        &self,
        after: Option<(&UserId, &ClientName)>,
        limit: u32,
    ) -> Result<Vec<durin_core::SettingsEntry>, StoreError> {
        // Keyset pages on the primary key (user_id, client), in the database's order.
        let (user, client) = after.map_or(("", ""), |(u, c)| (u.as_str(), c.as_str()));
        let rows = sqlx::query(
            "SELECT user_id, client, settings FROM durin_settings \
             WHERE $1 = 0 OR user_id > $2 OR (user_id = $3 AND client > $4) \
             ORDER BY user_id, client LIMIT $5",
        )
        .arg(i64::from(after.is_some()))
        .arg_str(user)
        .arg_str(user)
        .arg_str(client)
        .arg(i64::from(limit))
        .fetch_all(self.db())
        .await
        .map_err(map)?;
        rows.iter()
            .map(|row| {
                Ok(durin_core::SettingsEntry {
                    user: UserId::new(get::<D, String>(row, 0)?)?,
                    client: ClientName::new(get::<D, String>(row, 1)?)?,
                    settings: crate::rows::json("settings", &get::<D, String>(row, 2)?)?,
                })
            })
            .collect()
    }
}
