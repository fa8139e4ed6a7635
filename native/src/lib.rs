//! # mcpauth: OAuth 2.1 for MCP clients and CLIs
//!
//! This crate drives the sans-IO protocol core, [`mcpauth_core`], with real I/O: every
//! protocol decision (which URL to try next, what to accept, when a token is expired) is the
//! core's; this crate sends requests, listens for the browser's redirect, and keeps tokens.
//!
//! - [`HttpDriver`] (in [`http`]): sends the core's requests with reqwest and rustls (no
//!   OpenSSL), following no redirect, capping bodies, bounding each request by a time-out,
//!   and runs the core's state machines ([`HttpDriver::discover`]).
//! - [`LoopbackServer`] (in [`loopback`]): the RFC 8252 redirect receiver on `127.0.0.1`.
//! - [`browser::open`]: prints the authorization URL and opens the browser.
//! - [`store`]: [`TokenStore`] with the OS keychain, an encrypted file store and a memory
//!   store, and cross-process locks so that two processes never spend one refresh token.
//! - [`config`]: named servers and the directories mcpauth uses.
//! - [`Error`]: one error type with stable [`code()`](Error::code)s and CLI
//!   [`hint()`](Error::hint)s.
//!
//! ```no_run
//! # async fn demo() -> mcpauth::Result<()> {
//! use std::time::Duration;
//! use mcpauth::{HttpDriver, LoopbackServer};
//! use mcpauth_core::{Policy, discovery::Discovery};
//!
//! let http = HttpDriver::new(Duration::from_secs(30))?;
//! let discovery = Discovery::new("https://mcp.example.com/mcp", None, Policy::default())?;
//! let found = http.discover(discovery).await?;
//! println!("authorization server: {}", found.issuer);
//!
//! let callback = LoopbackServer::bind(None, "/callback")?;
//! println!("redirect_uri: {}", callback.redirect_uri());
//! // ... build the authorization URL with mcpauth_core, mcpauth::browser::open(..),
//! // then callback.wait(&pending, Duration::from_secs(300)).await? ...
//! # Ok(()) }
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
