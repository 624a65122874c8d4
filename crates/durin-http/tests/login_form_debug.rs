//! Issue 12, item 5: a parsed login form's `Debug` never shows the password.

use durin_http::LoginForm;

#[test]
fn login_form_debug_redacts_the_password() {
    for (content_type, body) in [
        (
            Some("application/json"),
            &br#"{"username":"alice","password":"s3cret-pw","client":"web"}"#[..],
        ),
        (
            Some("application/x-www-form-urlencoded"),
            &b"username=alice&password=s3cret-pw&client=web"[..],
        ),
    ] {
        let form = LoginForm::parse(content_type, body).unwrap();
        assert_eq!(form.password.as_deref(), Some("s3cret-pw"));
        let debug = format!("{form:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(
            debug.contains("alice") && debug.contains("[redacted]"),
            "{debug}"
        );
    }
    let none = LoginForm::parse(Some("application/json"), br#"{"username":"a"}"#).unwrap();
    assert!(format!("{none:?}").contains("password: None"));
}
