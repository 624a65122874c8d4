//! Fuzzes the configuration parsers (TTLs, rates, client names): no input panics, and
//! whatever parses renders back to something that parses to the same value.
#![no_main]

use durin_core::{ClientName, Rate, format_ttl, parse_ttl};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(ttl) = parse_ttl(text) {
        if let Some(d) = ttl {
            assert!(!d.is_zero());
        }
        assert_eq!(parse_ttl(&format_ttl(ttl)).unwrap(), ttl);
    }
    if let Ok(rate) = text.parse::<Rate>() {
        assert_eq!(rate.to_string().parse::<Rate>().unwrap(), rate);
    }
    if let Ok(name) = ClientName::new(text) {
        assert_eq!(name.as_str(), text);
    }
});
