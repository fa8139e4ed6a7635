//! [`ProtectedRequest`]: what to do with an MCP server's answer to an authorized request.
//!
//! The driver owns the MCP request itself (its body, streaming, the MCP transport); this
//! machine decides around it:
//!
//! | answer | action |
//! |---|---|
//! | not 401, not a 403 `insufficient_scope` | [`McpAction::Return`] the response |
//! | 401 to a token not yet refreshed | [`McpAction::Refresh`] it (single-flight, [`Access`](super::Access)) and send again |
//! | 401 that a refresh cannot cure, or to no token | [`McpAction::Login`] with the challenge, then send again |
//! | 401 to a token a login just issued | [`McpAction::Fail`] with `PERSISTENT_UNAUTHORIZED` |
//! | 403 `insufficient_scope` | [`McpAction::Login`] for the union of the held and challenged scopes (step-up) |
//!
//! A machine grant ([`Grant::acquire`]: client credentials, JWT bearer, enterprise-managed)
//! never asks for a login, interactive or step-up: a 401 gets one new token without a user
//! ([`McpAction::Refresh`], which [`Access`](super::Access) carries out by obtaining it
//! again), and a 401 to that one fails with `PERSISTENT_UNAUTHORIZED`; a 403
//! `insufficient_scope` is returned to the caller, whose configured scope is what the server
//! wants changed (MCP lets a client credentials client step up or abort; it aborts).
//!
//! A `WWW-Authenticate` that cannot be parsed on a 401 still means "authorize" (with nothing
//! learned from it); on a 403 it is no step-up challenge, so the response is returned.
//! Step-ups are counted per server and MCP operation (the `Mcp-Method` and `Mcp-Name` request
//! headers of the 2026-07-28 transport), at most
//! [`MAX_AUTHORIZATION_ATTEMPTS`](crate::scope::MAX_AUTHORIZATION_ATTEMPTS), by the
//! caller's [`StepUpTracker`], which outlives single requests.
//!
//! A [DPoP-bound](Grant::is_dpop_bound) token is sent as `Authorization: DPoP <token>` with a
//! fresh proof for a `POST` to the server URL (RFC 9449 §7.1), carrying the server's newest
//! nonce: the tracker remembers it per server (from the `DPoP-Nonce` of any answer), so the
//! next request carries it upfront. A 401 `DPoP error="use_dpop_nonce"` with a nonce is
//! answered by sending once more with it (RFC 9449 §9), before anything else is tried.

use super::error::FlowError;
use crate::challenge::{AuthChallenge, BearerChallenge, classify_response};
use crate::dpop;
use crate::error::{Error, Result};
use crate::grant::Grant;
use crate::http::HttpResponse;
use crate::jws::JwsTemplate;
use crate::policy::ResourceUri;
use crate::scope::StepUpTracker;
use crate::secret::AccessToken;

/// What the driver does next with a protected request.
#[derive(Debug)]
#[non_exhaustive]
pub enum McpAction {
    /// Send the request (again) with this `Authorization` header value, or none.
    Send {
        /// `Bearer <token>` or `DPoP <token>`, or `None` to send without (to learn the
        /// server's challenge).
        authorization: Option<String>,
        /// For a DPoP-bound token: the proof to stamp, sign and attach (in the `DPoP` header)
        /// to this one sending, a `POST` to the server URL. A new one comes with each `Send`.
        dpop: Option<JwsTemplate>,
    },
    /// Run [`Access`](super::Access) with this rejected token, then
    /// [`ProtectedRequest::handle_refreshed`].
    Refresh {
        /// The token the server refused.
        rejected: AccessToken,
    },
    /// Run a [`Login`](super::Login) with this challenge and previous scope, then
    /// [`ProtectedRequest::handle_login`].
    Login {
        /// The challenge to log in for (its `scope` and `resource_metadata` steer the login).
        challenge: BearerChallenge,
        /// The scope held, for a step-up (the login asks for the union).
        previous_scope: Option<String>,
        /// Which attempt this is for the server and operation, from 1.
        attempt: u32,
        /// `true` for a 403 `insufficient_scope` step-up, `false` for a 401.
        step_up: bool,
    },
    /// Hand the last response to the caller.
    Return,
    /// Give up with this error.
    Fail(Error),
}

/// One MCP request's authorization (see the [module docs](self)).
#[derive(Debug)]
pub struct ProtectedRequest {
    server: ResourceUri,
    operation: Option<String>,
    login_allowed: bool,
    sent: Option<AccessToken>,
    scope: Option<String>,
    refreshed: bool,
    logged_in: bool,
    challenge: Option<BearerChallenge>,
    machine: bool,
    /// The DPoP-bound grant whose token was sent last, for sending again with a new proof.
    grant: Option<Grant>,
    /// The server's newest DPoP nonce.
    nonce: Option<String>,
    /// Whether the server's `use_dpop_nonce` was answered already.
    nonce_retried: bool,
    /// The request's HTTP method, the `htm` of its DPoP proofs.
    method: String,
}

impl ProtectedRequest {
    /// A request to `server` with these request headers (for the MCP operation). With
    /// `login_allowed`, a login is asked for where one is needed; without, that is an error.
    #[must_use]
    pub fn new(server: ResourceUri, headers: &[(String, String)], login_allowed: bool) -> Self {
        Self {
            operation: operation(headers),
            server,
            login_allowed,
            sent: None,
            scope: None,
            refreshed: false,
            logged_in: false,
            challenge: None,
            machine: false,
            grant: None,
            nonce: None,
            nonce_retried: false,
            method: "POST".to_owned(),
        }
    }

    /// The request's HTTP method (default `POST`, as MCP messages are sent), which its DPoP
    /// proofs name (`htm`, RFC 9449 §4.2): `GET` for a stream, `DELETE` to end a session.
    #[must_use]
    pub fn with_method(mut self, method: &str) -> Self {
        method.clone_into(&mut self.method);
        self
    }

    /// The step-up key: the MCP operation of the request, if its headers name one.
    #[must_use]
    pub fn operation(&self) -> Option<&str> {
        self.operation.as_deref()
    }

    /// Starts with the outcome of [`Access`](super::Access): a token, or why there is none.
    /// `tracker` gives the server's newest DPoP nonce, if any.
    pub fn start(&mut self, tracker: &StepUpTracker, access: Result<Grant>) -> McpAction {
        self.nonce = tracker.dpop_nonce(&self.server).map(str::to_owned);
        match access {
            Ok(grant) => self.send(Some(&grant)),
            Err(e) if is_login_required(&e) && self.login_allowed => self.send(None),
            Err(e) => McpAction::Fail(e),
        }
    }

    /// Starts from a token the driver already sent, from its memory of an earlier
    /// [`Access`](super::Access) outcome, while [`reuse_until`](super::access::reuse_until)
    /// allowed it: the same state as after [`start`](Self::start) with `grant`, without a
    /// [`McpAction::Send`]. The server's answer then goes to
    /// [`handle_response`](Self::handle_response), and a 401 refreshes that token as usual.
    pub fn reused(&mut self, tracker: &StepUpTracker, grant: &Grant) {
        self.nonce = tracker.dpop_nonce(&self.server).map(str::to_owned);
        self.sent_with(Some(grant));
    }

    /// The server answered `status` with these `WWW-Authenticate` field values and this
    /// `DPoP-Nonce` header, if any.
    pub fn handle_response(
        &mut self,
        tracker: &mut StepUpTracker,
        status: u16,
        www_authenticate: &[String],
        dpop_nonce: Option<&str>,
    ) -> McpAction {
        let mut headers: Vec<(String, String)> = www_authenticate
            .iter()
            .map(|v| ("www-authenticate".to_owned(), v.clone()))
            .collect();
        if let Some(nonce) = dpop_nonce.map(str::trim).filter(|n| dpop::valid_nonce(n)) {
            tracker.set_dpop_nonce(&self.server, nonce);
            self.nonce = Some(nonce.to_owned());
            headers.push((dpop::DPOP_NONCE_HEADER.to_owned(), nonce.to_owned()));
        }
        let response = HttpResponse::new(status, headers, Vec::new());
        let proved = self.grant.as_ref().is_some_and(Grant::is_dpop_bound);
        if proved && !self.nonce_retried && dpop::nonce_challenge(&response).is_some() {
            self.nonce_retried = true;
            let grant = self.grant.take();
            return self.send(grant.as_ref());
        }
        let classified = match classify_response(&response) {
            Ok(found) => found,
            Err(_) if status == 401 => {
                Some(AuthChallenge::Unauthorized(BearerChallenge::default()))
            }
            Err(_) => None,
        };
        match classified {
            None => {
                tracker.succeeded(&self.server, self.operation.as_deref());
                McpAction::Return
            }
            Some(AuthChallenge::Unauthorized(challenge)) => self.unauthorized(tracker, challenge),
            Some(AuthChallenge::InsufficientScope(challenge)) => {
                if !self.login_allowed || self.machine {
                    return McpAction::Return;
                }
                let previous = self.scope.clone();
                self.login(tracker, challenge, previous, true)
            }
        }
    }

    /// The outcome of the refresh asked for with [`McpAction::Refresh`].
    pub fn handle_refreshed(
        &mut self,
        tracker: &mut StepUpTracker,
        access: Result<Grant>,
    ) -> McpAction {
        match access {
            Ok(grant) if Some(&grant.tokens.access_token) != self.sent.as_ref() => {
                self.send(Some(&grant))
            }
            Ok(_) => self.after_failed_refresh(tracker),
            Err(e) if is_login_required(&e) => self.after_failed_refresh(tracker),
            Err(e) => McpAction::Fail(e),
        }
    }

    /// The outcome of the login asked for with [`McpAction::Login`].
    pub fn handle_login(&mut self, login: Result<Grant>) -> McpAction {
        match login {
            Ok(grant) => {
                self.logged_in = true;
                self.refreshed = true;
                self.send(Some(&grant))
            }
            Err(e) => McpAction::Fail(e),
        }
    }

    /// Records that `grant`'s token (or none) is the one sent.
    fn sent_with(&mut self, grant: Option<&Grant>) {
        self.machine = grant.is_some_and(|g| g.acquire.is_some());
        self.sent = grant.map(|g| g.tokens.access_token.clone());
        self.scope = grant.and_then(|g| g.tokens.scope.clone());
        // Kept only to send again with a new proof (a DPoP nonce); a Bearer token never is.
        self.grant = grant.filter(|g| g.is_dpop_bound()).cloned();
    }

    fn send(&mut self, grant: Option<&Grant>) -> McpAction {
        self.sent_with(grant);
        let url = self.server.url();
        McpAction::Send {
            authorization: grant.map(Grant::authorization),
            dpop: grant.and_then(|g| g.resource_proof(&self.method, url, self.nonce.as_deref())),
        }
    }

    fn unauthorized(
        &mut self,
        tracker: &mut StepUpTracker,
        challenge: BearerChallenge,
    ) -> McpAction {
        // A machine grant's new token was obtained just as a login would obtain it.
        if self.logged_in || (self.machine && self.refreshed) {
            return McpAction::Fail(
                FlowError::PersistentUnauthorized {
                    server: self.server.to_string(),
                }
                .into(),
            );
        }
        self.challenge = Some(challenge.clone());
        match &self.sent {
            Some(rejected) if !self.refreshed => {
                self.refreshed = true;
                McpAction::Refresh {
                    rejected: rejected.clone(),
                }
            }
            _ => self.after_failed_refresh(tracker),
        }
    }

    fn after_failed_refresh(&mut self, tracker: &mut StepUpTracker) -> McpAction {
        if self.machine {
            return McpAction::Fail(
                FlowError::LoginRequired {
                    server: self.server.to_string(),
                    reason: "the server refused the token, and obtaining a new one without a \
                             user did not give another",
                }
                .into(),
            );
        }
        if !self.login_allowed {
            return McpAction::Fail(
                FlowError::LoginRequired {
                    server: self.server.to_string(),
                    reason: "the server refused the token, and a refresh did not help",
                }
                .into(),
            );
        }
        let challenge = self.challenge.clone().unwrap_or_default();
        self.login(tracker, challenge, None, false)
    }

    fn login(
        &mut self,
        tracker: &mut StepUpTracker,
        challenge: BearerChallenge,
        previous_scope: Option<String>,
        step_up: bool,
    ) -> McpAction {
        match tracker.begin_attempt(&self.server, self.operation.as_deref()) {
            Ok(attempt) => McpAction::Login {
                challenge,
                previous_scope,
                attempt,
                step_up,
            },
            Err(e) => McpAction::Fail(e),
        }
    }
}

fn is_login_required(e: &Error) -> bool {
    e.code() == "LOGIN_REQUIRED"
}

/// The MCP operation of a request, from the 2026-07-28 transport headers.
fn operation(headers: &[(String, String)]) -> Option<String> {
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let method = find("mcp-method")?;
    Some(match find("mcp-name") {
        Some(name) => format!("{method} {name}"),
        None => method.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ClientCredentials;
    use crate::jws::{DpopKey, EcPublicJwk, KeyHandle};
    use crate::metadata::AuthorizationServerMetadata;
    use crate::time::Time;
    use crate::token::TokenSet;

    fn dpop_grant() -> Grant {
        let issuer = "https://as.example";
        let metadata = AuthorizationServerMetadata::for_tests(issuer);
        let tokens = TokenSet {
            access_token: AccessToken::new("at"),
            token_type: "DPoP".into(),
            refresh_token: None,
            expires_at: None,
            issued_at: None,
            scope: None,
            id_token: None,
        };
        let server = ResourceUri::parse("https://mcp.example/mcp").unwrap();
        let client = ClientCredentials::public(issuer, "app");
        let now = Time::from_unix_secs(1);
        let mut grant = Grant::new(server, None, &metadata, client, tokens, now).unwrap();
        grant.dpop_key = Some(DpopKey::new(
            EcPublicJwk::p256("x", "y"),
            KeyHandle::Stored { id: "k".into() },
        ));
        grant
    }

    #[test]
    fn a_reused_token_is_judged_like_a_sent_one() {
        let mut grant = dpop_grant();
        grant.dpop_key = None;
        grant.tokens.token_type = "Bearer".into();
        grant.tokens.refresh_token = Some(crate::secret::RefreshToken::new("rt"));
        let mut tracker = StepUpTracker::default();
        let mut request = ProtectedRequest::new(grant.server.clone(), &[], true);
        request.reused(&tracker, &grant);
        // A 401 to the reused token refreshes exactly that token.
        let McpAction::Refresh { rejected } = request.handle_response(&mut tracker, 401, &[], None)
        else {
            panic!("a 401 to a reused token asks for a refresh");
        };
        assert_eq!(rejected.secret(), "at");
        // A success is returned, and clears the step-up count as for any request.
        let mut request = ProtectedRequest::new(grant.server.clone(), &[], true);
        tracker.begin_attempt(&grant.server, None).unwrap();
        request.reused(&tracker, &grant);
        assert!(matches!(
            request.handle_response(&mut tracker, 200, &[], None),
            McpAction::Return
        ));
        assert_eq!(tracker.begin_attempt(&grant.server, None).unwrap(), 1);
    }

    #[test]
    fn a_dpop_proof_names_the_requests_method() {
        let grant = dpop_grant();
        let tracker = StepUpTracker::default();
        for (method, htm) in [
            (None, "POST"),
            (Some("GET"), "GET"),
            (Some("DELETE"), "DELETE"),
        ] {
            let mut request = ProtectedRequest::new(grant.server.clone(), &[], false);
            if let Some(method) = method {
                request = request.with_method(method);
            }
            let McpAction::Send {
                dpop: Some(proof), ..
            } = request.start(&tracker, Ok(grant.clone()))
            else {
                panic!("a DPoP-bound token is sent with a proof");
            };
            assert_eq!(proof.claims["htm"], htm);
        }
    }
}
