//! A bridge from MCP hosts to OAuth-protected remote MCP servers: what `mcpauth proxy` runs.
//!
//! Many MCP hosts can only start local servers that speak the stdio transport, and many that
//! speak Streamable HTTP cannot do OAuth. The bridge stands in for the remote server: the host
//! talks to it as to any local MCP server, and it forwards every message to the remote one
//! with a bearer token, through [`AuthClient::execute`](crate::AuthClient::execute), which
//! adds the token, refreshes once on 401, steps up on 403 `insufficient_scope` and logs in
//! when the bridge may. The bridge itself decides nothing about OAuth.
//!
//! # Two ways in
//! - **stdio** ([`Bridge::run_stdio`]): one JSON-RPC message (or batch) per line on stdin,
//!   each forwarded as one Streamable HTTP `POST`; whatever the server answers (a JSON body,
//!   or the events of an SSE body as they arrive) goes to stdout, one message per line.
//!   stdout carries nothing else: logs go to stderr (and a `--log` file). Messages are handled
//!   concurrently, so a long SSE answer does not hold up the next request, and one task owns
//!   stdout. `initialize` is the exception: later messages wait for its answer, which carries
//!   the session id and protocol version they need. After it succeeded, the optional `GET`
//!   stream for server-initiated messages is opened (no stream on 405 or 404; a dropped one
//!   is reopened a bounded number of times, with backoff and `Last-Event-ID`). At the end of
//!   stdin, the requests in flight are answered, the session is ended with a best-effort
//!   `DELETE`, and the bridge returns.
//! - **loopback HTTP** ([`Bridge::listen`]): a Streamable HTTP endpoint at
//!   `http://127.0.0.1:PORT/mcp` for hosts that speak HTTP but not OAuth. Only loopback
//!   addresses are listened on, and requests whose `Host` is not a loopback name with the
//!   bound port, or whose `Origin` is not a loopback origin, get 403: otherwise any web page
//!   could reach the user's servers through the bridge by DNS rebinding (the MCP transport
//!   spec asks servers for exactly this check). The MCP headers are passed both ways; the
//!   caller's `Authorization` is dropped, since the bridge adds its own.
//!
//! # Headers
//! In stdio mode every `POST` carries `Content-Type: application/json`,
//! `Accept: application/json, text/event-stream`, `Mcp-Session-Id` once the server gave one
//! (in the `initialize` response), `MCP-Protocol-Version` once negotiated (the `initialize`
//! result's `protocolVersion`), and `Mcp-Method` plus, for `tools/call` and `prompts/get`
//! (`params.name`) and `resources/read` (`params.uri`), `Mcp-Name`, each only when its value
//! is a valid header value. This covers both the 2025-11-25 and the 2026-07-28 wire.
//!
//! # Errors reach the host as JSON-RPC errors
//! A request the bridge cannot forward (transport failure, time-out, no login possible, a
//! server error that is not JSON-RPC) is answered with an error for its id, from
//! [`errors`]: `-32001` with the `mcpauth login` command to run when only a login can help,
//! else `-32000` with the message, the hint and mcpauth's error code. A server's 4xx/5xx whose
//! body is a JSON-RPC message is passed through as it is. A 404 to a request that carried a
//! session id means the session is over: the host gets an error saying so, and the id is
//! forgotten.

pub mod errors;
mod listen;
mod log;
pub mod message;
pub mod sse;
mod stdio;
mod upstream;

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

pub use listen::{listen_address, loopback_host, loopback_origin};

use crate::error::Result;
use crate::session::{LoginOptions, Session};
use log::Log;
use upstream::Upstream;

/// A bridge to one remote MCP server. Run it with [`run_stdio`](Self::run_stdio) or
/// [`listen`](Self::listen).
#[derive(Debug)]
pub struct Bridge {
    upstream: Upstream,
    /// The server as the user named it (a URL or a configured name), for messages.
    server: String,
    login_allowed: bool,
    log: Log,
    /// What the server gave in stdio mode: the session id and protocol version.
    state: Mutex<SessionState>,
}

#[derive(Debug, Default)]
struct SessionState {
    session_id: Option<String>,
    protocol_version: Option<String>,
}

impl Bridge {
    /// A bridge to the MCP server at `server_url`, named `server` in messages (the name or URL
    /// the user gave, so that `mcpauth login <server>` works as printed). With `login`, a
    /// request that needs a login starts one with these options (the session's UI shows it);
    /// without, such a request is answered with a "not logged in" error.
    ///
    /// # Errors
    /// [`Error::Transport`](crate::Error::Transport) when the HTTP client cannot be built.
    pub fn new(
        session: Session,
        server_url: &str,
        server: &str,
        login: Option<LoginOptions>,
    ) -> Result<Self> {
        let login_allowed = login.is_some();
        Ok(Self {
            upstream: Upstream::new(session, server_url, login)?,
            server: server.to_owned(),
            login_allowed,
            log: Log::default(),
            state: Mutex::default(),
        })
    }

    /// Adds `headers` to every request to the server (a gateway's key from the
    /// configuration, say).
    #[must_use]
    pub fn with_headers(mut self, headers: impl IntoIterator<Item = (String, String)>) -> Self {
        self.upstream.add_headers(headers);
        self
    }

    /// Also appends the log to `path`.
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) naming the file when it cannot be opened.
    pub fn with_log_file(mut self, path: &Path) -> Result<Self> {
        self.log = Log::open(Some(path))?;
        Ok(self)
    }

    fn state(&self) -> MutexGuard<'_, SessionState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
