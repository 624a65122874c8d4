//! `durin session ...`: list sessions page by page, revoke one, revoke a user's.

use durin_core::{ClientName, Clock as _, DigestKey, SessionId, SessionQuery, SystemClock, UserId};
use serde::Serialize;
use serde_json::json;

use crate::Context;
use crate::cli::SessionCommand;
use crate::error::CliError;
use crate::output::{self, SessionView};

/// Runs one `session` subcommand.
pub(crate) async fn run(ctx: &Context, command: SessionCommand) -> Result<(), CliError> {
    match command {
        SessionCommand::List {
            user,
            client,
            limit,
            after,
        } => {
            let query = SessionQuery {
                user,
                client,
                after,
                limit,
            };
            list(ctx, query).await
        }
        SessionCommand::Revoke { id } => revoke(ctx, &id).await,
        SessionCommand::RevokeAll { user } => revoke_all(ctx, &user).await,
    }
}

/// One page of `session list --json`.
#[derive(Serialize)]
struct Page<'a> {
    /// The sessions, by id.
    sessions: Vec<SessionView<'a>>,
    /// The `--after` cursor of the next page; `null` on the last one.
    next: Option<SessionId>,
}

/// `session list`: one keyset page and the cursor of the next.
async fn list(ctx: &Context, query: SessionQuery) -> Result<(), CliError> {
    let limit = query.limit as usize;
    // One more than asked tells whether another page follows, so the last page never
    // offers a cursor that leads to an empty one.
    let probe = SessionQuery {
        limit: query.limit + 1,
        ..query.clone()
    };
    let mut page = ctx
        .admin()?
        .list_sessions(&probe)
        .await
        .map_err(|e| CliError::store("listing sessions", e))?;
    let next = if page.len() > limit {
        page.truncate(limit);
        page.last().map(|s| s.id.clone())
    } else {
        None
    };
    if ctx.json {
        return output::print_json(&Page {
            sessions: page.iter().map(SessionView::from).collect(),
            next,
        });
    }
    let mut text = if page.is_empty() {
        "no sessions\n".to_owned()
    } else {
        output::session_table(&page, SystemClock.now())
    };
    if let Some(next) = next {
        text.push_str(&format!(
            "\nnext: {}\n",
            next_command(
                query.user.as_ref(),
                query.client.as_ref(),
                query.limit,
                &next
            )
        ));
    }
    output::print(&text)
}

/// The command that prints the page after `after`, with the same filters.
fn next_command(
    user: Option<&UserId>,
    client: Option<&ClientName>,
    limit: u32,
    after: &SessionId,
) -> String {
    let mut command = "durin session list".to_owned();
    if let Some(user) = user {
        command.push_str(&format!(" --user {}", output::shell_quote(user.as_str())));
    }
    if let Some(client) = client {
        command.push_str(&format!(" --client {client}"));
    }
    command.push_str(&format!(" --limit {limit} --after {after}"));
    command
}

/// `session revoke`: deletes the session, whoever owns it.
async fn revoke(ctx: &Context, id: &SessionId) -> Result<(), CliError> {
    let durin = ctx.durin(DigestKey::generate("unused"), |b| b);
    let removed = durin
        .revoke(id)
        .await
        .map_err(|e| CliError::auth(format!("revoking session {id}"), e))?
        .ok_or_else(|| {
            CliError::Refused(format!(
                "no session {id}; `durin session list` shows the sessions"
            ))
        })?;
    if ctx.json {
        output::print_json(&json!({ "revoked": SessionView::from(&removed) }))
    } else {
        output::print(&format!(
            "revoked session {id} (user {}, client {})\n",
            removed.user_id, removed.client
        ))
    }
}

/// `session revoke-all`: deletes every session of the user.
async fn revoke_all(ctx: &Context, user: &UserId) -> Result<(), CliError> {
    let durin = ctx.durin(DigestKey::generate("unused"), |b| b);
    let removed = durin
        .logout_all(user)
        .await
        .map_err(|e| CliError::auth(format!("revoking the sessions of user {user}"), e))?;
    if ctx.json {
        output::print_json(&json!({ "user": user, "revoked": removed }))
    } else {
        output::print(&format!("revoked {removed} session(s) of user {user}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_command_repeats_the_filters() {
        let after = SessionId::new("abc").unwrap();
        assert_eq!(
            next_command(None, None, 50, &after),
            "durin session list --limit 50 --after abc"
        );
        assert_eq!(
            next_command(
                Some(&UserId::new("jane doe").unwrap()),
                Some(&ClientName::new("web").unwrap()),
                10,
                &after
            ),
            "durin session list --user 'jane doe' --client web --limit 10 --after abc"
        );
    }
}
