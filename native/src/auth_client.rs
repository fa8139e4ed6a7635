//! [`AuthClient`]: requests to an MCP server with the session's bearer token.
//!
//! - Every request carries `Authorization: Bearer` (never a query parameter, RFC 6750 §2).
//! - A 401 on a token makes one refresh (single-flight, shared with every other caller) and
//!   one retry. If that cannot help and logging in is allowed, it logs in with the challenge.
//! - A 403 `insufficient_scope` steps up: a new authorization for the union of the scopes
//!   held and those challenged (MCP SEP-2350), at most
//!   [`MAX_AUTHORIZATION_ATTEMPTS`](mcpauth_core::scope::MAX_AUTHORIZATION_ATTEMPTS) per
//!   resource, counted by the core's [`StepUpTracker`].

use std::sync::Mutex;

use mcpauth_core::challenge::{AuthChallenge, BearerChallenge, classify_response};
use mcpauth_core::{AccessToken, HttpResponse, ResourceUri, StepUpTracker};

use crate::error::{Error, Result};
use crate::session::{LoginOptions, Session};

/// Sends authenticated requests to MCP servers. Cheap to clone the underlying clients.
#[derive(Debug)]
pub struct AuthClient {
    session: Session,
    http: reqwest::Client,
    login: Option<LoginOptions>,
    attempts: Mutex<StepUpTracker>,
}

impl AuthClient {
    /// A client over `session` with mcpauth's own HTTP client (rustls, the platform's roots).
    ///
    /// # Errors
    /// [`Error::Transport`] when the platform's certificate store cannot be opened.
    pub fn with_session(session: Session) -> Result<Self> {
        let http = crate::http::client_builder()?
            .build()
            .map_err(|e| Error::Transport {
                url: String::new(),
                reason: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Self::new(session, http))
    }

    /// A client over `session` that refreshes but never starts a login by itself. `http`
    /// sends the MCP requests; start it from [`crate::http::client_builder`].
    #[must_use]
    pub fn new(session: Session, http: reqwest::Client) -> Self {
        Self {
            session,
            http,
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
    /// [`Error::NotLoggedIn`] when no token can be had without a login and logins are not
    /// allowed; the step-up limit as a core `STEP_UP_LIMIT` error; login and transport errors.
    pub async fn execute(
        &self,
        server_url: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        let resource = ResourceUri::parse(server_url)?;
        let mut token = match self.session.access_token(server_url).await {
            Ok(token) => Some(token),
            Err(Error::NotLoggedIn { .. }) if self.login.is_some() => None,
            Err(e) => return Err(e),
        };
        let mut refreshed = false;
        loop {
            let mut request = build(&self.http);
            if let Some(token) = &token {
                request = request.bearer_auth(token.secret());
            }
            let resp = request.send().await.map_err(|e| Error::Transport {
                url: server_url.to_owned(),
                reason: e.to_string(),
            })?;
            let challenge = classify(&resp);
            match challenge {
                None => {
                    self.tracker().succeeded(&resource, None);
                    return Ok(resp);
                }
                Some(AuthChallenge::Unauthorized(challenge)) => {
                    if let (Some(rejected), false) = (&token, refreshed) {
                        refreshed = true;
                        match self
                            .session
                            .refresh_after_rejection(server_url, rejected)
                            .await
                        {
                            Ok(fresh) => {
                                token = Some(fresh);
                                continue;
                            }
                            Err(Error::NotLoggedIn { .. }) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    token = Some(
                        self.authorize(server_url, &resource, challenge, None)
                            .await?,
                    );
                    refreshed = true;
                }
                Some(AuthChallenge::InsufficientScope(challenge)) => {
                    if self.login.is_none() {
                        return Ok(resp);
                    }
                    let held = self
                        .session
                        .current_grant(server_url)
                        .ok()
                        .and_then(|g| g.tokens.scope);
                    token = Some(
                        self.authorize(server_url, &resource, challenge, held)
                            .await?,
                    );
                }
                Some(_) => return Ok(resp),
            }
        }
    }

    /// One counted authorization for `challenge`.
    async fn authorize(
        &self,
        server_url: &str,
        resource: &ResourceUri,
        challenge: BearerChallenge,
        previous_scope: Option<String>,
    ) -> Result<AccessToken> {
        let Some(options) = &self.login else {
            return Err(Error::NotLoggedIn {
                server: server_url.to_owned(),
            });
        };
        self.tracker().begin_attempt(resource, None)?;
        let mut options = options.clone();
        options.challenge = Some(challenge);
        options.previous_scope = previous_scope;
        let summary = self.session.login(server_url, &options).await?;
        Ok(summary.grant.tokens.access_token)
    }

    fn tracker(&self) -> std::sync::MutexGuard<'_, StepUpTracker> {
        self.attempts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The core's classification of a response, from its status and `WWW-Authenticate` fields.
/// A malformed challenge on a 401 still means "authorize" (with nothing learned from it).
fn classify(resp: &reqwest::Response) -> Option<AuthChallenge> {
    let status = resp.status().as_u16();
    if status != 401 && status != 403 {
        return None;
    }
    let headers = resp
        .headers()
        .get_all(reqwest::header::WWW_AUTHENTICATE)
        .iter()
        .map(|v| {
            (
                "www-authenticate".to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    match classify_response(&HttpResponse::new(status, headers, Vec::new())) {
        Ok(found) => found,
        Err(_) if status == 401 => Some(AuthChallenge::Unauthorized(BearerChallenge::default())),
        Err(_) => None,
    }
}
