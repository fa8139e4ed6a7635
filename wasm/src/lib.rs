//! # mcpauth-wasm: proof that mcpauth-core builds and runs on wasm32
//!
//! This crate only drives [`mcpauth_core`]; it makes no protocol decision of its own. For now it
//! exports three functions that exercise the parts of the core most likely to break on
//! `wasm32-unknown-unknown`: hashing ([`pkce_challenge`]), the getrandom `wasm_js` backend
//! ([`generate_pkce`]) and JSON parsing with URL checks ([`parse_authorization_server_metadata`]).
//! `scripts/test` builds it, runs wasm-bindgen and calls the exports from Node
//! (`wasm/tests/proof.test.mjs`). The real npm binding replaces these exports later.
//!
//! Each export is a thin wrapper over a plain Rust function, so the logic is unit-tested
//! natively and the wrappers only convert errors to `JsError`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

use mcpauth_core::discovery::process_authorization_server_metadata_response;
use mcpauth_core::{HttpResponse, OsEntropy, Pkce, Policy};
use url::Url;
use wasm_bindgen::prelude::*;

/// A PKCE verifier and its S256 challenge, as handed to JavaScript.
#[wasm_bindgen]
#[derive(Debug)]
pub struct PkcePair {
    verifier: String,
    challenge: String,
}

#[wasm_bindgen]
impl PkcePair {
    /// The verifier, to keep until the code exchange.
    #[wasm_bindgen(getter)]
    pub fn verifier(&self) -> String {
        self.verifier.clone()
    }

    /// `BASE64URL(SHA256(verifier))`, for the authorization request.
    #[wasm_bindgen(getter)]
    pub fn challenge(&self) -> String {
        self.challenge.clone()
    }
}

/// The S256 challenge of `verifier` (RFC 7636 §4.2).
#[wasm_bindgen(js_name = pkceChallenge)]
#[must_use]
pub fn pkce_challenge(verifier: &str) -> String {
    mcpauth_core::pkce::s256_challenge(verifier)
}

/// A fresh verifier and challenge drawn from `crypto.getRandomValues`.
///
/// # Errors
/// When the JavaScript host has no `crypto.getRandomValues`.
#[wasm_bindgen(js_name = generatePkce)]
pub fn generate_pkce() -> Result<PkcePair, JsError> {
    let pkce = Pkce::generate(&mut OsEntropy).map_err(to_js)?;
    Ok(PkcePair {
        verifier: pkce.verifier.secret().to_owned(),
        challenge: pkce.challenge,
    })
}

/// Validates an authorization server metadata response fetched from `url` for `issuer` and
/// returns the metadata as JSON.
///
/// # Errors
/// When `url` is not a URL, or the core refuses the response (for example an issuer mismatch).
#[wasm_bindgen(js_name = parseAuthorizationServerMetadata)]
pub fn parse_authorization_server_metadata(
    issuer: &str,
    url: &str,
    status: u16,
    body: &str,
) -> Result<String, JsError> {
    metadata_json(issuer, url, status, body).map_err(|e| JsError::new(&e))
}

/// The logic of [`parse_authorization_server_metadata`], free of JavaScript types.
fn metadata_json(issuer: &str, url: &str, status: u16, body: &str) -> Result<String, String> {
    let url = Url::parse(url).map_err(|e| format!("invalid url `{url}`: {e}"))?;
    let response = HttpResponse::json(status, body);
    let metadata =
        process_authorization_server_metadata_response(issuer, &url, &response, &Policy::default())
            .map_err(|e| e.to_string())?;
    serde_json::to_string(&metadata).map_err(|e| e.to_string())
}

/// The core's message becomes the JavaScript `Error` message.
fn to_js(error: mcpauth_core::Error) -> JsError {
    JsError::new(&error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUER: &str = "https://as.example";
    const URL: &str = "https://as.example/.well-known/oauth-authorization-server";

    fn doc(issuer: &str) -> String {
        format!(
            r#"{{"issuer":"{issuer}","authorization_endpoint":"{issuer}/authorize","token_endpoint":"{issuer}/token","code_challenge_methods_supported":["S256"]}}"#
        )
    }

    #[test]
    fn challenge_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn valid_metadata_comes_back_as_json() {
        let json = metadata_json(ISSUER, URL, 200, &doc(ISSUER)).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["token_endpoint"], "https://as.example/token");
    }

    #[test]
    fn issuer_mismatch_is_refused_with_a_message_naming_the_issuer() {
        let err = metadata_json(ISSUER, URL, 200, &doc("https://evil.example")).unwrap_err();
        assert!(err.contains("issuer"), "{err}");
    }

    #[test]
    fn unparsable_url_is_refused() {
        let err = metadata_json(ISSUER, "not a url", 200, &doc(ISSUER)).unwrap_err();
        assert!(err.contains("invalid url"), "{err}");
    }
}
