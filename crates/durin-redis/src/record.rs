//! The stored formats, each with a version: sessions as `<header>\n<body>` and clients
//! as `{"v":1,"client":{...}}`.
//!
//! The session header holds what the Lua scripts read and change (flat strings and
//! nulls, timestamps as decimal strings); the body holds scopes, context and transport
//! and is only ever written by serde, so application data never passes through cjson.

use std::fmt;

use durin_core::{
    Client, ClientName, RefreshState, Session, SessionId, StoreError, Timestamp, TokenDigest,
    TokenName, Transport, UserId,
};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The format version of session and client records.
pub(crate) const VERSION: u32 = 1;

/// What the scripts see of a session (`lua/common.lua` documents the same fields).
#[derive(Serialize, Deserialize)]
struct Header {
    v: u32,
    id: SessionId,
    u: UserId,
    c: ClientName,
    t: Millis,
    d: TokenDigest,
    #[serde(default)]
    e: Option<Millis>,
    #[serde(default)]
    rn: Option<Millis>,
    #[serde(default)]
    lu: Option<Millis>,
    #[serde(default)]
    rv: Option<Millis>,
    #[serde(default)]
    rd: Option<TokenDigest>,
    #[serde(default)]
    re: Option<Millis>,
    /// The name of a named token (absent otherwise), for the insert script's check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n: Option<TokenName>,
}

/// The part of a session the scripts never read.
#[derive(Serialize, Deserialize)]
struct Body {
    scopes: Vec<String>,
    context: serde_json::Map<String, serde_json::Value>,
    transport: Transport,
}

#[derive(Deserialize)]
struct Versioned {
    v: u32,
}

/// A new session as the insert script takes it: the header, and the body after a
/// newline.
pub(crate) fn encode_session(session: &Session) -> (String, String) {
    let header = Header {
        v: VERSION,
        id: session.id.clone(),
        u: session.user_id.clone(),
        c: session.client.clone(),
        t: Millis(session.created_at.as_millis()),
        d: session.digest,
        e: session.expires_at.map(Millis::from),
        rn: session.renewed_at.map(Millis::from),
        lu: session.last_used_at.map(Millis::from),
        rv: session.revoked_at.map(Millis::from),
        rd: session.refresh.as_ref().map(|r| r.digest),
        re: session.refresh.as_ref().map(|r| Millis::from(r.expires_at)),
        n: session.name.clone(),
    };
    let body = Body {
        scopes: session.scopes.clone(),
        context: session.context.clone(),
        transport: session.transport,
    };
    // Neither can fail: plain structs of strings, numbers and JSON values.
    let header = serde_json::to_string(&header).unwrap_or_default();
    let body = serde_json::to_string(&body).unwrap_or_default();
    (header, format!("\n{body}"))
}

/// Reads a stored session record.
pub(crate) fn decode_session(raw: &[u8]) -> Result<Session, StoreError> {
    let split = raw
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| corrupt("session record has no header"))?;
    let (header, body) = (&raw[..split], &raw[split + 1..]);
    let header: Header = match serde_json::from_slice(header) {
        Ok(header) => header,
        Err(error) => {
            check_version(header, "session")?;
            return Err(corrupt(format!("session record header: {error}")));
        }
    };
    if header.v != VERSION {
        return Err(unknown_version("session", header.v));
    }
    let body: Body = serde_json::from_slice(body)
        .map_err(|error| corrupt(format!("session record body: {error}")))?;
    let refresh = match (header.rd, header.re) {
        (Some(digest), Some(expires_at)) => Some(RefreshState {
            digest,
            expires_at: expires_at.into(),
        }),
        (None, None) => None,
        _ => return Err(corrupt("session record has half a refresh token")),
    };
    Ok(Session {
        id: header.id,
        user_id: header.u,
        client: header.c,
        digest: header.d,
        created_at: header.t.into(),
        expires_at: header.e.map(Into::into),
        renewed_at: header.rn.map(Into::into),
        last_used_at: header.lu.map(Into::into),
        scopes: body.scopes,
        context: body.context,
        transport: body.transport,
        revoked_at: header.rv.map(Into::into),
        refresh,
        name: header.n,
    })
}

#[derive(Serialize)]
struct ClientRecordRef<'a> {
    v: u32,
    client: &'a Client,
}

#[derive(Deserialize)]
struct ClientRecord {
    v: u32,
    client: Client,
}

/// A client as stored.
pub(crate) fn encode_client(client: &Client) -> String {
    serde_json::to_string(&ClientRecordRef { v: VERSION, client }).unwrap_or_default()
}

/// Reads a stored client record; `name` is the hash field it was found under.
pub(crate) fn decode_client(name: &str, raw: &[u8]) -> Result<Client, StoreError> {
    match serde_json::from_slice::<ClientRecord>(raw) {
        Ok(record) if record.v == VERSION => Ok(record.client),
        Ok(record) => Err(unknown_version("client", record.v)),
        Err(error) => {
            check_version(raw, "client")?;
            Err(corrupt(format!("client record {name:?}: {error}")))
        }
    }
}

fn check_version(json: &[u8], what: &str) -> Result<(), StoreError> {
    match serde_json::from_slice::<Versioned>(json) {
        Ok(Versioned { v }) if v != VERSION => Err(unknown_version(what, v)),
        _ => Ok(()),
    }
}

fn unknown_version(what: &str, v: u32) -> StoreError {
    corrupt(format!(
        "{what} record has format version {v}; this durin-redis reads version {VERSION}"
    ))
}

fn corrupt(message: impl Into<String>) -> StoreError {
    StoreError::Corrupt(message.into())
}

/// Milliseconds since the epoch, stored as a decimal string: Lua numbers are doubles,
/// and a string passes through the scripts untouched.
#[derive(Clone, Copy)]
struct Millis(i64);

impl From<Timestamp> for Millis {
    fn from(at: Timestamp) -> Self {
        Millis(at.as_millis())
    }
}

impl From<Millis> for Timestamp {
    fn from(ms: Millis) -> Self {
        Timestamp::from_millis(ms.0)
    }
}

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MillisVisitor;

        impl Visitor<'_> for MillisVisitor {
            type Value = Millis;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("milliseconds as a decimal string")
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Millis, E> {
                s.parse().map(Millis).map_err(E::custom)
            }

            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Millis, E> {
                Ok(Millis(n))
            }

            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Millis, E> {
                i64::try_from(n).map(Millis).map_err(E::custom)
            }
        }

        deserializer.deserialize_any(MillisVisitor)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn session() -> Session {
        let mut context = serde_json::Map::new();
        context.insert("ip".into(), serde_json::json!({"n": 12345678901234567u64}));
        context.insert("empty".into(), serde_json::json!([]));
        Session {
            id: SessionId::generate(),
            user_id: UserId::new("ü/ser\n\"1\"").unwrap(),
            client: ClientName::new("web").unwrap(),
            digest: TokenDigest::from_bytes([7; 32]),
            created_at: Timestamp::from_millis(1_795_438_676_758),
            expires_at: Some(Timestamp::from_millis(i64::MAX)),
            renewed_at: Some(Timestamp::from_millis(-5)),
            last_used_at: None,
            scopes: Vec::new(),
            context,
            transport: Transport::Cookie,
            revoked_at: None,
            refresh: Some(RefreshState {
                digest: TokenDigest::from_bytes([9; 32]),
                expires_at: Timestamp::EPOCH.saturating_add(Duration::from_secs(5)),
            }),
            name: Some(TokenName::new("laptop ☃").unwrap()),
        }
    }

    fn join(header: &str, body: &str) -> Vec<u8> {
        format!("{header}{body}").into_bytes()
    }

    #[test]
    fn sessions_round_trip_exactly() {
        let s = session();
        let (header, body) = encode_session(&s);
        assert!(!header.contains('\n'), "the header is one line");
        assert!(header.contains(r#""t":"1795438676758""#), "{header}");
        assert_eq!(decode_session(&join(&header, &body)).unwrap(), s);
    }

    #[test]
    fn an_unknown_version_is_corrupt() {
        let (header, body) = encode_session(&session());
        let v2 = header.replacen(r#""v":1"#, r#""v":2"#, 1);
        let err = decode_session(&join(&v2, &body)).unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(m) if m.contains("version 2")),
            "{err:?}"
        );
        // A future format may change the fields too: still reported as the version.
        let err = decode_session(b"{\"v\":3,\"other\":true}\n{}").unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(m) if m.contains("version 3")),
            "{err:?}"
        );
    }

    #[test]
    fn garbage_is_corrupt() {
        for raw in [
            &b"no newline"[..],
            b"{}\n{}",
            b"{\"v\":1}\n",
            b"\xff\xfe\n{}",
        ] {
            assert!(
                matches!(decode_session(raw), Err(StoreError::Corrupt(_))),
                "{raw:?}"
            );
        }
        let (header, _) = encode_session(&session());
        let raw = join(&header, "\n{\"scopes\":{}}");
        assert!(matches!(decode_session(&raw), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn clients_carry_a_version() {
        let client = Client::new(ClientName::new("cli").unwrap()).with_token_ttl(None);
        let raw = encode_client(&client);
        assert!(raw.starts_with(r#"{"v":1,"#), "{raw}");
        assert_eq!(decode_client("cli", raw.as_bytes()).unwrap(), client);
        let v9 = raw.replacen(r#""v":1"#, r#""v":9"#, 1);
        let err = decode_client("cli", v9.as_bytes()).unwrap_err();
        assert!(matches!(&err, StoreError::Corrupt(m) if m.contains("version 9")));
        assert!(matches!(
            decode_client("cli", b"[]"),
            Err(StoreError::Corrupt(_))
        ));
    }
}
