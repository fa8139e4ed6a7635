//! ID-token claims (OpenID Connect Core §2), read unverified for display: the JWT as a
//! string, and its payload as JSON behind a fixed header.
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use mcpauth_core::IdToken;
use mcpauth_core::userinfo::id_token_identity;

fuzz_target!(|data: &[u8]| {
    // The input as the whole token.
    if let Ok(text) = std::str::from_utf8(data)
        && let Some(who) = id_token_identity(&IdToken::new(text))
    {
        let _ = who.label();
    }
    // The input as the payload's JSON: reaches the claims parser on every input.
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data);
    let jwt = format!("eyJhbGciOiJub25lIn0.{payload}.");
    if let Some(who) = id_token_identity(&IdToken::new(jwt)) {
        let _ = who.or_issuer("https://mcp.example").label();
    }
});
