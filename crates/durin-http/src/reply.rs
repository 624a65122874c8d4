//! What the endpoints answer, and the one place it is written out as bytes.
//!
//! A [`Reply`] holds the tokens it hands out as [`TokenString`]s and its cookie as a
//! [`SecretString`], so its `Debug` output redacts them by their types: no list of
//! JSON key names to keep in step. They reach the JSON only in [`Response::from`].

use durin_core::TokenString;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use crate::credentials::HttpConfig;
use crate::error::HttpError;

/// A successful answer of an endpoint.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status (200, 201, 204).
    pub status: u16,
    /// The JSON body; `None` for 204.
    pub body: Option<Body>,
    /// A `Set-Cookie` value (cookie transport only); it holds the token.
    pub set_cookie: Option<SecretString>,
}

/// The JSON body of a [`Reply`].
#[derive(Debug, Clone)]
pub enum Body {
    /// A body that carries no token.
    Json(Value),
    /// An object that hands out tokens: `fields`, plus each token under its key
    /// (`token`, `refresh_token`).
    Issued {
        /// Everything but the tokens.
        fields: Map<String, Value>,
        /// The tokens, by key.
        tokens: Vec<(&'static str, TokenString)>,
    },
}

impl Body {
    /// The body as JSON, tokens included: what the client receives.
    pub fn to_json(&self) -> Value {
        match self {
            Body::Json(value) => value.clone(),
            Body::Issued { fields, tokens } => {
                let mut fields = fields.clone();
                for (key, token) in tokens {
                    fields.insert(
                        (*key).to_owned(),
                        Value::String(token.expose_secret().to_owned()),
                    );
                }
                Value::Object(fields)
            }
        }
    }
}

impl Reply {
    /// A JSON answer carrying no token.
    pub fn json(status: u16, body: Value) -> Self {
        Reply {
            status,
            body: Some(Body::Json(body)),
            set_cookie: None,
        }
    }

    /// A JSON object answer that hands out `tokens` beside `fields`.
    pub fn issued(
        status: u16,
        fields: Map<String, Value>,
        tokens: Vec<(&'static str, TokenString)>,
    ) -> Self {
        Reply {
            status,
            body: Some(Body::Issued { fields, tokens }),
            set_cookie: None,
        }
    }

    /// 204 without a body.
    pub fn no_content() -> Self {
        Reply {
            status: 204,
            body: None,
            set_cookie: None,
        }
    }

    /// The body as the client receives it, tokens included (for tests and custom
    /// integrations; [`Response::from`] writes it).
    pub fn body_json(&self) -> Option<Value> {
        self.body.as_ref().map(Body::to_json)
    }
}

/// An answer ready to be written by an integration: status, headers and body bytes.
///
/// Its `Debug` output shows the status, the header names and the body's length only:
/// the body or a `Set-Cookie` may hold a token.
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(&'static str, String)>,
    /// The body (empty for 204).
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(name, _)| *name).collect();
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &names)
            .field("body_len", &self.body.len())
            .finish()
    }
}

const JSON: &str = "application/json";

impl From<Reply> for Response {
    fn from(reply: Reply) -> Self {
        let mut headers = Vec::with_capacity(2);
        let body = match reply.body {
            Some(body) => {
                headers.push(("content-type", JSON.to_owned()));
                serde_json::to_vec(&body.to_json()).unwrap_or_else(|_| b"{}".to_vec())
            }
            None => Vec::new(),
        };
        if let Some(cookie) = reply.set_cookie {
            headers.push(("set-cookie", cookie.expose_secret().to_owned()));
        }
        Response {
            status: reply.status,
            headers,
            body,
        }
    }
}

impl Response {
    /// `error` as the contract answers it: its status, `{"detail": ...}` (or field
    /// errors) as JSON, `WWW-Authenticate` with `config`'s keyword and realm on 401, and
    /// `Retry-After` on 429.
    pub fn error(error: &HttpError, config: &HttpConfig) -> Self {
        let mut headers = vec![("content-type", JSON.to_owned())];
        headers.extend(error.headers(config.challenge_keyword(), &config.realm));
        Response {
            status: error.status,
            headers,
            body: error.body_bytes(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn debug_output_redacts_tokens_by_type() {
        let token = TokenString::generate(&durin_core::TokenPrefix::new("durin").unwrap());
        let secret = token.expose_secret().to_owned();
        let reply = Reply {
            set_cookie: Some(SecretString::from(format!("durin_token={secret}"))),
            ..Reply::issued(200, Map::new(), vec![("token", token)])
        };
        let debug = format!("{reply:?}");
        assert!(!debug.contains(&secret[6..]), "{debug}");
        assert_eq!(reply.body_json().unwrap()["token"], secret.as_str());
        let response = format!("{:?}", Response::from(reply));
        assert!(!response.contains(&secret[6..]), "{response}");
    }

    #[test]
    fn responses_carry_the_json_and_the_cookie() {
        let reply = Reply {
            set_cookie: Some(SecretString::from("durin_token=x; Path=/")),
            ..Reply::json(200, json!({"expiry": null}))
        };
        let response = Response::from(reply);
        assert_eq!(response.status, 200);
        assert_eq!(response.body, br#"{"expiry":null}"#);
        assert!(
            response
                .headers
                .contains(&("set-cookie", "durin_token=x; Path=/".to_owned()))
        );
        assert!(!format!("{response:?}").contains("durin_token"));
    }
}
