//! Redis going away and coming back, on a private `redis-server` the test starts, kills
//! and starts again on the same port: failures are `StoreError::Unavailable` (503, never
//! 401) within the configured timeouts, and once Redis answers again the same store
//! serves again, without restarting anything.

mod common;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{PrivateRedis, config};
use durin_core::testing::{client, session, user};
use durin_core::{
    AuthError, Client, ClientStore, DigestKey, Durin, LoginOptions, Rate, StoreError, Throttle,
    ThrottleDecision, TokenStore, Transport,
};
use durin_redis::{Error, FailureMode, RedisConfig, RedisStore, RedisThrottle};

/// Short timeouts, so the test does not wait long for each failure.
fn fast() -> RedisConfig {
    config()
        .with_connection_timeout(Duration::from_millis(300))
        .with_response_timeout(Duration::from_millis(300))
        .with_reconnect_attempts(1)
}

/// Retries `op` until it succeeds, for at most 10 seconds; returns how many attempts
/// failed first.
async fn eventually<T, F, Fut>(what: &str, mut op: F) -> (T, usize)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut failures = 0;
    loop {
        match op().await {
            Ok(value) => return (value, failures),
            Err(error) => {
                assert!(error.is_unavailable(), "{what}: {error:?}");
                assert!(
                    Instant::now() < deadline,
                    "{what}: still failing after 10 s"
                );
                failures += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[track_caller]
fn assert_unavailable<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    match result {
        Err(error) => assert!(error.is_unavailable(), "{error:?}"),
        Ok(value) => panic!("succeeded while Redis was down: {value:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_redis_serves_again_without_restarting_the_application() {
    let mut server = PrivateRedis::start();
    let store = Arc::new(
        RedisStore::connect_with(&server.url(), fast())
            .await
            .unwrap(),
    );
    let closed = RedisThrottle::from_store(&store);
    assert_eq!(closed.failure_mode(), FailureMode::Closed, "the default");
    let open = RedisThrottle::from_store(&store).with_failure_mode(FailureMode::Open);
    let durin = Durin::builder(store.clone(), store.clone(), DigestKey::generate("k"))
        .client_cache_ttl(Duration::ZERO)
        .throttle(Arc::new(closed.clone()))
        .build();
    let web = Client::new(client()).with_throttle_rate(Some("100/m".parse().unwrap()));
    durin.create_client(&web).await.unwrap();
    let u = user();
    let login = durin
        .login(&u, &web.name, LoginOptions::default())
        .await
        .unwrap();
    let auth = durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap();
    durin.throttle(&auth).await.unwrap();

    server.stop();
    let down = Instant::now();
    let err = durin
        .authenticate(&login.token, Transport::Header)
        .await
        .unwrap_err();
    assert!(
        matches!(err, AuthError::Unavailable(_)),
        "{err:?}: 503, not 401"
    );
    let err = durin
        .login(&u, &web.name, LoginOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_server_error(), "{err:?}");
    assert!(matches!(
        durin.throttle(&auth).await,
        Err(AuthError::Unavailable(_))
    ));
    assert_unavailable(store.get(&login.session.digest).await);
    assert_unavailable(store.get_by_id(&login.session.id).await);
    let s = session(&u, &web.name, durin_core::testing::now());
    assert_unavailable(
        store
            .insert(&s, durin_core::testing::keep(1, s.created_at))
            .await,
    );
    assert_unavailable(store.list_clients().await);
    let rate: Rate = "1/h".parse().unwrap();
    assert_unavailable(closed.check("k", rate).await);
    for _ in 0..3 {
        let decision = open.check("k", rate).await.unwrap();
        assert_eq!(
            decision,
            ThrottleDecision::Allowed,
            "FailureMode::Open admits"
        );
    }
    // A liveness bound, not a timing claim: generous for a loaded CI machine (the failure
    // takes well under a second here; how fast is the benches' business).
    assert!(
        down.elapsed() < Duration::from_secs(60),
        "failing took {:?}",
        down.elapsed()
    );

    server.restart();
    // The same store, service and throttles: nothing was rebuilt. The server restarted
    // empty (no persistence), so the client and the session are gone, and the scripts
    // must be loaded again (NOSCRIPT).
    let (gone, failures) = eventually("get_client", || store.get_client(&web.name)).await;
    assert_eq!(gone, None);
    assert!(failures <= 3, "{failures} failures after Redis came back");
    durin.create_client(&web).await.unwrap();
    let again = durin
        .login(&u, &web.name, LoginOptions::default())
        .await
        .unwrap();
    let auth = durin
        .authenticate(&again.token, Transport::Header)
        .await
        .unwrap();
    durin.throttle(&auth).await.unwrap();
    assert!(closed.check("k", rate).await.unwrap().is_allowed());
    assert!(
        !open.check("k", rate).await.unwrap().is_allowed(),
        "limits again"
    );
    assert!(matches!(
        durin.authenticate(&login.token, Transport::Header).await,
        Err(AuthError::InvalidToken(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_times_out_as_unavailable_and_then_answers_again() {
    let server = PrivateRedis::start();
    let store = RedisStore::connect_with(&server.url(), fast())
        .await
        .unwrap();
    let s = session(&user(), &client(), durin_core::testing::now());
    store
        .insert(&s, durin_core::testing::keep(1, s.created_at))
        .await
        .unwrap();

    server.pause();
    let started = Instant::now();
    assert_unavailable(store.get(&s.digest).await);
    let waited = started.elapsed();
    // The timeout must have been waited for (a lower bound a slow machine cannot break);
    // the upper bound only says it ended, generously for a loaded CI machine.
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(30),
        "the 300 ms response timeout took {waited:?}"
    );
    assert_unavailable(store.list_by_user(&s.user_id).await);

    server.resume();
    let (found, _) = eventually("get", || store.get(&s.digest)).await;
    assert_eq!(found.as_deref(), Some(&s));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_can_start_while_redis_is_down() {
    let mut server = PrivateRedis::start();
    server.stop();
    let err = RedisStore::connect_with(&server.url(), fast())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
    assert!(StoreError::from(err).is_unavailable());

    let store = RedisStore::connect_lazy(&server.url(), fast()).unwrap();
    let throttle = RedisThrottle::connect_lazy(&server.url(), fast()).unwrap();
    let c = Client::new(client());
    assert_unavailable(store.create_client(&c).await);
    assert_unavailable(throttle.check("k", "1/s".parse().unwrap()).await);

    server.restart();
    eventually("create_client", || store.create_client(&c)).await;
    assert_eq!(store.get_client(&c.name).await.unwrap(), Some(c));
    let (decision, _) = eventually("check", || throttle.check("k", "1/s".parse().unwrap())).await;
    assert!(decision.is_allowed());
}
