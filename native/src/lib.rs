//! mcpauth
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

pub mod browser;
pub mod config;
pub mod error;
pub mod http;
pub mod loopback;
pub mod store;

pub use config::{Config, ServerConfig};
pub use error::{Error, Result};
pub use http::HttpDriver;
pub use loopback::LoopbackServer;
#[cfg(feature = "keychain")]
pub use store::KeyringStore;
pub use store::{FileStore, MemoryStore, StoreLock, TokenStore, default_store};
