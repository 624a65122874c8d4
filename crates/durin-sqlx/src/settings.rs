//! `SettingsStore` on both SQL backends: one row per (user, client) in `durin_settings`,
//! written with one upsert.

/// Implements `durin_core::SettingsStore` for a store type with a `pool` field.
macro_rules! impl_settings_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl durin_core::SettingsStore for $store {
            async fn get_settings(
                &self,
                user: &durin_core::UserId,
                client: &durin_core::ClientName,
            ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, durin_core::StoreError>
            {
                let row: Option<(String,)> = sqlx::query_as(
                    "SELECT settings FROM durin_settings WHERE user_id = $1 AND client = $2",
                )
                .bind(user.as_str())
                .bind(client.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::error::map)?;
                row.map(|(text,)| $crate::sql::json("settings", &text))
                    .transpose()
            }

            async fn put_settings(
                &self,
                user: &durin_core::UserId,
                client: &durin_core::ClientName,
                settings: &serde_json::Map<String, serde_json::Value>,
            ) -> Result<(), durin_core::StoreError> {
                use durin_core::Clock as _;
                sqlx::query(
                    "INSERT INTO durin_settings (user_id, client, settings, updated_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, client) DO UPDATE SET \
                     settings = excluded.settings, updated_at = excluded.updated_at",
                )
                .bind(user.as_str())
                .bind(client.as_str())
                .bind($crate::sql::to_json(settings)?)
                .bind(durin_core::SystemClock.now().as_millis())
                .execute(&self.pool)
                .await
                .map_err($crate::error::map)?;
                Ok(())
            }

            async fn delete_settings(
                &self,
                user: &durin_core::UserId,
                client: &durin_core::ClientName,
            ) -> Result<bool, durin_core::StoreError> {
                let done =
                    sqlx::query("DELETE FROM durin_settings WHERE user_id = $1 AND client = $2")
                        .bind(user.as_str())
                        .bind(client.as_str())
                        .execute(&self.pool)
                        .await
                        .map_err($crate::error::map)?;
                Ok(done.rows_affected() > 0)
            }
        }
    };
}
pub(crate) use impl_settings_store;
