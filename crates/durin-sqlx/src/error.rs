//! durin-sqlx's own errors, and mapping sqlx errors onto [`StoreError`]: what the HTTP
//! layer answers 503 for.

use durin_core::StoreError;

/// What durin-sqlx itself refuses (sqlx's errors become [`StoreError`]s). Where a trait
/// method must answer a [`StoreError`], these travel as its source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A PostgreSQL channel name must have 1 to 63 bytes and no NUL.
    #[error("invalid channel name {name:?}: it must have 1 to 63 bytes and no NUL")]
    InvalidChannelName {
        /// The name given.
        name: String,
    },
    /// An invalidation payload over the channel's limit (the bus never sends one).
    #[error("an invalidation payload of {len} bytes is over the channel's limit of {limit}")]
    PayloadTooLong {
        /// The payload's length in bytes.
        len: usize,
        /// The longest payload the channel carries.
        limit: usize,
    },
    /// An SQLite subscriber fell behind the log's pruning: rows it never read are gone.
    #[error(
        "invalidations after seq {last_seen} were pruned (through seq {pruned_through}) \
         before this subscriber read them"
    )]
    MissedInvalidations {
        /// The last sequence number the subscriber saw.
        last_seen: i64,
        /// The highest sequence number pruned.
        pruned_through: i64,
    },
    /// A read-replica or listen URL that cannot serve: malformed, unreachable, or not a
    /// replica (`pg_is_in_recovery()` is false). The URL's password is redacted.
    #[error("read replica {url}: {reason}")]
    ReadUrl {
        /// The URL, password redacted.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Maps a sqlx error onto durin's store error.
///
/// Connection-level failures (I/O, TLS, pool timeout, closed pool, a crashed worker,
/// protocol errors, a server shutting down, a cancelled statement, a busy SQLite
/// database) are [`StoreError::Unavailable`]; unique violations are
/// [`StoreError::Conflict`]; undecodable rows are [`StoreError::Corrupt`].
pub(crate) fn map(error: sqlx::Error) -> StoreError {
    use sqlx::Error as E;
    match error {
        E::Io(_)
        | E::Tls(_)
        | E::PoolTimedOut
        | E::PoolClosed
        | E::WorkerCrashed
        | E::Protocol(_)
        | E::BeginFailed => StoreError::unavailable(error),
        E::Database(db) => {
            if db.is_unique_violation() {
                return StoreError::Conflict(db.message().to_owned());
            }
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let unavailable = if is_sqlite_error(db.as_ref()) {
                is_sqlite_unavailable(&code)
            } else {
                is_postgres_unavailable(&code)
            };
            if unavailable {
                return StoreError::unavailable(E::Database(db));
            }
            StoreError::backend(E::Database(db))
        }
        E::ColumnDecode { .. } | E::Decode(_) | E::ColumnNotFound(_) => {
            StoreError::Corrupt(error.to_string())
        }
        other => StoreError::backend(other),
    }
}

/// Whether a database error came from SQLite (whose codes are numbers, not SQLSTATEs).
#[cfg(feature = "sqlite")]
fn is_sqlite_error(db: &dyn sqlx::error::DatabaseError) -> bool {
    db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some()
}

/// Without the SQLite driver every database error is PostgreSQL's.
#[cfg(not(feature = "sqlite"))]
fn is_sqlite_error(_: &dyn sqlx::error::DatabaseError) -> bool {
    false
}

/// SQLSTATEs that mean "the database cannot serve now" rather than "this statement is
/// wrong": class 08 connection exception, 53 insufficient resources, 57 operator
/// intervention (admin shutdown; a statement cancelled by `statement_timeout`), 58 system
/// error, and the retryable 40001 serialization failure and 40P01 deadlock.
fn is_postgres_unavailable(code: &str) -> bool {
    ["08", "53", "57", "58"]
        .iter()
        .any(|class| code.starts_with(class))
        || code == "40001"
        || code == "40P01"
}

/// SQLite result codes (primary code in the low byte of the extended one) that mean the
/// same: SQLITE_BUSY (5), SQLITE_LOCKED (6), SQLITE_IOERR (10), SQLITE_FULL (13),
/// SQLITE_CANTOPEN (14).
fn is_sqlite_unavailable(code: &str) -> bool {
    code.parse::<u32>()
        .is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 10 | 13 | 14))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_and_io_failures_are_unavailable() {
        assert!(map(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(map(sqlx::Error::PoolClosed).is_unavailable());
        assert!(
            map(sqlx::Error::Io(std::io::Error::from(
                std::io::ErrorKind::ConnectionRefused
            )))
            .is_unavailable()
        );
    }

    #[test]
    fn codes() {
        assert!(is_postgres_unavailable("57014")); // query_canceled
        assert!(is_postgres_unavailable("08006"));
        assert!(!is_postgres_unavailable("23505")); // unique_violation: a conflict
        assert!(!is_postgres_unavailable("42P01")); // undefined table: a bug
        assert!(is_sqlite_unavailable("5")); // SQLITE_BUSY
        assert!(is_sqlite_unavailable("517")); // SQLITE_BUSY_SNAPSHOT
        assert!(!is_sqlite_unavailable("1")); // SQLITE_ERROR
        assert!(!is_sqlite_unavailable("2067")); // SQLITE_CONSTRAINT_UNIQUE
    }

    #[test]
    fn decode_failures_are_corrupt() {
        assert!(matches!(
            map(sqlx::Error::Decode("bad".into())),
            StoreError::Corrupt(_)
        ));
    }
}
