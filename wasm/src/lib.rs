//! # mcpauth-wasm: mcpauth-core for JavaScript
//!
//! The WebAssembly binding behind the `mcpauth` npm package (Layer 1 of its design). It only
//! drives [`mcpauth_core`]: every OAuth decision stays in the core, this crate converts values
//! and does the I/O the core leaves to drivers.
//!
//! | JS export | module | what it is |
//! |---|---|---|
//! | `processXxxResponse`, `xxxRequest`, `xxxUrls` | [`discovery`], [`client`], [`authorize`], [`grant`], [`device`] | the core's pairs, one to one |
//! | `Discovery`, `DevicePoll`, `StepUpTracker`, `AuthorizationResponse` | same | the core's machines and opaque values as classes |
//! | `discover`, `obtainClient`, `exchangeCode`, `refreshGrant`, `revokeGrant`, `exchangeToken`, `deviceLogin`, `sendRequest` | [`flows`] | async functions over `fetch` ([`fetch`]) |
//! | `McpAuthError` (`mcpAuthErrorClass()`) | [`error`] | the one error class, with the core's `code` |
//!
//! Values cross as described in [`convert`]: records in the core's serde shape (persistable
//! with `JSON.stringify`), options camelCase. The time comes from `Date.now()` (most functions
//! also take an explicit `now` in milliseconds, for tests) and randomness from
//! `crypto.getRandomValues` (getrandom's `wasm_js` backend, enabled by the core on wasm32).
//!
//! The exported functions are thin: parse arguments, call the core, convert the result. Their
//! behaviour is tested in `tests/binding.rs` (wasm-bindgen-test, run in Node by
//! `scripts/test`); the npm package's TypeScript types live in `npm/src/core.ts`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod authorize;
pub mod client;
pub mod convert;
pub mod device;
pub mod discovery;
pub mod error;
pub mod fetch;
pub mod flows;
pub mod grant;

#[cfg(test)]
mod tests {
    /// `idna_adapter` is pinned to its no-Unicode stream (wasm/Cargo.toml) to halve the module:
    /// ASCII and punycode hosts parse as before, non-ASCII hosts are refused. This test fails if
    /// the pin is dropped, so the README's statement stays true.
    #[test]
    fn ascii_and_punycode_hosts_parse_but_unicode_hosts_are_refused() {
        for ok in [
            "https://MCP.Example.com/mcp",
            "https://xn--bcher-kva.example/mcp",
            "http://127.0.0.1:8080/",
        ] {
            assert!(url::Url::parse(ok).is_ok(), "{ok}");
        }
        assert!(url::Url::parse("https://bücher.example/mcp").is_err());
    }
}
