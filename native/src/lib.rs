//! # mcpauth: OAuth 2.1 for MCP clients and CLIs
//!
//! This crate drives the sans-IO protocol core, [`mcpauth_core`], with real I/O: every
//! protocol decision (which URL to try next, what to accept, when a token is expired, what to
//! store under which key) is the core's. The whole flow is the core's machines
//! ([`mcpauth_core::flow`]); this crate has one loop that pumps any of them on tokio: it sends
//! their requests, listens for the browser's redirect, keeps their records, and sleeps until
//! their timeouts.
//!
//! - [`Session`] (in [`session`]): log in (browser, paste or device flow), get a fresh access
//!   token (single-flight refresh, in-process and across processes), log out, list logins.
//! - [`AuthClient`]: requests to MCP servers with the bearer token, driven by the core's
//!   [`ProtectedRequest`](mcpauth_core::flow::ProtectedRequest): one refresh and retry on 401,
//!   step-up authorization on 403 `insufficient_scope`.
//! - [`HttpDriver`] (in [`http`]): sends the core's requests with reqwest and rustls (no
//!   OpenSSL), following no redirect, capping bodies, bounding each request by a time-out.
//! - [`LoopbackServer`] (in [`loopback`]): the RFC 8252 redirect receiver on `127.0.0.1`.
//! - [`browser::open`] and [`ui::LoginUi`]: how a login reaches the person.
//! - [`store`]: [`TokenStore`] with the OS keychain, an encrypted file store, a memory
//!   store and (feature `redis`) a Redis store, and cross-process locks so that two processes
//!   never spend one refresh token.
//! - [`keys`]: the signatures of the JWTs the core writes (ES256, RS256): the client's
//!   `private_key_jwt` [`ClientKey`] (PEM or JWK), and a fresh DPoP key for each DPoP login.
//!   Machine logins (client credentials, workload identity, enterprise-managed authorization)
//!   are [`LoginOptions::grant`]; their file and environment credentials are read by the
//!   driver each time a token is obtained.
//! - [`config`]: named servers and the directories mcpauth uses.
//! - [`Error`]: one error type with stable [`code()`](Error::code)s and CLI
//!   [`hint()`](Error::hint)s.
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

pub mod auth_client;
#[cfg(feature = "bridge")]
pub mod bridge;
pub mod browser;
pub mod config;
mod credential;
mod driver;
pub mod error;
pub mod http;
pub mod keys;
pub mod loopback;
pub mod session;
pub mod store;
pub mod ui;

pub use auth_client::AuthClient;
pub use config::{Config, ServerConfig};
pub use error::{Error, Result};
pub use http::HttpDriver;
pub use keys::ClientKey;
pub use loopback::LoopbackServer;
pub use session::{Flow, LoginOptions, LoginSummary, Session};
#[cfg(feature = "keychain")]
pub use store::KeyringStore;
#[cfg(feature = "redis")]
pub use store::RedisStore;
pub use store::{FileStore, MemoryStore, StoreLock, TokenStore, default_store};

/// The README's examples, compiled (and run where they need no network) as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
