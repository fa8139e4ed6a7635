//! The native crate's errors: the core's, plus what I/O adds (transport, time-outs, storage,
//! the loopback callback, configuration).
//!
//! Every error has a stable [`code()`](Error::code) and a one-line [`hint()`](Error::hint) that
//! the CLI prints under the message. Messages never contain a secret.

use std::time::Duration;

use thiserror::Error;

/// Any error of the native crate.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The protocol core refused: an OAuth error, a protocol violation, a failed security
    /// check or an API misuse (see [`mcpauth_core::Error`]).
    #[error(transparent)]
    Core(#[from] mcpauth_core::Error),
    /// A request could not be sent or its response not read (DNS, connect, TLS, reset).
    #[error("request to {url} failed: {reason}")]
    Transport {
        /// The request URL.
        url: String,
        /// What the HTTP client reported.
        reason: String,
    },
    /// Something did not finish in time.
    #[error("{what} timed out after {}", fmt_duration(*.after))]
    Timeout {
        /// What was waited for, such as `GET https://as.example/.well-known/...`.
        what: String,
        /// How long it was given.
        after: Duration,
    },
    /// The token store failed: unreadable, undecryptable, tampered with, or unavailable.
    #[error("token store: {reason}")]
    Store {
        /// What went wrong; never contains a secret.
        reason: String,
    },
    /// The loopback callback server could not deliver an authorization response.
    #[error("authorization callback: {reason}")]
    Callback {
        /// What went wrong.
        reason: String,
    },
    /// The fixed loopback port asked for is taken by another program.
    #[error(
        "port {port} on 127.0.0.1 is already in use, so the login callback cannot listen there"
    )]
    PortInUse {
        /// The port.
        port: u16,
    },
    /// No tokens are stored for the server (or they were revoked and deleted).
    #[error("not logged in to {server}")]
    NotLoggedIn {
        /// The server URL or configured name.
        server: String,
    },
    /// The configuration file or a configured value is invalid.
    #[error("configuration: {reason}")]
    Config {
        /// What is wrong, naming the file and field.
        reason: String,
    },
    /// The user or the caller cancelled the operation.
    #[error("cancelled")]
    Cancelled,
    /// A local I/O operation failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Error {
    /// A stable, machine-readable code: the core's code for [`Error::Core`], such as
    /// `ISSUER_MISMATCH`, and one per variant otherwise.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Error::Core(e) => e.code(),
            Error::Transport { .. } => "TRANSPORT",
            Error::Timeout { .. } => "TIMEOUT",
            Error::Store { .. } => "STORE",
            Error::Callback { .. } => "CALLBACK",
            Error::PortInUse { .. } => "PORT_IN_USE",
            Error::NotLoggedIn { .. } => "NOT_LOGGED_IN",
            Error::Config { .. } => "CONFIG",
            Error::Cancelled => "CANCELLED",
            Error::Io(_) => "IO",
        }
    }

    /// A one-line suggestion of what to do next, for the CLI; `None` when there is nothing
    /// useful to add to the message.
    #[must_use]
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Error::Core(e) => core_hint(e),
            Error::Transport { .. } => Some("check the URL and your network connection"),
            Error::Timeout { .. } => {
                Some("the server is slow or unreachable; try again or raise the timeout")
            }
            Error::Store { .. } => Some(
                "if the store key changed or a file is damaged, run `mcpauth logout` and log in again",
            ),
            Error::Callback { .. } => Some("start the login again"),
            Error::PortInUse { .. } => {
                Some("choose another --port, or omit it to let the system pick a free one")
            }
            Error::NotLoggedIn { .. } => Some("run `mcpauth login`"),
            Error::Config { .. } => {
                Some("fix the configuration file (`mcpauth status` shows its path)")
            }
            Error::Cancelled | Error::Io(_) => None,
        }
    }
}

fn core_hint(e: &mcpauth_core::Error) -> Option<&'static str> {
    match e.code() {
        "INSECURE_URL" => Some("use an https URL; plain http is accepted only for localhost"),
        "STATE_MISMATCH" | "STATE_MISSING" => Some("start the login again from this terminal"),
        "NO_REFRESH_TOKEN" => Some("run `mcpauth login`"),
        "DISCOVERY_FAILED" => Some(
            "check that the URL is the MCP endpoint, or set authorization_endpoint and token_endpoint in the configuration",
        ),
        "NO_CLIENT_IDENTITY" => {
            Some("pre-register a client and set client_id in the configuration")
        }
        _ => match e.oauth().map(|o| o.error.as_str()) {
            Some("invalid_grant") => Some("run `mcpauth login`"),
            Some("access_denied") => Some("the login was declined; start it again to retry"),
            _ => None,
        },
    }
}

/// `1.5s`, `300ms`, `2m 5s`: short enough for one-line messages.
fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        let tenths = ms / 100;
        if tenths % 10 == 0 {
            format!("{}s", tenths / 10)
        } else {
            format!("{}.{}s", tenths / 10, tenths % 10)
        }
    } else {
        let secs = d.as_secs();
        match secs % 60 {
            0 => format!("{}m", secs / 60),
            s => format!("{}m {s}s", secs / 60),
        }
    }
}

/// Shorthand for results of the native crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use mcpauth_core::{OAuthError, SecurityError};

    #[test]
    fn core_errors_keep_their_code() {
        let e = Error::from(mcpauth_core::Error::from(SecurityError::StateMismatch));
        assert_eq!(e.code(), "STATE_MISMATCH");
        assert!(e.hint().is_some());
    }

    #[test]
    fn invalid_grant_suggests_logging_in_again() {
        let e = Error::from(mcpauth_core::Error::from(OAuthError {
            error: "invalid_grant".into(),
            error_description: None,
            error_uri: None,
            status: 400,
            where_: "https://as.example/token".into(),
        }));
        assert_eq!(e.code(), "OAUTH_ERROR");
        assert_eq!(e.hint(), Some("run `mcpauth login`"));
    }

    #[test]
    fn every_variant_has_a_stable_code() {
        let cases = [
            (
                Error::Transport {
                    url: "u".into(),
                    reason: "r".into(),
                },
                "TRANSPORT",
            ),
            (
                Error::Timeout {
                    what: "w".into(),
                    after: Duration::from_millis(1500),
                },
                "TIMEOUT",
            ),
            (Error::Store { reason: "r".into() }, "STORE"),
            (Error::Callback { reason: "r".into() }, "CALLBACK"),
            (Error::PortInUse { port: 8080 }, "PORT_IN_USE"),
            (Error::NotLoggedIn { server: "s".into() }, "NOT_LOGGED_IN"),
            (Error::Config { reason: "r".into() }, "CONFIG"),
            (Error::Cancelled, "CANCELLED"),
            (Error::Io(std::io::Error::other("x")), "IO"),
        ];
        for (e, code) in cases {
            assert_eq!(e.code(), code, "{e}");
        }
    }

    #[test]
    fn timeouts_read_naturally() {
        let e = |ms| Error::Timeout {
            what: "GET https://as.example/x".into(),
            after: Duration::from_millis(ms),
        };
        assert_eq!(
            e(300).to_string(),
            "GET https://as.example/x timed out after 300ms"
        );
        assert_eq!(
            e(1500).to_string(),
            "GET https://as.example/x timed out after 1.5s"
        );
        assert_eq!(
            e(30_000).to_string(),
            "GET https://as.example/x timed out after 30s"
        );
        assert_eq!(
            e(125_000).to_string(),
            "GET https://as.example/x timed out after 2m 5s"
        );
    }

    #[test]
    fn port_in_use_names_the_port_and_suggests_a_fix() {
        let e = Error::PortInUse { port: 8765 };
        assert!(e.to_string().contains("8765"));
        assert!(e.hint().is_some_and(|h| h.contains("port")));
    }
}
