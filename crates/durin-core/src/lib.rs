//! Per-client token authentication for Rust services: the framework-agnostic core of
//! durin.
//!
//! Every user holds tokens per API client — the web app, the phone app, the CLI, an API
//! key for scripts — and each client has its own token lifetime, throttle rate, renewal
//! policy and token cap, as in django-rest-durin. This crate holds the domain, the token
//! codec, the keyed digest, the [`Durin`] service, the storage traits, in-memory stores,
//! a cache, and (feature `testing`) the conformance suites every store runs.
//!
//! ```
//! use std::sync::Arc;
//! use durin_core::{Client, ClientName, DigestKey, Durin, LoginOptions, MemoryStore, Transport, UserId};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Arc::new(MemoryStore::new());
//! let durin = Durin::builder(store.clone(), store, DigestKey::generate("k1")).build();
//! durin.create_client(&Client::new(ClientName::new("web")?)).await?;
//!
//! let user = UserId::new("42").unwrap();
//! let login = durin.login(&user, &ClientName::new("web")?, LoginOptions::default()).await?;
//! let auth = durin.authenticate(&login.token, Transport::Header).await?;
//! assert_eq!(auth.user_id(), &user);
//! durin.logout(&auth).await?;
//! assert!(durin.authenticate(&login.token, Transport::Header).await.is_err());
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `cache` | yes | `CachedTokenStore` and `CacheConfig` (moka) |
//! | `memory-throttle` | yes | `MemoryThrottle`, the in-process GCRA throttle (governor) |
//! | `node` | yes | `Node`: one process on any `Backend` (cache, bus, purge, housekeeping, readiness); needs `cache` and `memory-throttle` |
//! | `testing` | no | `testing`: conformance suites for `TokenStore`, `ClientStore` and `Throttle` implementations (pulls in tokio, `cache` and `memory-throttle`) |
//!
//! Without default features the crate has no moka or governor: a service with its own
//! cache and throttle (or Redis's) depends on `durin-core = { version = "0.1",
//! default-features = false }`.

/// The workspace README's Rust snippets, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

/// This crate's README snippets, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct CrateReadmeDoctests;

mod backend;
#[cfg(feature = "cache")]
mod cache;
mod client;
mod clock;
mod digest;
mod error;
mod invalidation;
mod layer;
mod legacy;
mod limiter;
mod memory;
mod metered;
#[cfg(feature = "node")]
mod node;
mod parse;
mod policy;
mod service;
mod session;
mod store;
mod throttle;
mod timestamp;
mod token;

#[cfg(feature = "testing")]
pub mod testing;

pub use backend::{Backend, Housekeeping, HousekeepingReport};
#[cfg(feature = "cache")]
pub use cache::{CacheConfig, CachedTokenStore};
pub use client::{Client, ClientName, DEFAULT_TOKEN_TTL, Renewal};
pub use clock::{Clock, ManualClock, SystemClock};
pub use digest::{DigestKey, DigestScheme, KeyError, TokenDigest, TokenHasher};
pub use error::{AuthError, InvalidReason};
pub use invalidation::{
    ChannelState, DecodeError, Invalidation, InvalidationBus, InvalidationChannel,
    InvalidationSink, SubscriberHandle, Subscription,
};
pub use layer::{Layered, Operation, StoreLayer};
pub use legacy::{LegacyToken, knox_legacy_digest};
pub use limiter::{
    AttemptDecision, AttemptId, AttemptKey, AttemptLimiter, MemoryAttemptLimiter, retry_after,
};
pub use memory::MemoryStore;
pub use metered::{MeteredTokenStore, StoreMetrics};
#[cfg(feature = "node")]
pub use node::{DEFAULT_ATTEMPT_WINDOW, DEFAULT_PURGE_EVERY, Node, NodeBuilder, NodeError};
pub use parse::{
    MAX_DURATION, ParseError, Rate, format_duration, format_ttl, parse_duration, parse_ttl,
};
pub use policy::{InsertOutcome, InsertPolicy, Refusal, Removal, Rotation, WhenFull, plan_insert};
pub use service::{
    DEFAULT_SETTINGS_LIMIT, Durin, DurinBuilder, Event, EventHook, ExpiredPolicy, Login,
    LoginOptions, NamedToken, PURGE_LEASE, PurgeRun, TokenLifetime, Veto, Vetoable,
};
pub use session::{Authenticated, RefreshState, Session, SessionId, TokenName, Transport, UserId};
pub use store::{
    BoxError, CacheLookup, ClientStore, Leases, RefreshLookup, SessionAdmin, SessionImport,
    SessionQuery, SettingsEntry, SettingsStore, StoreError, TokenStore, import_each, settings_page,
};
#[cfg(feature = "memory-throttle")]
pub use throttle::MemoryThrottle;
pub use throttle::{Throttle, ThrottleDecision, retry_after_secs};
pub use timestamp::Timestamp;
pub use token::{
    MAX_PREFIX_LEN, MAX_TOKEN_LEN, RoutingTag, TokenFormatError, TokenPrefix, TokenString,
};
