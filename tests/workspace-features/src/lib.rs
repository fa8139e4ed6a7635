//! Nothing to use: this crate exists for its `Cargo.toml`, which turns on the native crate's
//! optional features (`redis`) in workspace builds so that their tests are built and run by
//! `cargo test --workspace`.
#![forbid(unsafe_code)]
