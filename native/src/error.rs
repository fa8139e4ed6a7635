//! The native crate's errors: the core's, plus what I/O adds (transport, time-outs, storage,
//! the loopback callback, configuration).
//!
//! Every error has a stable [`code()`](Error::code), shared with the core where both mean the
//! same (`LOGIN_REQUIRED`, `TIMEOUT`, `TRANSPORT`, `ABORTED`), and a one-line
//! [`hint()`](Error::hint) that the CLI prints under the message, naming only options the CLI
//! has. Messages never contain a secret.

use std::time::Duration;

use mcpauth_core::flow::error::FlowError;
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
    /// No login waits for this callback: its `state` names no pending login in the store
    /// (used already, timed out, or begun on another store). See
    /// [`Session::complete_login`](crate::Session::complete_login).
    #[error(
        "no login waits for this callback (used already, timed out, or begun on another store)"
    )]
    NoPendingLogin,
    /// The configuration file or a configured value is invalid.
    #[error("configuration: {reason}")]
    Config {
        /// What is wrong, naming the file and field.
        reason: String,
    },
    /// A private key (the client's `private_key_jwt` key) could not be read or is not one
    /// mcpauth signs with (P-256 or RSA, in PEM or as a private JWK).
    #[error("{from} {reason}")]
    InvalidKey {
        /// Where the key came from: its file, or the form it was given in.
        from: String,
        /// What is wrong with it; never any of its content.
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
    /// `ISSUER_MISMATCH` or `LOGIN_REQUIRED`, and one per variant otherwise, the core's where
    /// the variant means the same.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Error::Core(e) => e.code(),
            Error::Transport { .. } => "TRANSPORT",
            Error::Timeout { .. } => "TIMEOUT",
            Error::Store { .. } => "STORE",
            Error::Callback { .. } => "CALLBACK",
            Error::PortInUse { .. } => "PORT_IN_USE",
            Error::NotLoggedIn { .. } => "LOGIN_REQUIRED",
            Error::NoPendingLogin => "NO_PENDING_AUTHORIZATION",
            Error::Config { .. } | Error::InvalidKey { .. } => "CONFIG",
            Error::Cancelled => "ABORTED",
            Error::Io(_) => "IO",
        }
    }

    /// A one-line suggestion of what to do next, for the CLI; `None` when there is nothing
    /// useful to add to the message.
    #[must_use]
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Error::Core(e) => core_hint(e),
            Error::Transport { .. } => Some(TRANSPORT_HINT),
            Error::Timeout { .. } => Some(REQUEST_TIMEOUT_HINT),
            Error::Store { .. } => Some(
                "if the store key changed or a file is damaged, run `mcpauth logout` and log in again",
            ),
            Error::Callback { .. } | Error::NoPendingLogin => Some("start the login again"),
            Error::PortInUse { .. } => {
                Some("choose another --port, or omit it to let the system pick a free one")
            }
            Error::NotLoggedIn { .. } => Some(LOGIN_HINT),
            Error::Config { reason } if reason.contains(NEEDS_PREREGISTERED_CLIENT) => Some(
                "register an OAuth client with the server's provider, then pass --client-id \
                 (and --client-secret-file), or set client_id (and client_secret_file) for the \
                 server in config.toml",
            ),
            Error::Config { .. } => Some("fix the configuration file the message names"),
            Error::InvalidKey { .. } => Some(
                "give a P-256 or RSA private key as PEM (PKCS#8, SEC1 or PKCS#1) or as a private JWK",
            ),
            Error::Cancelled | Error::Io(_) => None,
        }
    }
}

/// The words of an [`Error::Config`] that stops a login because the server needs a
/// pre-registered client (see [`ServerConfig::check_client`]); they pick its hint.
///
/// [`ServerConfig::check_client`]: crate::config::ServerConfig::check_client
pub(crate) const NEEDS_PREREGISTERED_CLIENT: &str = "needs a pre-registered OAuth client";

const LOGIN_HINT: &str = "run `mcpauth login <server>`";
const TRANSPORT_HINT: &str = "check the URL and your network connection";
const REQUEST_TIMEOUT_HINT: &str =
    "the server is slow or unreachable; try again, or give each request longer with --http-timeout";

fn core_hint(e: &mcpauth_core::Error) -> Option<&'static str> {
    if let mcpauth_core::Error::Flow(FlowError::Timeout { .. }) = e {
        return Some(
            "finish the login in the browser (or on the device page) sooner, or give it longer with --timeout",
        );
    }
    if let mcpauth_core::Error::Flow(FlowError::RefreshAnswerLost { .. }) = e {
        return Some("try again; if the refresh is then refused, run `mcpauth login <server>`");
    }
    match e.code() {
        "INSECURE_URL" => Some("use an https URL; plain http is accepted only for localhost"),
        "STATE_MISMATCH" | "STATE_MISSING" => Some("start the login again from this terminal"),
        "PKCE_NOT_SUPPORTED" => Some(
            "if the authorization server supports PKCE S256 without saying so, pass \
             --dangerously-assume-pkce-s256 (or set dangerously_assume_pkce_s256 = true for the \
             server in config.toml)",
        ),
        "NO_REFRESH_TOKEN" | "LOGIN_REQUIRED" => Some(LOGIN_HINT),
        "TIMEOUT" => Some(REQUEST_TIMEOUT_HINT),
        "TRANSPORT" => Some(TRANSPORT_HINT),
        "STORE_RECORD_UNREADABLE" => {
            Some("run `mcpauth logout <server>` to remove it, then `mcpauth login <server>`")
        }
        "DISCOVERY_FAILED" => Some(
            "check that the URL is the MCP endpoint, or set authorization_endpoint and token_endpoint in the configuration",
        ),
        "NO_CLIENT_IDENTITY" => Some(
            "pre-register a client and pass --client-id (or set client_id in the configuration)",
        ),
        _ => match e.oauth().map(|o| o.error.as_str()) {
            Some("invalid_grant") => Some(LOGIN_HINT),
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
        assert_eq!(e.hint(), Some(LOGIN_HINT));
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
            (Error::NotLoggedIn { server: "s".into() }, "LOGIN_REQUIRED"),
            (Error::NoPendingLogin, "NO_PENDING_AUTHORIZATION"),
            (Error::Config { reason: "r".into() }, "CONFIG"),
            (
                Error::InvalidKey {
                    from: "f".into(),
                    reason: "r".into(),
                },
                "CONFIG",
            ),
            (Error::Cancelled, "ABORTED"),
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
    fn flow_errors_keep_the_cores_codes_and_hint_at_real_options() {
        let flow = |e: FlowError| Error::from(mcpauth_core::Error::from(e));
        let login_timeout = flow(FlowError::Timeout {
            operation: "login",
            foreign_callbacks: 2,
        });
        assert_eq!(login_timeout.code(), "TIMEOUT");
        assert!(
            login_timeout.to_string().contains("mismatched state"),
            "{login_timeout}"
        );
        assert!(
            login_timeout
                .hint()
                .is_some_and(|h| h.contains("--timeout"))
        );
        let request_timeout = flow(FlowError::RequestTimeout { url: "u".into() });
        assert!(
            request_timeout
                .hint()
                .is_some_and(|h| h.contains("--http-timeout"))
        );
        let lost = flow(FlowError::RefreshAnswerLost {
            cause: Box::new(
                FlowError::Transport {
                    url: "u".into(),
                    reason: "r".into(),
                }
                .into(),
            ),
        });
        assert_eq!(lost.code(), "TRANSPORT", "the cause's code");
        assert!(
            lost.hint().is_some_and(|h| h.contains("mcpauth login")),
            "{:?}",
            lost.hint()
        );
        let cases = [
            (flow(FlowError::Aborted), "ABORTED"),
            (
                flow(FlowError::Transport {
                    url: "u".into(),
                    reason: "r".into(),
                }),
                "TRANSPORT",
            ),
            (
                flow(FlowError::LoginRequired {
                    server: "s".into(),
                    reason: "r",
                }),
                "LOGIN_REQUIRED",
            ),
            (
                flow(FlowError::PersistentUnauthorized { server: "s".into() }),
                "PERSISTENT_UNAUTHORIZED",
            ),
            (
                flow(FlowError::UnreadableRecord {
                    key: "k".into(),
                    reason: "r".into(),
                }),
                "STORE_RECORD_UNREADABLE",
            ),
        ];
        for (e, code) in cases {
            assert_eq!(e.code(), code, "{e}");
        }
    }

    #[test]
    fn missing_pkce_hints_at_the_cli_flag_and_config_key() {
        let e = Error::from(mcpauth_core::Error::from(SecurityError::PkceNotSupported {
            issuer: "https://as.example".into(),
        }));
        let hint = e.hint().unwrap();
        assert!(hint.contains("--dangerously-assume-pkce-s256"), "{hint}");
        assert!(hint.contains("dangerously_assume_pkce_s256"), "{hint}");
    }

    #[test]
    fn port_in_use_names_the_port_and_suggests_a_fix() {
        let e = Error::PortInUse { port: 8765 };
        assert!(e.to_string().contains("8765"));
        assert!(e.hint().is_some_and(|h| h.contains("port")));
    }
}
