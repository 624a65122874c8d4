//! What the commands print: aligned tables for people, JSON for scripts.
//!
//! Nothing here ever sees a token digest: sessions are printed through [`SessionView`],
//! which has no field for it.

use std::io::{self, Write as _};

use durin_core::{
    Client, ClientName, Renewal, Session, SessionId, Timestamp, UserId, format_duration, format_ttl,
};
use serde::Serialize;

use crate::error::CliError;

/// Writes `text` to standard output. A reader that went away (`durin ... | head`) is not
/// an error.
pub(crate) fn print(text: &str) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(CliError::Local {
            doing: "writing to standard output".into(),
            source: Box::new(e),
        }),
        _ => Ok(()),
    }
}

/// Writes `value` as pretty JSON and a newline.
pub(crate) fn print_json(value: &impl Serialize) -> Result<(), CliError> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| CliError::Local {
        doing: "rendering JSON".into(),
        source: Box::new(e),
    })?;
    text.push('\n');
    print(&text)
}

/// A table with a header row; columns are padded to their widest cell.
#[derive(Debug)]
pub(crate) struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub(crate) fn new(header: &[&str]) -> Self {
        Table {
            rows: vec![header.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    /// Adds a row (as many cells as the header).
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.rows[0].len());
        self.rows.push(cells);
    }

    /// The table as text: two spaces between columns, no trailing spaces.
    pub(crate) fn render(&self) -> String {
        let columns = self.rows[0].len();
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut text = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (cell, width) in row.iter().zip(&widths) {
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', width - cell.chars().count() + 2));
            }
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text
    }
}

/// `name  value` lines, the names aligned: one record shown in full.
pub(crate) fn render_record(fields: &[(&str, String)]) -> String {
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    fields
        .iter()
        .map(|(k, v)| format!("{k:width$}  {v}\n"))
        .collect()
}

/// A timestamp as `2026-11-22 13:45:00Z` (seconds are enough for people).
pub(crate) fn when(at: Timestamp) -> String {
    let iso = at.to_iso8601();
    format!("{} {}Z", &iso[..10], &iso[11..19])
}

/// A renewal mode in the form `--renew` accepts.
pub(crate) fn renewal(renewal: Renewal) -> String {
    match renewal {
        Renewal::None => "none".to_owned(),
        Renewal::Explicit => "explicit".to_owned(),
        Renewal::Sliding { min_interval } => format!("sliding:{}", format_duration(min_interval)),
    }
}

/// The client list as a table.
pub(crate) fn client_table(clients: &[Client]) -> String {
    let mut table = Table::new(&[
        "NAME",
        "TTL",
        "RATE",
        "MAX TOKENS",
        "RENEW",
        "MAX LIFETIME",
        "REFRESH TTL",
        "SCOPES",
        "PREFIX",
    ]);
    for c in clients {
        table.row(vec![
            c.name.to_string(),
            format_ttl(c.token_ttl),
            c.throttle_rate
                .map_or_else(|| "-".into(), |r| r.to_string()),
            c.max_tokens_per_user.to_string(),
            renewal(c.renewal),
            c.max_lifetime.map_or_else(|| "-".into(), format_duration),
            c.refresh_ttl.map_or_else(|| "-".into(), format_duration),
            scopes(&c.scopes),
            c.prefix.as_ref().map_or("-", |p| p.as_str()).to_owned(),
        ]);
    }
    table.render()
}

/// One client in full, with its session count when known.
pub(crate) fn client_record(c: &Client, sessions: Option<u64>) -> String {
    let mut fields = vec![
        ("name", c.name.to_string()),
        ("token ttl", format_ttl(c.token_ttl)),
        (
            "throttle rate",
            c.throttle_rate
                .map_or_else(|| "none (the service's default)".into(), |r| r.to_string()),
        ),
        ("max tokens per user", c.max_tokens_per_user.to_string()),
        ("renew", renewal(c.renewal)),
        (
            "max lifetime",
            c.max_lifetime
                .map_or_else(|| "never (no cap)".into(), format_duration),
        ),
        (
            "refresh ttl",
            c.refresh_ttl
                .map_or_else(|| "never (no refresh tokens)".into(), format_duration),
        ),
        (
            "scopes",
            if c.scopes.is_empty() {
                "any (no restriction)".into()
            } else {
                c.scopes.join(",")
            },
        ),
        (
            "prefix",
            c.prefix
                .as_ref()
                .map_or_else(|| "the service's".into(), |p| p.as_str().to_owned()),
        ),
    ];
    if let Some(n) = sessions {
        fields.push(("sessions", n.to_string()));
    }
    render_record(&fields)
}

/// A scope list for a table cell: `-` when empty.
fn scopes(scopes: &[String]) -> String {
    if scopes.is_empty() {
        "-".to_owned()
    } else {
        scopes.join(",")
    }
}

/// A session as scripts see it: never the digest, the refresh state or anything else
/// that could verify a token.
#[derive(Debug, Serialize)]
pub(crate) struct SessionView<'a> {
    /// The public session id.
    id: &'a SessionId,
    /// The user.
    user: &'a UserId,
    /// The client.
    client: &'a ClientName,
    /// When it was issued (ISO-8601, UTC).
    created: String,
    /// When it stops working; `null` = never.
    expiry: Option<String>,
    /// When it was last used, if tracked.
    last_used: Option<String>,
    /// When it was revoked (audit mode); `null` = not revoked.
    revoked: Option<String>,
    /// The scopes it carries.
    scopes: &'a [String],
    /// What the application stored with it at login.
    context: &'a serde_json::Map<String, serde_json::Value>,
}

impl<'a> From<&'a Session> for SessionView<'a> {
    fn from(s: &'a Session) -> Self {
        SessionView {
            id: &s.id,
            user: &s.user_id,
            client: &s.client,
            created: s.created_at.to_iso8601(),
            expiry: s.expires_at.map(Timestamp::to_iso8601),
            last_used: s.last_used_at.map(Timestamp::to_iso8601),
            revoked: s.revoked_at.map(Timestamp::to_iso8601),
            scopes: &s.scopes,
            context: &s.context,
        }
    }
}

/// A page of sessions as a table; `now` decides which are expired.
pub(crate) fn session_table(sessions: &[Session], now: Timestamp) -> String {
    let mut table = Table::new(&[
        "ID",
        "USER",
        "CLIENT",
        "CREATED",
        "EXPIRES",
        "LAST USED",
        "STATE",
        "SCOPES",
    ]);
    for s in sessions {
        let state = if s.revoked_at.is_some() {
            "revoked"
        } else if s.is_expired(now) {
            "expired"
        } else {
            "live"
        };
        table.row(vec![
            s.id.to_string(),
            s.user_id.to_string(),
            s.client.to_string(),
            when(s.created_at),
            s.expires_at.map_or_else(|| "never".into(), when),
            s.last_used_at.map_or_else(|| "-".into(), when),
            state.to_owned(),
            scopes(&s.scopes),
        ]);
    }
    table.render()
}

/// Quotes `arg` for a POSIX shell when it needs it, for the commands we suggest.
pub(crate) fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.,:/=@%+".contains(&b));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn tables_align_columns_without_trailing_spaces() {
        let mut t = Table::new(&["A", "LONGER"]);
        t.row(vec!["wide cell".into(), "x".into()]);
        t.row(vec!["é".into(), String::new()]);
        assert_eq!(t.render(), "A          LONGER\nwide cell  x\né\n");
    }

    #[test]
    fn timestamps_render_to_the_second() {
        assert_eq!(
            when(Timestamp::from_millis(1_700_000_000_123)),
            "2023-11-14 22:13:20Z"
        );
    }

    #[test]
    fn renewal_renders_in_the_form_the_option_accepts() {
        for mode in [
            Renewal::None,
            Renewal::Explicit,
            Renewal::Sliding {
                min_interval: Duration::from_secs(3600),
            },
        ] {
            assert_eq!(crate::cli::parse_renewal(&renewal(mode)).unwrap(), mode);
        }
    }

    #[test]
    fn shell_quoting_leaves_plain_words_alone() {
        assert_eq!(shell_quote("user-1@example.com"), "user-1@example.com");
        assert_eq!(shell_quote("it's here"), r"'it'\''s here'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn session_views_never_hold_the_digest() {
        let session = Session {
            id: SessionId::new("abc").unwrap(),
            user_id: UserId::new("u1").unwrap(),
            client: ClientName::new("web").unwrap(),
            digest: durin_core::TokenDigest::from_bytes([7; 32]),
            created_at: Timestamp::from_millis(0),
            expires_at: None,
            renewed_at: None,
            last_used_at: None,
            scopes: vec!["read".into()],
            context: serde_json::Map::new(),
            transport: durin_core::Transport::Header,
            revoked_at: None,
            refresh: None,
            name: None,
        };
        let text = serde_json::to_string(&SessionView::from(&session)).unwrap();
        assert_eq!(
            text,
            r#"{"id":"abc","user":"u1","client":"web","created":"1970-01-01T00:00:00.000000Z","expiry":null,"last_used":null,"revoked":null,"scopes":["read"],"context":{}}"#
        );
        assert!(!text.contains(&session.digest.to_hex()));
    }
}
