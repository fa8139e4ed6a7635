//! The whole flow as sans-IO machines: login, access (with single-flight refresh), the
//! protected MCP request, and logout.
//!
//! The protocol *steps* are pairs elsewhere in this crate; the machines here string them
//! together, so that every decision about the flow (what to send next, what to store under
//! which key, when to give up) is made once, here, and drivers only do I/O. They follow the
//! shape of quinn-proto's `Connection` and str0m's `Rtc`:
//!
//! | call | the driver... |
//! |---|---|
//! | [`Machine::poll_transmit`] | sends each request it yields (concurrently when several are out) |
//! | [`Machine::handle_response`] / [`Machine::handle_failure`] | feeds back what came of each |
//! | [`Machine::poll_timeout`] / [`Machine::handle_timeout`] | sleeps until the time given, then says so |
//! | [`Machine::poll_event`] | acts on events: store I/O, a lock, a browser, a prompt; [`Event::Done`] ends it |
//!
//! After every `handle_*` call, drain `poll_transmit` and `poll_event` until both are `None`,
//! then wait for a response, a store answer, or the timeout. The loop is written once per
//! runtime (tokio, JavaScript), never once per flow:
//!
//! ```
//! use mcpauth_core::flow::{Access, Event, Machine};
//! use mcpauth_core::{Policy, ResourceUri, Time};
//!
//! let server = ResourceUri::parse("https://mcp.example/mcp")?;
//! let mut access = Access::new(server, None, Policy::default());
//! let now = Time::from_unix_secs(1_000); // a real driver reads its clock here
//! let result = loop {
//!     while let Some((_id, _request)) = access.poll_transmit() {
//!         // send it; later: access.handle_response(now, id, response)
//!     }
//!     match access.poll_event() {
//!         // Nothing is stored in this example.
//!         Some(Event::Load { key }) => access.handle_loaded(now, &key, None),
//!         Some(Event::Done(result)) => break result,
//!         Some(_other) => {} // Save, Delete, Lock, ...
//!         None => {
//!             // Wait for a response, or until poll_timeout(), then handle_timeout().
//!             let at = access.poll_timeout().expect("something to wait for");
//!             access.handle_timeout(at);
//!         }
//!     }
//! };
//! assert_eq!(result.unwrap_err().code(), "LOGIN_REQUIRED");
//! # Ok::<(), mcpauth_core::Error>(())
//! ```
//!
//! Store I/O is asked for with [`Event::Load`], [`Event::Save`] and [`Event::Delete`]; the
//! driver performs saves and deletes in the order they come, before it reports
//! [`Event::Done`] to its caller, and answers each `Load` with [`Machine::handle_loaded`].
//! What is stored, and under which key, is [`store`]'s.

pub mod access;
mod acquire;
pub mod error;
pub mod freshness;
pub mod login;
pub mod logout;
mod outbox;
pub mod profile;
pub mod protected;
pub mod store;
mod token_call;

#[cfg(test)]
mod tests;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::device::DeviceAuthorization;
use crate::error::Result;
use crate::http::{HttpRequest, HttpResponse};
use crate::time::Time;

pub use crate::discovery::RequestId;
pub use access::Access;
pub use login::{
    CredentialSource, EnterpriseIdp, Login, LoginConfig, LoginOutcome, MachineGrant, Redirect,
};
pub use logout::Logout;
pub use profile::Profile;
pub use protected::{McpAction, ProtectedRequest};

/// How long one HTTP request may take, from sending to the last byte, unless the caller says
/// otherwise. A server that accepts the connection and never answers, or answers one byte a
/// second, fails with [`Failure::Timeout`] then.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request produced no response, for [`Machine::handle_failure`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Failure {
    /// The connection failed or broke: refused, reset, DNS, TLS, a header over the host's
    /// limit. `reason` is for messages.
    Transport {
        /// What the transport reported.
        reason: String,
    },
    /// The driver's own deadline for the request passed.
    Timeout,
    /// The caller cancelled the operation.
    Aborted,
}

/// What a machine asks of its driver, in order. The last one is always [`Event::Done`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<T> {
    /// Read the record stored under `key` and answer with [`Machine::handle_loaded`] (`None`
    /// when there is none). The machine waits for it.
    Load {
        /// The store key.
        key: String,
    },
    /// Store `record` (JSON text) under `key`, replacing what is there.
    Save {
        /// The store key.
        key: String,
        /// The record, versioned JSON ([`store`]).
        record: String,
    },
    /// Delete what is stored under `key`.
    Delete {
        /// The store key.
        key: String,
    },
    /// Take the lock named `key` (in-process and across processes), then call
    /// [`Machine::handle_locked`]. Hold it until [`Event::Done`].
    Lock {
        /// The lock name.
        key: String,
    },
    /// Listen for the authorization redirect on a loopback port (RFC 8252 §7.3): `port` if it
    /// is free (`required`: only that one), else any. Answer with
    /// [`Login::set_redirect_uri`] and the address bound.
    Listen {
        /// The port to bind first: the one the reused registration lists, or the caller's.
        port: Option<u16>,
        /// The caller fixed the port: fail rather than take another.
        required: bool,
        /// The callback path.
        path: &'static str,
    },
    /// Send the user agent to `url`; hand the redirect back with [`Login::handle_callback`].
    Authorize {
        /// The authorization URL.
        url: String,
    },
    /// A callback that does not carry this login's `state` arrived and was ignored (a forged
    /// request must not cancel the login). Tell the user at once; the login goes on.
    ForeignCallback,
    /// Read the credential `source` names (a file, an environment variable) and answer with
    /// [`Machine::handle_credential`]. The machine waits for it.
    Credential {
        /// Where to read it (never [`CredentialSource::Value`](login::CredentialSource)).
        source: login::CredentialSource,
    },
    /// Show the user the code and where to enter it (RFC 8628 §3.3).
    DeviceCode(DeviceAuthorization),
    /// Something went wrong that does not fail the operation (a revocation the server
    /// refused, a userinfo request that failed). For logs and CLI warnings.
    Warning(crate::Error),
    /// The operation is over.
    Done(Result<T>),
}

impl<T> Event<T> {
    /// The event's kind, as the npm package names it (`load`, `save`, `device_code`, ...):
    /// what a log may show of it, since its payload (a record, an authorization URL, a store
    /// key) can hold secrets.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Load { .. } => "load",
            Self::Save { .. } => "save",
            Self::Delete { .. } => "delete",
            Self::Lock { .. } => "lock",
            Self::Listen { .. } => "listen",
            Self::Authorize { .. } => "authorize",
            Self::ForeignCallback => "foreign_callback",
            Self::Credential { .. } => "credential",
            Self::DeviceCode(_) => "device_code",
            Self::Warning(_) => "warning",
            Self::Done(_) => "done",
        }
    }
}

/// The one shape of every machine in this module. Inputs that only one machine takes (a
/// callback URL, a redirect URI, an MCP response) are its inherent methods.
pub trait Machine {
    /// What [`Event::Done`] carries on success.
    type Output;

    /// The next request to send, with the id to report its outcome under. Several may be
    /// outstanding; send them concurrently. Poll again after every `handle_*` call.
    #[must_use]
    fn poll_transmit(&mut self) -> Option<(RequestId, HttpRequest)>;

    /// The response to request `id`. Unknown or late ids are ignored.
    fn handle_response(&mut self, now: Time, id: RequestId, response: HttpResponse);

    /// Request `id` produced no response. Unknown or late ids are ignored.
    fn handle_failure(&mut self, now: Time, id: RequestId, failure: Failure);

    /// When to call [`handle_timeout`](Self::handle_timeout) next, if anything waits on time
    /// (a device poll, a request's deadline, the operation's deadline).
    #[must_use]
    fn poll_timeout(&self) -> Option<Time>;

    /// The time given by [`poll_timeout`](Self::poll_timeout) has come (or passed).
    fn handle_timeout(&mut self, now: Time);

    /// The answer to [`Event::Load`]: the record stored under `key`, if any.
    fn handle_loaded(&mut self, now: Time, key: &str, record: Option<String>);

    /// The lock asked for with [`Event::Lock`] is held.
    fn handle_locked(&mut self, now: Time) {
        let _ = now;
    }

    /// The answer to [`Event::Credential`]: the credential read (surrounding whitespace
    /// trimmed by the core), or why it could not be read (for the error message; it must not
    /// contain the credential).
    fn handle_credential(&mut self, now: Time, value: std::result::Result<String, String>) {
        let _ = (now, value);
    }

    /// The caller gave up: the machine ends with [`Error::Aborted`](crate::Error).
    fn abort(&mut self);

    /// The next event, if any.
    #[must_use]
    fn poll_event(&mut self) -> Option<Event<Self::Output>>;
}
