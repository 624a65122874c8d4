//! `durin settings ...`: the JSON object a user keeps per client (theme, display name...).

use durin_core::{ClientName, DigestKey, UserId};
use serde_json::json;

use crate::Context;
use crate::cli::SettingsCommand;
use crate::error::CliError;
use crate::output;

/// Runs `settings show` or `settings clear`.
pub(crate) async fn run(ctx: &Context, command: SettingsCommand) -> Result<(), CliError> {
    let durin = ctx.durin(DigestKey::generate("unused"), |b| b);
    match command {
        SettingsCommand::Show { user, client } => {
            let settings = durin
                .settings(&user, &client)
                .await
                .map_err(|e| CliError::auth(doing("reading", &user, &client), e))?;
            // JSON either way: the settings are JSON.
            output::print_json(&settings)
        }
        SettingsCommand::Clear { user, client } => {
            let cleared = durin
                .clear_settings(&user, &client)
                .await
                .map_err(|e| CliError::auth(doing("clearing", &user, &client), e))?;
            if ctx.json {
                output::print_json(&json!({ "user": user, "client": client, "cleared": cleared }))
            } else if cleared {
                output::print(&format!(
                    "cleared the settings of user {user} for client {client}\n"
                ))
            } else {
                output::print(&format!(
                    "user {user} had no settings for client {client}\n"
                ))
            }
        }
    }
}

fn doing(verb: &str, user: &UserId, client: &ClientName) -> String {
    format!("{verb} the settings of user {user} for client {client}")
}
