//! `durin token ...`: named personal tokens, issued through the `Durin` service exactly as
//! a server configured with the same `--tokens-client` issues them.

use std::num::NonZeroU32;

use durin_core::{
    AuthError, Client, ClientName, DigestKey, NamedToken, SessionId, Timestamp, TokenLifetime,
    UserId,
};
use serde::Serialize;
use serde_json::json;

use crate::Context;
use crate::cli::{Lifetime, TokenCommand};
use crate::error::CliError;
use crate::output::{self, Table};

/// The cap of a tokens client the CLI creates, as the example servers do.
const DEFAULT_CAP: u32 = 100;

/// Runs `token create` (which needs the server's key), `token list` or `token revoke`.
pub(crate) async fn run(
    ctx: &Context,
    command: TokenCommand,
    key: Option<DigestKey>,
) -> Result<(), CliError> {
    match command {
        TokenCommand::Create {
            user,
            name,
            scopes,
            expires,
            client,
        } => {
            let key = key.expect("the key is loaded before `token create` runs");
            ensure_tokens_client(ctx, &client).await?;
            let token = NamedToken {
                name,
                scopes: scopes.map(|s| s.0).unwrap_or_default(),
                lifetime: match expires {
                    None => TokenLifetime::ClientDefault,
                    Some(Lifetime(None)) => TokenLifetime::Never,
                    Some(Lifetime(Some(ttl))) => TokenLifetime::For(ttl),
                },
            };
            create(ctx, key, &user, &client, token).await
        }
        TokenCommand::List { user, client } => list(ctx, &user, &client).await,
        TokenCommand::Revoke { id } => revoke(ctx, &id).await,
    }
}

/// A named token as printed: never the token or its digest.
#[derive(Serialize)]
struct TokenView<'a> {
    id: &'a SessionId,
    name: &'a str,
    user: &'a UserId,
    scopes: &'a [String],
    created: String,
    expiry: Option<String>,
    last_used: Option<String>,
}

impl<'a> From<&'a durin_core::Session> for TokenView<'a> {
    fn from(s: &'a durin_core::Session) -> Self {
        TokenView {
            id: &s.id,
            name: s.name.as_ref().map_or("", |n| n.as_str()),
            user: &s.user_id,
            scopes: &s.scopes,
            created: s.created_at.to_iso8601(),
            expiry: s.expires_at.map(Timestamp::to_iso8601),
            last_used: s.last_used_at.map(Timestamp::to_iso8601),
        }
    }
}

async fn create(
    ctx: &Context,
    key: DigestKey,
    user: &UserId,
    client: &ClientName,
    token: NamedToken,
) -> Result<(), CliError> {
    let named = client.clone();
    let durin = ctx.durin(key, move |b| b.tokens_client(named));
    let name = token.name.clone();
    let login = match durin.create_named_token(user, token).await {
        Ok(login) => login,
        Err(AuthError::NameTaken) => {
            return Err(CliError::Refused(format!(
                "user {user} already holds a live token named \"{name}\"; pick another name or \
                 revoke it (`durin token list --user {}`)",
                output::shell_quote(user.as_str())
            )));
        }
        Err(AuthError::TokenLimit) => {
            return Err(CliError::Refused(format!(
                "user {user} holds as many tokens of client {client} as it allows; revoke one first"
            )));
        }
        Err(AuthError::UnknownScope(scope)) => {
            return Err(CliError::Refused(format!(
                "client {client} does not offer scope {scope:?}"
            )));
        }
        Err(e) => return Err(CliError::auth(format!("creating a token for {user}"), e)),
    };
    let secret = login.token.expose_secret();
    if ctx.json {
        output::print_json(&json!({
            "token": secret,
            "named_token": TokenView::from(&login.session),
        }))
    } else {
        // The token alone on standard output (`TOKEN=$(durin token create ...)` works).
        eprintln!(
            "token \"{name}\" for user {user} (id {}); it is shown only once",
            login.session.id
        );
        output::print(&format!("{secret}\n"))
    }
}

async fn list(ctx: &Context, user: &UserId, client: &ClientName) -> Result<(), CliError> {
    let named = client.clone();
    let durin = ctx.durin(DigestKey::generate("unused"), move |b| {
        b.tokens_client(named)
    });
    let tokens = durin
        .named_tokens(user)
        .await
        .map_err(|e| CliError::auth(format!("listing the tokens of {user}"), e))?;
    if ctx.json {
        let views: Vec<TokenView<'_>> = tokens.iter().map(TokenView::from).collect();
        return output::print_json(&views);
    }
    if tokens.is_empty() {
        return output::print(&format!("user {user} has no named tokens\n"));
    }
    let mut table = Table::new(&["ID", "NAME", "SCOPES", "CREATED", "EXPIRES", "LAST USED"]);
    for t in &tokens {
        table.row(vec![
            t.id.to_string(),
            t.name.as_ref().map_or_else(String::new, |n| n.to_string()),
            t.scopes.join(","),
            output::when(t.created_at),
            t.expires_at
                .map_or_else(|| "never".to_owned(), output::when),
            t.last_used_at.map_or_else(|| "-".to_owned(), output::when),
        ]);
    }
    output::print(&table.render())
}

async fn revoke(ctx: &Context, id: &SessionId) -> Result<(), CliError> {
    let durin = ctx.durin(DigestKey::generate("unused"), |b| b);
    let session = durin
        .tokens()
        .get_by_id(id)
        .await
        .map_err(|e| CliError::store(format!("reading token {id}"), e))?;
    let Some(session) = session.filter(|s| s.name.is_some() && s.revoked_at.is_none()) else {
        return Err(CliError::Refused(format!(
            "no named token {id}; `durin token list --user USER` shows them"
        )));
    };
    durin
        .revoke(id)
        .await
        .map_err(|e| CliError::auth(format!("revoking token {id}"), e))?;
    if ctx.json {
        output::print_json(&json!({ "revoked": TokenView::from(&session) }))
    } else {
        output::print(&format!(
            "revoked token {id} ({:?}, user {})\n",
            session.name.as_ref().map_or("", |n| n.as_str()),
            session.user_id
        ))
    }
}

/// Creates the tokens client (tokens that never expire, a cap of 100 per user) unless it
/// exists, as the example servers do for `--tokens-client`.
async fn ensure_tokens_client(ctx: &Context, name: &ClientName) -> Result<(), CliError> {
    let reading = |e| CliError::store(format!("reading client {name}"), e);
    if ctx
        .clients()
        .get_client(name)
        .await
        .map_err(reading)?
        .is_some()
    {
        return Ok(());
    }
    let client = Client::new(name.clone())
        .with_token_ttl(None)
        .with_max_tokens_per_user(NonZeroU32::new(DEFAULT_CAP).expect("not zero"));
    let durin = ctx.durin(DigestKey::generate("unused"), |b| b);
    match durin.create_client(&client).await {
        Ok(()) => {
            eprintln!(
                "created client {name} for named tokens (tokens never expire, {DEFAULT_CAP} per user)"
            );
            Ok(())
        }
        Err(AuthError::Conflict(_)) => Ok(()),
        Err(e) => Err(CliError::auth(format!("creating client {name}"), e)),
    }
}
