//! The endpoint responses after discovery: registration (RFC 7591), token (RFC 6749: code
//! exchange and refresh), device authorization (RFC 8628), token exchange (RFC 8693),
//! revocation (RFC 7009) and userinfo (OpenID Connect Core §5.3).
//!
//! Input: a selector byte (modulo 8: registration, token, code exchange, refresh, device,
//! exchange, revocation, userinfo; bit 3 set: the response is also labelled
//! `application/x-www-form-urlencoded`, first, as GitHub answers token requests), then the
//! response as [`response_from_bytes`] reads it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcpauth_core::authorize::PendingAuthorization;
use mcpauth_core::device::process_device_authorization_response;
use mcpauth_core::exchange::process_token_exchange_response;
use mcpauth_core::registration::process_registration_response;
use mcpauth_core::revocation::process_revocation_response;
use mcpauth_core::token::{
    process_authorization_code_response, process_refresh_response, process_token_response,
};
use mcpauth_core::userinfo::{id_token_identity, process_userinfo_response};
use mcpauth_core::{AuthorizationServerMetadata, Policy, Time};
use mcpauth_core_fuzz::{ISSUER, logged_in, response_from_bytes};

const PENDING: &str = r#"{"issuer":"https://mcp.example","iss_parameter_supported":true,
    "token_endpoint":"https://mcp.example/token","client_id":"c",
    "redirect_uri":"http://127.0.0.1:50000/callback","resource":"https://mcp.example/mcp",
    "scope":"mcp:read","state":"s-123","verifier":"v"}"#;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let mut resp = response_from_bytes(rest);
    if selector & 0x08 != 0 {
        resp.headers.insert(
            0,
            (
                "content-type".to_owned(),
                "application/x-www-form-urlencoded; charset=utf-8".to_owned(),
            ),
        );
    }
    let policy = Policy::default();
    let now = Time::from_unix_secs(1_000_000);
    let url = |path: &str| url::Url::parse(&format!("{ISSUER}{path}")).ok();
    match selector % 8 {
        0 => {
            let server = AuthorizationServerMetadata::for_tests(ISSUER);
            if let Some(u) = url("/register")
                && let Ok(reg) = process_registration_response(&server, &u, &resp, &policy)
            {
                let _ = reg.is_secret_expired(now);
            }
        }
        1 => {
            if let Some(u) = url("/token")
                && let Ok(tokens) = process_token_response(now, &u, &resp, &policy)
            {
                let _ = tokens.lifetime();
                let _ = tokens.is_expired(now, mcpauth_core::DEFAULT_EXPIRY_MARGIN);
                let _ = tokens.id_token.as_ref().map(id_token_identity);
            }
        }
        2 => {
            let Ok(pending) = serde_json::from_str::<PendingAuthorization>(PENDING) else {
                return;
            };
            if let Some(u) = url("/token") {
                let _ = process_authorization_code_response(now, &pending, &u, &resp, &policy);
            }
        }
        3 => {
            let previous = &logged_in().1.tokens;
            if let Some(u) = url("/token") {
                let _ = process_refresh_response(now, previous, &u, &resp, &policy);
            }
        }
        4 => {
            if let Some(u) = url("/device") {
                let _ = process_device_authorization_response(now, &u, &resp, &policy);
            }
        }
        5 => {
            if let Some(u) = url("/token") {
                let _ = process_token_exchange_response(now, &u, &resp, &policy);
            }
        }
        6 => {
            if let Some(u) = url("/revoke") {
                let _ = process_revocation_response(&u, &resp, &policy);
            }
        }
        _ => {
            if let Some(u) = url("/userinfo")
                && let Ok(who) = process_userinfo_response(&u, &resp, &policy)
            {
                let _ = who.or_issuer(ISSUER).label();
            }
        }
    }
});
