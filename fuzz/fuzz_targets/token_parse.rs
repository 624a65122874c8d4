//! Fuzzes the token codec: any input either fails to parse or parses to a token whose
//! text is exactly the input and whose prefix is valid.
#![no_main]

use durin_core::{TokenPrefix, TokenString};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(token) = TokenString::parse(text) {
        assert_eq!(token.expose_secret(), text);
        assert!(TokenPrefix::new(token.prefix()).is_ok());
        assert!(text.len() <= durin_core::MAX_TOKEN_LEN);
    }
});
