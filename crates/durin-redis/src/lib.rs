#![doc = include_str!("../README.md")]

mod admin;
mod channel;
mod clients;
mod config;
mod conn;
mod error;
mod keys;
mod limiter;
mod record;
mod scripts;
mod settings;
mod store;
mod throttle;

pub use channel::RedisChannel;
pub use config::RedisConfig;
pub use conn::Connection;
pub use error::Error;
pub use store::RedisStore;

/// The stored-record codec, for the fuzz targets in `fuzz/` (feature `fuzzing`). Not a
/// stable API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use durin_core::{Client, Session, StoreError};

    /// Reads a stored session record (header line, newline, body), as `get` does.
    ///
    /// # Errors
    /// [`StoreError`] for a corrupt record or an unknown version.
    pub fn decode_session(raw: &[u8]) -> Result<Session, StoreError> {
        crate::record::decode_session(raw)
    }

    /// The record a session is stored as (header and body joined).
    pub fn encode_session(session: &Session) -> Vec<u8> {
        let (header, body) = crate::record::encode_session(session);
        format!("{header}{body}").into_bytes()
    }

    /// Reads a stored client record found under the hash field `name`.
    ///
    /// # Errors
    /// [`StoreError`] for a corrupt record or an unknown version.
    pub fn decode_client(name: &str, raw: &[u8]) -> Result<Client, StoreError> {
        crate::record::decode_client(name, raw)
    }

    /// The record a client is stored as.
    pub fn encode_client(client: &Client) -> Vec<u8> {
        crate::record::encode_client(client).into_bytes()
    }
}
pub use throttle::{FailureMode, RedisThrottle};

/// The `redis` crate this one is built on, for building a
/// [`redis::aio::ConnectionManager`] of your own.
pub use redis;
