//! Fuzzes the Redis record decoder (issue 12, item 8): arbitrary bytes as a stored
//! session or client record. No input panics; whatever decodes encodes back to a record
//! that decodes to the same value.
#![no_main]

use durin_redis::fuzzing::{decode_client, decode_session, encode_client, encode_session};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(session) = decode_session(data) {
        let again = decode_session(&encode_session(&session)).expect("re-encoded session");
        assert_eq!(again, session);
    }
    if let Ok(client) = decode_client("web", data) {
        let again = decode_client("web", &encode_client(&client)).expect("re-encoded client");
        assert_eq!(again, client);
    }
});
