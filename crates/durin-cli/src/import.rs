//! `durin import`: brings django-rest-durin, DRF (`rest_framework.authtoken`) and
//! django-rest-knox tokens over from a Django database, so nobody is logged out.
//!
//! The run has two halves. First the source is opened read-only (PostgreSQL: every
//! transaction `READ ONLY`; SQLite: `mode=ro`), its tables and columns are checked and
//! every row is read and turned into a session: anything wrong with the source (an
//! unreachable URL, a missing table, a column that is not the library's, a throttle
//! rate durin cannot read) exits 2 before anything is written, not even durin's schema.
//! Then the clients are created (an existing client of the same name is kept) and the
//! sessions are inserted, many at a time.
//!
//! Tokens are never stored in plaintext: django-rest-durin's and DRF's are stored as
//! their keyed digest under the server key; knox rows keep their SHA-512 digest under
//! the legacy scheme (`durin_core::knox_legacy_digest`) until the token's first use
//! re-keys them. Each session's id is derived from its digest, so a second run finds
//! every session it already imported (a conflict on the id) and imports nothing twice.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::str::FromStr as _;
use std::time::Duration;

use durin_core::{
    Client, ClientName, DigestKey, LegacyToken, Rate, Session, SessionId, Timestamp, TokenDigest,
    TokenHasher, Transport, UserId, knox_legacy_digest,
};
use futures::StreamExt as _;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use sqlx::{PgPool, SqlitePool};

use crate::Context;
use crate::cli::{ImportArgs, Library};
use crate::error::CliError;
use crate::output::{self, Table};

/// Sessions looked up concurrently by a dry run.
const IN_FLIGHT: usize = 64;
/// Sessions handed to the store at a time (`TokenStore::import_sessions`).
const BATCH: usize = 5000;

/// The source database, read-only.
enum Source {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// A source problem: exit 2, nothing written.
fn bad(message: impl Into<String>) -> CliError {
    CliError::Usage(message.into())
}

impl Source {
    async fn open(url: &str) -> Result<Self, CliError> {
        let shown = durin_connect::redact(url);
        let unreachable = |e: sqlx::Error| bad(format!("cannot open the source {shown}: {e}"));
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = sqlx::postgres::PgConnectOptions::from_str(url).map_err(unreachable)?;
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(5))
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        sqlx::query("SET default_transaction_read_only = on")
                            .execute(conn)
                            .await
                            .map(|_| ())
                    })
                })
                .connect_with(options)
                .await
                .map_err(unreachable)?;
            Ok(Source::Postgres(pool))
        } else if url.starts_with("sqlite:") {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
                .map_err(unreachable)?
                .read_only(true)
                .create_if_missing(false);
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await
                .map_err(unreachable)?;
            Ok(Source::Sqlite(pool))
        } else {
            Err(bad(format!(
                "the source {shown} is neither postgres://... nor sqlite:PATH"
            )))
        }
    }

    async fn close(self) {
        match self {
            Source::Postgres(pool) => pool.close().await,
            Source::Sqlite(pool) => pool.close().await,
        }
    }

    /// The columns of `table` (empty when it does not exist).
    async fn columns(&self, table: &str) -> Result<Vec<String>, sqlx::Error> {
        match self {
            Source::Postgres(pool) => {
                sqlx::query_scalar(
                    "SELECT column_name::text FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = $1",
                )
                .bind(table)
                .fetch_all(pool)
                .await
            }
            Source::Sqlite(pool) => {
                sqlx::query_scalar("SELECT name FROM pragma_table_info(?1)")
                    .bind(table)
                    .fetch_all(pool)
                    .await
            }
        }
    }

    /// Epoch milliseconds of a timestamp column (Django: `timestamptz` in PostgreSQL,
    /// UTC text in SQLite).
    fn millis(&self, column: &str) -> String {
        match self {
            Source::Postgres(_) => format!("(EXTRACT(EPOCH FROM {column}) * 1000)::bigint"),
            Source::Sqlite(_) => {
                format!("CAST(ROUND((julianday({column}) - 2440587.5) * 86400000.0) AS INTEGER)")
            }
        }
    }

    /// A `DurationField` in milliseconds (PostgreSQL `interval`, SQLite microseconds).
    fn duration_millis(&self, column: &str) -> String {
        match self {
            Source::Postgres(_) => format!("(EXTRACT(EPOCH FROM {column}) * 1000)::bigint"),
            Source::Sqlite(_) => format!("({column} / 1000)"),
        }
    }

    fn text(&self, column: &str) -> String {
        match self {
            Source::Postgres(_) => format!("{column}::text"),
            Source::Sqlite(_) => format!("CAST({column} AS TEXT)"),
        }
    }

    /// Rows of `(text, text, bigint, bigint)` (any may be NULL).
    async fn rows(&self, sql: String) -> Result<Vec<Row>, sqlx::Error> {
        match self {
            Source::Postgres(pool) => {
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .fetch_all(pool)
                    .await
            }
            Source::Sqlite(pool) => {
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .fetch_all(pool)
                    .await
            }
        }
    }
}

/// A source row: (token or digest, user, created ms, expiry ms, client name).
type Row = (
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

/// The columns each library's migrations create (django-rest-durin 1.1,
/// djangorestframework's authtoken, django-rest-knox 5).
fn expected(library: Library) -> &'static [(&'static str, &'static [&'static str])] {
    match library {
        Library::DjangoRestDurin => &[
            (
                "durin_authtoken",
                &["id", "token", "created", "expiry", "client_id", "user_id"],
            ),
            (
                "durin_client",
                &["id", "name", "token_ttl", "throttle_rate"],
            ),
        ],
        Library::DrfAuthtoken => &[("authtoken_token", &["key", "created", "user_id"])],
        Library::Knox => &[(
            "knox_authtoken",
            &["digest", "token_key", "created", "user_id", "expiry"],
        )],
    }
}

/// Why a row was not imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
enum Skip {
    /// Its expiry has passed.
    Expired,
    /// Its user is not in the user table (or has no usable id).
    UnknownUser,
    /// Imported before (a session with its id or digest exists).
    Duplicate,
    /// The token or digest is not the library's shape, or its client name is not one
    /// durin accepts.
    Malformed,
}

impl Skip {
    const ALL: [Skip; 4] = [
        Skip::Expired,
        Skip::UnknownUser,
        Skip::Duplicate,
        Skip::Malformed,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Skip::Expired => "expired",
            Skip::UnknownUser => "unknown_user",
            Skip::Duplicate => "duplicate",
            Skip::Malformed => "malformed",
        }
    }
}

/// What the source holds, read and checked, before anything is written.
pub(crate) struct Plan {
    clients: Vec<Client>,
    sessions: Vec<Session>,
    skipped: BTreeMap<Skip, u64>,
}

/// Reads and checks the source (exit 2 on anything wrong with it) and builds every
/// session under the server key. Runs before durin's store is even opened.
///
/// # Errors
/// [`CliError::Usage`] for an unreachable source, a missing table or an unexpected
/// column set, a client durin cannot represent.
pub(crate) async fn plan(
    args: &ImportArgs,
    key: DigestKey,
    now: Timestamp,
) -> Result<Plan, CliError> {
    let source = Source::open(&args.source).await?;
    let result = read(&source, args, &TokenHasher::new(key), now).await;
    source.close().await;
    result
}

async fn read(
    source: &Source,
    args: &ImportArgs,
    hasher: &TokenHasher,
    now: Timestamp,
) -> Result<Plan, CliError> {
    let failed = |e: sqlx::Error| bad(format!("reading the source: {e}"));
    for (table, columns) in expected(args.library) {
        let mut found = source.columns(table).await.map_err(failed)?;
        if found.is_empty() {
            return Err(bad(format!(
                "the source has no table {table}: is this the Django database, with {}'s \
                 migrations applied?",
                args.library.name()
            )));
        }
        found.sort();
        let mut want: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
        want.sort();
        if found != want {
            return Err(bad(format!(
                "the table {table} has columns ({}) where {} creates ({}): a customised \
                 model is not imported",
                found.join(", "),
                args.library.name(),
                want.join(", ")
            )));
        }
    }
    let user_table = &args.user_table;
    let user_field = args.user_field.column();
    let user_columns = source.columns(user_table).await.map_err(failed)?;
    for column in ["id", user_field] {
        if !user_columns.iter().any(|c| c == column) {
            return Err(bad(format!(
                "the user table {user_table} has no column {column} (see --user-table and \
                 --user-field)"
            )));
        }
    }
    let user = source.text(&format!("u.\"{user_field}\""));
    let created = source.millis("t.\"created\"");
    let expiry = source.millis("t.\"expiry\"");
    let join = format!("LEFT JOIN \"{user_table}\" u ON u.\"id\" = t.\"user_id\"");
    let mut clients = Vec::new();
    let sql = match args.library {
        Library::DjangoRestDurin => {
            let ttl = source.duration_millis("\"token_ttl\"");
            let rows = source
                .rows(format!(
                    "SELECT \"name\", \"throttle_rate\", {ttl}, NULL, NULL \
                     FROM \"durin_client\" ORDER BY \"id\""
                ))
                .await
                .map_err(failed)?;
            for (name, rate, ttl, _, _) in rows {
                clients.push(durin_client(name, rate, ttl)?);
            }
            format!(
                "SELECT t.\"token\", {user}, {created}, {expiry}, c.\"name\" \
                 FROM \"durin_authtoken\" t JOIN \"durin_client\" c ON c.\"id\" = t.\"client_id\" \
                 {join} ORDER BY t.\"id\""
            )
        }
        Library::DrfAuthtoken => format!(
            "SELECT t.\"key\", {user}, {created}, NULL, NULL FROM \"authtoken_token\" t {join} \
             ORDER BY t.\"created\", t.\"key\""
        ),
        Library::Knox => format!(
            "SELECT t.\"digest\", {user}, {created}, {expiry}, NULL FROM \"knox_authtoken\" t \
             {join} ORDER BY t.\"created\", t.\"digest\""
        ),
    };
    if args.library != Library::DjangoRestDurin {
        clients.push(
            Client::new(args.client.clone())
                .with_token_ttl(None)
                .with_max_tokens_per_user(NonZeroU32::MAX),
        );
    }
    let rows = source.rows(sql).await.map_err(failed)?;
    let mut plan = Plan {
        clients,
        sessions: Vec::with_capacity(rows.len()),
        skipped: Skip::ALL.iter().map(|s| (*s, 0)).collect(),
    };
    for row in rows {
        match session(args, hasher, now, row) {
            Ok(session) => plan.sessions.push(session),
            Err(skip) => *plan.skipped.entry(skip).or_default() += 1,
        }
    }
    Ok(plan)
}

/// A `durin_client` row as a durin client.
fn durin_client(
    name: Option<String>,
    rate: Option<String>,
    ttl: Option<i64>,
) -> Result<Client, CliError> {
    let name = name.unwrap_or_default();
    let client_name = ClientName::new(name.as_str()).map_err(|e| {
        bad(format!(
            "the django-rest-durin client {name:?} has a name durin cannot use: {e}"
        ))
    })?;
    let rate = match rate.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(Rate::from_str(text).map_err(|e| {
            bad(format!(
                "the django-rest-durin client {name:?} has the throttle rate {text:?}: {e}"
            ))
        })?),
    };
    let ttl = ttl
        .and_then(|ms| u64::try_from(ms).ok())
        .filter(|ms| *ms > 0)
        .ok_or_else(|| {
            bad(format!(
                "the django-rest-durin client {name:?} has no positive token TTL"
            ))
        })?;
    Ok(Client::new(client_name)
        .with_token_ttl(Some(Duration::from_millis(ttl)))
        .with_throttle_rate(rate))
}

/// One token row as a session, or why it is skipped.
fn session(
    args: &ImportArgs,
    hasher: &TokenHasher,
    now: Timestamp,
    (secret, user, created, expiry, client): Row,
) -> Result<Session, Skip> {
    let secret = secret.ok_or(Skip::Malformed)?;
    let created = Timestamp::from_millis(created.ok_or(Skip::Malformed)?);
    let (digest, expires_at, client) = match args.library {
        Library::DjangoRestDurin => {
            let token = durin_token(&secret, 64)?;
            let client =
                ClientName::new(client.unwrap_or_default()).map_err(|_| Skip::Malformed)?;
            let expiry = Timestamp::from_millis(expiry.ok_or(Skip::Malformed)?);
            (hasher.digest_legacy(&token), Some(expiry), client)
        }
        Library::DrfAuthtoken => {
            let token = durin_token(&secret, 40)?;
            let expires_at = args.lifespan.0.map(|life| created.saturating_add(life));
            (
                hasher.digest_legacy(&token),
                expires_at,
                args.client.clone(),
            )
        }
        Library::Knox => {
            let digest = knox_legacy_digest(&secret).ok_or(Skip::Malformed)?;
            (
                digest,
                expiry.map(Timestamp::from_millis),
                args.client.clone(),
            )
        }
    };
    if expires_at.is_some_and(|at| at <= now) {
        return Err(Skip::Expired);
    }
    let user = user
        .and_then(|u| UserId::new(u).ok())
        .ok_or(Skip::UnknownUser)?;
    let mut context = serde_json::Map::new();
    context.insert("imported_from".into(), json!(args.library.name()));
    Ok(Session {
        id: session_id(args.library, &digest),
        user_id: user,
        client,
        digest,
        created_at: created,
        expires_at,
        renewed_at: None,
        last_used_at: None,
        scopes: Vec::new(),
        context,
        transport: Transport::Header,
        revoked_at: None,
        refresh: None,
        name: None,
    })
}

fn durin_token(secret: &str, len: usize) -> Result<LegacyToken, Skip> {
    if secret.len() != len {
        return Err(Skip::Malformed);
    }
    LegacyToken::parse(secret).map_err(|_| Skip::Malformed)
}

/// The session id of an imported row: the library and 128 bits of a hash of its digest,
/// so a second import of the row finds it (and the id reveals nothing of the token).
fn session_id(library: Library, digest: &TokenDigest) -> SessionId {
    let mut hash = Sha256::new();
    hash.update(b"durin import session id v1\0");
    hash.update(digest.as_bytes());
    let hash = hash.finalize();
    let mut id = String::from(library.id_prefix());
    for b in &hash[..16] {
        id.push_str(&format!("{b:02x}"));
    }
    SessionId::new(id).expect("a short [a-z0-9-] id")
}

/// What happened to each client.
#[derive(Debug, Serialize)]
struct ClientOutcome {
    name: String,
    action: &'static str,
}

/// `durin import LIBRARY ...`: writes the plan (or, with `--dry-run`, says what it
/// would write).
///
/// # Errors
/// [`CliError::Store`] when the store fails midway (what was inserted stays: a rerun
/// completes it).
pub(crate) async fn run(
    ctx: &Context,
    args: &ImportArgs,
    plan: Plan,
    now: Timestamp,
) -> Result<(), CliError> {
    let Plan {
        clients,
        sessions,
        mut skipped,
    } = plan;
    let mut outcomes = Vec::new();
    for client in &clients {
        let existing = ctx
            .clients()
            .get_client(&client.name)
            .await
            .map_err(|e| CliError::store("reading the clients", e))?;
        let action = match (existing, args.dry_run) {
            (Some(_), _) => "kept",
            (None, true) => "would create",
            (None, false) => {
                ctx.clients()
                    .create_client(client)
                    .await
                    .map_err(|e| CliError::store(format!("creating client {}", client.name), e))?;
                "created"
            }
        };
        outcomes.push(ClientOutcome {
            name: client.name.to_string(),
            action,
        });
    }
    let store = ctx.backend.clone().tokens();
    let tokens = &store;
    let mut imported = 0u64;
    if args.dry_run {
        let mut fresh = futures::stream::iter(
            sessions
                .iter()
                .map(|session| async move { tokens.get_by_id(&session.id).await }),
        )
        .buffer_unordered(IN_FLIGHT);
        while let Some(found) = fresh.next().await {
            match found.map_err(|e| CliError::store("reading sessions", e))? {
                None => imported += 1,
                Some(_) => *skipped.entry(Skip::Duplicate).or_default() += 1,
            }
        }
    } else {
        for batch in sessions.chunks(BATCH) {
            let done = ctx
                .node(DigestKey::generate("unused"), |b| b)
                .import_sessions(batch, now)
                .await
                .map_err(|e| CliError::store("importing sessions", e))?;
            imported += done;
            *skipped.entry(Skip::Duplicate).or_default() += batch.len() as u64 - done;
        }
    }
    report(ctx, args, &outcomes, imported, &skipped)
}

fn report(
    ctx: &Context,
    args: &ImportArgs,
    clients: &[ClientOutcome],
    imported: u64,
    skipped: &BTreeMap<Skip, u64>,
) -> Result<(), CliError> {
    if ctx.json {
        let skipped: BTreeMap<&str, u64> = skipped.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        return output::print_json(&json!({
            "library": args.library.name(),
            "dry_run": args.dry_run,
            "clients": clients,
            "imported": imported,
            "skipped": skipped,
        }));
    }
    let mut text = String::new();
    if !clients.is_empty() {
        let mut table = Table::new(&["CLIENT", "ACTION"]);
        for c in clients {
            table.row(vec![c.name.clone(), c.action.to_owned()]);
        }
        text.push_str(&table.render());
        text.push('\n');
    }
    let mut table = Table::new(&["TOKENS", "COUNT"]);
    let verb = if args.dry_run {
        "would import"
    } else {
        "imported"
    };
    table.row(vec![verb.to_owned(), imported.to_string()]);
    for (skip, count) in skipped {
        table.row(vec![
            format!("skipped: {}", skip.as_str()),
            count.to_string(),
        ]);
    }
    text.push_str(&table.render());
    output::print(&text)
}
