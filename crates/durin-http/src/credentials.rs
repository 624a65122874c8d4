//! Reading credentials from a request: the `Authorization` header (configurable keywords,
//! django-rest-durin's messages for malformed headers) or, when configured, a cookie with
//! an Origin-check CSRF defence.

use durin_core::{Authenticated, Durin, LegacyToken, TokenString, Transport};

use crate::error::{Challenge, HttpError, messages};

pub use crate::adapter::RequestInfo;
pub use crate::config::{CookieConfig, CsrfDefence, HttpConfig, SameSite};

/// Credentials found in a request.
#[derive(Debug)]
pub enum Credentials {
    /// None of ours (no header, or a foreign scheme such as `Basic`): another mechanism
    /// may handle the request.
    None,
    /// A well-formed token from the `Authorization` header.
    Header(TokenString),
    /// A well-formed token from the cookie.
    Cookie(TokenString),
    /// A legacy token from the `Authorization` header (only with
    /// [`HttpConfig::accept_legacy_tokens`]).
    LegacyHeader(LegacyToken),
}

impl Credentials {
    /// Reads the credentials of a request; no I/O. A malformed header or token is an
    /// error here, before any store is asked.
    ///
    /// # Errors
    /// 401 with the contract's message for a keyword without a token, a token with
    /// spaces, or a malformed token; 403 for a cookie-authenticated unsafe request that
    /// fails the CSRF check.
    pub fn from_request(config: &HttpConfig, info: &RequestInfo<'_>) -> Result<Self, HttpError> {
        if let Some(header) = info.authorization
            && let Some(credentials) = from_header(config, header)?
        {
            return Ok(credentials);
        }
        if let Some(cookie_config) = &config.cookie
            && let Some(value) = info
                .cookie
                .and_then(|c| cookie_value(c, &cookie_config.name))
        {
            let token = parse_token(value)?;
            if !info.safe_method {
                check_origin(cookie_config, info)?;
            }
            return Ok(Credentials::Cookie(token));
        }
        Ok(Credentials::None)
    }
}

/// Whether a cookie-authenticated request passes the Origin check of `config`'s cookie
/// transport (CSRF): its `Origin` (else `Referer`) names its own `Host` or a trusted
/// origin. `true` when the cookie transport is off.
pub fn origin_check_passes(config: &HttpConfig, info: &RequestInfo<'_>) -> bool {
    config
        .cookie
        .as_ref()
        .is_none_or(|cookie| check_origin(cookie, info).is_ok())
}

/// Authenticates a request: reads its credentials, then asks the service. `Ok(None)`
/// when the request carries none of ours.
///
/// # Errors
/// The contract's 401/403/503 answers.
pub async fn authenticate(
    durin: &Durin,
    config: &HttpConfig,
    info: &RequestInfo<'_>,
) -> Result<Option<Authenticated>, HttpError> {
    Credentials::from_request(config, info)?
        .authenticate(durin)
        .await
}

impl Credentials {
    /// Authenticates these credentials with `durin`: `None` without any.
    ///
    /// # Errors
    /// The contract's 401/503 answers.
    pub async fn authenticate(self, durin: &Durin) -> Result<Option<Authenticated>, HttpError> {
        let (token, transport) = match self {
            Credentials::None => return Ok(None),
            Credentials::Header(token) => (token, Transport::Header),
            Credentials::Cookie(token) => (token, Transport::Cookie),
            Credentials::LegacyHeader(token) => {
                return Ok(Some(
                    durin.authenticate_legacy(&token, Transport::Header).await?,
                ));
            }
        };
        Ok(Some(durin.authenticate(&token, transport).await?))
    }
}

/// `Ok(None)` for a foreign scheme.
fn from_header(config: &HttpConfig, header: &[u8]) -> Result<Option<Credentials>, HttpError> {
    let mut parts = header
        .split(|b| b.is_ascii_whitespace())
        .filter(|p| !p.is_empty());
    let Some(keyword) = parts.next() else {
        return Ok(None);
    };
    if !config
        .keywords
        .iter()
        .any(|k| k.as_bytes().eq_ignore_ascii_case(keyword))
    {
        return Ok(None);
    }
    let malformed = |message| HttpError::unauthorized(message, Challenge::InvalidRequest);
    let Some(token) = parts.next() else {
        return Err(malformed(messages::NO_CREDENTIALS));
    };
    if parts.next().is_some() {
        return Err(malformed(messages::SPACES));
    }
    if config.accept_legacy_tokens
        && let Some(legacy) = std::str::from_utf8(token)
            .ok()
            .and_then(|text| LegacyToken::parse(text).ok())
    {
        return Ok(Some(Credentials::LegacyHeader(legacy)));
    }
    parse_token(token).map(|token| Some(Credentials::Header(token)))
}

fn parse_token(bytes: &[u8]) -> Result<TokenString, HttpError> {
    let invalid = || HttpError::unauthorized(messages::INVALID_TOKEN, Challenge::InvalidToken);
    let text = std::str::from_utf8(bytes).map_err(|_| invalid())?;
    TokenString::parse(text).map_err(|reason| {
        tracing::debug!(?reason, "malformed token refused before any I/O");
        invalid()
    })
}

fn cookie_value<'a>(header: &'a [u8], name: &str) -> Option<&'a [u8]> {
    header.split(|&b| b == b';').find_map(|pair| {
        let pair = pair.trim_ascii();
        let eq = pair.iter().position(|&b| b == b'=')?;
        (pair[..eq].trim_ascii() == name.as_bytes()).then(|| pair[eq + 1..].trim_ascii())
    })
}

fn check_origin(config: &CookieConfig, info: &RequestInfo<'_>) -> Result<(), HttpError> {
    let CsrfDefence::Origin { trusted } = &config.csrf;
    let refused = || {
        tracing::debug!("cookie-authenticated unsafe request failed the Origin check");
        HttpError::detail(403, messages::CSRF)
    };
    let source = info.origin.or(info.referer).ok_or_else(refused)?;
    let source = std::str::from_utf8(source).map_err(|_| refused())?;
    // scheme://host[:port] of the Origin or Referer.
    let origin = match source.find("://") {
        Some(i) => {
            let rest = &source[i + 3..];
            &source[..i + 3 + rest.find('/').unwrap_or(rest.len())]
        }
        None => return Err(refused()),
    };
    let scheme_end = origin.find("://").unwrap_or(0);
    let (scheme, host_part) = (&origin[..scheme_end], &origin[scheme_end + 3..]);
    // The scheme counts too: a Secure cookie belongs to an https:// origin (plain
    // http:// only on the loopback, where browsers keep Secure cookies too); without
    // Secure, http:// or https://; never anything else.
    let scheme_ok = scheme.eq_ignore_ascii_case("https")
        || (scheme.eq_ignore_ascii_case("http") && (!config.secure || is_loopback(host_part)));
    let same_host = scheme_ok
        && info
            .host
            .is_some_and(|host| host.eq_ignore_ascii_case(host_part.as_bytes()));
    if same_host || trusted.iter().any(|t| t.eq_ignore_ascii_case(origin)) {
        Ok(())
    } else {
        Err(refused())
    }
}

/// Whether `host[:port]` names the loopback (`localhost`, `127.0.0.0/8`, `[::1]`).
fn is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use durin_core::TokenPrefix;

    fn token() -> String {
        TokenString::generate(&TokenPrefix::default())
            .expose_secret()
            .to_owned()
    }

    fn header(value: &str) -> Result<Credentials, HttpError> {
        let info = RequestInfo {
            authorization: Some(value.as_bytes()),
            safe_method: true,
            ..RequestInfo::default()
        };
        Credentials::from_request(&HttpConfig::default(), &info)
    }

    #[test]
    fn keywords_are_case_insensitive_and_spaces_repeatable() {
        let t = token();
        for value in [
            format!("Bearer {t}"),
            format!("token {t}"),
            format!("BEARER    {t}  "),
        ] {
            assert!(
                matches!(header(&value), Ok(Credentials::Header(_))),
                "{value}"
            );
        }
    }

    #[test]
    fn foreign_schemes_are_left_alone() {
        assert!(matches!(
            header("Basic dXNlcjpwYXNz"),
            Ok(Credentials::None)
        ));
        assert!(matches!(header("Digest x"), Ok(Credentials::None)));
        assert!(matches!(header(""), Ok(Credentials::None)));
    }

    #[test]
    fn malformed_headers_have_durins_messages() {
        let e = header("Bearer").unwrap_err();
        assert_eq!(e.body["detail"], messages::NO_CREDENTIALS);
        assert_eq!(e.challenge, Some(Challenge::InvalidRequest));
        let e = header(&format!("Token {} extra", token())).unwrap_err();
        assert_eq!(e.body["detail"], messages::SPACES);
        let e = header("Bearer durin_notatoken").unwrap_err();
        assert_eq!(e.body["detail"], messages::INVALID_TOKEN);
        assert_eq!(e.challenge, Some(Challenge::InvalidToken));
    }

    #[test]
    fn cookies_need_a_matching_origin_for_unsafe_methods() {
        let config = HttpConfig::default().with_cookie(Some(CookieConfig::default()));
        let cookie = format!("theme=dark; durin_token={}", token());
        let mut info = RequestInfo {
            cookie: Some(cookie.as_bytes()),
            host: Some(b"api.example.com"),
            safe_method: true,
            ..RequestInfo::default()
        };
        assert!(matches!(
            Credentials::from_request(&config, &info),
            Ok(Credentials::Cookie(_))
        ));
        info.safe_method = false;
        assert_eq!(
            Credentials::from_request(&config, &info)
                .unwrap_err()
                .status,
            403
        );
        info.origin = Some(b"https://evil.example.net");
        assert_eq!(
            Credentials::from_request(&config, &info)
                .unwrap_err()
                .status,
            403
        );
        info.origin = Some(b"https://api.example.com");
        assert!(matches!(
            Credentials::from_request(&config, &info),
            Ok(Credentials::Cookie(_))
        ));
        // The scheme counts: a Secure cookie's origin is https:// (http:// only on the
        // loopback), never another scheme.
        for origin in ["http://api.example.com", "ftp://api.example.com"] {
            info.origin = Some(origin.as_bytes());
            assert_eq!(
                Credentials::from_request(&config, &info)
                    .unwrap_err()
                    .status,
                403,
                "{origin}"
            );
        }
        info.host = Some(b"127.0.0.1:8000");
        info.origin = Some(b"http://127.0.0.1:8000");
        assert!(Credentials::from_request(&config, &info).is_ok());
    }

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "localhost:80",
            "127.0.0.1:8000",
            "[::1]:3000",
            "127.1.2.3",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "example.com",
            "10.0.0.1:80",
            "[2001:db8::1]:80",
            "localhost.evil",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    fn header_with(config: &HttpConfig, value: &str) -> Result<Credentials, HttpError> {
        let info = RequestInfo {
            authorization: Some(value.as_bytes()),
            safe_method: true,
            ..RequestInfo::default()
        };
        Credentials::from_request(config, &info)
    }

    #[test]
    fn legacy_tokens_only_when_configured() {
        let hex = "0123456789abcdef".repeat(4);
        let off = header_with(&HttpConfig::default(), &format!("Token {hex}")).unwrap_err();
        assert_eq!(off.body["detail"], messages::INVALID_TOKEN);
        let on = HttpConfig::default().with_accept_legacy_tokens(true);
        for value in [
            format!("Token {hex}"),
            format!("Bearer {}", &hex[..40]),
            format!("Token app_{hex}"),
        ] {
            assert!(
                matches!(header_with(&on, &value), Ok(Credentials::LegacyHeader(_))),
                "{value}"
            );
        }
        // durin tokens still parse as such, and garbage is still refused before I/O.
        assert!(matches!(
            header_with(&on, &format!("Bearer {}", token())),
            Ok(Credentials::Header(_))
        ));
        let e = header_with(&on, "Token not-hex").unwrap_err();
        assert_eq!(e.status, 401);
        assert_eq!(e.body["detail"], messages::INVALID_TOKEN);
    }

    #[test]
    fn set_cookie_has_the_safe_defaults() {
        let c = CookieConfig::default().set_cookie("t", Some(60));
        assert_eq!(
            c,
            "durin_token=t; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=60"
        );
    }
}
