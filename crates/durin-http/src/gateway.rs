//! Endpoints for services that do not link durin: RFC 7662 token introspection
//! (`POST introspect/`) and forward-auth for reverse proxies (`GET`/`HEAD auth/`, nginx
//! `auth_request`, Traefik ForwardAuth).
//!
//! Both check the presented token through [`Durin::authenticate`], the path every
//! authenticated request takes, so they honour revocation exactly as the API does: the
//! token cache, invalidations published by other nodes, the expiry grace window, the
//! event hook.
//!
//! [`Durin::authenticate`]: durin_core::Durin::authenticate

use durin_core::{AuthError, Authenticated, LegacyToken, Timestamp, TokenString, Transport};
use serde_json::{Map, Value, json};

use crate::credentials::{Credentials, RequestInfo, origin_check_passes};
use crate::endpoints::Api;
use crate::error::{HttpError, messages};
use crate::reply::Reply;

/// The identity a forward-auth answer hands to the proxy, as `(header name, value)`
/// pairs: `X-Durin-User`, `X-Durin-Client`, `X-Durin-Session` and `X-Durin-Scopes`
/// (space-separated, empty when the token carries none).
///
/// A value is the text itself when it is printable ASCII without `%`; any other byte
/// (space, control, non-ASCII, `%`) is percent-encoded (`%XX`, UTF-8), so a header can
/// never be split or forged by a user id, and ordinary ids (`42`, `alice`,
/// `alice@example.com`) pass unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityHeaders {
    headers: [(&'static str, String); 4],
}

impl IdentityHeaders {
    /// The headers of `auth`.
    pub fn new(auth: &Authenticated) -> Self {
        let scopes: Vec<String> = auth.session.scopes.iter().map(|s| header_safe(s)).collect();
        IdentityHeaders {
            headers: [
                ("x-durin-user", header_safe(auth.user_id().as_str())),
                ("x-durin-client", header_safe(auth.client.name.as_str())),
                ("x-durin-session", header_safe(auth.session.id.as_str())),
                ("x-durin-scopes", scopes.join(" ")),
            ],
        }
    }

    /// The `(lower-case name, value)` pairs, in a fixed order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.headers
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
    }
}

/// The text itself when every byte is printable ASCII other than `%`; else those bytes
/// percent-encoded.
fn header_safe(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for &byte in value.as_bytes() {
        if byte.is_ascii_graphic() && byte != b'%' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The form of an introspection request (RFC 7662 §2.1).
#[derive(Clone, PartialEq, Eq)]
pub struct IntrospectionRequest {
    /// The token to check.
    pub token: String,
    /// The caller's guess of the token's type; accepted and ignored (RFC 7662 lets the
    /// server search every type it knows, and durin has one kind of access token).
    pub token_type_hint: Option<String>,
}

impl std::fmt::Debug for IntrospectionRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionRequest")
            .field("token", &"[redacted]")
            .field("token_type_hint", &self.token_type_hint)
            .finish()
    }
}

impl IntrospectionRequest {
    /// Reads a form (`application/x-www-form-urlencoded`, what RFC 7662 specifies) or
    /// JSON body; no I/O.
    ///
    /// # Errors
    /// 400 `{"token": ["This field is required."]}` when the field is missing (or the
    /// body is neither a form nor a JSON object), `{"token": ["This field may not be
    /// blank."]}` when it is blank.
    pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Self, HttpError> {
        let is_form =
            content_type.is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        let (token, hint) = if is_form {
            let mut token = None;
            let mut hint = None;
            for (key, value) in form_urlencoded::parse(body) {
                match &*key {
                    "token" if token.is_none() => token = Some(value.into_owned()),
                    "token_type_hint" if hint.is_none() => hint = Some(value.into_owned()),
                    _ => {}
                }
            }
            (token, hint)
        } else {
            let fields: Map<String, Value> = serde_json::from_slice(body).unwrap_or_default();
            let text = |key: &str| match fields.get(key) {
                Some(Value::String(s)) => Some(s.clone()),
                _ => None,
            };
            (text("token"), text("token_type_hint"))
        };
        let field_error = |message: &str| HttpError::bad_request(json!({ "token": [message] }));
        let token = token.ok_or_else(|| field_error(messages::REQUIRED))?;
        if token.trim().is_empty() {
            return Err(field_error(messages::BLANK));
        }
        Ok(IntrospectionRequest {
            token,
            token_type_hint: hint,
        })
    }
}

impl Api {
    /// `POST introspect/` (RFC 7662): whether the `token` of `body` (a form or JSON, see
    /// [`IntrospectionRequest::parse`]) would authenticate, for a caller whose client is
    /// one of [`HttpConfig::introspection_clients`]. The caller's permission is checked
    /// before the body is read.
    ///
    /// An active token answers 200 `{"active": true, "token_type": "Bearer",
    /// "client_id", "username", "sub", "scope", "exp", "iat"}` (`scope` space-separated,
    /// `exp` absent for a token that never expires, times in Unix seconds). Any other
    /// token — malformed (decided without I/O), unknown, expired, revoked, refused by the
    /// event hook — answers 200 `{"active": false}` and nothing else: the reason is never
    /// told.
    ///
    /// The check is [`Durin::authenticate`] with the header transport, so it sees what a
    /// request with `Authorization: Bearer <token>` would, and counts as a use of the
    /// token (sliding renewal, last use).
    ///
    /// # Errors
    /// 403 when the caller's client may not introspect; 400 when `token` is missing or
    /// blank; 503 when the store is down.
    ///
    /// [`HttpConfig::introspection_clients`]: crate::HttpConfig::introspection_clients
    /// [`Durin::authenticate`]: durin_core::Durin::authenticate
    pub async fn introspect(
        &self,
        caller: &Authenticated,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Reply, HttpError> {
        if !self
            .config()
            .introspection_clients
            .contains(&caller.client.name)
        {
            return Err(HttpError::forbidden());
        }
        let request = IntrospectionRequest::parse(content_type, body)?;
        let inactive = || Ok(Reply::json(200, json!({ "active": false })));
        // Checked as the header would be: a legacy token (with `accept_legacy_tokens`)
        // introspects exactly as it authenticates.
        let checked = match TokenString::parse(&request.token) {
            Ok(token) => self.durin().authenticate(&token, Transport::Header).await,
            Err(_) => match LegacyToken::parse(&request.token) {
                Ok(legacy) if self.config().accept_legacy_tokens => {
                    self.durin()
                        .authenticate_legacy(&legacy, Transport::Header)
                        .await
                }
                _ => return inactive(),
            },
        };
        let auth = match checked {
            Ok(auth) => auth,
            Err(AuthError::Unavailable(source)) => {
                return Err(AuthError::Unavailable(source).into());
            }
            Err(reason) => {
                tracing::debug!(reason = ?reason, "introspection: inactive token");
                return inactive();
            }
        };
        let session = &auth.session;
        let user = auth.user_id().as_str();
        let mut body = json!({
            "active": true,
            "token_type": "Bearer",
            "client_id": auth.client.name.as_str(),
            "username": user,
            "sub": user,
            "scope": session.scopes.join(" "),
            "iat": unix_seconds(session.created_at),
        });
        if let Some(expires_at) = session.expires_at {
            body["exp"] = json!(unix_seconds(expires_at));
        }
        Ok(Reply::json(200, body))
    }

    /// The CSRF rule of forward-auth. A proxy asks `GET auth/` whatever the method of
    /// the request it guards, so a token from the cookie counts only when the original
    /// method (`X-Original-Method`, nginx; `X-Forwarded-Method`, Traefik) is safe, or the
    /// request passes the Origin check (its `Origin`, else `Referer`, against its `Host`;
    /// `X-Forwarded-Host` instead when `peer` is a trusted proxy). Otherwise the cookie
    /// is ignored: 401 as without credentials. A missing method header counts as unsafe.
    ///
    /// # Errors
    /// 401 `Authentication credentials were not provided.` when a cookie-borne token
    /// fails the rule.
    pub fn check_forwarded_cookie(
        &self,
        peer: Option<std::net::IpAddr>,
        header: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), HttpError> {
        let config = self.config();
        if config.cookie.is_none() {
            return Ok(());
        }
        let authorization = header("authorization");
        let cookie = header("cookie");
        let probe = RequestInfo {
            safe_method: true,
            authorization: authorization.as_deref().map(str::as_bytes),
            cookie: cookie.as_deref().map(str::as_bytes),
            ..RequestInfo::default()
        };
        if !matches!(
            Credentials::from_request(config, &probe),
            Ok(Credentials::Cookie(_))
        ) {
            return Ok(());
        }
        let method = header("x-original-method").or_else(|| header("x-forwarded-method"));
        if method.is_some_and(|m| crate::adapter::is_safe_method(m.trim())) {
            return Ok(());
        }
        let from_proxy =
            peer.is_some_and(|ip| config.trusted_proxies.iter().any(|net| net.contains(&ip)));
        let host = from_proxy
            .then(|| header("x-forwarded-host"))
            .flatten()
            .or_else(|| header("host"));
        let (origin, referer) = (header("origin"), header("referer"));
        let info = RequestInfo {
            safe_method: false,
            origin: origin.as_deref().map(str::as_bytes),
            referer: referer.as_deref().map(str::as_bytes),
            host: host.as_deref().map(str::as_bytes),
            ..probe
        };
        if origin_check_passes(config, &info) {
            Ok(())
        } else {
            tracing::debug!("forward-auth: cookie ignored for a cross-origin unsafe request");
            Err(HttpError::not_authenticated())
        }
    }

    /// The Origin check of a login with `"transport": "cookie"` (login CSRF): the
    /// same check as a cookie-authenticated unsafe request, so a form posted from
    /// another site cannot sign the browser in to the attacker's account.
    ///
    /// # Errors
    /// 403 `CSRF Failed: Origin checking failed.`
    pub fn check_cookie_login_origin(
        &self,
        header: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), HttpError> {
        let (origin, referer, host) = (header("origin"), header("referer"), header("host"));
        let info = RequestInfo {
            safe_method: false,
            origin: origin.as_deref().map(str::as_bytes),
            referer: referer.as_deref().map(str::as_bytes),
            host: host.as_deref().map(str::as_bytes),
            ..RequestInfo::default()
        };
        if origin_check_passes(self.config(), &info) {
            Ok(())
        } else {
            tracing::debug!("cookie login refused by the Origin check");
            Err(HttpError::detail(403, crate::error::messages::CSRF))
        }
    }

    /// `GET`/`HEAD auth/` (forward-auth): the identity of an authenticated caller, for
    /// the integration to answer 204 with these headers. Unauthenticated callers never
    /// reach this: the integrations' `Auth` extractor answers 401 with the challenge (or
    /// 503) first.
    pub fn forward_auth(&self, auth: &Authenticated) -> IdentityHeaders {
        IdentityHeaders::new(auth)
    }
}

/// Whole seconds since the Unix epoch (RFC 7662's `NumericDate`), rounded down.
fn unix_seconds(at: Timestamp) -> i64 {
    at.as_millis().div_euclid(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(content_type: Option<&str>, body: &str, expected: Result<&str, &str>) {
        let got = IntrospectionRequest::parse(content_type, body.as_bytes());
        match (got, expected) {
            (Ok(request), Ok(token)) => assert_eq!(request.token, token),
            (Err(e), Err(message)) => {
                assert_eq!(e.status, 400);
                assert_eq!(e.body, json!({ "token": [message] }));
            }
            (got, expected) => panic!("{body:?}: got {got:?}, expected {expected:?}"),
        }
    }

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");
    const JSON: Option<&str> = Some("application/json");

    #[test]
    fn introspection_bodies() {
        check(FORM, "token=abc", Ok("abc"));
        check(FORM, "token=abc&token_type_hint=access_token", Ok("abc"));
        check(FORM, "token_type_hint=access_token&token=a%2Bb", Ok("a+b"));
        check(FORM, "", Err(messages::REQUIRED));
        check(FORM, "token_type_hint=x", Err(messages::REQUIRED));
        check(FORM, "token=", Err(messages::BLANK));
        check(FORM, "token=%20%20", Err(messages::BLANK));
        check(JSON, r#"{"token": "abc"}"#, Ok("abc"));
        check(None, r#"{"token": "abc"}"#, Ok("abc"));
        check(JSON, r#"{"token": 5}"#, Err(messages::REQUIRED));
        check(JSON, r#"{"token": ""}"#, Err(messages::BLANK));
        check(JSON, r#"["token"]"#, Err(messages::REQUIRED));
        check(JSON, "not json", Err(messages::REQUIRED));
    }

    #[test]
    fn debug_output_redacts_the_token() {
        let request = IntrospectionRequest::parse(JSON, br#"{"token": "durin_secret"}"#).unwrap();
        let debug = format!("{request:?}");
        assert!(!debug.contains("secret"), "{debug}");
    }

    #[test]
    fn header_values_cannot_be_split_or_forged() {
        assert_eq!(header_safe("alice@example.com"), "alice@example.com");
        assert_eq!(header_safe("42"), "42");
        assert_eq!(header_safe("a b"), "a%20b");
        assert_eq!(
            header_safe("x\r\nX-Durin-User: root"),
            "x%0D%0AX-Durin-User:%20root"
        );
        assert_eq!(header_safe("100%"), "100%25");
        assert_eq!(header_safe("é"), "%C3%A9");
    }

    #[test]
    fn unix_seconds_round_down() {
        assert_eq!(unix_seconds(Timestamp::from_millis(1_999)), 1);
        assert_eq!(unix_seconds(Timestamp::from_millis(2_000)), 2);
    }
}
