//! # mcpauth: OAuth 2.1 for MCP clients and CLIs
//!
//! Drives the sans-IO [`mcpauth_core`] with reqwest and tokio: discovery, client
//! registration, the browser (loopback, RFC 8252), paste and device (RFC 8628) flows, token
//! storage in the OS keychain or an encrypted file, single-flight refresh, and an HTTP
//! wrapper that authenticates requests to MCP servers. No protocol decision is made here.
//!
//! ```no_run
//! # async fn demo() -> mcpauth::Result<()> {
//! use mcpauth::session::{LoginOptions, Session};
//!
//! let session = Session::builder(mcpauth::default_store()?).build()?;
//! session.login("https://mcp.example.com/mcp", &LoginOptions::default()).await?;
//! let token = session.access_token("https://mcp.example.com/mcp").await?; // refreshed as needed
//! # let _ = token; Ok(()) }
//! ```
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

pub mod auth_client;
pub mod browser;
pub mod config;
pub mod error;
pub mod http;
pub mod loopback;
pub mod session;
pub mod store;
pub mod ui;

pub use auth_client::AuthClient;
pub use config::{Config, ServerConfig};
pub use error::{Error, Result};
pub use http::HttpDriver;
pub use loopback::LoopbackServer;
pub use session::{Flow, LoginOptions, LoginSummary, Session};
#[cfg(feature = "keychain")]
pub use store::KeyringStore;
pub use store::{FileStore, MemoryStore, StoreLock, TokenStore, default_store};
