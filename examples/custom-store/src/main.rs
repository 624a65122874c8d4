//! Run with `cargo run -p custom-store`.
//!
//! Issues, verifies and revokes a token through durin with the application's own store.

use std::sync::Arc;

use custom_store::VecStore;
use durin_core::{Client, ClientName, DigestKey, Durin, LoginOptions, Transport, UserId};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = Arc::new(VecStore::new());
    let durin = Durin::builder(store.clone(), store, DigestKey::generate("k1")).build();
    let cli = ClientName::new("cli")?;
    durin.create_client(&Client::new(cli.clone())).await?;

    let user = UserId::new("alice")?;
    let login = durin.login(&user, &cli, LoginOptions::default()).await?;
    println!(
        "issued session {} for {user} through {cli}",
        login.session.id
    );
    let auth = durin.authenticate(&login.token, Transport::Header).await?;
    println!(
        "authenticated as {} (client {})",
        auth.user_id(),
        auth.client.name
    );
    durin.logout(&auth).await?;
    let refused = durin.authenticate(&login.token, Transport::Header).await;
    println!("after logout: {:?}", refused.err());
    Ok(())
}
