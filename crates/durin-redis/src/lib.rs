#![doc = include_str!("../README.md")]

mod admin;
mod channel;
mod clients;
mod config;
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
pub use error::Error;
pub use store::RedisStore;
pub use throttle::{FailureMode, RedisThrottle};

/// The `redis` crate this one is built on, for building a
/// [`redis::aio::ConnectionManager`] of your own.
pub use redis;
