//! Errors of the flow as a whole: deadlines, transport, the caller giving up, a login that is
//! needed, a 401 nothing cures, a stored record that cannot be read.

use thiserror::Error;

use crate::error::codes;

/// A flow could not finish.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FlowError {
    /// The operation's deadline passed (a local time-out, never the server's `expired_token`).
    #[error("the {operation} did not finish in time{}", foreign(*.foreign_callbacks))]
    Timeout {
        /// What timed out: `login`, `device login`, ...
        operation: &'static str,
        /// Callbacks with a mismatched `state` that arrived and were ignored.
        foreign_callbacks: u32,
    },
    /// One request's deadline passed: the server accepted it but did not answer in time.
    #[error("{url} did not answer in time")]
    RequestTimeout {
        /// The request URL, without its query.
        url: String,
    },
    /// A request failed in transport.
    #[error("cannot reach {url}: {reason}")]
    Transport {
        /// The request URL, without its query.
        url: String,
        /// What the transport reported.
        reason: String,
    },
    /// The caller cancelled the operation.
    #[error("the operation was cancelled")]
    Aborted,
    /// There is no usable token and only a new login can get one.
    #[error("not logged in to {server}: {reason}")]
    LoginRequired {
        /// The MCP server.
        server: String,
        /// Why: nothing stored, expired without a refresh token, refresh refused, ...
        reason: &'static str,
    },
    /// The server kept answering 401 after a refresh and after a fresh login.
    #[error(
        "{server} answered 401 again with a freshly obtained token; it does not accept the \
         tokens its authorization server issues (check the server's audience and resource configuration)"
    )]
    PersistentUnauthorized {
        /// The MCP server.
        server: String,
    },
    /// A stored record cannot be read.
    #[error("the stored record {key} cannot be read ({reason}); log in again")]
    UnreadableRecord {
        /// Its key.
        key: String,
        /// Why.
        reason: String,
    },
    /// A refresh request went out but no usable answer came back (the connection broke, the
    /// request timed out, or a success status came with a body that cannot be read). The
    /// server may have carried it out and rotated the refresh token, so the stored one may
    /// be spent: the grant is kept, and if the next refresh is refused, only a new login
    /// helps. The code is the cause's (`TRANSPORT`, `TIMEOUT`, `INVALID_JSON`, ...).
    #[error(
        "the refresh got no usable answer ({cause}); the authorization server may have used \
         the refresh token already, and then a new login is needed"
    )]
    RefreshAnswerLost {
        /// What went wrong with the answer.
        cause: Box<crate::Error>,
    },
}

impl FlowError {
    /// The stable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            FlowError::Timeout { .. } | FlowError::RequestTimeout { .. } => codes::TIMEOUT,
            FlowError::Transport { .. } => codes::TRANSPORT,
            FlowError::Aborted => codes::ABORTED,
            FlowError::LoginRequired { .. } => codes::LOGIN_REQUIRED,
            FlowError::PersistentUnauthorized { .. } => codes::PERSISTENT_UNAUTHORIZED,
            FlowError::UnreadableRecord { .. } => codes::STORE_RECORD_UNREADABLE,
            FlowError::RefreshAnswerLost { cause } => cause.code(),
        }
    }
}

fn foreign(count: u32) -> String {
    match count {
        0 => String::new(),
        1 => "; meanwhile a callback with a mismatched state arrived and was ignored (a forged \
              request, or a browser tab of an earlier login)"
            .to_owned(),
        n => format!(
            "; meanwhile {n} callbacks with a mismatched state arrived and were ignored (forged \
             requests, or browser tabs of earlier logins)"
        ),
    }
}

/// A URL for messages: no query, which may carry codes or tokens.
pub(crate) fn display_url(url: &url::Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

/// The error a failed request means.
pub(crate) fn failure_error(url: &url::Url, failure: &super::Failure) -> crate::Error {
    let url = display_url(url);
    match failure {
        super::Failure::Transport { reason } => FlowError::Transport {
            url,
            reason: reason.clone(),
        },
        super::Failure::Timeout => FlowError::RequestTimeout { url },
        super::Failure::Aborted => FlowError::Aborted,
    }
    .into()
}
