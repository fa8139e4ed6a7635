//! [`AuthClient`]: requests to an MCP server with the session's bearer token.
//!
//! Each request is driven by the core's [`ProtectedRequest`], which decides what its answers
//! mean (the table in [its docs](mcpauth_core::flow::protected)):
//!
//! - Every request carries `Authorization: Bearer` (never a query parameter, RFC 6750 §2),
//!   or, for a DPoP-bound token, `Authorization: DPoP` with a fresh proof in the `DPoP`
//!   header, signed with the grant's key; the server's `DPoP-Nonce` is handed back to the core,
//!   which retries once with it when the server asks (RFC 9449 §9).
//! - A 401 on a token makes one refresh (single-flight, shared with every other caller) and
//!   one retry. If that cannot help and logging in is allowed, it logs in with the challenge;
//!   a 401 to the token of that login is `PERSISTENT_UNAUTHORIZED`.
//! - A 403 `insufficient_scope` steps up: a new authorization for the union of the scopes
//!   held and those challenged (MCP SEP-2350), at most
//!   [`MAX_AUTHORIZATION_ATTEMPTS`](mcpauth_core::scope::MAX_AUTHORIZATION_ATTEMPTS) per
//!   server and MCP operation, counted by the client's [`StepUpTracker`].

use std::sync::Mutex;

use mcpauth_core::dpop::{DPOP_HEADER, DPOP_NONCE_HEADER};
use mcpauth_core::flow::{McpAction, ProtectedRequest};
use mcpauth_core::jws::JwsTemplate;
use mcpauth_core::{ResourceUri, StepUpTracker, UsageError};
use reqwest::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};

use crate::error::{Error, Result};
use crate::session::{LoginOptions, Session};

/// Sends authenticated requests to MCP servers.
#[derive(Debug)]
pub struct AuthClient {
    session: Session,
    /// The client the MCP requests go through; `None`: the session's own.
    http: Option<reqwest::Client>,
    login: Option<LoginOptions>,
    attempts: Mutex<StepUpTracker>,
}

impl AuthClient {
    /// A client over `session` that sends the MCP requests with the session's own HTTP client
    /// ([`Session::http_client`]): one connection pool, and one TLS setup, for the logins,
    /// refreshes and MCP requests alike, built on the first request. MCP requests follow up
    /// to 10 redirects (reqwest's default); the session's OAuth requests follow none.
    ///
    /// # Errors
    /// None today: a client that cannot be built is the first request's
    /// [`Error::Transport`].
    pub fn with_session(session: Session) -> Result<Self> {
        Ok(Self {
            session,
            http: None,
            login: None,
            attempts: Mutex::new(StepUpTracker::default()),
        })
    }

    /// A client over `session` that refreshes but never starts a login by itself. `http`
    /// sends the MCP requests; start it from [`crate::http::client_builder`].
    #[must_use]
    pub fn new(session: Session, http: reqwest::Client) -> Self {
        Self {
            session,
            http: Some(http),
            login: None,
            attempts: Mutex::new(StepUpTracker::default()),
        }
    }

    /// Allows logging in (with these options) when a 401 cannot be solved by a refresh, and
    /// step-up authorization on 403 `insufficient_scope`.
    #[must_use]
    pub fn with_login(mut self, options: LoginOptions) -> Self {
        self.login = Some(options);
        self
    }

    /// The session.
    #[must_use]
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Sends the request `build` makes (called again for each retry) to `server_url` with a
    /// bearer token, handling 401 and 403 as described in the [module docs](self).
    ///
    /// Returns the server's response once it is neither a 401 nor a step-up 403.
    ///
    /// # Errors
    /// `LOGIN_REQUIRED` when no token can be had without a login and logins are not allowed;
    /// `STEP_UP_LIMIT`; `PERSISTENT_UNAUTHORIZED`; login, transport and store errors.
    pub async fn execute(
        &self,
        server_url: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        let server = ResourceUri::parse(server_url)?;
        let http = match &self.http {
            Some(http) => http.clone(),
            None => self.session.http_client()?,
        };
        let first = build(&http)
            .build()
            .map_err(|e| transport(server_url, &e))?;
        let headers: Vec<(String, String)> = first
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
            .collect();
        let mut protected = ProtectedRequest::new(server, &headers, self.login.is_some())
            .with_method(first.method().as_str());
        let mut next = Some(first);
        let mut last = None;
        let access = self.session.run_access(server_url, None).await?;
        let mut action = protected.start(&self.tracker(), access);
        loop {
            action = match action {
                McpAction::Send {
                    authorization,
                    dpop,
                } => {
                    let request = match next.take() {
                        Some(request) => request,
                        None => build(&http)
                            .build()
                            .map_err(|e| transport(server_url, &e))?,
                    };
                    let response = self
                        .send(&http, server_url, request, authorization, dpop)
                        .await?;
                    let status = response.status().as_u16();
                    let challenges: Vec<String> = response
                        .headers()
                        .get_all(WWW_AUTHENTICATE)
                        .iter()
                        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                        .collect();
                    let nonce = response
                        .headers()
                        .get(DPOP_NONCE_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    last = Some(response);
                    protected.handle_response(
                        &mut self.tracker(),
                        status,
                        &challenges,
                        nonce.as_deref(),
                    )
                }
                McpAction::Refresh { rejected } => {
                    let access = self.session.run_access(server_url, Some(rejected)).await?;
                    protected.handle_refreshed(&mut self.tracker(), access)
                }
                McpAction::Login {
                    challenge,
                    previous_scope,
                    ..
                } => {
                    let mut options = self.login.clone().unwrap_or_default();
                    options.challenge = Some(challenge);
                    options.previous_scope = previous_scope;
                    let login = self.session.run_login(server_url, &options).await?;
                    protected.handle_login(login.map(|summary| summary.grant))
                }
                McpAction::Return => {
                    return last.ok_or_else(|| {
                        stuck("the protected request returned before any response")
                    });
                }
                McpAction::Fail(e) => return Err(e.into()),
                _ => return Err(stuck("the protected request asked for an unknown action")),
            };
        }
    }

    /// Sends `request` with the `Authorization` value, if any, and the DPoP proof the core
    /// wrote for it, dated and signed now.
    async fn send(
        &self,
        http: &reqwest::Client,
        server_url: &str,
        mut request: reqwest::Request,
        authorization: Option<String>,
        dpop: Option<JwsTemplate>,
    ) -> Result<reqwest::Response> {
        if let Some(template) = dpop {
            let proof = self.session.sign_jws(&template)?;
            let value = HeaderValue::from_str(&proof).map_err(|_| Error::Transport {
                url: server_url.to_owned(),
                reason: "the DPoP proof cannot be sent in a header".into(),
            })?;
            request.headers_mut().insert(DPOP_HEADER, value);
        }
        if let Some(value) = authorization {
            let mut value = HeaderValue::from_str(&value).map_err(|_| Error::Transport {
                url: server_url.to_owned(),
                reason: "the access token cannot be sent in a header".into(),
            })?;
            value.set_sensitive(true);
            request.headers_mut().insert(AUTHORIZATION, value);
        }
        // A deadline for the response head only: the body may be a long-lived MCP stream,
        // which is the caller's to read.
        let limit = self.session.request_timeout();
        let sent =
            crate::http::following_redirects(crate::http::DEFAULT_REDIRECTS, http.execute(request));
        match tokio::time::timeout(limit, sent).await {
            Ok(sent) => sent.map_err(|e| transport(server_url, &e)),
            Err(_elapsed) => Err(Error::Core(
                mcpauth_core::flow::error::FlowError::RequestTimeout {
                    url: server_url.to_owned(),
                }
                .into(),
            )),
        }
    }

    fn tracker(&self) -> std::sync::MutexGuard<'_, StepUpTracker> {
        self.attempts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn transport(server_url: &str, e: &reqwest::Error) -> Error {
    Error::Transport {
        url: server_url.to_owned(),
        reason: crate::http::error_chain(e),
    }
}

fn stuck(what: &'static str) -> Error {
    Error::Core(UsageError::InvalidState(what).into())
}
