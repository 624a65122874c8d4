//! Fuzzes the login form parser (issue 12, item 8): arbitrary bodies as JSON, as
//! `application/x-www-form-urlencoded`, and with any content type. No input panics; a
//! refusal is a 400; a parsed form's `Debug` never shows the password.
#![no_main]

use durin_http::LoginForm;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let content_type = match selector % 4 {
        0 => None,
        1 => Some("application/json"),
        2 => Some("application/x-www-form-urlencoded"),
        _ => Some("text/plain; charset=utf-8"),
    };
    match LoginForm::parse(content_type, body) {
        Ok(form) => {
            if let Some(password) = form.password.as_deref()
                && password.len() >= 4
            {
                let debug = format!("{form:?}");
                assert!(!debug.contains(password), "the password in Debug: {debug}");
            }
        }
        Err(e) => assert_eq!(e.status, 400),
    }
});
