//! End-to-end behaviours of the [`Durin`] service over a real store; see
//! [`crate::service_tests`]. Time is a [`ManualClock`], so nothing sleeps.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{CountingStore, MemoryChannel, client, user};
use crate::{
    AuthError, CachedTokenStore, Client, ClientName, ClientStore, Clock, DigestKey, Durin,
    DurinBuilder, EventHook, ExpiredPolicy, InvalidReason, LoginOptions, ManualClock,
    MemoryThrottle, NamedToken, Renewal, SessionId, TokenLifetime, TokenName, TokenStore,
    Transport, UserId, Veto, Vetoable,
};

/// A store that holds sessions and clients.
pub trait FullStore: TokenStore + ClientStore {}
impl<T: TokenStore + ClientStore> FullStore for T {}

struct Fixture {
    durin: Durin,
    clock: ManualClock,
    web: ClientName,
}

fn builder<S: FullStore>(store: Arc<S>, clock: &ManualClock) -> DurinBuilder {
    Durin::builder(store.clone(), store, DigestKey::generate("test"))
        .clock(Arc::new(clock.clone()))
        .client_cache_ttl(Duration::ZERO)
}

async fn fixture_with<S: FullStore>(
    store: Arc<S>,
    client: Client,
    configure: impl FnOnce(DurinBuilder) -> DurinBuilder,
) -> Fixture {
    let clock = ManualClock::starting_now();
    let durin = configure(builder(store, &clock)).build();
    durin.create_client(&client).await.unwrap();
    Fixture {
        durin,
        clock,
        web: client.name,
    }
}

async fn fixture<S: FullStore>(store: Arc<S>, client: Client) -> Fixture {
    fixture_with(store, client, |b| b).await
}

fn opts() -> LoginOptions {
    LoginOptions::default()
}

/// Login issues a token that authenticates as the user, through the client.
pub async fn login_then_authenticate<S: FullStore>(store: Arc<S>) {
    let f = fixture(store, Client::new(client())).await;
    let u = user();
    let login = f.durin.login(&u, &f.web, opts()).await.unwrap();
    assert_eq!(format!("{:?}", login.token), "TokenString([redacted])");
    let auth = f
        .durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    assert_eq!(auth.user_id().clone(), u);
    assert_eq!(auth.client.name, f.web);
    assert_eq!(auth.session.id, login.session.id);
    assert_eq!(
        login.session.expires_at,
        Some(
            login
                .session
                .created_at
                .saturating_add(Duration::from_secs(86_400))
        )
    );
}

/// A second login for the same (user, client) revokes the first token (durin's model).
pub async fn second_login_replaces_the_first_token<S: FullStore>(store: Arc<S>) {
    let f = fixture(store, Client::new(client())).await;
    let u = user();
    let first = f.durin.login(&u, &f.web, opts()).await.unwrap();
    let second = f.durin.login(&u, &f.web, opts()).await.unwrap();
    assert_ne!(first.token.expose_secret(), second.token.expose_secret());
    let err = f
        .durin
        .authenticate(&first.token, Transport::Header)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::InvalidToken(_)), "{err:?}");
    f.durin
        .authenticate(&second.token, Transport::Header)
        .await
        .unwrap();
}

/// An expired token answers "expired" (repeatedly, under the default policy) and never
/// authenticates; a new login never hands back an expired token.
pub async fn expired_token_is_rejected_as_expired<S: FullStore>(store: Arc<S>) {
    let f = fixture(
        store,
        Client::new(client()).with_token_ttl(Some(Duration::from_secs(60))),
    )
    .await;
    let u = user();
    let login = f.durin.login(&u, &f.web, opts()).await.unwrap();
    f.clock.advance(Duration::from_secs(61));
    for _ in 0..2 {
        let err = f
            .durin
            .authenticate(&login.token, Transport::Header)
            .await
            .unwrap_err();
        assert!(matches!(err, AuthError::Expired), "{err:?}");
    }
    let fresh = f.durin.login(&u, &f.web, opts()).await.unwrap();
    assert!(fresh.session.expires_at > Some(f.clock_now()));
    f.durin
        .authenticate(&fresh.token, Transport::Header)
        .await
        .unwrap();
}

impl Fixture {
    fn clock_now(&self) -> crate::Timestamp {
        use crate::Clock;
        self.clock.now()
    }
}

/// With `ExpiredPolicy::Remove` the first rejection deletes the session (durin's way).
pub async fn remove_policy_deletes_expired_sessions<S: FullStore>(store: Arc<S>) {
    let client = Client::new(client()).with_token_ttl(Some(Duration::from_secs(60)));
    let f = fixture_with(store, client, |b| b.expired_policy(ExpiredPolicy::Remove)).await;
    let login = f.durin.login(&user(), &f.web, opts()).await.unwrap();
    f.clock.advance(Duration::from_secs(61));
    let err = f
        .durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Expired), "{err:?}");
    let err = f
        .durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::InvalidToken(_)), "{err:?}");
}

/// Explicit renewal moves the expiry to now + TTL, never past the max lifetime.
pub async fn renew_extends_up_to_the_max_lifetime<S: FullStore>(store: Arc<S>) {
    let client = Client::new(client())
        .with_token_ttl(Some(Duration::from_secs(600)))
        .with_max_lifetime(Some(Duration::from_secs(900)));
    let f = fixture(store, client).await;
    let login = f.durin.login(&user(), &f.web, opts()).await.unwrap();
    let created = login.session.created_at;
    f.clock.advance(Duration::from_secs(100));
    let auth = f
        .durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    let renewed = f.durin.renew(&auth).await.unwrap();
    assert_eq!(
        renewed.expires_at,
        Some(created.saturating_add(Duration::from_secs(700)))
    );
    f.clock.advance(Duration::from_secs(500));
    let auth = f
        .durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    let capped = f.durin.renew(&auth).await.unwrap();
    assert_eq!(
        capped.expires_at,
        Some(created.saturating_add(Duration::from_secs(900)))
    );
    f.clock.advance(Duration::from_secs(301));
    let err = f
        .durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Expired), "{err:?}");
}

/// A client with `Renewal::None` refuses renewal.
pub async fn renewal_none_refuses_renew<S: FullStore>(store: Arc<S>) {
    let f = fixture(store, Client::new(client()).with_renewal(Renewal::None)).await;
    let login = f.durin.login(&user(), &f.web, opts()).await.unwrap();
    let auth = f
        .durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    assert!(matches!(
        f.durin.renew(&auth).await,
        Err(AuthError::RenewalNotAllowed)
    ));
}

/// Sliding renewal moves the expiry on use, at most once per interval.
pub async fn sliding_renewal_is_debounced<S: FullStore>(store: Arc<S>) {
    let client = Client::new(client())
        .with_token_ttl(Some(Duration::from_secs(600)))
        .with_renewal(Renewal::Sliding {
            min_interval: Duration::from_secs(60),
        });
    let f = fixture(store, client).await;
    let login = f.durin.login(&user(), &f.web, opts()).await.unwrap();
    let first_expiry = login.session.expires_at;
    f.clock.advance(Duration::from_secs(30));
    let auth = f
        .durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    assert_eq!(
        auth.session.expires_at, first_expiry,
        "no write within the interval"
    );
    f.clock.advance(Duration::from_secs(40));
    let auth = f
        .durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    assert_eq!(
        auth.session.expires_at,
        Some(f.clock_now().saturating_add(Duration::from_secs(600)))
    );
    // Used every 5 minutes, a 10-minute token lives on.
    for _ in 0..5 {
        f.clock.advance(Duration::from_secs(300));
        f.durin
            .authenticate(&login.token, Transport::Header)
            .await
            .unwrap();
    }
}

/// Logout ends the session at once — through the cache too.
pub async fn logout_is_immediate_even_through_the_cache<S: FullStore>(store: Arc<S>) {
    let clock = ManualClock::starting_now();
    let cached = Arc::new(CachedTokenStore::new(store.clone()));
    let durin = Durin::builder(cached, store.clone(), DigestKey::generate("k"))
        .clock(Arc::new(clock))
        .build();
    let web = Client::new(client());
    durin.create_client(&web).await.unwrap();
    let login = durin.login(&user(), &web.name, opts()).await.unwrap();
    let auth = durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    // Served from the cache now.
    durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    durin.logout(&auth).await.unwrap();
    let err = durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::InvalidToken(_)), "{err:?}");
}

/// Logout-all ends every session of the user, all clients, and returns the count;
/// `logout_all_except` keeps the current one. Other users are untouched.
pub async fn logout_all_counts_and_isolates<S: FullStore>(store: Arc<S>) {
    let f = fixture(store, Client::new(client())).await;
    let mobile = Client::new(client());
    f.durin.create_client(&mobile).await.unwrap();
    let (u, other) = (user(), user());
    let a = f.durin.login(&u, &f.web, opts()).await.unwrap();
    let b = f.durin.login(&u, &mobile.name, opts()).await.unwrap();
    let theirs = f.durin.login(&other, &f.web, opts()).await.unwrap();
    assert_eq!(
        f.durin.logout_all_except(&u, &a.session.id).await.unwrap(),
        1
    );
    f.durin
        .authenticate(&a.token, Transport::Header)
        .await
        .unwrap();
    assert!(
        f.durin
            .authenticate(&b.token, Transport::Header)
            .await
            .is_err()
    );
    assert_eq!(f.durin.logout_all(&u).await.unwrap(), 1);
    assert!(
        f.durin
            .authenticate(&a.token, Transport::Header)
            .await
            .is_err()
    );
    f.durin
        .authenticate(&theirs.token, Transport::Header)
        .await
        .unwrap();
}

/// Sessions list only the caller's live sessions; revoking another works, revoking
/// the current one or someone else's does not.
pub async fn sessions_list_and_revoke<S: FullStore>(store: Arc<S>) {
    let f = fixture(
        store,
        Client::new(client()).with_max_tokens_per_user(std::num::NonZeroU32::new(3).unwrap()),
    )
    .await;
    let (u, other) = (user(), user());
    let a = f.durin.login(&u, &f.web, opts()).await.unwrap();
    f.clock.advance(Duration::from_millis(5));
    let b = f.durin.login(&u, &f.web, opts()).await.unwrap();
    let theirs = f.durin.login(&other, &f.web, opts()).await.unwrap();
    let listed: Vec<SessionId> = f
        .durin
        .sessions(&u)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, vec![a.session.id.clone(), b.session.id.clone()]);
    let current = Some(&a.session.id);
    assert!(matches!(
        f.durin.revoke_session(&u, &a.session.id, current).await,
        Err(AuthError::CurrentSession)
    ));
    assert!(matches!(
        f.durin
            .revoke_session(&u, &theirs.session.id, current)
            .await,
        Err(AuthError::NotFound)
    ));
    f.durin
        .revoke_session(&u, &b.session.id, current)
        .await
        .unwrap();
    assert!(
        f.durin
            .authenticate(&b.token, Transport::Header)
            .await
            .is_err()
    );
    assert!(matches!(
        f.durin.revoke_session(&u, &b.session.id, current).await,
        Err(AuthError::NotFound)
    ));
    f.durin
        .authenticate(&theirs.token, Transport::Header)
        .await
        .unwrap();
}

/// Refresh rotates both tokens; reusing a rotated refresh token revokes the session.
pub async fn refresh_rotates_and_reuse_revokes_the_family<S: FullStore>(store: Arc<S>) {
    let client = Client::new(client())
        .with_token_ttl(Some(Duration::from_secs(60)))
        .with_refresh_ttl(Some(Duration::from_secs(3600)));
    let f = fixture(store, client).await;
    let login = f.durin.login(&user(), &f.web, opts()).await.unwrap();
    let refresh = login
        .refresh_token
        .clone()
        .expect("client issues refresh tokens");
    f.clock.advance(Duration::from_secs(120));
    assert!(matches!(
        f.durin.authenticate(&login.token, Transport::Header).await,
        Err(AuthError::Expired)
    ));
    let rotated = f.durin.refresh(&refresh).await.unwrap();
    assert_eq!(rotated.session.id, login.session.id);
    f.durin
        .authenticate(&rotated.token, Transport::Header)
        .await
        .unwrap();
    // The old refresh token again: a replay. The whole session goes.
    let err = f.durin.refresh(&refresh).await.unwrap_err();
    assert!(
        matches!(err, AuthError::InvalidToken(InvalidReason::RefreshReused)),
        "{err:?}"
    );
    assert!(
        f.durin
            .authenticate(&rotated.token, Transport::Header)
            .await
            .is_err()
    );
    let new_refresh = rotated.refresh_token.unwrap();
    assert!(f.durin.refresh(&new_refresh).await.is_err());
}

/// API keys: one per user, get/create/delete against the API-access client.
pub async fn api_keys_follow_the_api_access_client<S: FullStore>(store: Arc<S>) {
    let api = Client::new(client()).with_token_ttl(None);
    let name = api.name.clone();
    let f = fixture_with(store, api, |b| b.api_access_client(name)).await;
    let u = user();
    assert!(matches!(
        f.durin.api_key(&u).await,
        Err(AuthError::NotFound)
    ));
    let key = f.durin.create_api_key(&u, opts()).await.unwrap();
    assert_eq!(key.session.expires_at, None);
    assert!(matches!(
        f.durin.create_api_key(&u, opts()).await,
        Err(AuthError::AlreadyExists)
    ));
    assert_eq!(f.durin.api_key(&u).await.unwrap().id, key.session.id);
    f.durin
        .authenticate(&key.token, Transport::Header)
        .await
        .unwrap();
    f.durin.delete_api_key(&u).await.unwrap();
    assert!(
        f.durin
            .authenticate(&key.token, Transport::Header)
            .await
            .is_err()
    );
    assert!(matches!(
        f.durin.delete_api_key(&u).await,
        Err(AuthError::NotFound)
    ));
}

/// Without an API-access client the API-key operations say so.
pub async fn api_keys_need_configuration<S: FullStore>(store: Arc<S>) {
    let f = fixture(store, Client::new(client())).await;
    assert!(matches!(
        f.durin.api_key(&user()).await,
        Err(AuthError::NotConfigured(_))
    ));
}

/// A token issued for the cookie is refused in the header and the reverse.
pub async fn transports_are_not_interchangeable<S: FullStore>(store: Arc<S>) {
    let f = fixture(store, Client::new(client())).await;
    let login = f
        .durin
        .login(
            &user(),
            &f.web,
            LoginOptions {
                transport: Transport::Cookie,
                ..opts()
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        f.durin.authenticate(&login.token, Transport::Header).await,
        Err(AuthError::InvalidToken(InvalidReason::WrongTransport))
    ));
    f.durin
        .authenticate(&login.token, Transport::Cookie)
        .await
        .unwrap();
}

/// Tokens issued under a previous key keep working after rotation and are re-digested.
pub async fn key_rotation_keeps_sessions<S: FullStore>(store: Arc<S>) {
    let old_key = DigestKey::generate("old");
    let web = Client::new(client());
    let before = Durin::builder(store.clone(), store.clone(), old_key.clone()).build();
    before.create_client(&web).await.unwrap();
    let login = before.login(&user(), &web.name, opts()).await.unwrap();
    let after = Durin::builder(store.clone(), store, DigestKey::generate("new"))
        .previous_key(old_key)
        .build();
    let auth = after
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    assert_ne!(auth.session.digest, login.session.digest, "re-digested");
    after
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    // The old service no longer finds it under the old digest.
    assert!(
        before
            .authenticate(&login.token, Transport::Header)
            .await
            .is_err()
    );
}

struct DenyUser(UserId);

#[async_trait]
impl EventHook for DenyUser {
    async fn approve(&self, step: Vetoable<'_>) -> Result<(), Veto> {
        match step {
            Vetoable::Authentication { session, .. } if session.user_id == self.0 => {
                Err(Veto("user deactivated".into()))
            }
            _ => Ok(()),
        }
    }
}

/// An event hook can veto authentication (a deactivated user).
pub async fn hook_can_veto_authentication<S: FullStore>(store: Arc<S>) {
    let banned = user();
    let hook = Arc::new(DenyUser(banned.clone()));
    let f = fixture_with(store, Client::new(client()), |b| b.hook(hook)).await;
    let login = f.durin.login(&banned, &f.web, opts()).await.unwrap();
    assert!(matches!(
        f.durin.authenticate(&login.token, Transport::Header).await,
        Err(AuthError::Vetoed(_))
    ));
    let fine = f.durin.login(&user(), &f.web, opts()).await.unwrap();
    f.durin
        .authenticate(&fine.token, Transport::Header)
        .await
        .unwrap();
}

/// Scopes: requested scopes must be allowed by the client.
pub async fn scopes_are_checked_at_login<S: FullStore>(store: Arc<S>) {
    let f = fixture(store, Client::new(client()).with_scopes(["read"])).await;
    let u = user();
    let read = f
        .durin
        .login(
            &u,
            &f.web,
            LoginOptions {
                scopes: Some(vec!["read".into()]),
                ..opts()
            },
        )
        .await
        .unwrap();
    let auth = f
        .durin
        .authenticate(&read.token, Transport::Header)
        .await
        .unwrap();
    assert!(auth.has_scope("read") && !auth.has_scope("write"));
    assert!(matches!(
        f.durin
            .login(
                &u,
                &f.web,
                LoginOptions {
                    scopes: Some(vec!["write".into()]),
                    ..opts()
                }
            )
            .await,
        Err(AuthError::Forbidden)
    ));
}

/// The per-(user, client) throttle admits the client's burst, then refuses.
pub async fn throttle_uses_the_client_rate<S: FullStore>(store: Arc<S>) {
    let client = Client::new(client()).with_throttle_rate(Some("2/m".parse().unwrap()));
    let f = fixture_with(store, client, |b| {
        b.throttle(Arc::new(MemoryThrottle::new()))
    })
    .await;
    let login = f.durin.login(&user(), &f.web, opts()).await.unwrap();
    let auth = f
        .durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    f.durin.throttle(&auth).await.unwrap();
    f.durin.throttle(&auth).await.unwrap();
    assert!(matches!(
        f.durin.throttle(&auth).await,
        Err(AuthError::Throttled { .. })
    ));
}

/// `last_used_at` is recorded when tracking is on, at most once per debounce interval.
pub async fn last_use_is_tracked_and_debounced<S: FullStore>(store: Arc<S>) {
    let f = fixture_with(store, Client::new(client()), |b| {
        b.track_last_used(Duration::from_secs(60))
    })
    .await;
    let u = user();
    let login = f.durin.login(&u, &f.web, opts()).await.unwrap();
    let first = f
        .durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    let t0 = first.session.last_used_at.expect("recorded");
    f.clock.advance(Duration::from_secs(10));
    f.durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    let stored = f.durin.sessions(&u).await.unwrap().remove(0);
    assert_eq!(stored.last_used_at, Some(t0), "debounced");
    f.clock.advance(Duration::from_secs(60));
    f.durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    let stored = f.durin.sessions(&u).await.unwrap().remove(0);
    assert!(stored.last_used_at > Some(t0));
}

/// Purge removes sessions expired past the grace period, and only those.
///
/// Not part of [`crate::service_tests`]: purge is global, so on a backend shared by
/// parallel tests it would delete other cases' recently expired sessions.
pub async fn purge_expired_honours_the_grace_period<S: FullStore>(store: Arc<S>) {
    let client = Client::new(client()).with_token_ttl(Some(Duration::from_secs(60)));
    let f = fixture(store, client).await;
    let u = user();
    let login = f.durin.login(&u, &f.web, opts()).await.unwrap();
    f.clock.advance(Duration::from_secs(61 + 1800));
    f.durin.purge_expired().await.unwrap();
    assert!(matches!(
        f.durin.authenticate(&login.token, Transport::Header).await,
        Err(AuthError::Expired)
    ));
    f.clock.advance(Duration::from_secs(1801));
    assert!(f.durin.purge_expired().await.unwrap() >= 1);
    assert!(matches!(
        f.durin.authenticate(&login.token, Transport::Header).await,
        Err(AuthError::InvalidToken(_))
    ));
    assert!(f.durin.sessions(&u).await.unwrap().is_empty());
}

/// Concurrent logins through the service leave exactly one live token.
pub async fn concurrent_logins_through_the_service_leave_one<S: FullStore>(store: Arc<S>) {
    let f = fixture(store, Client::new(client())).await;
    let u = user();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (durin, u, web) = (f.durin.clone(), u.clone(), f.web.clone());
            tokio::spawn(async move { durin.login(&u, &web, LoginOptions::default()).await })
        })
        .collect();
    let mut logins = Vec::new();
    for t in tasks {
        logins.push(t.await.unwrap().unwrap());
    }
    let mut working = 0;
    for login in &logins {
        if f.durin
            .authenticate(&login.token, Transport::Header)
            .await
            .is_ok()
        {
            working += 1;
        }
    }
    assert_eq!(working, 1);
    assert_eq!(f.durin.sessions(&u).await.unwrap().len(), 1);
}

/// Ten concurrent API-key creations for one user give exactly one key.
pub async fn api_key_creation_is_atomic<S: FullStore>(store: Arc<S>) {
    let api = Client::new(client()).with_token_ttl(None);
    let name = api.name.clone();
    let f = fixture_with(store, api, |b| b.api_access_client(name)).await;
    let u = user();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (durin, u) = (f.durin.clone(), u.clone());
            tokio::spawn(async move { durin.create_api_key(&u, LoginOptions::default()).await })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => created += 1,
            Err(AuthError::AlreadyExists) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(f.durin.sessions(&u).await.unwrap().len(), 1);
}

fn tokens_client() -> Client {
    Client::new(client())
        .with_token_ttl(None)
        .with_max_tokens_per_user(std::num::NonZeroU32::new(3).unwrap())
        .with_scopes(["read", "write"])
}

async fn tokens_fixture<S: FullStore>(store: Arc<S>) -> Fixture {
    let tokens = tokens_client();
    let name = tokens.name.clone();
    fixture_with(store, tokens, |b| b.tokens_client(name)).await
}

fn named(name: &str) -> NamedToken {
    NamedToken::new(TokenName::new(name).unwrap())
}

/// Named tokens are created (with scopes and lifetimes), listed oldest first,
/// authenticate, and are revoked by id; another user's id is not found.
pub async fn named_tokens_are_created_listed_and_revoked<S: FullStore>(store: Arc<S>) {
    let f = tokens_fixture(store).await;
    let u = user();
    let laptop = f
        .durin
        .create_named_token(
            &u,
            NamedToken {
                scopes: vec!["read".into()],
                ..named("laptop")
            },
        )
        .await
        .unwrap();
    assert_eq!(
        laptop.session.name.as_ref().map(TokenName::as_str),
        Some("laptop")
    );
    assert_eq!(laptop.session.scopes, vec!["read".to_owned()]);
    assert_eq!(laptop.session.expires_at, None, "the client's TTL: never");
    f.clock.advance(Duration::from_millis(5));
    let ci = f
        .durin
        .create_named_token(
            &u,
            NamedToken {
                lifetime: TokenLifetime::For(Duration::from_secs(3600)),
                ..named("ci")
            },
        )
        .await
        .unwrap();
    assert_eq!(
        ci.session.expires_at,
        Some(f.clock.now().saturating_add(Duration::from_secs(3600)))
    );
    let listed: Vec<String> = f
        .durin
        .named_tokens(&u)
        .await
        .unwrap()
        .iter()
        .map(|s| s.name.as_ref().unwrap().to_string())
        .collect();
    assert_eq!(listed, ["laptop", "ci"]);
    let auth = f
        .durin
        .authenticate(&laptop.token, Transport::Header)
        .await
        .unwrap();
    assert!(auth.has_scope("read") && !auth.has_scope("write"));
    assert!(matches!(
        f.durin
            .revoke_named_token(&user(), &laptop.session.id)
            .await,
        Err(AuthError::NotFound)
    ));
    f.durin
        .revoke_named_token(&u, &laptop.session.id)
        .await
        .unwrap();
    assert!(
        f.durin
            .authenticate(&laptop.token, Transport::Header)
            .await
            .is_err()
    );
    assert_eq!(f.durin.named_tokens(&u).await.unwrap().len(), 1);
    assert!(matches!(
        f.durin.revoke_named_token(&u, &laptop.session.id).await,
        Err(AuthError::NotFound)
    ));
}

/// A duplicate name, an unknown scope and a full cap are refused, and nothing is stored.
pub async fn named_tokens_refuse_duplicates_unknown_scopes_and_the_cap<S: FullStore>(
    store: Arc<S>,
) {
    let f = tokens_fixture(store).await;
    let u = user();
    f.durin.create_named_token(&u, named("a")).await.unwrap();
    assert!(matches!(
        f.durin.create_named_token(&u, named("a")).await,
        Err(AuthError::NameTaken)
    ));
    assert!(matches!(
        f.durin
            .create_named_token(&u, NamedToken { scopes: vec!["admin".into()], ..named("b") })
            .await,
        Err(AuthError::UnknownScope(s)) if s == "admin"
    ));
    f.durin.create_named_token(&u, named("b")).await.unwrap();
    f.durin.create_named_token(&u, named("c")).await.unwrap();
    assert!(matches!(
        f.durin.create_named_token(&u, named("d")).await,
        Err(AuthError::TokenLimit)
    ));
    assert_eq!(f.durin.named_tokens(&u).await.unwrap().len(), 3);
    // Another user has a cap of their own.
    f.durin
        .create_named_token(&user(), named("a"))
        .await
        .unwrap();
}

/// Ten concurrent creations of one name give exactly one token; ten of distinct names
/// against a cap of three give exactly three.
pub async fn concurrent_named_token_creations_respect_name_and_cap<S: FullStore>(store: Arc<S>) {
    let f = tokens_fixture(store).await;
    for (u, same_name) in [(user(), true), (user(), false)] {
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let (durin, u) = (f.durin.clone(), u.clone());
                let name = if same_name {
                    "one".to_owned()
                } else {
                    format!("t{i}")
                };
                tokio::spawn(async move { durin.create_named_token(&u, named(&name)).await })
            })
            .collect();
        let mut created = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => created += 1,
                Err(AuthError::NameTaken | AuthError::TokenLimit) => {}
                Err(other) => panic!("{other:?}"),
            }
        }
        assert_eq!(created, if same_name { 1 } else { 3 });
    }
}

/// Logout-all ends named tokens and the API key too.
pub async fn logout_all_ends_named_tokens_and_the_api_key<S: FullStore>(store: Arc<S>) {
    let tokens = tokens_client();
    let api = Client::new(client()).with_token_ttl(None);
    let (t, a) = (tokens.name.clone(), api.name.clone());
    let f = fixture_with(store, tokens, |b| b.tokens_client(t).api_access_client(a)).await;
    f.durin.create_client(&api).await.unwrap();
    let u = user();
    let named_token = f.durin.create_named_token(&u, named("n")).await.unwrap();
    let key = f.durin.create_api_key(&u, opts()).await.unwrap();
    assert_eq!(f.durin.logout_all(&u).await.unwrap(), 2);
    for token in [&named_token.token, &key.token] {
        assert!(
            f.durin
                .authenticate(token, Transport::Header)
                .await
                .is_err()
        );
    }
}

/// Two nodes: a service and its cache per node over one store, and one channel. What one
/// node revokes or changes, the other refuses at once, through its warm cache.
struct Nodes {
    a: Durin,
    b: Durin,
    channel: MemoryChannel,
    _subscribers: Vec<crate::SubscriberHandle>,
    web: ClientName,
}

async fn nodes<S: FullStore>(store: Arc<S>) -> Nodes {
    let channel = MemoryChannel::new();
    let key = DigestKey::generate("nodes");
    let mut subscribers = Vec::new();
    let mut node = || {
        let bus = crate::InvalidationBus::new(Arc::new(channel.clone()));
        let cached = Arc::new(CachedTokenStore::new(store.clone()).with_bus(&bus));
        let durin = Durin::builder(cached, store.clone(), key.clone())
            .bus(&bus)
            .client_cache_ttl(Duration::from_secs(3600))
            .build();
        subscribers.push(bus.spawn_subscriber());
        (durin, bus)
    };
    let (a, bus_a) = node();
    let (b, bus_b) = node();
    for bus in [bus_a, bus_b] {
        let mut state = bus.watch_state();
        tokio::time::timeout(
            Duration::from_secs(10),
            state.wait_for(|s| *s == crate::ChannelState::Live),
        )
        .await
        .expect("the subscriber goes live")
        .unwrap();
    }
    let web = Client::new(client());
    a.create_client(&web).await.unwrap();
    Nodes {
        a,
        b,
        channel,
        _subscribers: subscribers,
        web: web.name,
    }
}

/// Polls `check` until it holds (bounded): deliveries are asynchronous.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..500 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what} did not happen within 5 s");
}

/// A logout, logout-all and revocation on node A is refused on node B, whose cache held
/// the session.
pub async fn a_revocation_on_one_node_is_refused_on_another<S: FullStore>(store: Arc<S>) {
    let n = nodes(store).await;
    let u = user();
    let login = n.a.login(&u, &n.web, opts()).await.unwrap();
    for _ in 0..3 {
        n.b.authenticate(&login.token, Transport::Header)
            .await
            .unwrap();
    }
    let auth =
        n.a.authenticate(&login.token, Transport::Header)
            .await
            .unwrap();
    n.a.logout(&auth).await.unwrap();
    eventually("node B refusing the logged-out token", async || {
        n.b.authenticate(&login.token, Transport::Header)
            .await
            .is_err()
    })
    .await;
    let again = n.a.login(&u, &n.web, opts()).await.unwrap();
    n.b.authenticate(&again.token, Transport::Header)
        .await
        .unwrap();
    n.a.logout_all(&u).await.unwrap();
    eventually("node B refusing after logout-all", async || {
        n.b.authenticate(&again.token, Transport::Header)
            .await
            .is_err()
    })
    .await;
    let third = n.b.login(&u, &n.web, opts()).await.unwrap();
    n.b.authenticate(&third.token, Transport::Header)
        .await
        .unwrap();
    n.a.authenticate(&third.token, Transport::Header)
        .await
        .unwrap();
    n.b.revoke(&third.session.id).await.unwrap();
    eventually("node A refusing a revoked session", async || {
        n.a.authenticate(&third.token, Transport::Header)
            .await
            .is_err()
    })
    .await;
}

/// A client change on one node reaches the other's policy cache: a deleted client's
/// tokens are refused there too.
pub async fn client_changes_reach_other_nodes<S: FullStore>(store: Arc<S>) {
    let n = nodes(store).await;
    let login = n.a.login(&user(), &n.web, opts()).await.unwrap();
    n.b.authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    let changed = Client::new(n.web.clone()).with_token_ttl(Some(Duration::from_secs(42)));
    n.a.upsert_client(&changed).await.unwrap();
    eventually("node B seeing the new TTL", async || {
        n.b.client(&n.web).await.unwrap().unwrap().token_ttl == Some(Duration::from_secs(42))
    })
    .await;
    n.a.delete_client(&n.web).await.unwrap();
    eventually("node B refusing a deleted client's token", async || {
        matches!(
            n.b.authenticate(&login.token, Transport::Header).await,
            Err(AuthError::InvalidToken(InvalidReason::ClientGone))
        )
    })
    .await;
}

/// While a node's subscription is down its caches are bypassed, so even a change whose
/// message was lost is seen; once it resubscribes it serves from the cache again.
pub async fn a_node_without_its_subscription_reads_the_store<S: FullStore>(store: Arc<S>) {
    let n = nodes(store.clone()).await;
    let login = n.a.login(&user(), &n.web, opts()).await.unwrap();
    n.b.authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    n.channel.set_down(true);
    // A change no channel carries: straight to the store.
    store
        .remove(&login.session.id, crate::Removal::Delete)
        .await
        .unwrap();
    eventually(
        "node B bypassing its cache while the channel is down",
        async || {
            n.b.authenticate(&login.token, Transport::Header)
                .await
                .is_err()
        },
    )
    .await;
    n.channel.set_down(false);
    let fresh = n.a.login(&user(), &n.web, opts()).await.unwrap();
    eventually("node B back on its subscription", async || {
        n.b.authenticate(&fresh.token, Transport::Header)
            .await
            .is_ok()
    })
    .await;
    let auth =
        n.b.authenticate(&fresh.token, Transport::Header)
            .await
            .unwrap();
    n.b.logout(&auth).await.unwrap();
    eventually("node A refusing after the channel came back", async || {
        n.a.authenticate(&fresh.token, Transport::Header)
            .await
            .is_err()
    })
    .await;
}

/// A token whose prefix no client issues is refused without a token lookup; a client's
/// own prefix is accepted.
pub async fn foreign_prefixes_are_refused_without_a_lookup<S: FullStore>(store: Arc<S>) {
    let counting = Arc::new(CountingStore::counting(store.clone()));
    let durin = Durin::builder(counting.clone(), store, DigestKey::generate("k")).build();
    let custom = Client::new(client()).with_prefix(Some(crate::TokenPrefix::new("acme").unwrap()));
    durin.create_client(&custom).await.unwrap();
    for _ in 0..100 {
        let forged = crate::TokenString::generate(&crate::TokenPrefix::new("zz9").unwrap());
        assert!(matches!(
            durin.authenticate(&forged, Transport::Header).await,
            Err(AuthError::InvalidToken(InvalidReason::Format(
                crate::TokenFormatError::ForeignPrefix
            )))
        ));
    }
    assert_eq!(counting.gets(), 0, "no token lookup for a foreign prefix");
    let login = durin.login(&user(), &custom.name, opts()).await.unwrap();
    assert!(login.token.expose_secret().starts_with("acme_"));
    durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    let unknown_default = crate::TokenString::generate(&crate::TokenPrefix::default());
    assert!(matches!(
        durin
            .authenticate(&unknown_default, Transport::Header)
            .await,
        Err(AuthError::InvalidToken(InvalidReason::Unknown))
    ));
}

/// Issue 12, item 3: 2,000 tokens forged with a valid checksum and prefixes no client
/// issues cost zero token lookups, and at most one client-list read per reload interval
/// (the clock does not move here: one read in all). A known prefix still costs its lookup.
pub async fn forged_tokens_cost_no_token_lookup<S: FullStore>(store: Arc<S>) {
    let counting = Arc::new(CountingStore::counting(store.clone()));
    let clock = ManualClock::starting_now();
    let durin = Durin::builder(counting.clone(), counting.clone(), DigestKey::generate("k"))
        .clock(Arc::new(clock.clone()))
        .build();
    let custom = Client::new(client()).with_prefix(Some(crate::TokenPrefix::new("acme").unwrap()));
    durin.create_client(&custom).await.unwrap();
    let reads_before = counting.client_reads();
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut forged = 0;
    while forged < 2_000 {
        let mut bytes = [0u8; 17];
        getrandom::fill(&mut bytes).expect("OS random");
        let len = 1 + usize::from(bytes[0]) % 16;
        let prefix: String = bytes[1..=len]
            .iter()
            .map(|b| char::from(alphabet[usize::from(*b) % alphabet.len()]))
            .collect();
        if prefix == "durin" || prefix == "acme" {
            continue;
        }
        let token = crate::TokenString::generate(&crate::TokenPrefix::new(prefix).unwrap());
        // Well formed: the checksum is public, so a forger gets it right.
        let text = token.expose_secret().to_owned();
        let reparsed = crate::TokenString::parse(&text).expect("a forged token parses");
        assert!(matches!(
            durin.authenticate(&reparsed, Transport::Header).await,
            Err(AuthError::InvalidToken(InvalidReason::Format(
                crate::TokenFormatError::ForeignPrefix
            )))
        ));
        forged += 1;
    }
    assert_eq!(counting.gets(), 0, "no token lookup for a forged prefix");
    assert!(
        counting.client_reads() - reads_before <= 1,
        "the client list is re-read at most once per interval, read {} times",
        counting.client_reads() - reads_before
    );
    let unknown = crate::TokenString::generate(&custom.prefix.clone().unwrap());
    assert!(matches!(
        durin.authenticate(&unknown, Transport::Header).await,
        Err(AuthError::InvalidToken(InvalidReason::Unknown))
    ));
    assert_eq!(counting.gets(), 1, "a known prefix costs its one lookup");
}

/// A knox row imported under the legacy digest authenticates with its token, is re-keyed
/// to the current keyed digest on first use (the knox digest is gone), keeps working,
/// keeps its expiry; an unknown legacy token is refused.
pub async fn legacy_knox_session_is_rekeyed_on_first_use<S: FullStore>(store: Arc<S>) {
    let f = fixture(store.clone(), Client::new(client())).await;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("random");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let token = crate::LegacyToken::parse(&hex).unwrap();
    let now = f.clock.now();
    let mut imported = super::session(&user(), &f.web, now);
    imported.digest = token.knox_digest();
    imported.expires_at = Some(now.saturating_add(Duration::from_secs(3600)));
    assert_eq!(
        crate::import_each(&*store, std::slice::from_ref(&imported), now)
            .await
            .unwrap(),
        1
    );
    let auth = f
        .durin
        .authenticate_legacy(&token, Transport::Header)
        .await
        .unwrap();
    assert_eq!(auth.session.id, imported.id);
    let keyed = f.durin.hasher().digest_legacy(&token);
    assert!(store.get(&token.knox_digest()).await.unwrap().is_none());
    assert_eq!(store.get(&keyed).await.unwrap().unwrap().id, imported.id);
    let again = f
        .durin
        .authenticate_legacy(&token, Transport::Header)
        .await
        .unwrap();
    assert_eq!(again.session.id, imported.id);
    let unknown = crate::LegacyToken::parse(&hex[..40]).unwrap();
    assert!(matches!(
        f.durin
            .authenticate_legacy(&unknown, Transport::Header)
            .await,
        Err(AuthError::InvalidToken(InvalidReason::Unknown))
    ));
    f.clock.advance(Duration::from_secs(3601));
    assert!(matches!(
        f.durin.authenticate_legacy(&token, Transport::Header).await,
        Err(AuthError::Expired)
    ));
}
