//! `durin apikey ...`: issue and revoke API keys through the `Durin` service, so the
//! keys are exactly what a server configured with the same API-access client issues.

use durin_core::{
    AuthError, Client, ClientName, DigestKey, Durin, LoginOptions, StoreError, UserId,
};
use serde::Serialize;
use serde_json::json;

use crate::Context;
use crate::cli::{ApikeyCommand, Scopes};
use crate::error::CliError;
use crate::output::{self, SessionView};

/// Runs `apikey create` (which needs the server's key) or `apikey revoke`.
pub(crate) async fn run(
    ctx: &Context,
    command: ApikeyCommand,
    key: Option<DigestKey>,
) -> Result<(), CliError> {
    match command {
        ApikeyCommand::Create {
            user,
            client,
            scopes,
        } => {
            let key = key.expect("the key is loaded before `apikey create` runs");
            create(ctx, key, &user, client, scopes).await
        }
        ApikeyCommand::Revoke { user, client } => revoke(ctx, &user, client).await,
    }
}

/// What `apikey create --json` prints.
#[derive(Serialize)]
struct Issued<'a> {
    /// The API key, shown this once.
    token: &'a str,
    /// Its session (never the digest).
    session: SessionView<'a>,
}

/// `apikey create`: creates the API-access client if needed, then issues the key.
async fn create(
    ctx: &Context,
    key: DigestKey,
    user: &UserId,
    api: ClientName,
    scopes: Option<Scopes>,
) -> Result<(), CliError> {
    ensure_api_client(ctx, &api).await?;
    let durin = service(ctx, key, &api);
    let options = LoginOptions {
        scopes: scopes.as_ref().map(|s| s.0.clone()),
        ..LoginOptions::default()
    };
    let login = match durin.create_api_key(user, options).await {
        Ok(login) => login,
        Err(AuthError::AlreadyExists) => {
            return Err(CliError::Refused(format!(
                "user {user} already holds a live API key of client {api}; revoke it first \
                 with `durin apikey revoke --user {}`",
                output::shell_quote(user.as_str())
            )));
        }
        Err(AuthError::Forbidden) => {
            return Err(refused_scopes(&durin, &api, scopes.as_ref()).await);
        }
        Err(e) => return Err(CliError::auth(format!("issuing an API key for {user}"), e)),
    };
    let token = login.token.expose_secret();
    if ctx.json {
        output::print_json(&Issued {
            token,
            session: SessionView::from(&login.session),
        })
    } else {
        // The token alone on standard output, so `KEY=$(durin apikey create ...)` works;
        // the rest is for the person at the terminal.
        eprintln!(
            "API key for user {user} (client {api}, session {}); it is shown only once",
            login.session.id
        );
        output::print(&format!("{token}\n"))
    }
}

/// `apikey revoke`: revokes every API key of the user.
async fn revoke(ctx: &Context, user: &UserId, api: ClientName) -> Result<(), CliError> {
    // Revoking digests nothing: a throwaway key spares this command the key file.
    let durin = service(ctx, DigestKey::generate("unused"), &api);
    match durin.delete_api_key(user).await {
        Ok(()) => {}
        Err(AuthError::NotFound) => {
            return Err(CliError::Refused(format!(
                "user {user} has no API key of client {api}"
            )));
        }
        Err(e) => return Err(CliError::auth(format!("revoking the API key of {user}"), e)),
    }
    if ctx.json {
        output::print_json(&json!({ "user": user, "client": api, "revoked": true }))
    } else {
        output::print(&format!(
            "revoked the API key of user {user} (client {api})\n"
        ))
    }
}

/// The service as a server configured with `--api-access-client API` builds it.
fn service(ctx: &Context, key: DigestKey, api: &ClientName) -> Durin {
    let api = api.clone();
    ctx.durin(key, move |b| b.api_access_client(api))
}

/// Creates the API-access client, with keys that never expire, unless it exists (as the
/// example servers do at start-up).
async fn ensure_api_client(ctx: &Context, api: &ClientName) -> Result<(), CliError> {
    let clients = &ctx.backend.clone().clients();
    let reading = |e| CliError::store(format!("reading client {api}"), e);
    if clients.get_client(api).await.map_err(reading)?.is_some() {
        return Ok(());
    }
    let client = Client::new(api.clone()).with_token_ttl(None);
    match clients.create_client(&client).await {
        Ok(()) => {
            eprintln!("created client {api} for API keys (tokens never expire)");
            Ok(())
        }
        // Someone created it meanwhile: theirs will do.
        Err(StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(CliError::store(format!("creating client {api}"), e)),
    }
}

/// Says which requested scopes the client refuses, and which it allows.
async fn refused_scopes(durin: &Durin, api: &ClientName, scopes: Option<&Scopes>) -> CliError {
    let Ok(Some(client)) = durin.client(api).await else {
        return CliError::Refused(format!("client {api} refuses the scopes requested"));
    };
    let denied: Vec<&str> = scopes
        .map(|s| {
            s.0.iter()
                .filter(|s| !client.allows_scope(s))
                .map(String::as_str)
                .collect()
        })
        .unwrap_or_default();
    CliError::Refused(format!(
        "client {api} does not allow scope(s) {}; it allows {}",
        denied.join(","),
        client.scopes.join(",")
    ))
}
