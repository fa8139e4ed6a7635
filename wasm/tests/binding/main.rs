//! The binding as JavaScript sees it: values built in JS, passed through the exports, results
//! and errors read back with `Reflect`. Runs in Node under wasm-bindgen-test-runner
//! (`scripts/test`); `globalThis.fetch` is replaced by `stub_fetch.js` where HTTP is involved.
#![cfg(target_arch = "wasm32")]
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml
#![allow(missing_docs)]

mod errors;
mod fixtures;
mod flows;
mod machines;
mod pairs;
