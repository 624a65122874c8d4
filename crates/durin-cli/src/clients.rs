//! `durin client ...`: create, list, show, update and delete clients.

use std::io::{self, BufRead as _, IsTerminal as _, Write as _};

use durin_core::{AuthError, Client, ClientName, DigestKey};
use serde_json::json;

use crate::Context;
use crate::cli::{ClientCommand, Lifetime, PolicyArgs, PrefixArg, RateArg, Scopes};
use crate::error::CliError;
use crate::output;

/// Runs one `client` subcommand.
pub(crate) async fn run(ctx: &Context, command: ClientCommand) -> Result<(), CliError> {
    match command {
        ClientCommand::Create { name, policy } => create(ctx, name, &policy).await,
        ClientCommand::List => list(ctx).await,
        ClientCommand::Show { name } => show(ctx, &name).await,
        ClientCommand::Update { name, policy } => update(ctx, &name, &policy).await,
        ClientCommand::Delete { name, yes } => delete(ctx, &name, yes).await,
    }
}

/// Refuses `client update NAME` without any change (before any I/O).
pub(crate) fn check_update(policy: &PolicyArgs) -> Result<(), CliError> {
    if policy.is_empty() {
        return Err(CliError::Usage(
            "nothing to change: give at least one of --ttl, --throttle-rate, --max-tokens, \
             --renew, --max-lifetime, --refresh-ttl, --scopes, --prefix"
                .into(),
        ));
    }
    Ok(())
}

/// `client` with the options given in `policy` applied; the others stay as they are.
pub(crate) fn apply(mut client: Client, policy: &PolicyArgs) -> Client {
    if let Some(Lifetime(ttl)) = policy.ttl {
        client.token_ttl = ttl;
    }
    if let Some(RateArg(rate)) = policy.throttle_rate {
        client.throttle_rate = rate;
    }
    if let Some(max) = policy.max_tokens {
        client = client.with_max_tokens_per_user(max);
    }
    if let Some(renewal) = policy.renew {
        client.renewal = renewal;
    }
    if let Some(Lifetime(cap)) = policy.max_lifetime {
        client.max_lifetime = cap;
    }
    if let Some(Lifetime(ttl)) = policy.refresh_ttl {
        client.refresh_ttl = ttl;
    }
    if let Some(Scopes(scopes)) = &policy.scopes {
        client.scopes.clone_from(scopes);
    }
    if let Some(PrefixArg(prefix)) = &policy.prefix {
        client.prefix.clone_from(prefix);
    }
    client
}

/// `client create`: refuses an existing name rather than overwriting it.
async fn create(ctx: &Context, name: ClientName, policy: &PolicyArgs) -> Result<(), CliError> {
    let client = apply(Client::new(name), policy);
    let durin = ctx.durin(DigestKey::generate("unused"), |b| b);
    match durin.create_client(&client).await {
        Ok(()) => {}
        Err(AuthError::Conflict(_)) => {
            return Err(CliError::Refused(format!(
                "client {0} already exists; change it with `durin client update {0} ...`",
                client.name
            )));
        }
        Err(e) => {
            return Err(CliError::auth(
                format!("creating client {}", client.name),
                e,
            ));
        }
    }
    print_client(ctx, "created", &client)
}

/// `client list`: every client, by name.
async fn list(ctx: &Context) -> Result<(), CliError> {
    let clients = ctx
        .clients()
        .list_clients()
        .await
        .map_err(|e| CliError::store("listing clients", e))?;
    if ctx.json {
        output::print_json(&clients)
    } else if clients.is_empty() {
        output::print("no clients; create one with `durin client create NAME`\n")
    } else {
        output::print(&output::client_table(&clients))
    }
}

/// `client show`: one client; the table adds its session count.
async fn show(ctx: &Context, name: &ClientName) -> Result<(), CliError> {
    let client = existing(ctx, name).await?;
    if ctx.json {
        return output::print_json(&client);
    }
    let sessions = ctx
        .admin()?
        .count_client_sessions(name)
        .await
        .map_err(|e| CliError::store(format!("counting the sessions of client {name}"), e))?;
    output::print(&output::client_record(&client, Some(sessions)))
}

/// `client update`: the given options change, the others stay.
async fn update(ctx: &Context, name: &ClientName, policy: &PolicyArgs) -> Result<(), CliError> {
    let client = apply(existing(ctx, name).await?, policy);
    // Read-modify-write: two admins changing the same client at once keep the last
    // write, which is what an admin tool is expected to do. Through the service, so
    // every running server's policy cache hears of it at once.
    ctx.durin(DigestKey::generate("unused"), |b| b)
        .upsert_client(&client)
        .await
        .map_err(|e| CliError::auth(format!("updating client {name}"), e))?;
    print_client(ctx, "updated", &client)
}

/// `client delete`: its sessions first, then the client, asking when there are sessions.
async fn delete(ctx: &Context, name: &ClientName, yes: bool) -> Result<(), CliError> {
    existing(ctx, name).await?;
    let admin = ctx.admin()?;
    let count = admin
        .count_client_sessions(name)
        .await
        .map_err(|e| CliError::store(format!("counting the sessions of client {name}"), e))?;
    if count > 0 && !yes {
        let question = format!(
            "client {name} has {count} session(s); deleting it deletes them too (their tokens \
             stop working). Delete?"
        );
        if !confirm(&question, name, count)? {
            return Err(CliError::Refused(format!(
                "kept client {name} and its sessions"
            )));
        }
    }
    let removing = |e| CliError::store(format!("deleting the sessions of client {name}"), e);
    let node = ctx.node(DigestKey::generate("unused"), |b| b);
    let durin = node.durin();
    let mut removed = admin.remove_client_sessions(name).await.map_err(removing)?;
    // The client goes through the service, so every server forgets its policy (and
    // refuses its tokens) at once.
    let existed = durin
        .delete_client(name)
        .await
        .map_err(|e| CliError::auth(format!("deleting client {name}"), e))?;
    // A login that raced the first sweep left a session of a client that no longer
    // exists: sweep again now that no new one can be issued.
    removed += admin.remove_client_sessions(name).await.map_err(removing)?;
    if !existed {
        return Err(CliError::Refused(format!(
            "no client {name} (it was deleted meanwhile)"
        )));
    }
    if ctx.json {
        output::print_json(&json!({ "deleted": name, "sessions_removed": removed }))
    } else {
        output::print(&format!("deleted client {name} and {removed} session(s)\n"))
    }
}

/// The client called `name`, or a refusal that says how to list them.
async fn existing(ctx: &Context, name: &ClientName) -> Result<Client, CliError> {
    ctx.clients()
        .get_client(name)
        .await
        .map_err(|e| CliError::store(format!("reading client {name}"), e))?
        .ok_or_else(|| {
            CliError::Refused(format!(
                "no client {name}; `durin client list` shows the clients"
            ))
        })
}

/// Prints a created or updated client: its serde form in JSON, a record otherwise.
fn print_client(ctx: &Context, verb: &str, client: &Client) -> Result<(), CliError> {
    if ctx.json {
        output::print_json(client)
    } else {
        output::print(&format!(
            "{verb} client {}\n{}",
            client.name,
            output::client_record(client, None)
        ))
    }
}

/// Asks `question` on the terminal; only "y" or "yes" agree. Without a terminal there is
/// nobody to ask, and the deletion is refused: a script must say `--yes`.
fn confirm(question: &str, name: &ClientName, count: u64) -> Result<bool, CliError> {
    let stdin = io::stdin();
    if !stdin.is_terminal() {
        return Err(CliError::Refused(format!(
            "client {name} has {count} session(s) and there is no terminal to confirm on; \
             pass --yes to delete it and its sessions"
        )));
    }
    let terminal = |e| CliError::Local {
        doing: "asking for confirmation".into(),
        source: Box::new(e),
    };
    let mut stderr = io::stderr().lock();
    write!(stderr, "{question} [y/N] ")
        .and_then(|()| stderr.flush())
        .map_err(terminal)?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer).map_err(terminal)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use durin_core::{Renewal, TokenPrefix};

    use super::*;

    fn web() -> Client {
        Client::new(ClientName::new("web").unwrap())
            .with_throttle_rate(Some("5/m".parse().unwrap()))
            .with_scopes(["read"])
            .with_prefix(Some(TokenPrefix::new("web").unwrap()))
    }

    #[test]
    fn update_changes_only_the_options_given() {
        let policy = PolicyArgs {
            ttl: Some(Lifetime(Some(Duration::from_secs(600)))),
            renew: Some(Renewal::None),
            ..PolicyArgs::default()
        };
        let updated = apply(web(), &policy);
        assert_eq!(updated.token_ttl, Some(Duration::from_secs(600)));
        assert_eq!(updated.renewal, Renewal::None);
        assert_eq!(
            Client {
                token_ttl: web().token_ttl,
                renewal: web().renewal,
                ..updated
            },
            web()
        );
    }

    #[test]
    fn clearing_options_restore_the_service_defaults() {
        let policy = PolicyArgs {
            throttle_rate: Some(RateArg(None)),
            scopes: Some(Scopes(Vec::new())),
            prefix: Some(PrefixArg(None)),
            ttl: Some(Lifetime(None)),
            ..PolicyArgs::default()
        };
        let cleared = apply(web(), &policy);
        assert_eq!(cleared.throttle_rate, None);
        assert!(cleared.scopes.is_empty());
        assert_eq!(cleared.prefix, None);
        assert_eq!(cleared.token_ttl, None);
    }

    #[test]
    fn an_update_without_options_is_a_usage_error() {
        assert!(matches!(
            check_update(&PolicyArgs::default()),
            Err(CliError::Usage(_))
        ));
        let one = PolicyArgs {
            max_tokens: std::num::NonZeroU32::new(3),
            ..PolicyArgs::default()
        };
        assert!(check_update(&one).is_ok());
    }
}
