//! `WWW-Authenticate` (RFC 9110 §11.6.1, RFC 6750 §3): the challenge parser, the Bearer view
//! of it, and the 401/403 classification over one or several header fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcpauth_core::HttpResponse;
use mcpauth_core::challenge::{BearerChallenge, classify_response, parse_www_authenticate};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(challenges) = parse_www_authenticate(text) {
        for challenge in &challenges {
            if let Some(bearer) = BearerChallenge::from_challenge(challenge) {
                let _ = bearer.scopes().count();
                let _ = bearer.is_insufficient_scope();
            }
        }
    }
    // The same text as one field, and split at newlines into several, on both statuses.
    let fields: Vec<(String, String)> = text
        .split('\n')
        .map(|v| ("WWW-Authenticate".to_owned(), v.to_owned()))
        .collect();
    for status in [401, 403] {
        let one = vec![("www-authenticate".to_owned(), text.to_owned())];
        let _ = classify_response(&HttpResponse::new(status, one, Vec::new()));
        let _ = classify_response(&HttpResponse::new(status, fields.clone(), Vec::new()));
    }
});
