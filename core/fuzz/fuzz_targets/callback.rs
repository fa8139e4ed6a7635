//! Callback URLs (RFC 6749 §4.1.2, RFC 9207): the redirect's validation against the pending
//! login, the cheap "does it belong to this login" check, and the pending-record key taken
//! from it.
//!
//! Input: a selector byte (bit 0: whether the server promised `iss`), then the URL.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcpauth_core::authorize::{
    PendingAuthorization, callback_belongs_to, validate_authorization_response,
};
use mcpauth_core::flow::store::pending_key_for_callback;

const PENDING: &str = r#"{"issuer":"https://mcp.example","iss_parameter_supported":ISS,
    "token_endpoint":"https://mcp.example/token","client_id":"c",
    "redirect_uri":"http://127.0.0.1:50000/callback","resource":null,"scope":null,
    "state":"s-123","verifier":"v"}"#;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(callback) = std::str::from_utf8(rest) else {
        return;
    };
    let iss = if selector & 1 == 1 { "true" } else { "false" };
    let Ok(pending) = serde_json::from_str::<PendingAuthorization>(&PENDING.replace("ISS", iss))
    else {
        return;
    };
    let belongs = callback_belongs_to(&pending, callback);
    let validated = validate_authorization_response(&pending, callback);
    // A callback that does not carry the state is never accepted.
    assert!(
        belongs || validated.is_err(),
        "a callback without the state was accepted"
    );
    let _ = pending_key_for_callback(callback);
});
