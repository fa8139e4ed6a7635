//! The boundary as the npm package uses it: machines created, fed and drained through the
//! exported functions, with JSON text and bytes, in the WebAssembly build itself. Runs in Node
//! under wasm-bindgen-test-runner (`scripts/test`). A small synchronous driver
//! ([`fixtures::Drive`]) answers transmits from canned responses and keeps a store in memory.
#![cfg(target_arch = "wasm32")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod errors;
mod fixtures;
mod helpers;
mod machines;
mod protected;
