//! The crate's error type, and how Redis failures map onto [`StoreError`].

use durin_core::StoreError;
use redis::{ErrorKind, RedisError, ServerErrorKind};

/// Setting up a [`crate::RedisStore`] or [`crate::RedisThrottle`] failed.
///
/// Failures of the store operations themselves are [`StoreError`]s (the durin-core
/// traits speak it); `From<Error> for StoreError` maps these the same way.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is unusable (an empty key prefix, say).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Redis cannot be reached: connection refused, timeout, connection dropped, cluster
    /// down.
    #[error("redis unavailable")]
    Unavailable(#[source] RedisError),
    /// Redis answered with an error, or the URL is invalid.
    #[error("redis error")]
    Redis(#[source] RedisError),
}

impl From<RedisError> for Error {
    fn from(error: RedisError) -> Self {
        if is_unavailable(&error) {
            Error::Unavailable(error)
        } else {
            Error::Redis(error)
        }
    }
}

impl From<Error> for StoreError {
    fn from(error: Error) -> Self {
        match error {
            Error::Config(message) => StoreError::backend(message),
            Error::Unavailable(source) => StoreError::unavailable(source),
            Error::Redis(source) => StoreError::backend(source),
        }
    }
}

/// The error code our scripts raise when a write would overwrite another session.
const CONFLICT: &str = "DURINCONFLICT";
/// The error code our scripts raise when a stored record cannot be read.
const CORRUPT: &str = "DURINCORRUPT";

/// Maps a failure of one store operation.
pub(crate) fn store_error(error: RedisError) -> StoreError {
    match error.code() {
        Some(CONFLICT) => StoreError::Conflict(script_detail(&error)),
        Some(CORRUPT) => StoreError::Corrupt(script_detail(&error)),
        _ if is_unavailable(&error) => StoreError::unavailable(error),
        _ => StoreError::backend(error),
    }
}

/// Whether the error means "Redis cannot serve now" rather than "Redis refused this".
pub(crate) fn is_unavailable(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_cluster_error()
        || matches!(
            error.kind(),
            ErrorKind::ClusterConnectionNotFound
                | ErrorKind::Server(
                    ServerErrorKind::BusyLoading
                        | ServerErrorKind::MasterDown
                        | ServerErrorKind::ClusterDown
                        | ServerErrorKind::TryAgain
                        | ServerErrorKind::ReadOnly
                )
        )
        // A script running past its time limit blocks the server: transient.
        || error.code() == Some("BUSY")
}

/// The message of an error raised by one of our scripts, without the script location
/// that Redis 7 appends.
fn script_detail(error: &RedisError) -> String {
    let detail = error.detail().unwrap_or_default();
    detail
        .split(" script: ")
        .next()
        .unwrap_or(detail)
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    #[test]
    fn io_failures_are_unavailable() {
        for kind in [
            io::ErrorKind::ConnectionRefused,
            io::ErrorKind::TimedOut,
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::BrokenPipe,
        ] {
            let error = RedisError::from(io::Error::from(kind));
            assert!(store_error(error.clone()).is_unavailable(), "{kind:?}");
            assert!(matches!(Error::from(error), Error::Unavailable(_)));
        }
    }

    #[test]
    fn client_mistakes_are_backend_failures() {
        let error = RedisError::from((ErrorKind::UnexpectedReturnType, "not a string"));
        assert!(matches!(store_error(error), StoreError::Backend(_)));
        let error = RedisError::from((ErrorKind::InvalidClientConfig, "bad url"));
        assert!(matches!(Error::from(error), Error::Redis(_)));
    }

    #[test]
    fn configuration_errors_are_not_unavailability() {
        let error: StoreError = Error::Config("empty prefix".into()).into();
        assert!(matches!(error, StoreError::Backend(_)));
    }
}
