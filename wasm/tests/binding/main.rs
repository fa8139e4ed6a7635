//! The boundary as the npm package uses it: machines created, fed and drained through the
//! exported functions, with JSON text and bytes, in the WebAssembly build itself. Runs in Node
//! under wasm-bindgen-test-runner (`scripts/test`). A small synchronous driver
//! ([`fixtures::Drive`]) answers transmits from canned responses and keeps a store in memory.
#![cfg(target_arch = "wasm32")]
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml
#![allow(missing_docs)]

mod errors;
mod fixtures;
mod helpers;
mod machines;
mod protected;
