//! `SessionAdmin` and `SessionImport` on both databases: listing and counting sessions
//! for an operator, and bulk import in bounded statements.

use durin_core::{
    ClientName, Session, SessionAdmin, SessionImport, SessionQuery, StoreError, Timestamp,
    TokenName,
};

use crate::SqlStore;
use crate::dialect::{Arg as _, Dialect, get, push};
use crate::error::map;
use crate::rows::{self, session_columns};

#[async_trait::async_trait]
impl<D: Dialect> SessionAdmin for SqlStore<D> {
    async fn list_sessions(&self, query: &SessionQuery) -> Result<Vec<Session>, StoreError> {
        let mut sql = String::from(concat!(
            "SELECT ",
            session_columns!(),
            " FROM durin_sessions WHERE 1 = 1"
        ));
        let mut filters: Vec<(&str, &str)> = Vec::new();
        if let Some(user) = &query.user {
            filters.push(("user_id =", user.as_str()));
        }
        if let Some(client) = &query.client {
            filters.push(("client =", client.as_str()));
        }
        if let Some(after) = &query.after {
            filters.push(("id >", after.as_str()));
        }
        for (i, (condition, _)) in filters.iter().enumerate() {
            sql.push_str(&format!(" AND {condition} ${}", i + 1));
        }
        sql.push_str(&format!(" ORDER BY id LIMIT {}", query.limit));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (_, value) in filters {
            q = q.arg_str(value);
        }
        let rows = q.fetch_all(self.db()).await.map_err(map)?;
        rows::sessions::<D>(&rows)
    }

    async fn count_client_sessions(&self, client: &ClientName) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM durin_sessions WHERE client = $1")
            .arg_str(client.as_str())
            .fetch_one(self.db())
            .await
            .map_err(map)?;
        let n: i64 = get::<D, _>(&row, 0)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn remove_client_sessions(&self, client: &ClientName) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM durin_sessions WHERE client = $1")
            .arg_str(client.as_str())
            .execute(self.db())
            .await
            .map_err(map)?;
        Ok(D::rows_affected(&done))
    }
}

#[async_trait::async_trait]
impl<D: Dialect> SessionImport for SqlStore<D> {
    async fn import_sessions(
        &self,
        sessions: &[Session],
        _now: Timestamp,
    ) -> Result<u64, StoreError> {
        // 500 rows of 15 parameters per statement: under both backends'
        // parameter limits; one short transaction per statement.
        let mut inserted = 0;
        for chunk in sessions.chunks(500) {
            let rows = chunk
                .iter()
                .map(|s| Ok((s, rows::to_json(&s.scopes)?, rows::to_json(&s.context)?)))
                .collect::<Result<Vec<_>, StoreError>>()?;
            let mut query = sqlx::QueryBuilder::<D>::new(concat!(
                "INSERT INTO durin_sessions (",
                session_columns!(),
                ") "
            ));
            query.push_values(&rows, |mut b, (s, scopes, context)| {
                D::push_str(&mut b, s.id.as_str());
                D::push_bytes(&mut b, &s.digest.as_bytes()[..]);
                D::push_str(&mut b, s.user_id.as_str());
                D::push_str(&mut b, s.client.as_str());
                push(&mut b, s.created_at.as_millis());
                push(&mut b, s.expires_at.map(Timestamp::as_millis));
                push(&mut b, s.renewed_at.map(Timestamp::as_millis));
                push(&mut b, s.last_used_at.map(Timestamp::as_millis));
                D::push_str(&mut b, scopes.as_str());
                D::push_str(&mut b, context.as_str());
                D::push_str(&mut b, s.transport.as_str());
                push(&mut b, s.revoked_at.map(Timestamp::as_millis));
                push(
                    &mut b,
                    s.refresh.as_ref().map(|r| r.digest.as_bytes().to_vec()),
                );
                push(&mut b, s.refresh.as_ref().map(|r| r.expires_at.as_millis()));
                D::push_opt_str(&mut b, s.name.as_ref().map(TokenName::as_str));
            });
            query.push(" ON CONFLICT DO NOTHING");
            let mut tx = D::begin_write(&self.pool).await.map_err(map)?;
            let done = query.build().execute(D::conn(&mut tx)).await.map_err(map)?;
            tx.commit().await.map_err(map)?;
            inserted += D::rows_affected(&done);
        }
        Ok(inserted)
    }
}
