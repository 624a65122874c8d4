//! Fuzzes the credentials parser (issue 12, item 8): arbitrary `Authorization`, `Cookie`,
//! `Origin`, `Referer` and `Host` headers, with and without the cookie transport. No
//! input panics; a token that is accepted is well formed and came from the header or
//! cookie it was read from; a refusal is a 401 or a 403.
#![no_main]

use durin_http::{CookieConfig, Credentials, HttpConfig, RequestInfo};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    safe_method: bool,
    cookies_on: bool,
    authorization: Option<&'a [u8]>,
    cookie: Option<&'a [u8]>,
    origin: Option<&'a [u8]>,
    referer: Option<&'a [u8]>,
    host: Option<&'a [u8]>,
}

fuzz_target!(|input: Input<'_>| {
    let mut config = HttpConfig::default();
    if input.cookies_on {
        config = config.with_cookie(Some(CookieConfig::default()));
    }
    let info = RequestInfo {
        safe_method: input.safe_method,
        authorization: input.authorization,
        cookie: input.cookie,
        origin: input.origin,
        referer: input.referer,
        host: input.host,
    };
    match Credentials::from_request(&config, &info) {
        Ok(Credentials::None) => {}
        Ok(Credentials::Header(token)) => {
            let header = input.authorization.expect("a header token came from a header");
            let text = token.expose_secret();
            assert!(text.len() <= durin_core::MAX_TOKEN_LEN);
            assert!(header.windows(text.len()).any(|w| w == text.as_bytes()));
        }
        Ok(Credentials::Cookie(token)) => {
            assert!(input.cookies_on, "a cookie token with cookies off");
            let cookie = input.cookie.expect("a cookie token came from a cookie");
            let text = token.expose_secret();
            assert!(cookie.windows(text.len()).any(|w| w == text.as_bytes()));
        }
        Ok(Credentials::LegacyHeader(_)) => {
            panic!("a legacy token while legacy tokens are off");
        }
        Err(e) => {
            let status = e.status;
            assert!(status == 401 || status == 403, "status {status}");
        }
    }
});
