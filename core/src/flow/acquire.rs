//! [`Acquire`]: obtaining tokens without a user, for a machine login and each time its token
//! expires (there is no refresh token).
//!
//! read the credential (a workload token, an ID token) → [token exchange at the enterprise IdP
//! for an ID-JAG] → token request (client credentials or JWT bearer).
//!
//! A credential kept in a file or an environment variable is read through the driver
//! ([`Event::Credential`](super::Event::Credential)) every time, so a token the platform
//! rotates is picked up on the next acquisition. Every token request goes through
//! [`TokenCall`], so DPoP proofs and server nonces are handled as for every other grant.
//! Errors are not retried: the OAuth error of the server (`invalid_grant`, `invalid_scope`,
//! `unauthorized_client`, ...) ends the attempt, and no other grant type is tried.
//!
//! It is a sub-machine: [`Login`](super::Login) and [`Access`](super::Access) own the
//! requests, the events and the time; [`Next`] says what they do next.

use url::Url;

use super::Failure;
use super::error::failure_error;
use super::login::{CredentialSource, MachineGrant};
use super::token_call::TokenCall;
use crate::client::ClientCredentials;
use crate::client_credentials::{TokenTarget, client_credentials_grant_request};
use crate::error::{Error, Result, UsageError};
use crate::http::{HttpRequest, HttpResponse};
use crate::id_jag::{IdJagTarget, id_jag_request, idp_client, process_id_jag_response};
use crate::jws::DpopKey;
use crate::jwt_bearer::jwt_bearer_grant_request;
use crate::policy::Policy;
use crate::secret::SecurityToken;
use crate::time::Time;
use crate::token::{TokenSet, process_token_response_with};

/// What the owner of an [`Acquire`] does next.
#[derive(Debug)]
pub(crate) enum Next {
    /// Ask the driver for the credential (never a [`CredentialSource::Value`]); hand the answer
    /// to [`Acquire::handle_credential`].
    Credential(CredentialSource),
    /// Send this request; hand its outcome to [`Acquire::handle_outcome`].
    Send(HttpRequest),
    /// Over: the tokens, or why there are none.
    Done(Result<TokenSet>),
}

/// Where an acquisition stands.
#[derive(Debug)]
enum State {
    Start,
    Credential,
    Idp(Box<TokenCall>, Url),
    Token(Box<TokenCall>),
    Done,
}

/// Everything an acquisition needs: how, as whom, where, for what.
#[derive(Debug)]
pub(crate) struct Acquire {
    how: MachineGrant,
    client: ClientCredentials,
    issuer: String,
    token_endpoint: Url,
    target: TokenTarget,
    dpop: Option<DpopKey>,
    policy: Policy,
    state: State,
}

impl Acquire {
    /// An acquisition `how` for `client` at the authorization server `issuer`, whose token
    /// endpoint is `token_endpoint`, asking for `target`, with DPoP proofs by `dpop` if given.
    pub(crate) fn new(
        how: MachineGrant,
        client: ClientCredentials,
        issuer: String,
        token_endpoint: Url,
        target: TokenTarget,
        dpop: Option<DpopKey>,
        policy: Policy,
    ) -> Self {
        Self {
            how,
            client,
            issuer,
            token_endpoint,
            target,
            dpop,
            policy,
            state: State::Start,
        }
    }

    /// What the tokens are asked for.
    pub(crate) fn target(&self) -> &TokenTarget {
        &self.target
    }

    /// Starts: the first request, or the credential to read first.
    pub(crate) fn start(&mut self) -> Next {
        if !matches!(self.state, State::Start) {
            return self.fail(UsageError::InvalidState("the acquisition has started").into());
        }
        let source = match &self.how {
            MachineGrant::ClientCredentials => {
                let request = client_credentials_grant_request(
                    self.token_endpoint.clone(),
                    &self.target,
                    &self.client,
                    &self.policy,
                );
                return self.token_call(request);
            }
            MachineGrant::JwtBearer { assertion } => assertion.clone(),
            MachineGrant::EnterpriseManaged { id_token, .. } => id_token.clone(),
        };
        match source {
            CredentialSource::Value { value } => self.credential(value.secret()),
            other => {
                self.state = State::Credential;
                Next::Credential(other)
            }
        }
    }

    /// The driver's answer to [`Next::Credential`]. `None`: not waiting for one.
    pub(crate) fn handle_credential(
        &mut self,
        value: std::result::Result<String, String>,
    ) -> Option<Next> {
        if !matches!(self.state, State::Credential) {
            return None;
        }
        let read = value.and_then(|v| {
            let v = v.trim();
            if v.is_empty() {
                Err("it is empty".to_owned())
            } else {
                Ok(v.to_owned())
            }
        });
        Some(match read {
            Ok(value) => self.credential(&value),
            Err(reason) => {
                let error = self.unavailable(reason);
                self.fail(error)
            }
        })
    }

    /// The outcome of the request last sent. `None`: nothing was in flight.
    pub(crate) fn handle_outcome(
        &mut self,
        now: Time,
        outcome: std::result::Result<HttpResponse, Failure>,
    ) -> Option<Next> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Idp(mut call, url) => Some(match outcome {
                Ok(resp) => match call.retry(&resp) {
                    Some(again) => {
                        self.state = State::Idp(call, url);
                        Next::Send(again)
                    }
                    None => match process_id_jag_response(now, &url, &resp, &self.policy) {
                        Ok(id_jag) => self.present(&id_jag),
                        Err(e) => self.fail(e),
                    },
                },
                Err(f) => self.fail(failure_error(&url, &f)),
            }),
            State::Token(mut call) => {
                let url = self.token_endpoint.clone();
                Some(match outcome {
                    Ok(resp) => match call.retry(&resp) {
                        Some(again) => {
                            self.state = State::Token(call);
                            Next::Send(again)
                        }
                        None => match self.tokens(now, &url, &resp) {
                            Ok(tokens) => Next::Done(Ok(tokens)),
                            Err(e) => self.fail(e),
                        },
                    },
                    Err(f) => self.fail(failure_error(&url, &f)),
                })
            }
            other => {
                self.state = other;
                None
            }
        }
    }

    /// The token response: RFC 6749 §5.1, with the requested scope standing for an omitted
    /// one (§5.1: then the granted scope is the requested one).
    fn tokens(&self, now: Time, url: &Url, resp: &HttpResponse) -> Result<TokenSet> {
        // With a proof, the server may bind the token: `DPoP` is then accepted (RFC 9449 §5).
        let proof = self.dpop.is_some();
        let mut tokens = process_token_response_with(now, url, resp, &self.policy, proof)?;
        if tokens.scope.is_none() {
            tokens.scope.clone_from(&self.target.scope);
        }
        // A machine grant is obtained again, not refreshed (RFC 6749 §4.4.3).
        tokens.refresh_token = None;
        Ok(tokens)
    }

    /// The credential is read: present it, or exchange it at the IdP first.
    fn credential(&mut self, value: &str) -> Next {
        let token = SecurityToken::new(value);
        let MachineGrant::EnterpriseManaged { idp, .. } = &self.how else {
            return self.present(&token);
        };
        let url = match Url::parse(&idp.token_endpoint) {
            Ok(url) => url,
            Err(e) => {
                return self.fail(
                    UsageError::InvalidUrl {
                        what: "enterprise IdP token endpoint",
                        url: idp.token_endpoint.clone(),
                        reason: e.to_string(),
                    }
                    .into(),
                );
            }
        };
        let client = idp_client(
            &idp.token_endpoint,
            &idp.client_id,
            idp.client_secret.as_ref(),
        );
        let target = IdJagTarget::new(
            self.issuer.clone(),
            self.target.resource.clone(),
            self.target.scope.clone(),
        );
        match id_jag_request(url.clone(), &token, &target, &client, &self.policy) {
            Ok(request) => {
                let call = TokenCall::new(request, self.dpop.as_ref(), None);
                let first = call.request();
                self.state = State::Idp(Box::new(call), url);
                Next::Send(first)
            }
            Err(e) => self.fail(e),
        }
    }

    /// The JWT bearer grant with `assertion` (a workload token, an ID-JAG).
    fn present(&mut self, assertion: &SecurityToken) -> Next {
        let request = jwt_bearer_grant_request(
            self.token_endpoint.clone(),
            assertion,
            &self.target,
            &self.client,
            &self.policy,
        );
        self.token_call(request)
    }

    fn token_call(&mut self, request: Result<HttpRequest>) -> Next {
        match request {
            Ok(request) => {
                let call = TokenCall::new(request, self.dpop.as_ref(), None);
                let first = call.request();
                self.state = State::Token(Box::new(call));
                Next::Send(first)
            }
            Err(e) => self.fail(e),
        }
    }

    fn unavailable(&self, reason: String) -> Error {
        let (what, source) = match &self.how {
            MachineGrant::EnterpriseManaged { id_token, .. } => ("ID token", id_token),
            MachineGrant::JwtBearer { assertion } => ("workload token", assertion),
            MachineGrant::ClientCredentials => {
                return UsageError::InvalidState("client credentials read no credential").into();
            }
        };
        UsageError::CredentialUnavailable {
            what,
            source_: describe(source),
            reason,
        }
        .into()
    }

    fn fail(&mut self, error: Error) -> Next {
        self.state = State::Done;
        Next::Done(Err(error))
    }
}

/// Where a credential is, for messages: a path or a variable's name, never a value.
fn describe(source: &CredentialSource) -> String {
    match source {
        CredentialSource::File { path } => format!("the file {path}"),
        CredentialSource::Env { name } => format!("the environment variable {name}"),
        CredentialSource::Value { .. } => "the configured value".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::login::EnterpriseIdp;
    use crate::jws::{EcPublicJwk, KeyHandle};
    use crate::policy::ResourceUri;

    fn enterprise() -> Acquire {
        let idp = EnterpriseIdp::new("https://idp.example/token", "idp-client");
        Acquire::new(
            MachineGrant::EnterpriseManaged {
                id_token: CredentialSource::Env {
                    name: "ID_TOKEN".into(),
                },
                idp,
            },
            ClientCredentials::public("https://as.example", "c"),
            "https://as.example".into(),
            Url::parse("https://as.example/token").unwrap(),
            TokenTarget::new(
                None,
                Some(ResourceUri::parse("https://mcp.example/mcp").unwrap()),
                None,
            ),
            Some(DpopKey::new(
                EcPublicJwk::p256("x", "y"),
                KeyHandle::Stored { id: "k".into() },
            )),
            Policy::default(),
        )
    }

    fn sent(next: Option<Next>) -> HttpRequest {
        match next {
            Some(Next::Send(request)) => request,
            other => panic!("expected a request, got {other:?}"),
        }
    }

    #[test]
    fn the_idp_and_the_authorization_server_keep_their_own_dpop_nonces() {
        let mut a = enterprise();
        assert!(matches!(
            a.start(),
            Next::Credential(CredentialSource::Env { .. })
        ));
        let first = sent(a.handle_credential(Ok("id-token".into())));
        assert_eq!(first.url.as_str(), "https://idp.example/token");
        assert!(!first.signatures[0].claims.contains_key("nonce"));
        let challenge = HttpResponse::new(
            400,
            vec![("dpop-nonce".into(), "idp-nonce".into())],
            br#"{"error":"use_dpop_nonce"}"#.to_vec(),
        );
        let now = Time::from_unix_secs(1);
        let again = sent(a.handle_outcome(now, Ok(challenge)));
        assert_eq!(again.signatures[0].claims["nonce"], "idp-nonce");
        let jag = HttpResponse::json(
            200,
            r#"{"access_token":"jag","issued_token_type":"urn:ietf:params:oauth:token-type:id-jag","token_type":"N_A"}"#,
        );
        let token = sent(a.handle_outcome(now, Ok(jag)));
        assert_eq!(token.url.as_str(), "https://as.example/token");
        assert!(
            !token.signatures[0].claims.contains_key("nonce"),
            "the IdP's nonce is not the authorization server's"
        );
        assert!(
            a.handle_credential(Ok("late".into())).is_none(),
            "not asked for"
        );
        let done = a.handle_outcome(
            now,
            Ok(HttpResponse::json(
                200,
                r#"{"access_token":"at","refresh_token":"rt"}"#,
            )),
        );
        let Some(Next::Done(Ok(tokens))) = done else {
            panic!("tokens");
        };
        assert_eq!(
            tokens.refresh_token, None,
            "obtained again, never refreshed"
        );
        assert!(a.handle_outcome(now, Err(Failure::Timeout)).is_none());
    }
}
