//! The second-wave endpoints of named personal tokens (`GET/POST tokens/`,
//! `DELETE tokens/{id}`) and per-(user, client) settings (`GET/PUT settings/`).
//!
//! Every body is checked before any I/O: a malformed name, scope list or `expires_in`, a
//! settings body that is not a JSON object or is over the limit, never reaches the store.

use durin_core::{
    AuthError, Authenticated, NamedToken, Session, SessionId, Timestamp, TokenLifetime, TokenName,
    parse_ttl,
};
use serde_json::{Map, Value, json};

use crate::endpoints::Api;
use crate::error::{HttpError, messages};
use crate::reply::Reply;

/// The contract's messages of these endpoints.
pub mod token_messages {
    /// A live named token of the user already has this name.
    pub const NAME_TAKEN: &str = "A token with this name already exists.";
    /// The user holds as many named tokens as the tokens client allows.
    pub const TOKEN_LIMIT: &str = "Token limit reached.";
    /// `PUT settings/` with a body that is not a JSON object.
    pub const SETTINGS_NOT_OBJECT: &str = "Settings must be a JSON object.";
    /// `scopes` that is not a list of strings.
    pub const NOT_A_LIST: &str = "Expected a list of strings.";
    /// A field that must be a string.
    pub const NOT_A_STRING: &str = "Not a valid string.";

    /// `Unknown scope: X.`
    pub fn unknown_scope(scope: &str) -> String {
        format!("Unknown scope: {scope}.")
    }

    /// `Ensure this field has no more than N elements.` (DRF's message for a list).
    pub fn too_many_scopes(limit: usize) -> String {
        format!("Ensure this field has no more than {limit} elements.")
    }

    /// `Settings may not exceed N bytes.`
    pub fn settings_too_large(limit: usize) -> String {
        format!("Settings may not exceed {limit} bytes.")
    }
}

use token_messages as m;

impl Api {
    /// `GET tokens/`: the caller's named tokens, oldest first, never a token.
    ///
    /// # Errors
    /// 404 without a tokens client; 503.
    pub async fn tokens(&self, auth: &Authenticated) -> Result<Reply, HttpError> {
        let list: Vec<Value> = self
            .durin()
            .named_tokens(auth.user_id())
            .await
            .map_err(token_error)?
            .iter()
            .map(token_json)
            .collect();
        Ok(Reply::json(200, Value::Array(list)))
    }

    /// `POST tokens/` with a JSON `{"name", "scopes"?, "expires_in"?}`: 201 with the
    /// token, shown this once.
    ///
    /// # Errors
    /// 404 without a tokens client; 400 with per-field messages for a bad body (before
    /// any I/O), a taken name or an unknown scope; 400 `Token limit reached.`; 503.
    pub async fn create_token(
        &self,
        auth: &Authenticated,
        body: &[u8],
    ) -> Result<Reply, HttpError> {
        if self.durin().tokens_client().is_none() {
            return Err(HttpError::not_found());
        }
        let token = parse_named_token(body)?;
        let login = self
            .durin()
            .create_named_token_as(auth, token)
            .await
            .map_err(token_error)?;
        let body = crate::endpoints::into_object(token_json(&login.session));
        Ok(Reply::issued(201, body, vec![("token", login.token)]))
    }

    /// `DELETE tokens/{id}`: that named token stops working at once.
    ///
    /// # Errors
    /// 404 for an unknown, malformed or another user's id, and without a tokens client;
    /// 503.
    pub async fn delete_token(&self, auth: &Authenticated, id: &str) -> Result<Reply, HttpError> {
        if self.durin().tokens_client().is_none() {
            return Err(HttpError::not_found());
        }
        let id = SessionId::new(id).map_err(|_| HttpError::not_found())?;
        self.durin()
            .revoke_named_token(auth.user_id(), &id)
            .await
            .map_err(token_error)?;
        Ok(Reply::no_content())
    }

    /// `GET settings/`: the object stored for the caller's (user, client), `{}` when none.
    ///
    /// # Errors
    /// 404 without a settings store; 503.
    pub async fn settings(&self, auth: &Authenticated) -> Result<Reply, HttpError> {
        let settings = self
            .durin()
            .settings(auth.user_id(), &auth.client.name)
            .await
            .map_err(token_error)?;
        Ok(Reply::json(200, Value::Object(settings)))
    }

    /// `PUT settings/` with a JSON object of at most the service's settings limit (16 KiB
    /// by default): replaces the caller's settings and answers the stored object.
    ///
    /// # Errors
    /// 413 over the limit and 400 `Settings must be a JSON object.` (both before any
    /// I/O, and nothing changes); 404 without a settings store; 503.
    pub async fn put_settings(
        &self,
        auth: &Authenticated,
        body: &[u8],
    ) -> Result<Reply, HttpError> {
        let limit = self.durin().settings_limit();
        if body.len() > limit {
            return Err(HttpError::detail(413, m::settings_too_large(limit)));
        }
        let settings = match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(settings)) => settings,
            _ => return Err(HttpError::detail(400, m::SETTINGS_NOT_OBJECT)),
        };
        self.durin()
            .put_settings(auth.user_id(), &auth.client.name, &settings)
            .await
            .map_err(token_error)?;
        Ok(Reply::json(200, Value::Object(settings)))
    }
}

/// `{"id", "name", "scopes", "created", "expiry", "last_used"}`.
fn token_json(s: &Session) -> Value {
    let iso = |at: Option<Timestamp>| at.map_or(Value::Null, |t| json!(t.to_iso8601()));
    json!({
        "id": s.id.as_str(),
        "name": s.name.as_ref().map(TokenName::as_str),
        "scopes": s.scopes,
        "created": s.created_at.to_iso8601(),
        "expiry": iso(s.expires_at),
        "last_used": iso(s.last_used_at),
    })
}

/// The service's refusals of these endpoints as the contract's answers.
fn token_error(error: AuthError) -> HttpError {
    match error {
        AuthError::NameTaken => HttpError::bad_request(json!({ "name": [m::NAME_TAKEN] })),
        AuthError::UnknownScope(scope) => {
            HttpError::bad_request(json!({ "scopes": [m::unknown_scope(&scope)] }))
        }
        AuthError::TokenLimit => HttpError::detail(400, m::TOKEN_LIMIT),
        AuthError::TooManyScopes { limit } => {
            HttpError::bad_request(json!({ "scopes": [m::too_many_scopes(limit)] }))
        }
        AuthError::SettingsTooLarge { limit } => {
            HttpError::detail(413, m::settings_too_large(limit))
        }
        other => other.into(),
    }
}

/// Reads and checks a `POST tokens/` body, every field at once (DRF's style: one 400 with
/// a list of messages per bad field).
fn parse_named_token(body: &[u8]) -> Result<NamedToken, HttpError> {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        return Err(HttpError::detail(400, messages::MALFORMED_BODY));
    };
    let mut errors = Map::new();
    let mut fail = |field: &str, message: String| {
        errors.insert(field.to_owned(), json!([message]));
    };
    let name = match fields.get("name") {
        None | Some(Value::Null) => {
            fail("name", messages::REQUIRED.to_owned());
            None
        }
        Some(Value::String(name)) => TokenName::new(name.as_str())
            .map_err(|e| fail("name", e.to_string()))
            .ok(),
        Some(_) => {
            fail("name", m::NOT_A_STRING.to_owned());
            None
        }
    };
    let scopes = match fields.get("scopes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let scopes: Option<Vec<String>> = items
                .iter()
                .map(|s| s.as_str().map(str::to_owned))
                .collect();
            let mut scopes = scopes.unwrap_or_else(|| {
                fail("scopes", m::NOT_A_LIST.to_owned());
                Vec::new()
            });
            // Repeats are dropped, then the count is capped: a scope list can never
            // grow a token's headers (`X-Durin-Scopes`) past a small bound.
            let mut seen = std::collections::HashSet::new();
            scopes.retain(|s| seen.insert(s.clone()));
            if scopes.len() > NamedToken::MAX_SCOPES {
                fail("scopes", m::too_many_scopes(NamedToken::MAX_SCOPES));
            }
            scopes
        }
        Some(_) => {
            fail("scopes", m::NOT_A_LIST.to_owned());
            Vec::new()
        }
    };
    let lifetime = match fields.get("expires_in") {
        None | Some(Value::Null) => TokenLifetime::ClientDefault,
        Some(Value::String(ttl)) => match parse_ttl(ttl) {
            Ok(None) => TokenLifetime::Never,
            Ok(Some(ttl)) => TokenLifetime::For(ttl),
            Err(e) => {
                fail("expires_in", e.to_string());
                TokenLifetime::ClientDefault
            }
        },
        Some(_) => {
            fail("expires_in", m::NOT_A_STRING.to_owned());
            TokenLifetime::ClientDefault
        }
    };
    match name {
        Some(name) if errors.is_empty() => Ok(NamedToken {
            name,
            scopes,
            lifetime,
        }),
        _ => Err(HttpError::bad_request(Value::Object(errors))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use durin_core::{
        Client, ClientName, DigestKey, Durin, LoginOptions, MemoryStore, Transport, UserId,
    };

    use crate::{CredentialChecker, HttpConfig};

    struct NoUsers;

    #[async_trait::async_trait]
    impl CredentialChecker for NoUsers {
        async fn check(&self, _: &str, _: &str) -> Result<Option<UserId>, durin_core::StoreError> {
            Ok(None)
        }
    }

    /// An API with a tokens client `pat` and no settings store, and alice on `web`.
    async fn stack() -> (Api, Authenticated) {
        let store = Arc::new(MemoryStore::new());
        let pat = ClientName::new("pat").unwrap();
        let web = ClientName::new("web").unwrap();
        let durin = Durin::builder(store.clone(), store, DigestKey::generate("k"))
            .tokens_client(pat.clone())
            .build();
        durin
            .create_client(&Client::new(pat).with_token_ttl(None))
            .await
            .unwrap();
        durin
            .create_client(&Client::new(web.clone()))
            .await
            .unwrap();
        let alice = UserId::new("alice").unwrap();
        let login = durin
            .login(&alice, &web, LoginOptions::default())
            .await
            .unwrap();
        let auth = durin
            .authenticate(&login.token, Transport::Header)
            .await
            .unwrap();
        let api = Api::new(durin, HttpConfig::default(), Arc::new(NoUsers));
        (api, auth)
    }

    #[tokio::test]
    async fn a_created_token_is_redacted_in_debug_output() {
        let (api, auth) = stack().await;
        let reply = api.create_token(&auth, br#"{"name": "ci"}"#).await.unwrap();
        assert_eq!(reply.status, 201);
        let token = reply.body_json().unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let debug = format!("{reply:?}");
        assert!(!debug.contains(&token), "{debug}");
        assert!(debug.contains("[redacted]"), "{debug}");
        assert_eq!(
            api.tokens(&auth).await.unwrap().body_json().unwrap()[0]["name"],
            "ci"
        );
    }

    #[tokio::test]
    async fn settings_bodies_are_refused_before_the_store_is_asked() {
        // No settings store: a request that reached the store would answer 404.
        let (api, auth) = stack().await;
        let big = vec![b' '; api.durin().settings_limit() + 1];
        assert_eq!(api.put_settings(&auth, &big).await.unwrap_err().status, 413);
        let e = api.put_settings(&auth, b"[1]").await.unwrap_err();
        assert_eq!(
            (e.status, &e.body["detail"]),
            (400, &json!(m::SETTINGS_NOT_OBJECT))
        );
        assert_eq!(
            api.put_settings(&auth, b"{}").await.unwrap_err().status,
            404
        );
        assert_eq!(api.settings(&auth).await.unwrap_err().status, 404);
    }

    #[tokio::test]
    async fn a_token_mints_only_scopes_it_holds() {
        let store = Arc::new(MemoryStore::new());
        let pat = ClientName::new("pat").unwrap();
        let cli = ClientName::new("cli").unwrap();
        let durin = Durin::builder(store.clone(), store, DigestKey::generate("k"))
            .tokens_client(pat.clone())
            .build();
        let scopes = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        durin
            .create_client(
                &Client::new(pat)
                    .with_token_ttl(None)
                    .with_scopes(scopes(&["read", "write"])),
            )
            .await
            .unwrap();
        durin
            .create_client(&Client::new(cli.clone()).with_scopes(scopes(&["read"])))
            .await
            .unwrap();
        let alice = UserId::new("alice").unwrap();
        let login = durin
            .login(&alice, &cli, LoginOptions::default())
            .await
            .unwrap();
        let auth = durin
            .authenticate(&login.token, Transport::Header)
            .await
            .unwrap();
        let api = Api::new(durin, HttpConfig::default(), Arc::new(NoUsers));
        let e = api
            .create_token(&auth, br#"{"name": "w", "scopes": ["write"]}"#)
            .await
            .unwrap_err();
        assert_eq!(e.status, 403);
        let r = api
            .create_token(
                &auth,
                br#"{"name": "r", "scopes": ["read", "read", "read"]}"#,
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201);
        assert_eq!(r.body_json().unwrap()["scopes"], json!(["read"]));
    }

    fn field_error(body: &str) -> Value {
        parse_named_token(body.as_bytes()).unwrap_err().body
    }

    #[test]
    fn bodies_are_checked_before_any_io() {
        assert_eq!(
            field_error(r#"{"name": "  "}"#),
            json!({"name": ["This field may not be blank."]})
        );
        assert_eq!(
            field_error(&format!(r#"{{"name": "{}"}}"#, "x".repeat(65))),
            json!({"name": ["Ensure this field has no more than 64 characters."]})
        );
        assert_eq!(
            field_error(r#"{"scopes": "read"}"#),
            json!({"name": ["This field is required."], "scopes": ["Expected a list of strings."]})
        );
        let e = field_error(r#"{"name": "ci", "expires_in": "soon"}"#);
        assert!(e["expires_in"][0].as_str().unwrap().contains("soon"), "{e}");
        assert_eq!(field_error("[1]")["detail"], messages::MALFORMED_BODY);
        let ok = parse_named_token(br#"{"name": "ci", "scopes": ["read"], "expires_in": "never"}"#)
            .unwrap();
        assert_eq!(ok.name.as_str(), "ci");
        assert_eq!(ok.scopes, ["read"]);
        assert_eq!(ok.lifetime, TokenLifetime::Never);
        let name = "é".repeat(64);
        assert!(parse_named_token(format!(r#"{{"name": "{name}"}}"#).as_bytes()).is_ok());
    }
}
