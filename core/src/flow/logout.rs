//! [`Logout`]: forget a server's grant here, then revoke it there (RFC 7009).
//!
//! Local state goes first, so a server that refuses or cannot be reached still leaves the user
//! logged out on this machine; the failed revocation is a [`Event::Warning`], not an error.
//! What discovery found for the server (and profile) is forgotten with the grant: a user who
//! logs out and in again expects the server to be asked afresh.

use std::collections::VecDeque;

use super::error::FlowError;
use super::outbox::Outbox;
use super::profile::Profile;
use super::store::{GrantRecord, discovery_key, grant_key};
use super::{DEFAULT_REQUEST_TIMEOUT, Event, Failure, Machine, RequestId};
use crate::error::Result;
use crate::http::{HttpRequest, HttpResponse};
use crate::policy::{Policy, ResourceUri};
use crate::revocation::process_revocation_response;
use crate::time::Time;

/// What a logout did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogoutOutcome {
    /// Whether the server confirmed the revocation (false: it has no revocation endpoint, or
    /// refused; see the warnings).
    pub revoked: bool,
}

/// Logs out of one server.
#[derive(Debug)]
pub struct Logout {
    server: ResourceUri,
    profile: Option<Profile>,
    policy: Policy,
    revoke: bool,
    outbox: Outbox<url::Url>,
    events: VecDeque<Event<LogoutOutcome>>,
    done: bool,
}

impl Logout {
    /// Starts a logout of `server`; `revoke: false` only forgets the grant.
    #[must_use]
    pub fn new(server: ResourceUri, revoke: bool, policy: Policy) -> Self {
        let key = grant_key(&server, None);
        Self {
            server,
            profile: None,
            policy,
            revoke,
            outbox: Outbox::new(DEFAULT_REQUEST_TIMEOUT),
            events: VecDeque::from([Event::Load { key }]),
            done: false,
        }
    }

    /// Logs `profile` out instead of the default login. Call it before driving the machine.
    #[must_use]
    pub fn with_profile(mut self, profile: Option<Profile>) -> Self {
        let key = grant_key(&self.server, profile.as_ref());
        self.profile = profile;
        self.events = VecDeque::from([Event::Load { key }]);
        self
    }

    /// Sets how long the revocation request may take (default [`DEFAULT_REQUEST_TIMEOUT`]).
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.outbox = Outbox::new(timeout);
        self
    }

    fn finish(&mut self, result: Result<LogoutOutcome>) {
        self.done = true;
        self.outbox.clear();
        self.events.push_back(Event::Done(result));
    }

    fn on_revoked(&mut self, url: &url::Url, outcome: std::result::Result<HttpResponse, Failure>) {
        let result = match outcome {
            Ok(resp) => process_revocation_response(url, &resp, &self.policy).map(|_| ()),
            Err(failure) => Err(super::error::failure_error(url, &failure)),
        };
        if let Err(e) = &result {
            self.events.push_back(Event::Warning(e.clone()));
        }
        self.finish(Ok(LogoutOutcome {
            revoked: result.is_ok(),
        }));
    }
}

impl Machine for Logout {
    type Output = LogoutOutcome;

    fn poll_transmit(&mut self) -> Option<(RequestId, HttpRequest)> {
        self.outbox.pop()
    }

    fn handle_response(&mut self, _now: Time, id: RequestId, response: HttpResponse) {
        if let Some(url) = self.outbox.take(id) {
            self.on_revoked(&url, Ok(response));
        }
    }

    fn handle_failure(&mut self, _now: Time, id: RequestId, failure: Failure) {
        if let Some(url) = self.outbox.take(id) {
            self.on_revoked(&url, Err(failure));
        }
    }

    fn poll_timeout(&self) -> Option<Time> {
        self.outbox.deadline()
    }

    fn handle_timeout(&mut self, now: Time) {
        if let Some((_, url, failure)) = self.outbox.expired(now).into_iter().next() {
            self.on_revoked(&url, Err(failure));
        }
    }

    fn handle_loaded(&mut self, now: Time, key: &str, record: Option<String>) {
        if self.done {
            return;
        }
        let forget_discovery = Event::Delete {
            key: discovery_key(&self.server, self.profile.as_ref()),
        };
        let Some(text) = record else {
            self.events.push_back(forget_discovery);
            let error = FlowError::LoginRequired {
                server: self.server.to_string(),
                reason: "nothing is stored",
            };
            return self.finish(Err(error.into()));
        };
        self.events.push_back(Event::Delete {
            key: key.to_owned(),
        });
        self.events.push_back(forget_discovery);
        // An unreadable record is deleted all the same: it is of no use, and logout must work.
        let request = match GrantRecord::parse(key, &text) {
            Ok(record) if self.revoke => record.grant.revocation_request(&self.policy),
            Ok(_) => Ok(None),
            Err(e) => {
                self.events.push_back(Event::Warning(e));
                Ok(None)
            }
        };
        match request {
            Ok(Some(request)) => {
                let url = request.url.clone();
                self.outbox.send(now, request, url);
            }
            Ok(None) => self.finish(Ok(LogoutOutcome { revoked: false })),
            Err(e) => {
                self.events.push_back(Event::Warning(e));
                self.finish(Ok(LogoutOutcome { revoked: false }));
            }
        }
    }

    fn abort(&mut self) {
        if !self.done {
            self.finish(Err(FlowError::Aborted.into()));
        }
    }

    fn poll_event(&mut self) -> Option<Event<LogoutOutcome>> {
        self.events.pop_front()
    }
}
