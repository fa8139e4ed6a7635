//! Protected resource metadata (RFC 9728) and authorization server metadata (RFC 8414,
//! OpenID Connect Discovery) responses, with the metadata URLs they are fetched from.
//!
//! Input: a selector byte (even: resource metadata, odd: server metadata), then the
//! response as [`response_from_bytes`] reads it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcpauth_core::discovery::{
    authorization_server_metadata_urls, process_authorization_server_metadata_response,
    process_protected_resource_metadata_response, protected_resource_metadata_urls,
};
use mcpauth_core::{Policy, ResourceUri};
use mcpauth_core_fuzz::{ISSUER, MCP, response_from_bytes};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let resp = response_from_bytes(rest);
    let policy = Policy::default();
    let Ok(server) = ResourceUri::parse(MCP) else {
        return;
    };
    if selector % 2 == 0 {
        let Ok(url) = url::Url::parse(&format!(
            "{ISSUER}/.well-known/oauth-protected-resource/mcp"
        )) else {
            return;
        };
        if let Ok(prm) = process_protected_resource_metadata_response(&server, &url, &resp, &policy)
        {
            for issuer in &prm.authorization_servers {
                let _ = authorization_server_metadata_urls(issuer, &policy);
            }
        }
        // The body as the challenge's `resource_metadata` URL.
        let given = String::from_utf8_lossy(rest);
        let _ = protected_resource_metadata_urls(&server, Some(&given), &policy);
    } else {
        let Ok(url) = url::Url::parse(&format!("{ISSUER}/.well-known/oauth-authorization-server"))
        else {
            return;
        };
        let _ = process_authorization_server_metadata_response(ISSUER, &url, &resp, &policy);
        let _ = authorization_server_metadata_urls(&String::from_utf8_lossy(rest), &policy);
    }
});
