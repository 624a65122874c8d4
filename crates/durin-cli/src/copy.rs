//! `durin store copy --from URL --to URL`: clients, sessions and settings from one
//! store to another, idempotently and in batches.

use std::sync::Arc;

use durin_core::{
    Backend, ClientName, Clock as _, DigestKey, SessionQuery, SettingsStore, SystemClock,
    Timestamp, UserId,
};
use serde::Serialize;
use serde_json::json;

use crate::cli::CopyArgs;
use crate::error::CliError;
use crate::output::{self, Table};
use crate::{Context, migrate_store, open};

/// What happened to the clients, sessions or settings.
#[derive(Debug, Default, Serialize)]
struct Counts {
    /// Read from the source.
    read: u64,
    /// Written to the target.
    copied: u64,
    /// The target had them already (same name; same session id or digest; settings
    /// of that user and client): left alone.
    already_there: u64,
    /// Sessions not copied because they expired (and their refresh token too).
    skipped_expired: u64,
    /// Sessions not copied because they were revoked.
    skipped_revoked: u64,
}

impl Counts {
    fn skipped(&self) -> u64 {
        self.skipped_expired + self.skipped_revoked
    }
}

/// Runs `durin store copy`.
///
/// # Errors
/// [`CliError::Usage`] when both URLs are the same, [`CliError::Refused`] when the
/// source cannot list its sessions, [`CliError::Store`] when either store fails (what
/// was copied stays: a rerun finishes the copy).
pub(crate) async fn run(
    args: &CopyArgs,
    no_migrate: bool,
    json: bool,
    progress: bool,
) -> Result<(), CliError> {
    if args.from == args.to {
        return Err(CliError::Usage(
            "store copy: --from and --to are the same store".into(),
        ));
    }
    let from = open(&args.from).await?;
    let to = open(&args.to).await?;
    if !no_migrate {
        migrate_store(&from, &args.from).await?;
        migrate_store(&to, &args.to).await?;
    }
    let now = SystemClock.now();
    let target = Context {
        backend: to.clone(),
        json,
    };
    let say = |what: &str| {
        if progress {
            eprintln!("store copy: {what}");
        }
    };
    let clients = copy_clients(&from, &to).await?;
    say(&format!(
        "clients: {} copied, {} already there",
        clients.copied, clients.already_there
    ));
    let sessions = copy_sessions(&from, &target, args, now, &say).await?;
    let settings = copy_settings(&from, &to, args.batch, &say).await?;
    report(args, json, &clients, &sessions, settings.as_ref())
}

async fn copy_clients(from: &Arc<dyn Backend>, to: &Arc<dyn Backend>) -> Result<Counts, CliError> {
    let mut counts = Counts::default();
    let clients = from
        .clone()
        .clients()
        .list_clients()
        .await
        .map_err(|e| CliError::store("reading the source's clients", e))?;
    let target = to.clone().clients();
    for client in clients {
        counts.read += 1;
        let existing = target
            .get_client(&client.name)
            .await
            .map_err(|e| CliError::store("reading the target's clients", e))?;
        if existing.is_some() {
            counts.already_there += 1;
            continue;
        }
        match target.create_client(&client).await {
            Ok(()) => counts.copied += 1,
            // Created meanwhile (another copy running): there now.
            Err(durin_core::StoreError::Conflict(_)) => counts.already_there += 1,
            Err(e) => {
                return Err(CliError::store(
                    format!("creating client {} on the target", client.name),
                    e,
                ));
            }
        }
    }
    Ok(counts)
}

async fn copy_sessions(
    from: &Arc<dyn Backend>,
    target: &Context,
    args: &CopyArgs,
    now: Timestamp,
    say: &impl Fn(&str),
) -> Result<Counts, CliError> {
    let admin = from.clone().admin().ok_or_else(|| {
        CliError::Refused(format!(
            "the {} backend cannot list its sessions, so they cannot be copied from it",
            from.name()
        ))
    })?;
    // Imports digest nothing: the sessions keep their digests.
    let node = target.node(DigestKey::generate("unused"), |b| b);
    let mut counts = Counts::default();
    let mut after = None;
    loop {
        let page = admin
            .list_sessions(&SessionQuery {
                user: None,
                client: None,
                after: after.clone(),
                limit: args.batch,
            })
            .await
            .map_err(|e| CliError::store("listing the source's sessions", e))?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        let full = page.len() as u64 == u64::from(args.batch);
        counts.read += page.len() as u64;
        let mut batch = Vec::with_capacity(page.len());
        for session in page {
            if args.include_dead {
                batch.push(session);
            } else if session.revoked_at.is_some() {
                counts.skipped_revoked += 1;
            } else if session.is_purgeable(now) {
                counts.skipped_expired += 1;
            } else {
                batch.push(session);
            }
        }
        let copied = node
            .import_sessions(&batch, now)
            .await
            .map_err(|e| CliError::store("writing sessions to the target", e))?;
        counts.copied += copied;
        counts.already_there += batch.len() as u64 - copied;
        say(&format!(
            "sessions: {} read, {} copied, {} already there, {} skipped",
            counts.read,
            counts.copied,
            counts.already_there,
            counts.skipped()
        ));
        if !full {
            break;
        }
    }
    Ok(counts)
}

/// `None` when the source keeps no settings.
async fn copy_settings(
    from: &Arc<dyn Backend>,
    to: &Arc<dyn Backend>,
    batch: u32,
    say: &impl Fn(&str),
) -> Result<Option<Counts>, CliError> {
    let Some(source) = from.clone().settings() else {
        return Ok(None);
    };
    let mut target: Option<Arc<dyn SettingsStore>> = None;
    let mut counts = Counts::default();
    let mut after: Option<(UserId, ClientName)> = None;
    loop {
        let page = source
            .list_settings(after.as_ref().map(|(u, c)| (u, c)), batch)
            .await
            .map_err(|e| CliError::store("listing the source's settings", e))?;
        let Some(last) = page.last() else { break };
        after = Some((last.user.clone(), last.client.clone()));
        let full = page.len() as u64 == u64::from(batch);
        let target = match &target {
            Some(target) => target.clone(),
            None => {
                let store = to.clone().settings().ok_or_else(|| {
                    CliError::Refused(format!(
                        "the source has settings but the {} backend keeps none",
                        to.name()
                    ))
                })?;
                target = Some(store.clone());
                store
            }
        };
        for entry in page {
            counts.read += 1;
            let doing = || {
                format!(
                    "copying the settings of user {} for client {}",
                    entry.user, entry.client
                )
            };
            let existing = target
                .get_settings(&entry.user, &entry.client)
                .await
                .map_err(|e| CliError::store(doing(), e))?;
            if existing.is_some() {
                counts.already_there += 1;
                continue;
            }
            target
                .put_settings(&entry.user, &entry.client, &entry.settings)
                .await
                .map_err(|e| CliError::store(doing(), e))?;
            counts.copied += 1;
        }
        say(&format!(
            "settings: {} read, {} copied, {} already there",
            counts.read, counts.copied, counts.already_there
        ));
        if !full {
            break;
        }
    }
    Ok(Some(counts))
}

fn report(
    args: &CopyArgs,
    json: bool,
    clients: &Counts,
    sessions: &Counts,
    settings: Option<&Counts>,
) -> Result<(), CliError> {
    if json {
        return output::print_json(&json!({
            "from": durin_connect::redact(&args.from),
            "to": durin_connect::redact(&args.to),
            "include_dead": args.include_dead,
            "clients": { "copied": clients.copied, "already_there": clients.already_there },
            "sessions": sessions,
            "settings": settings.map(|s| json!({
                "copied": s.copied,
                "already_there": s.already_there,
            })),
        }));
    }
    let mut table = Table::new(&["WHAT", "COPIED", "ALREADY THERE", "SKIPPED"]);
    table.row(vec![
        "clients".into(),
        clients.copied.to_string(),
        clients.already_there.to_string(),
        "0".into(),
    ]);
    table.row(vec![
        "sessions".into(),
        sessions.copied.to_string(),
        sessions.already_there.to_string(),
        format!(
            "{} ({} expired, {} revoked)",
            sessions.skipped(),
            sessions.skipped_expired,
            sessions.skipped_revoked
        ),
    ]);
    match settings {
        Some(s) => table.row(vec![
            "settings".into(),
            s.copied.to_string(),
            s.already_there.to_string(),
            "0".into(),
        ]),
        None => table.row(vec![
            "settings".into(),
            "-".into(),
            "-".into(),
            "- (the source keeps none)".into(),
        ]),
    }
    output::print(&format!(
        "copied {} to {}\n{}",
        durin_connect::redact(&args.from),
        durin_connect::redact(&args.to),
        table.render()
    ))
}
