//! The stored-record format (`flow::store`): grant, registration and pending-login records,
//! a login resumed from its pending record, and the keys derived from lock names.
//!
//! Input: a selector byte (modulo 4), then the record text. A record that parses must
//! encode and parse again to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcpauth_core::Time;
use mcpauth_core::flow::Login;
use mcpauth_core::flow::store::{
    GrantRecord, LoginStatus, PendingLogin, RegisteredFlow, RegistrationRecord, grant_key_for_lock,
};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let now = Time::from_unix_secs(1_000_000);
    match selector % 4 {
        0 => {
            if let Ok(record) = GrantRecord::parse("grant#https://mcp.example/mcp", text) {
                let _ = LoginStatus::of(&record, now).expires_in();
                let again = serde_json::to_string(&record).unwrap_or_default();
                let back = GrantRecord::parse("grant#https://mcp.example/mcp", &again);
                assert_eq!(
                    back.ok().as_ref(),
                    Some(&record),
                    "a grant record does not round-trip"
                );
            }
        }
        1 => {
            if let Ok(record) = serde_json::from_str::<RegistrationRecord>(text) {
                let _ = record.fits(
                    RegisteredFlow::Code,
                    Some("http://127.0.0.1:50000/callback"),
                    now,
                );
                let _ = record.loopback_port();
            }
        }
        2 => {
            let _ = PendingLogin::parse("pending#s-123", text);
            if let Ok(mut login) = Login::resume("pending#s-123", text) {
                let _ = login.deadline();
                let _ = login.handle_callback(now, "/callback?code=c&state=s-123");
            }
        }
        _ => {
            let _ = grant_key_for_lock(text);
        }
    }
});
