//! Run with `cargo run -p durin-core --example quickstart`.
//!
//! Walks through durin's model with the in-memory store: two clients with their own
//! policies, login, authentication through the cache, renewal, the one-token-per-client
//! rule, refresh-token rotation with reuse detection, session listing, logout and
//! logout-all. Time is a manual clock, so expiry shows without waiting.

use std::sync::Arc;
use std::time::Duration;

use durin_core::{
    CachedTokenStore, Client, ClientName, DigestKey, Durin, LoginOptions, ManualClock, MemoryStore,
    MemoryThrottle, Renewal, Transport, UserId,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clock = ManualClock::starting_now();
    let store = Arc::new(MemoryStore::new());
    let durin = Durin::builder(
        Arc::new(CachedTokenStore::new(store.clone())),
        store.clone(),
        DigestKey::generate("k1"),
    )
    .clock(Arc::new(clock.clone()))
    .throttle(Arc::new(MemoryThrottle::new()))
    .build();

    let web = Client::new(ClientName::new("web")?)
        .with_token_ttl(Some(Duration::from_secs(3600)))
        .with_throttle_rate(Some("3/m".parse()?));
    let mobile = Client::new(ClientName::new("mobile")?)
        .with_token_ttl(Some(Duration::from_secs(600)))
        .with_renewal(Renewal::Sliding {
            min_interval: Duration::from_secs(60),
        })
        .with_refresh_ttl(Some(Duration::from_secs(30 * 86_400)));
    for client in [&web, &mobile] {
        durin.create_client(client).await?;
        println!(
            "client {:<7} ttl {:<5} rate {:<5} renewal {:?}",
            client.name.as_str(),
            durin_core::format_ttl(client.token_ttl),
            client
                .throttle_rate
                .map(|r| r.to_string())
                .unwrap_or("-".into()),
            client.renewal
        );
    }

    let alice = UserId::new("alice")?;
    let on_web = durin
        .login(&alice, &web.name, LoginOptions::default())
        .await?;
    let token_text = on_web.token.expose_secret();
    println!(
        "\nlogin web    -> session {} (token {}…, {} chars; only its digest is stored)",
        on_web.session.id,
        &token_text[..10],
        token_text.len()
    );
    let auth = durin.authenticate(&on_web.token, Transport::Header).await?;
    println!(
        "authenticate -> user {} via {}",
        auth.user_id(),
        auth.client.name
    );

    for i in 1..=4 {
        match durin.throttle(&auth).await {
            Ok(()) => println!("throttle #{i}  -> allowed (3/m)"),
            Err(e) => println!("throttle #{i}  -> refused: {e}"),
        }
    }

    clock.advance(Duration::from_secs(1800));
    let renewed = durin.renew(&auth).await?;
    println!(
        "renew        -> expires {}",
        renewed
            .expires_at
            .map(|t| t.to_iso8601())
            .unwrap_or("never".into())
    );

    let again = durin
        .login(&alice, &web.name, LoginOptions::default())
        .await?;
    let old = durin.authenticate(&on_web.token, Transport::Header).await;
    println!(
        "login web #2 -> the first web token now says: {:?}",
        old.err()
    );
    durin.authenticate(&again.token, Transport::Header).await?;

    let on_mobile = durin
        .login(&alice, &mobile.name, LoginOptions::default())
        .await?;
    let refresh = on_mobile
        .refresh_token
        .clone()
        .ok_or("mobile issues refresh tokens")?;
    clock.advance(Duration::from_secs(700));
    let expired = durin
        .authenticate(&on_mobile.token, Transport::Header)
        .await;
    println!("mobile after 700s -> {:?}", expired.err());
    let rotated = durin.refresh(&refresh).await?;
    println!(
        "refresh      -> new access token for session {}",
        rotated.session.id
    );
    let replay = durin.refresh(&refresh).await;
    println!(
        "refresh again with the old one -> {:?} (session revoked)",
        replay.err()
    );

    let mobile_again = durin
        .login(&alice, &mobile.name, LoginOptions::default())
        .await?;
    println!("\nsessions of alice:");
    for s in durin.sessions(&alice).await? {
        println!(
            "  {}  {:<7} created {}  expires {}",
            s.id,
            s.client.as_str(),
            s.created_at,
            s.expires_at
                .map(|t| t.to_iso8601())
                .unwrap_or("never".into())
        );
    }
    let current = durin
        .authenticate(&mobile_again.token, Transport::Header)
        .await?;
    durin.logout(&current).await?;
    println!(
        "logout mobile -> {:?}",
        durin
            .authenticate(&mobile_again.token, Transport::Header)
            .await
            .err()
    );
    println!(
        "logout-all   -> {} session(s) ended",
        durin.logout_all(&alice).await?
    );
    println!(
        "web token now -> {:?}",
        durin
            .authenticate(&again.token, Transport::Header)
            .await
            .err()
    );
    Ok(())
}
