//! Fuzzes the login form parser (issue 12, item 8): arbitrary bodies as JSON, as
//! `application/x-www-form-urlencoded`, and with any content type. No input panics; a
//! refusal is a 400; a parsed form's `Debug` does not depend on the password.
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
            // Debug does not depend on the password (only on whether there is one).
            if form.password.is_some() {
                let other = LoginForm {
                    password: Some("another password".to_owned()),
                    ..form.clone()
                };
                assert_eq!(format!("{form:?}"), format!("{other:?}"));
            }
        }
        Err(e) => assert_eq!(e.status, 400),
    }
});
