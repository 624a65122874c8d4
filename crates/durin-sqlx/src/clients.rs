//! `ClientStore` on both databases: one row per client in `durin_clients`, its policy as
//! versioned JSON.

use durin_core::{Client, ClientName, ClientStore, Clock as _, StoreError, SystemClock};

use crate::SqlStore;
use crate::dialect::{Arg as _, Dialect, get};
use crate::error::map;
use crate::rows;

#[async_trait::async_trait]
impl<D: Dialect> ClientStore for SqlStore<D> {
    async fn get_client(&self, name: &ClientName) -> Result<Option<Client>, StoreError> {
        sqlx::query("SELECT format, policy FROM durin_clients WHERE name = $1")
            .arg_str(name.as_str())
            .fetch_optional(self.db())
            .await
            .map_err(map)?
            .as_ref()
            .map(client::<D>)
            .transpose()
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        sqlx::query("SELECT format, policy FROM durin_clients ORDER BY name")
            .fetch_all(self.db())
            .await
            .map_err(map)?
            .iter()
            .map(client::<D>)
            .collect()
    }

    async fn create_client(&self, client: &Client) -> Result<(), StoreError> {
        let now = SystemClock.now().as_millis();
        let result = sqlx::query(
            "INSERT INTO durin_clients (name, format, policy, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4)",
        )
        .arg_str(client.name.as_str())
        .arg(rows::CLIENT_FORMAT)
        .arg(rows::to_json(client)?)
        .arg(now)
        .execute(self.db())
        .await
        .map_err(map);
        match result {
            Ok(_) => Ok(()),
            Err(StoreError::Conflict(_)) => Err(StoreError::Conflict(format!(
                "a client named {} exists",
                client.name
            ))),
            Err(e) => Err(e),
        }
    }

    async fn upsert_client(&self, client: &Client) -> Result<(), StoreError> {
        let now = SystemClock.now().as_millis();
        sqlx::query(
            "INSERT INTO durin_clients (name, format, policy, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (name) DO UPDATE SET \
             format = excluded.format, policy = excluded.policy, \
             updated_at = excluded.updated_at",
        )
        .arg_str(client.name.as_str())
        .arg(rows::CLIENT_FORMAT)
        .arg(rows::to_json(client)?)
        .arg(now)
        .execute(self.db())
        .await
        .map_err(map)?;
        Ok(())
    }

    async fn delete_client(&self, name: &ClientName) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM durin_clients WHERE name = $1")
            .arg_str(name.as_str())
            .execute(self.db())
            .await
            .map_err(map)?;
        Ok(D::rows_affected(&done) > 0)
    }
}

/// Reads a `format, policy` row.
fn client<D: Dialect>(row: &D::Row) -> Result<Client, StoreError> {
    rows::decode_client(get::<D, _>(row, 0)?, &get::<D, String>(row, 1)?)
}
