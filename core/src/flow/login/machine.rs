//! A machine login (client credentials, JWT bearer, enterprise-managed): after discovery it
//! needs no PKCE, no registration and no user. The client must be pre-registered; the tokens
//! come from an [`Acquire`], and the grant keeps how to obtain them again
//! ([`Grant::acquire`]), since there is no refresh token.

use super::*;
use crate::client_credentials::{TokenTarget, can_authenticate};
use crate::flow::acquire::{Acquire, Next};

impl Login {
    /// Starts the acquisition `how` at the discovered authorization server.
    pub(super) fn acquire(&mut self, now: Time, discovered: Discovered, how: MachineGrant) {
        let no_client = || -> Error {
            UsageError::NoClientIdentity {
                issuer: discovered.issuer.clone(),
            }
            .into()
        };
        let credentials = match self.preregistered(&discovered.metadata) {
            // Client credentials authenticate the client alone: a public client has nothing
            // to authenticate with (RFC 6749 §4.4).
            Some(c) if matches!(how, MachineGrant::ClientCredentials) && !can_authenticate(&c) => {
                return self.finish(Err(no_client()));
            }
            Some(c) => c,
            None => return self.finish(Err(no_client())),
        };
        let Some(token_endpoint) = discovered.metadata.token_endpoint.clone() else {
            let error = UsageError::MissingEndpoint {
                issuer: discovered.metadata.issuer.clone(),
                endpoint: "token_endpoint",
            };
            return self.finish(Err(error.into()));
        };
        let options = self.options();
        let target = TokenTarget::new(
            login_scope(&discovered, &options),
            login_resource(&discovered, &options),
            self.config.audience.clone(),
        );
        let mut acquire = Acquire::new(
            how,
            credentials.clone(),
            discovered.metadata.issuer.clone(),
            token_endpoint,
            target,
            self.config.dpop_key.clone(),
            self.config.policy.clone(),
        );
        let next = acquire.start();
        let client = Client {
            discovered,
            credentials,
            registration_key: None,
        };
        self.step = Step::Acquire(Box::new(client), Box::new(acquire));
        self.on_acquire(now, next);
    }

    fn on_acquire(&mut self, now: Time, next: Next) {
        match next {
            Next::Credential(source) => self.events.push_back(Event::Credential { source }),
            Next::Send(request) => {
                self.outbox.send(now, request, Tag::Acquire);
            }
            Next::Done(Ok(tokens)) => {
                let Step::Acquire(client, acquire) = std::mem::replace(&mut self.step, Step::Done)
                else {
                    return;
                };
                let resource = acquire.target().resource.clone();
                self.granted(now, *client, resource, tokens);
            }
            Next::Done(Err(e)) => self.finish(Err(e)),
        }
    }

    pub(super) fn on_acquire_outcome(
        &mut self,
        now: Time,
        outcome: std::result::Result<HttpResponse, Failure>,
    ) {
        let Step::Acquire(_, acquire) = &mut self.step else {
            return;
        };
        if let Some(next) = acquire.handle_outcome(now, outcome) {
            self.on_acquire(now, next);
        }
    }

    pub(super) fn on_credential(&mut self, now: Time, value: std::result::Result<String, String>) {
        let Step::Acquire(_, acquire) = &mut self.step else {
            return;
        };
        if let Some(next) = acquire.handle_credential(value) {
            self.on_acquire(now, next);
        }
    }

    /// What the grant keeps of the login for later: how to obtain tokens again without a
    /// user, the `audience` to send again, and the DPoP key its tokens are bound to (only
    /// when the server bound them: a `Bearer` answer to a DPoP request is used as Bearer,
    /// RFC 9449 §7.1).
    pub(super) fn keep_for_later(&self, grant: &mut Grant) {
        grant.acquire.clone_from(&self.config.grant);
        if grant.audience.is_none() {
            grant.audience.clone_from(&self.config.audience);
        }
        if grant.dpop_key.is_none() && grant.tokens.token_type.eq_ignore_ascii_case("DPoP") {
            grant.dpop_key.clone_from(&self.config.dpop_key);
        }
    }
}
