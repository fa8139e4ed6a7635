//! # mcpauth-wasm: the flow machines of mcpauth-core for JavaScript
//!
//! The WebAssembly boundary of the `mcpauth` npm package. It is small and synchronous: a
//! handful of exports create a machine of [`mcpauth_core::flow`], feed it, and drain it, with
//! data as JSON text (and bytes for response bodies). There is no async Rust, no `fetch` and no
//! promise in here: the package's one driver loop (`runMachine` in `npm/src/pump.ts`) sends the
//! requests, sleeps, and touches storage, exactly as the native driver does with tokio.
//!
//! | export | what |
//! |---|---|
//! | `machine_new(kind, config, now, seed) -> handle` | a `login`, `resume`, `access`, `logout` or `discover` machine |
//! | `machine_response(handle, id, status, headers, body, now)` | the response to a transmit |
//! | `machine_input(handle, input, now)` | anything else: a failure, the time, a store answer, a lock, a callback, a redirect URI, a credential, abort |
//! | `machine_drain(handle, now)` | what the machine asks for now: transmits (with the JWTs to sign, dated `now`), events, when to wake it |
//! | `machine_free(handle)` | forgets the machine (its result too) |
//! | `protected_new(server, headers, login_allowed, method) -> handle`, `protected_step(handle, tracker, input, now)`, `protected_free` | the decisions around one authorized MCP request |
//! | `tracker_new() -> handle`, `tracker_free` | a step-up tracker, one per `McpAuth` |
//! | `canonical_server`, `grant_key`, `pending_key_for_callback`, `stored_grant`, `login_status`, `constants` | pure helpers |
//!
//! ## The JSON rules
//!
//! - Every string an export returns is JSON. A failure is always `{"error": ErrorJson}`, with
//!   `ErrorJson = {code, message, oauth?: {error, error_description?, error_uri?, status,
//!   where}}` ([`error`]); nothing is thrown.
//! - `machine_new` cannot fail: a configuration that does not parse, or a server URL that is
//!   not valid, gives a machine whose first drain ends it with that error. So there is one
//!   place where a flow's outcome arrives: its `done` event.
//! - Configurations and inputs use camelCase field names; records of the core (`Grant`,
//!   `BearerChallenge`, `LoginStatus`, store records) keep the core's own serde shape; tags are
//!   snake_case. The shapes are documented on [`wire`]'s and [`error`]'s types, from which
//!   `scripts/gen-types` generates the TypeScript types that `npm/src/wire.ts` re-exports
//!   (feature `ts`).
//! - Times are milliseconds since the Unix epoch, passed in by the caller on every call
//!   (`now`); a login's randomness is passed in too (`seed`, 64 bytes from
//!   `crypto.getRandomValues`). The one thing drawn here is each signed JWT's `jti`
//!   (getrandom, which calls `crypto.getRandomValues`).
//!
//! ## Signing
//!
//! The core writes every JWT a request carries (DPoP proofs, `private_key_jwt` client
//! assertions) as a template; the drain dates it (`iat`, `jti`, `exp`) and hands the driver
//! `signings: [{key, alg, input, place}]` on the transmit. The driver signs `input` with the key
//! `key` names (`{"kind": "dpop", "key": KeyHandle}` or `{"kind": "client"}`) using `alg`
//! (ES256: the raw 64-byte `r || s` WebCrypto gives; RS256: PKCS#1 v1.5 with SHA-256) and puts
//! `input "." base64url(signature)` where `place` says: `{"kind": "header", "name": "dpop"}` or
//! `{"kind": "form", "name": "client_assertion"}` (appended to the body). Nothing about the JWT
//! is decided in JavaScript.
//!
//! A drain, after every call that feeds a machine:
//!
//! ```json
//! {"transmits": [{"id": 1, "method": "GET", "url": "https://...", "headers": [["accept", "application/json"]],
//!                 "body": null, "maxResponseBytes": 1048576, "timeoutMs": 30000, "followRedirects": false,
//!                 "signings": []}],
//!  "events": [{"kind": "load", "key": "grant#https://mcp.example.com/mcp"}],
//!  "timeout": 1767225600000}
//! ```
//!
//! Events, in the order the driver must act on them: `load {key}` (answer with a `loaded`
//! input), `save {key, record}`, `delete {key}`, `lock {key}` (answer with `locked`; hold the
//! lock until `done`), `listen {port, required, path}` (answer with `redirect_uri`),
//! `authorize {url}`, `foreign_callback`, `credential {source}` (read the file or environment
//! variable and answer with a `credential` input: `{value}` or `{error}`), `device_code
//! {user_code, verification_uri, verification_uri_complete?, expires_at, interval}`, `warning
//! {error}`, and last `done {ok}` or `done {error}`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod error;
pub mod helpers;
mod input;
pub mod machine;
pub mod protected;
mod table;
pub mod wire;

pub use helpers::{
    canonical_server, constants, grant_key, login_status, pending_key_for_callback, stored_grant,
};
pub use machine::{machine_drain, machine_free, machine_input, machine_new, machine_response};
pub use protected::{protected_free, protected_new, protected_step, tracker_free, tracker_new};

#[cfg(test)]
mod tests {
    /// `idna_adapter` is pinned to its no-Unicode stream in this workspace's lock (wasm/Cargo.toml)
    /// to halve the module: ASCII and punycode hosts parse as before, non-ASCII hosts are
    /// refused. This test fails if the pin is dropped, so the README's statement stays true.
    /// The native crate's lock has the Unicode back end (native/src/config.rs tests IDN hosts).
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
