//! `durin`, the admin command of durin: manage clients, sessions and API keys in the
//! store a server uses, and migrate its schema.
//!
//! ```text
//! durin --database-url sqlite:durin.db client create web --ttl 10h --throttle-rate 100/m
//! durin client list
//! durin session list --user 42 --limit 20
//! durin apikey create --user 42 --key-file /etc/durin/durin.key
//! ```
//!
//! The store comes from `--database-url` (or `DURIN_DATABASE_URL`), opened by
//! `durin_connect::open`, so every backend durin-connect knows works here. Every command
//! first applies durin's pending migrations (idempotent; `--no-migrate` opts out) so that
//! a fresh database works at once. Exit codes: 0 success, 2 for a command line that is
//! wrong on its face (checked before any I/O, nothing written), 1 for anything that
//! failed while working (unknown client, unreachable database, declined confirmation).
//! See the crate README for every command.

mod apikeys;
mod cli;
mod clients;
mod copy;
mod error;
mod import;
mod output;
mod sessions;
mod settings;
mod tokens;

use std::path::Path;
use std::process::ExitCode;

use clap::Parser as _;
use std::sync::Arc;

use durin_connect::ConnectError;
use durin_core::{Backend, ClientStore, DigestKey, Durin, DurinBuilder, Node, SessionAdmin};
use serde_json::json;

use crate::cli::{
    ApikeyCommand, Cli, ClientCommand, Command, LogFormat, StoreCommand, TokenCommand,
};
use crate::error::CliError;

/// Parses the command line, runs the command, and maps its outcome to the exit code.
fn main() -> ExitCode {
    // Usage errors exit with 2 here, help and version with 0.
    let cli = Cli::parse();
    let log_format = cli.log_format;
    init_tracing(log_format);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match log_format {
                LogFormat::Text => eprintln!("error: {}", e.report()),
                LogFormat::Json => {
                    tracing::error!(exit_code = e.exit_code(), error = %e.report(), "command failed");
                }
            }
            ExitCode::from(e.exit_code())
        }
    }
}

/// With `--log-format json`: diagnostics to stderr at `RUST_LOG` (default `warn`), one
/// JSON object per line. In text mode nothing is installed, as before: the command's
/// own messages are its output.
fn init_tracing(format: LogFormat) {
    if format == LogFormat::Text {
        return;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .try_init();
}

/// What every command works with.
pub(crate) struct Context {
    /// The store.
    pub(crate) backend: Arc<dyn Backend>,
    /// Print JSON instead of tables.
    pub(crate) json: bool,
}

impl Context {
    /// The node of this command on the store, as a server builds it (the shared
    /// throttle, the invalidation bus) with `configure`'s settings; `key` is the
    /// server's key where tokens are issued, a throwaway one where nothing is digested.
    /// Nothing is cached and no task runs, and every revocation or client change is
    /// published to the running servers before the command returns, so they refuse a
    /// revoked token at once.
    pub(crate) fn node(
        &self,
        key: DigestKey,
        configure: impl FnOnce(DurinBuilder) -> DurinBuilder + Send + 'static,
    ) -> Node {
        let no_cache = durin_core::CacheConfig {
            ttl: std::time::Duration::ZERO,
            ..durin_core::CacheConfig::default()
        };
        // A command is not a serving node: a backend without a channel is fine here.
        Node::builder(self.backend.clone(), key)
            .cache(no_cache)
            .without_tasks()
            .single_node()
            .service(configure)
            .start()
            .expect("a single-node command accepts every backend")
    }

    /// The service of [`Context::node`].
    pub(crate) fn durin(
        &self,
        key: DigestKey,
        configure: impl FnOnce(DurinBuilder) -> DurinBuilder + Send + 'static,
    ) -> Durin {
        self.node(key, configure).durin().clone()
    }

    /// The client store.
    pub(crate) fn clients(&self) -> Arc<dyn ClientStore> {
        self.backend.clone().clients()
    }

    /// Administration over all sessions, through a node so that removals reach every
    /// server's cache.
    pub(crate) fn admin(&self) -> Result<Arc<dyn SessionAdmin>, CliError> {
        self.node(DigestKey::generate("unused"), |b| b)
            .admin()
            .ok_or_else(|| {
                CliError::Refused(format!(
                    "the {} backend cannot list or count sessions",
                    self.backend.name()
                ))
            })
    }
}

/// Checks what needs no I/O, loads the key if the command needs it, opens the store,
/// migrates, and runs the command.
async fn run(cli: Cli) -> Result<(), CliError> {
    // `store copy` names its two stores itself.
    if let Command::Store(StoreCommand::Copy(args)) = &cli.command {
        return copy::run(
            args,
            cli.no_migrate,
            cli.json,
            cli.log_format == LogFormat::Text,
        )
        .await;
    }
    let url = cli.database_url.as_deref().ok_or_else(|| {
        CliError::Usage(
            "no database: pass --database-url URL or set DURIN_DATABASE_URL (sqlite:PATH, \
             postgres://USER@HOST/DB)"
                .into(),
        )
    })?;
    if let Command::Client(ClientCommand::Update { policy, .. }) = &cli.command {
        clients::check_update(policy)?;
    }
    let key = match &cli.command {
        Command::Apikey(ApikeyCommand::Create { .. })
        | Command::Token(TokenCommand::Create { .. })
        | Command::Import(_) => Some(server_key(&cli.key_file)?),
        _ => None,
    };
    // `durin import` reads and checks its source before durin's store is opened, so a
    // bad source writes nothing (not even durin's schema).
    let now = durin_core::Clock::now(&durin_core::SystemClock);
    let import_plan = match (&cli.command, &key) {
        (Command::Import(args), Some(key)) => Some(import::plan(args, key.clone(), now).await?),
        _ => None,
    };
    let backend = open(url).await?;
    if !cli.no_migrate && !matches!(cli.command, Command::Migrate) {
        migrate_store(&backend, url).await?;
    }
    let ctx = Context {
        backend,
        json: cli.json,
    };
    match cli.command {
        Command::Migrate => migrate(&ctx.backend, url, ctx.json).await,
        Command::Client(command) => clients::run(&ctx, command).await,
        Command::Session(command) => sessions::run(&ctx, command).await,
        Command::Apikey(command) => apikeys::run(&ctx, command, key).await,
        Command::Token(command) => tokens::run(&ctx, command, key).await,
        Command::Settings(command) => settings::run(&ctx, command).await,
        Command::PurgeExpired => purge_expired(&ctx).await,
        Command::Import(args) => match import_plan {
            Some(plan) => import::run(&ctx, &args, plan, now).await,
            None => Err(CliError::Usage("import: no plan".into())),
        },
        Command::Store(StoreCommand::Copy(args)) => {
            copy::run(&args, cli.no_migrate, ctx.json, false).await
        }
    }
}

/// Applies the store's pending migrations before a command.
async fn migrate_store(backend: &Arc<dyn Backend>, url: &str) -> Result<(), CliError> {
    backend.migrate().await.map_err(|e| {
        CliError::store(
            format!(
                "migrating {} (pass --no-migrate to skip)",
                durin_connect::redact(url)
            ),
            e,
        )
    })
}

/// Opens the store; an unknown URL scheme is a usage error.
async fn open(url: &str) -> Result<Arc<dyn Backend>, CliError> {
    match durin_connect::open(url).await {
        Ok(stores) => Ok(stores),
        Err(ConnectError::UnsupportedUrl(_)) => Err(CliError::Usage(
            ConnectError::UnsupportedUrl(durin_connect::redact(url)).to_string(),
        )),
        Err(ConnectError::Store(e)) => Err(CliError::store(
            format!("opening the database {}", durin_connect::redact(url)),
            e,
        )),
        Err(e) => Err(CliError::Local {
            doing: format!("opening the database {}", durin_connect::redact(url)),
            source: Box::new(e),
        }),
    }
}

/// The server's digest key. Unlike the servers, the CLI never creates a key file: a key
/// the server does not have would issue API keys that it rejects.
fn server_key(path: &Path) -> Result<DigestKey, CliError> {
    let from_env =
        std::env::var_os(durin_connect::SECRET_ENV).is_some_and(|secret| !secret.is_empty());
    // Only a file known to be absent is refused here; any other trouble (permissions)
    // is load_key's to report.
    if !from_env && matches!(path.try_exists(), Ok(false)) {
        return Err(CliError::Refused(format!(
            "no server key: {} does not exist and {} is not set; point --key-file at the key \
             file the server uses (a new key would issue API keys the server rejects)",
            path.display(),
            durin_connect::SECRET_ENV
        )));
    }
    durin_connect::load_key(path).map_err(|e| CliError::Local {
        doing: "reading the server key".into(),
        source: Box::new(e),
    })
}

/// `durin migrate`.
async fn migrate(store: &Arc<dyn Backend>, url: &str, json: bool) -> Result<(), CliError> {
    let backend = store.name();
    let migrated = store.has_migrations();
    if migrated {
        store
            .migrate()
            .await
            .map_err(|e| CliError::store(format!("migrating {}", durin_connect::redact(url)), e))?;
    }
    if json {
        return output::print_json(&json!({ "backend": backend, "migrated": migrated }));
    }
    output::print(&if migrated {
        format!(
            "{backend} database {} is up to date with durin's migrations\n",
            durin_connect::redact(url)
        )
    } else {
        format!("{backend} has no schema: nothing to migrate\n")
    })
}

/// `durin purge-expired`.
async fn purge_expired(ctx: &Context) -> Result<(), CliError> {
    // Purging digests nothing: a throwaway key spares this command the key file.
    let durin = ctx.durin(DigestKey::generate("unused"), |b| b);
    let purged = durin
        .purge_expired()
        .await
        .map_err(|e| CliError::auth("purging expired sessions", e))?;
    if ctx.json {
        output::print_json(&json!({ "purged": purged }))
    } else {
        output::print(&format!(
            "purged {purged} session(s) that expired or were revoked over an hour ago\n"
        ))
    }
}
