//! The sessions page (`GET /`) and what it needs from the servers: the cookie transport
//! and a named-tokens client.
//!
//! The page is server-rendered HTML with a little plain JavaScript (no build step, no
//! CDN). It signs in with the cookie transport (an HttpOnly cookie the script never sees;
//! the Origin check guards every unsafe request) and uses only the documented endpoints
//! through `fetch`.

use std::num::NonZeroU32;

use durin_core::{Client, ClientName};
use durin_http::{CookieConfig, HttpConfig};

use crate::Demo;

/// The page, with `{{CLIENT_OPTIONS}}` where the sign-in form lists the clients.
const PAGE: &str = include_str!("../assets/index.html");

/// The headers of `GET /`: HTML, never cached, never framed (no clickjacking of the
/// revoke buttons), and a content policy that allows only this origin and the page's own
/// inline script and style.
pub const PAGE_HEADERS: &[(&str, &str)] = &[
    ("content-type", "text/html; charset=utf-8"),
    ("cache-control", "no-store"),
    ("x-frame-options", "DENY"),
    (
        "content-security-policy",
        // The page's one inline script is allowed by its hash, not by 'unsafe-inline':
        // injected markup cannot run script (`the_csp_hash_is_the_scripts` keeps it true).
        concat!(
            "default-src 'self'; script-src 'self' 'sha256-/t1RVcdJWg1i9c4iGAGSgJfHlF/DWpnMMf05d4gMfp4='; ",
            "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'"
        ),
    ),
];

/// The cap of a tokens client the servers create (`--tokens-client` without `--client`).
pub const TOKENS_CLIENT_CAP: u32 = 100;

/// The example servers' HTTP settings: the contract's defaults plus the cookie transport
/// (`Secure`, `SameSite=Strict`, HttpOnly, the Origin check), which the sessions page
/// signs in with. Browsers accept `Secure` cookies from `http://localhost` and
/// `http://127.0.0.1`, so the page also works over plain HTTP on the loopback.
pub fn http_config() -> HttpConfig {
    HttpConfig::default().with_cookie(Some(CookieConfig::default()))
}

/// The tokens client `--tokens-client NAME` creates when `--client` does not declare it:
/// tokens that never expire unless asked, at most 100 per user.
pub fn tokens_client(name: ClientName) -> Client {
    let cap = NonZeroU32::new(TOKENS_CLIENT_CAP).unwrap_or(NonZeroU32::MIN);
    Client::new(name)
        .with_token_ttl(None)
        .with_max_tokens_per_user(cap)
}

impl Demo {
    /// The sessions page: its sign-in form offers the clients of `--client` (neither the
    /// API-access client nor the tokens client: those are not signed in with).
    pub fn page(&self) -> String {
        let special = [&self.args.api_access_client, &self.args.tokens_client];
        let options: String = self
            .args
            .clients
            .iter()
            .filter(|c| !special.iter().any(|s| s.as_ref() == Some(&c.name)))
            .filter(|c| !self.args.introspection_clients.contains(&c.name))
            .map(|c| {
                let name = escape(c.name.as_str());
                format!("<option value=\"{name}\">{name}</option>")
            })
            .collect();
        PAGE.replace("{{CLIENT_OPTIONS}}", &options)
    }
}

/// HTML-escapes text for an element or a quoted attribute.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&#39;");
    }

    #[test]
    fn the_page_has_one_placeholder() {
        assert_eq!(PAGE.matches("{{CLIENT_OPTIONS}}").count(), 1);
        assert!(
            !PAGE.contains("http://") && !PAGE.contains("https://"),
            "no CDN"
        );
    }

    #[test]
    fn the_csp_hash_is_the_scripts() {
        use sha2::Digest as _;
        let script = PAGE
            .split("<script>")
            .nth(1)
            .and_then(|rest| rest.split("</script>").next())
            .expect("one inline script");
        assert_eq!(PAGE.matches("<script").count(), 1, "one script, hashed");
        let digest = sha2::Sha256::digest(script.as_bytes());
        let hash = format!("'sha256-{}'", base64(&digest));
        let csp = PAGE_HEADERS
            .iter()
            .find(|(name, _)| *name == "content-security-policy")
            .map(|(_, value)| *value)
            .unwrap_or_default();
        assert!(csp.contains(&hash), "update the CSP to {hash}: {csp}");
        assert!(
            !csp.split(';')
                .any(|d| d.trim().starts_with("script-src") && d.contains("unsafe-inline"))
        );
    }

    /// Standard base64 with padding (RFC 4648 §4).
    fn base64(bytes: &[u8]) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn the_tokens_client_never_expires_and_caps_at_100() {
        let c = tokens_client(ClientName::new("pat").unwrap());
        assert_eq!(c.token_ttl, None);
        assert_eq!(c.max_tokens_per_user.get(), 100);
    }
}
