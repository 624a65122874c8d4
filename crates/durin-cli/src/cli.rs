//! The command line: every subcommand, option and value parser.
//!
//! Every value is parsed here, by clap, before the command touches the key file or the
//! database: a bad name, lifetime or rate exits with code 2, says what is accepted, and
//! writes nothing.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use durin_core::{ClientName, Rate, Renewal, SessionId, TokenName, TokenPrefix, UserId};

/// Administer durin: clients, sessions, API keys and the schema.
#[derive(Debug, Parser)]
#[command(name = "durin", version, propagate_version = true)]
pub(crate) struct Cli {
    /// The store: sqlite:PATH, sqlite::memory:, postgres://USER@HOST/DB (or any URL
    /// durin-connect opens).
    #[arg(
        long,
        env = "DURIN_DATABASE_URL",
        global = true,
        value_name = "URL",
        hide_env_values = true
    )]
    pub(crate) database_url: Option<String>,

    /// The server's digest key file (hex), as the server uses it; DURIN_SECRET, when
    /// set, wins. Only `apikey create` needs it, and never creates it.
    #[arg(long, global = true, value_name = "PATH", default_value = "durin.key")]
    pub(crate) key_file: PathBuf,

    /// Print JSON for scripts instead of tables.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// Do not apply pending migrations before the command (for a database role that
    /// may not change the schema); `durin migrate` still migrates.
    #[arg(long, global = true)]
    pub(crate) no_migrate: bool,

    /// How diagnostics go to stderr: `text`, or `json` (one JSON object per line: the
    /// libraries' warnings and the command's error, for log collectors). Output on
    /// stdout (tables, `--json`) is unaffected. `RUST_LOG` sets the level (default
    /// `warn`).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,

    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The format of `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines (errors as `error: ...`).
    Text,
    /// One JSON object per line (tracing-subscriber's JSON formatter).
    Json,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Apply durin's pending schema migrations (SQL stores; idempotent).
    Migrate,
    /// Create, list, show, change and delete clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// List and revoke sessions.
    #[command(subcommand)]
    Session(SessionCommand),
    /// Issue and revoke API keys.
    #[command(subcommand)]
    Apikey(ApikeyCommand),
    /// Create, list and revoke named personal tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Show and clear the settings a user keeps per client.
    #[command(subcommand)]
    Settings(SettingsCommand),
    /// Delete sessions that expired or were revoked more than an hour ago.
    PurgeExpired,
    /// Bring tokens over from a Django database (django-rest-durin, DRF authtoken,
    /// knox) so that nobody is logged out; see docs/migrating-from-django.md.
    Import(ImportArgs),
    /// Whole-store operations: `store copy --from URL --to URL`.
    #[command(subcommand)]
    Store(StoreCommand),
}

/// `durin store ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum StoreCommand {
    /// Copy clients, sessions (API keys and named tokens included) and settings from one
    /// store to another (SQLite, PostgreSQL, Redis, Redis Cluster, in any direction).
    ///
    /// Idempotent: what the target already has (a client of that name, a session with
    /// that id or digest, settings for that user and client) is left alone and counted
    /// as "already there", so a rerun copies nothing twice and an interrupted copy is
    /// finished by running it again. Sessions that can no longer be used (expired with
    /// no live refresh token, or revoked) are skipped unless --include-dead. Tokens keep
    /// working on the target when the servers keep their key. Rotated refresh tokens
    /// are not copied: one replayed after the move is unknown to the target (401)
    /// instead of revoking its session. Progress goes to stderr, counts to stdout.
    /// --database-url is not used.
    Copy(CopyArgs),
}

/// `durin store copy --from URL --to URL`.
#[derive(Debug, Clone, Args)]
pub(crate) struct CopyArgs {
    /// The store to read (any URL durin-connect opens).
    #[arg(long, value_name = "URL")]
    pub(crate) from: String,
    /// The store to write (any URL durin-connect opens; migrated first unless
    /// --no-migrate).
    #[arg(long, value_name = "URL")]
    pub(crate) to: String,
    /// How many sessions (and settings) to read and write per round trip.
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub(crate) batch: u32,
    /// Copy expired and revoked sessions too (an audit trail); by default they are
    /// skipped and counted.
    #[arg(long)]
    pub(crate) include_dead: bool,
}

/// The Django token library `durin import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Library {
    /// django-rest-durin 1.x: `durin_authtoken` (plaintext tokens) and `durin_client`.
    #[value(name = "django-rest-durin")]
    DjangoRestDurin,
    /// Django REST framework's `rest_framework.authtoken`: `authtoken_token`.
    #[value(name = "drf-authtoken")]
    DrfAuthtoken,
    /// django-rest-knox 5.x: `knox_authtoken` (SHA-512 digests).
    #[value(name = "knox")]
    Knox,
}

impl Library {
    /// The name on the command line.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Library::DjangoRestDurin => "django-rest-durin",
            Library::DrfAuthtoken => "drf-authtoken",
            Library::Knox => "knox",
        }
    }

    /// The start of an imported session's id.
    pub(crate) fn id_prefix(self) -> &'static str {
        match self {
            Library::DjangoRestDurin => "durin-",
            Library::DrfAuthtoken => "drf-",
            Library::Knox => "knox-",
        }
    }
}

/// Which user column becomes durin's user id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum UserField {
    /// `username`.
    Username,
    /// `id` (the primary key).
    Id,
}

impl UserField {
    /// The column.
    pub(crate) fn column(self) -> &'static str {
        match self {
            UserField::Username => "username",
            UserField::Id => "id",
        }
    }
}

/// `durin import LIBRARY --source URL ...`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ImportArgs {
    /// The library whose tokens to import.
    #[arg(value_enum)]
    pub(crate) library: Library,
    /// The Django database (postgres://... or sqlite:PATH), opened read-only.
    #[arg(long, value_name = "URL")]
    pub(crate) source: String,
    /// The user column that becomes durin's user id.
    #[arg(long, value_enum, default_value = "username")]
    pub(crate) user_field: UserField,
    /// The user table (a swapped user model's table).
    #[arg(long, value_name = "TABLE", default_value = "auth_user", value_parser = parse_table)]
    pub(crate) user_table: String,
    /// The client DRF and knox tokens go to (created with TTL never when missing).
    #[arg(long, value_name = "NAME", default_value = "legacy")]
    pub(crate) client: ClientName,
    /// DRF only: how long a token lives after `created` (djangorestframework-expiring-
    /// authtoken's EXPIRING_TOKEN_LIFESPAN), or never.
    #[arg(long, value_name = "TTL", default_value = "30d", value_parser = parse_lifetime)]
    pub(crate) lifespan: Lifetime,
    /// Read and check everything, print what would happen, write nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

/// A table name interpolated into SQL: `[A-Za-z_][A-Za-z0-9_]*`, at most 63 characters.
fn parse_table(s: &str) -> Result<String, String> {
    let ok = (1..=63).contains(&s.len())
        && s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(s.to_owned())
    } else {
        Err("a table name is 1 to 63 letters, digits or '_', not starting with a digit".into())
    }
}

/// `durin client ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum ClientCommand {
    /// Create a client; options not given take durin's defaults (1-day tokens, one
    /// token per user, explicit renewal, no throttle, no refresh tokens).
    Create {
        /// The client's name: 1 to 64 letters, digits, '-', '_' or '.'.
        name: ClientName,
        /// The token policy.
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// List every client.
    List,
    /// Show one client and how many sessions it has.
    Show {
        /// The client's name.
        name: ClientName,
    },
    /// Change a client's policy: only the options given change.
    Update {
        /// The client's name.
        name: ClientName,
        /// The changes.
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Delete a client and its sessions (asks first when it has sessions).
    Delete {
        /// The client's name.
        name: ClientName,
        /// Delete without asking, even when the client has sessions.
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

/// The policy options of `client create` and `client update`.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct PolicyArgs {
    /// Token lifetime: 30s, 15m, 10h, 7d, 2w, "DD HH:MM:SS", or never.
    #[arg(long, value_name = "TTL", value_parser = parse_lifetime, allow_hyphen_values = true)]
    pub(crate) ttl: Option<Lifetime>,
    /// Per-(user, client) rate: N/s, N/m, N/h, N/d (100/m), or none for the service's
    /// default.
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub(crate) throttle_rate: Option<RateArg>,
    /// Live tokens one user may hold; a login beyond it evicts the oldest (at least 1).
    #[arg(long, value_name = "N", value_parser = parse_max_tokens)]
    pub(crate) max_tokens: Option<std::num::NonZeroU32>,
    /// Renewal: none, explicit, or sliding:INTERVAL (sliding:1h renews on use, writing
    /// at most once an hour).
    #[arg(long, value_name = "MODE", value_parser = parse_renewal)]
    pub(crate) renew: Option<Renewal>,
    /// Absolute cap from creation that no renewal passes: 30d, ..., or never.
    #[arg(long, value_name = "TTL", value_parser = parse_lifetime, allow_hyphen_values = true)]
    pub(crate) max_lifetime: Option<Lifetime>,
    /// Issue refresh tokens valid this long (14d), or never for none.
    #[arg(long, value_name = "TTL", value_parser = parse_lifetime, allow_hyphen_values = true)]
    pub(crate) refresh_ttl: Option<Lifetime>,
    /// Scopes the client's tokens may carry, comma-separated (read,write; * for all);
    /// "" for no restriction.
    #[arg(long, value_name = "SCOPES", value_parser = parse_scopes)]
    pub(crate) scopes: Option<Scopes>,
    /// Prefix of this client's tokens ([a-z0-9], 1 to 16); "" for the service's prefix.
    #[arg(long, value_name = "PREFIX", value_parser = parse_prefix)]
    pub(crate) prefix: Option<PrefixArg>,
}

impl PolicyArgs {
    /// Whether no option was given.
    pub(crate) fn is_empty(&self) -> bool {
        self.ttl.is_none()
            && self.throttle_rate.is_none()
            && self.max_tokens.is_none()
            && self.renew.is_none()
            && self.max_lifetime.is_none()
            && self.refresh_ttl.is_none()
            && self.scopes.is_none()
            && self.prefix.is_none()
    }
}

/// `durin session ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum SessionCommand {
    /// List sessions by id, one page at a time (revoked and expired ones included).
    List {
        /// Only this user's sessions.
        #[arg(long, value_name = "USER", value_parser = parse_user)]
        user: Option<UserId>,
        /// Only this client's sessions.
        #[arg(long, value_name = "CLIENT")]
        client: Option<ClientName>,
        /// The most sessions to print (1 to 1000).
        #[arg(long, value_name = "N", default_value_t = 50,
              value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
        /// Start after this session id: the `next` cursor of the previous page.
        #[arg(long, value_name = "CURSOR", value_parser = parse_session_id)]
        after: Option<SessionId>,
    },
    /// Delete one session: its token stops working at once.
    Revoke {
        /// The session id (from `session list`).
        #[arg(value_parser = parse_session_id)]
        id: SessionId,
    },
    /// Delete every session of a user, all clients, API keys included.
    RevokeAll {
        /// The user.
        #[arg(long, value_name = "USER", value_parser = parse_user)]
        user: UserId,
    },
}

/// `durin token ...`: named personal tokens of the tokens client (the example servers'
/// `--tokens-client`).
#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a named token for a user and print it (once: it is not stored).
    Create {
        /// The user.
        #[arg(long, value_name = "USER", value_parser = parse_user)]
        user: UserId,
        /// The token's name: 1 to 64 characters, unique among the user's live tokens.
        #[arg(long, value_name = "NAME", value_parser = parse_token_name)]
        name: TokenName,
        /// Scopes the token carries, comma-separated (each one the tokens client offers);
        /// default none.
        #[arg(long, value_name = "SCOPES", value_parser = parse_scopes)]
        scopes: Option<Scopes>,
        /// Lifetime: 30s, 15m, 10h, 30d, or never; default the tokens client's TTL.
        #[arg(long, value_name = "TTL", value_parser = parse_lifetime)]
        expires: Option<Lifetime>,
        /// The tokens client (created with tokens that never expire and a cap of 100 per
        /// user when missing).
        #[arg(
            long,
            value_name = "NAME",
            env = "DURIN_TOKENS_CLIENT",
            default_value = "tokens"
        )]
        client: ClientName,
    },
    /// List a user's named tokens (never the tokens themselves).
    List {
        /// The user.
        #[arg(long, value_name = "USER", value_parser = parse_user)]
        user: UserId,
        /// The tokens client.
        #[arg(
            long,
            value_name = "NAME",
            env = "DURIN_TOKENS_CLIENT",
            default_value = "tokens"
        )]
        client: ClientName,
    },
    /// Revoke one named token by its id (from `token list`): it stops working at once.
    Revoke {
        /// The token's id.
        #[arg(value_parser = parse_session_id)]
        id: SessionId,
    },
}

/// `durin settings ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum SettingsCommand {
    /// Print the settings object of a user for a client (`{}` when none).
    Show {
        /// The user.
        #[arg(long, value_name = "USER", value_parser = parse_user)]
        user: UserId,
        /// The client.
        #[arg(long, value_name = "NAME")]
        client: ClientName,
    },
    /// Delete the settings of a user for a client.
    Clear {
        /// The user.
        #[arg(long, value_name = "USER", value_parser = parse_user)]
        user: UserId,
        /// The client.
        #[arg(long, value_name = "NAME")]
        client: ClientName,
    },
}

/// `durin apikey ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum ApikeyCommand {
    /// Issue an API key for a user and print it (once: it is not stored).
    Create {
        /// The user.
        #[arg(long, value_name = "USER", value_parser = parse_user)]
        user: UserId,
        /// The API-access client (created with tokens that never expire when missing).
        #[arg(
            long,
            value_name = "NAME",
            env = "DURIN_API_ACCESS_CLIENT",
            default_value = "api"
        )]
        client: ClientName,
        /// Scopes the key carries, comma-separated; default: the client's scopes.
        #[arg(long, value_name = "SCOPES", value_parser = parse_scopes)]
        scopes: Option<Scopes>,
    },
    /// Revoke a user's API keys.
    Revoke {
        /// The user.
        #[arg(long, value_name = "USER", value_parser = parse_user)]
        user: UserId,
        /// The API-access client.
        #[arg(
            long,
            value_name = "NAME",
            env = "DURIN_API_ACCESS_CLIENT",
            default_value = "api"
        )]
        client: ClientName,
    },
}

/// A parsed lifetime; `None` is "never".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lifetime(pub(crate) Option<Duration>);

/// A parsed throttle rate; `None` is "the service's default".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateArg(pub(crate) Option<Rate>);

/// A parsed scope list; empty is "no restriction" for a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scopes(pub(crate) Vec<String>);

/// A parsed token prefix; `None` is "the service's prefix".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PrefixArg(pub(crate) Option<TokenPrefix>);

/// `30s`, `10h`, `7d`, `DD HH:MM:SS`, `never` (durin-core's TTL forms).
fn parse_lifetime(s: &str) -> Result<Lifetime, durin_core::ParseError> {
    durin_core::parse_ttl(s).map(Lifetime)
}

/// `100/m` and friends, or `none`.
fn parse_rate(s: &str) -> Result<RateArg, durin_core::ParseError> {
    if s.trim().eq_ignore_ascii_case("none") {
        return Ok(RateArg(None));
    }
    s.parse().map(|rate| RateArg(Some(rate)))
}

/// `none`, `explicit`, `sliding:INTERVAL`.
pub(crate) fn parse_renewal(s: &str) -> Result<Renewal, String> {
    const ACCEPTED: &str = "expected none, explicit, or sliding:INTERVAL with INTERVAL the \
                            least time between two expiry writes (sliding:1h, sliding:5m)";
    let text = s.trim().to_ascii_lowercase();
    match text.as_str() {
        "none" => Ok(Renewal::None),
        "explicit" => Ok(Renewal::Explicit),
        _ => match text.split_once(':') {
            Some(("sliding", interval)) => durin_core::parse_duration(interval)
                .map(|min_interval| Renewal::Sliding { min_interval })
                .map_err(|e| format!("invalid renewal {s:?}: {e}")),
            _ => Err(format!("invalid renewal {s:?}: {ACCEPTED}")),
        },
    }
}

/// Comma-separated scope tokens (RFC 6749 §3.3: printable ASCII but space, `"` and `\`;
/// commas separate them here). The empty string is the empty list.
pub(crate) fn parse_scopes(s: &str) -> Result<Scopes, String> {
    if s.trim().is_empty() {
        return Ok(Scopes(Vec::new()));
    }
    let mut scopes: Vec<String> = Vec::new();
    for scope in s.split(',').map(str::trim) {
        let valid = !scope.is_empty()
            && scope
                .bytes()
                .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E) && b != b',');
        if !valid {
            return Err(format!(
                "invalid scopes {s:?}: expected comma-separated scopes of printable ASCII \
                 without spaces, '\"' or '\\' (read,write), or \"\" for none"
            ));
        }
        if !scopes.iter().any(|known| known == scope) {
            scopes.push(scope.to_owned());
        }
    }
    Ok(Scopes(scopes))
}

/// A token prefix, or `""` for the service's.
fn parse_prefix(s: &str) -> Result<PrefixArg, String> {
    if s.is_empty() {
        return Ok(PrefixArg(None));
    }
    TokenPrefix::new(s)
        .map(|p| PrefixArg(Some(p)))
        .map_err(|_| {
            format!(
                "invalid prefix {s:?}: expected 1 to {} lower-case letters or digits, or \"\" for \
             the service's prefix",
                durin_core::MAX_PREFIX_LEN
            )
        })
}

/// A token cap: a whole number of at least 1.
fn parse_max_tokens(s: &str) -> Result<std::num::NonZeroU32, String> {
    match s.parse::<u32>() {
        Ok(n) => std::num::NonZeroU32::new(n).ok_or_else(|| format!("{n} is not in 1..")),
        Err(_) => Err(format!("{s:?} is not a whole number in 1..")),
    }
}

/// A token name: 1 to 64 characters.
fn parse_token_name(s: &str) -> Result<TokenName, String> {
    TokenName::new(s).map_err(|e| format!("invalid token name: {e}"))
}

/// A user id: 1 to 255 bytes.
fn parse_user(s: &str) -> Result<UserId, String> {
    UserId::new(s).map_err(|_| {
        format!(
            "invalid user id {s:?}: expected 1 to {} bytes",
            UserId::MAX_LEN
        )
    })
}

/// A session id: 1 to 64 characters of `[A-Za-z0-9_-]`.
fn parse_session_id(s: &str) -> Result<SessionId, String> {
    SessionId::new(s).map_err(|_| {
        format!(
            "invalid session id {s:?}: expected 1 to 64 letters, digits, '-' or '_' (the ID \
             column of `durin session list`)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[track_caller]
    fn renewal(input: &str, expected: Renewal) {
        assert_eq!(parse_renewal(input).unwrap(), expected, "{input}");
    }

    #[track_caller]
    fn renewal_err(input: &str, fragment: &str) {
        let err = parse_renewal(input).unwrap_err();
        assert!(err.contains(fragment), "{input}: {err}");
    }

    #[test]
    fn parses_renewal_modes() {
        renewal("none", Renewal::None);
        renewal("Explicit", Renewal::Explicit);
        renewal(
            "sliding:1h",
            Renewal::Sliding {
                min_interval: Duration::from_secs(3600),
            },
        );
        renewal(
            "sliding:90s",
            Renewal::Sliding {
                min_interval: Duration::from_secs(90),
            },
        );
        renewal_err("sometimes", "expected none, explicit, or sliding:INTERVAL");
        renewal_err("sliding", "expected none, explicit");
        renewal_err("sliding:0s", "must be positive");
        renewal_err("sliding:soon", "expected a positive whole number");
    }

    #[track_caller]
    fn scopes(input: &str, expected: &[&str]) {
        assert_eq!(parse_scopes(input).unwrap().0, expected, "{input}");
    }

    #[test]
    fn parses_scope_lists() {
        scopes("read", &["read"]);
        scopes("read,write", &["read", "write"]);
        scopes(" read , write ,read", &["read", "write"]);
        scopes("*", &["*"]);
        scopes("repo:status", &["repo:status"]);
        scopes("", &[]);
        for bad in ["read,,write", "has space", "a,\"b\"", "back\\slash", "é"] {
            assert!(parse_scopes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_prefixes_rates_and_ids() {
        assert_eq!(parse_prefix("").unwrap(), PrefixArg(None));
        assert_eq!(parse_prefix("acme").unwrap().0.unwrap().as_str(), "acme");
        assert!(parse_prefix("Acme").unwrap_err().contains("lower-case"));
        assert_eq!(parse_rate("none").unwrap(), RateArg(None));
        assert_eq!(parse_rate("100/m").unwrap().0.unwrap().to_string(), "100/m");
        assert!(parse_rate("5/fortnight").is_err());
        assert!(parse_user("").is_err());
        assert!(parse_user(&"u".repeat(256)).is_err());
        assert!(parse_session_id("abc/def").is_err());
        assert_eq!(parse_lifetime("never").unwrap(), Lifetime(None));
    }
}
