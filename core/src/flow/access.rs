//! [`Access`]: a usable access token for a server, refreshing it when needed, one refresh at a
//! time however many callers ask.
//!
//! # The single-flight rules
//! 1. Read the grant without a lock. A token that is not near expiry is used as it is.
//! 2. Otherwise take the refresh lock ([`Event::Lock`]; in-process and across processes) and
//!    read the grant again.
//! 3. If the stored token differs from the one read first (or from the one the server
//!    refused), another caller has just refreshed: take its token, send nothing. This holds
//!    however short the lifetime is, so N waiters make one refresh, not N.
//! 4. Otherwise refresh, store the new grant, and only then hand out its token: a rotated-out
//!    refresh token is never sent again (RFC 9700 §4.14.2).
//!
//! A refresh that fails for any reason but `invalid_grant` while the token is still valid
//! (inside the margin) hands out the still-valid token with a [`Event::Warning`]. An
//! `invalid_grant` deletes the grant: only a new login helps.
//!
//! A machine grant ([`Grant::acquire`]: client credentials, JWT bearer, enterprise-managed)
//! has no refresh token: when its token is near expiry, expired or refused, it is obtained
//! again the same way, without a user ([`Decision::Reacquire`]), under the same lock and
//! re-read rules. A credential in a file or an environment variable is read again
//! ([`Event::Credential`]), so a rotated workload token is picked up. An acquisition that
//! fails while the token is still valid hands out that token with a [`Event::Warning`];
//! otherwise its error (the server's OAuth error, a credential that cannot be read) is the
//! result, and the grant is kept for the next attempt.
//!
//! A refresh whose answer is lost (a broken connection, a time-out, a success status with an
//! unreadable body) may still have been carried out, rotating the stored refresh token out.
//! The grant is kept as it was, since the server may equally never have seen the request, and
//! the error says that a new login may be needed ([`FlowError::RefreshAnswerLost`]). The next
//! refresh then either succeeds or is refused (`invalid_grant`, the server's reuse
//! detection), which deletes the grant as above: one retry, never a loop.
//!
//! A refresh the server turns away unprocessed (503 or 429, or the OAuth error
//! `temporarily_unavailable`) is sent again after 1 s, 2 s and 4 s
//! ([`REFRESH_BACKOFF`]), or after its `Retry-After` when that is longer (up to
//! [`MAX_REFRESH_RETRY_AFTER`]; a longer one is not waited for), through
//! [`poll_timeout`](Machine::poll_timeout): the server said it did not carry the refresh out,
//! so the refresh token is still good to send. Being turned away never deletes the grant. A
//! still-valid token is handed out at once instead (with the warning above), without waiting,
//! and a lost answer is never sent again.
//!
//! A grant with a DPoP key ([`Grant::dpop_key`]) refreshes with a proof signed with it
//! (RFC 9449 §5), through one token call: one `use_dpop_nonce` answer is sent again with the
//! server's nonce (the server refused the request, so the refresh token was not used).

use std::collections::VecDeque;
use std::time::Duration;

use super::acquire::{Acquire, Next};
use super::error::FlowError;
use super::outbox::Outbox;
use super::profile::Profile;
use super::store::{GrantRecord, encode, grant_key, refresh_lock};
use super::token_call::TokenCall;
use super::{DEFAULT_REQUEST_TIMEOUT, Event, Failure, Machine, RequestId};
use crate::client_credentials::TokenTarget;
use crate::error::{Error, Result};
use crate::grant::Grant;
use crate::http::{HttpRequest, HttpResponse};
use crate::policy::{Policy, ResourceUri};
use crate::secret::AccessToken;
use crate::time::Time;
use crate::token::{TokenSet, is_invalid_grant};

/// The waits before sending again a refresh the server turned away unprocessed (see the
/// [module docs](self)); their number is the number of retries.
pub const REFRESH_BACKOFF: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

/// The longest `Retry-After` a refresh waits for; a server asking for more is not retried.
pub const MAX_REFRESH_RETRY_AFTER: Duration = Duration::from_secs(30);

/// What to do about a stored grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Use the stored access token.
    Use,
    /// Refresh first.
    Refresh,
    /// Obtain a new token without a user, as the machine grant was obtained (it has no
    /// refresh token).
    Reacquire,
    /// Only a new login helps; the reason is for messages.
    LoginRequired(&'static str),
}

/// The access decision for `grant` at `now`.
///
/// `first_read` is the token the caller read before taking the refresh lock, `rejected` the
/// one a server just refused with a 401. A stored token that differs from either was put there
/// by another caller's refresh, and is used as it is while it has not expired.
#[must_use]
pub fn decide(
    grant: &Grant,
    now: Time,
    first_read: Option<&AccessToken>,
    rejected: Option<&AccessToken>,
) -> Decision {
    let stored = &grant.tokens.access_token;
    let replaced = rejected.or(first_read).is_some_and(|seen| seen != stored);
    let refreshable = grant.tokens.refresh_token.is_some();
    if replaced && !grant.is_expired(now) {
        return Decision::Use;
    }
    // A machine grant is due inside the same margin as a refreshable one.
    let machine = grant.acquire.is_some();
    let machine_due = machine && grant.tokens.is_expired(now, grant.expiry_margin());
    if rejected.is_some() || grant.needs_refresh(now) || grant.is_expired(now) || machine_due {
        return if machine {
            Decision::Reacquire
        } else if refreshable {
            Decision::Refresh
        } else if rejected.is_some() {
            Decision::LoginRequired("the server refused the token, and there is no refresh token")
        } else {
            Decision::LoginRequired("the token expired, and there is no refresh token")
        };
    }
    Decision::Use
}

/// The longest a driver may keep handing out a token from its own memory without asking
/// [`Access`] again (see [`reuse_until`]). It bounds how long a change that another process
/// (or tab, or client on the same store) makes to the stored grant — a logout, a new login,
/// a refresh — goes unseen by a driver that remembers the token.
pub const MAX_TOKEN_REUSE: Duration = Duration::from_secs(30);

/// Until when a driver may send `grant`'s access token again without asking [`Access`]
/// (without reading the store): the first instant at which [`decide`] would no longer say
/// [`Decision::Use`] for it, at most [`MAX_TOKEN_REUSE`] after `now`. The driver compares its
/// clock with it and nothing else, as with a machine's `poll_timeout`; whatever the server
/// answers still goes to [`ProtectedRequest`](super::ProtectedRequest).
///
/// `None` when the token is not to be reused at all: it is due for a refresh (or expired) at
/// `now`, or it is [DPoP-bound](Grant::is_dpop_bound), as each request needs a proof of its
/// own from the core.
#[must_use]
pub fn reuse_until(grant: &Grant, now: Time) -> Option<Time> {
    if grant.is_dpop_bound() || decide(grant, now, None, None) != Decision::Use {
        return None;
    }
    let cap = now.add(MAX_TOKEN_REUSE);
    // `decide` turns at `expires_at` for a token nothing renews, and `expiry_margin` earlier
    // for one that is refreshed or obtained again.
    let renewable = grant.tokens.refresh_token.is_some() || grant.acquire.is_some();
    let turn = grant.tokens.expires_at.map(|at| {
        if renewable {
            at.sub(grant.expiry_margin())
        } else {
            at
        }
    });
    let until = turn.map_or(cap, |turn| turn.min(cap));
    (until > now).then_some(until)
}

/// Where an [`Access`] stands.
#[derive(Debug)]
enum Step {
    /// Waiting for the first read.
    Read,
    /// Waiting for the lock.
    Lock,
    /// Waiting for the read under the lock.
    ReadLocked,
    /// Waiting for the refresh response.
    Refresh,
    /// Obtaining a machine grant's token again.
    Acquire(Box<Acquire>),
    /// Over.
    Done,
}

/// A usable access token for one server (see the [module docs](self) for the rules).
#[derive(Debug)]
pub struct Access {
    server: ResourceUri,
    profile: Option<Profile>,
    rejected: Option<AccessToken>,
    policy: Policy,
    step: Step,
    first_read: Option<AccessToken>,
    record: Option<GrantRecord>,
    outbox: Outbox<()>,
    events: VecDeque<Event<Grant>>,
    /// The refresh request in flight, for its DPoP nonce retry.
    call: Option<TokenCall>,
    /// The newest DPoP nonce the authorization server gave.
    nonce: Option<String>,
    /// Refreshes sent again after the server turned them away unprocessed.
    retries: usize,
    /// When the refresh turned away is sent again.
    retry_at: Option<Time>,
}

impl Access {
    /// Starts: a token for `server`. `rejected` is the token a 401 just refused, if that is why
    /// the caller asks.
    #[must_use]
    pub fn new(server: ResourceUri, rejected: Option<AccessToken>, policy: Policy) -> Self {
        let mut this = Self {
            events: VecDeque::new(),
            outbox: Outbox::new(DEFAULT_REQUEST_TIMEOUT),
            server,
            profile: None,
            rejected,
            policy,
            step: Step::Read,
            first_read: None,
            record: None,
            call: None,
            nonce: None,
            retries: 0,
            retry_at: None,
        };
        this.load();
        this
    }

    /// Sets how long the refresh request may take (default [`DEFAULT_REQUEST_TIMEOUT`]).
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.outbox = Outbox::new(timeout);
        self
    }

    /// Uses `profile`'s grant instead of the default one. Call it before driving the machine.
    #[must_use]
    pub fn with_profile(mut self, profile: Option<Profile>) -> Self {
        self.profile = profile;
        self.events.clear();
        self.load();
        self
    }

    /// The server this machine reads the grant of.
    #[must_use]
    pub fn server(&self) -> &ResourceUri {
        &self.server
    }

    fn key(&self) -> String {
        grant_key(&self.server, self.profile.as_ref())
    }

    fn load(&mut self) {
        self.events.push_back(Event::Load { key: self.key() });
    }

    fn finish(&mut self, result: Result<Grant>) {
        self.step = Step::Done;
        self.outbox.clear();
        self.retry_at = None;
        self.events.push_back(Event::Done(result));
    }

    fn login_required(&self, reason: &'static str) -> Error {
        FlowError::LoginRequired {
            server: self.server.to_string(),
            reason,
        }
        .into()
    }

    fn on_record(&mut self, now: Time, key: &str, text: Option<String>) {
        let record = match text.map(|t| GrantRecord::parse(key, &t)).transpose() {
            Ok(Some(record)) => record,
            Ok(None) => return self.finish(Err(self.login_required("nothing is stored"))),
            Err(e) => return self.finish(Err(e)),
        };
        let locked = matches!(self.step, Step::ReadLocked);
        let decision = decide(
            &record.grant,
            now,
            self.first_read.as_ref(),
            self.rejected.as_ref(),
        );
        match decision {
            Decision::Use => self.finish(Ok(record.grant)),
            Decision::LoginRequired(reason) => self.finish(Err(self.login_required(reason))),
            Decision::Refresh | Decision::Reacquire if !locked => {
                self.first_read = Some(record.grant.tokens.access_token.clone());
                self.record = Some(record);
                self.step = Step::Lock;
                self.events.push_back(Event::Lock {
                    key: refresh_lock(&self.server, self.profile.as_ref()),
                });
            }
            Decision::Reacquire => self.reacquire(now, record),
            Decision::Refresh => {
                self.record = Some(record);
                self.step = Step::Refresh;
                self.send_refresh(now);
            }
        }
    }

    /// Sends the refresh of the grant read under the lock, with a DPoP proof for a grant
    /// with a key.
    fn send_refresh(&mut self, now: Time) {
        let Some(record) = &self.record else {
            return self.finish(Err(self.login_required("nothing is stored")));
        };
        match record.grant.refresh_request(&self.policy) {
            Ok(request) => {
                let key = record.grant.dpop_key.as_ref();
                let call = TokenCall::new(request, key, self.nonce.clone());
                self.outbox.send(now, call.request(), ());
                self.call = Some(call);
            }
            Err(e) => self.finish(Err(e)),
        }
    }

    /// Answers a `use_dpop_nonce` once. Returns whether the refresh was sent again.
    fn resent_with_nonce(&mut self, now: Time, resp: &HttpResponse) -> bool {
        let Some(call) = &mut self.call else {
            return false;
        };
        let again = call.retry(resp);
        self.nonce = call.nonce_after(resp);
        match again {
            Some(again) => {
                self.outbox.send(now, again, ());
                true
            }
            None => false,
        }
    }

    /// When to send again a refresh that `resp` turned away unprocessed (see the
    /// [module docs](self)), or `None` when it is not to be sent again.
    fn retry_time(&self, now: Time, resp: &HttpResponse, error: &Error) -> Option<Time> {
        let unavailable = matches!(resp.status, 429 | 503)
            || error
                .oauth()
                .is_some_and(|e| e.error == "temporarily_unavailable");
        if !unavailable || resp.is_success() {
            return None;
        }
        let backoff = *REFRESH_BACKOFF.get(self.retries)?;
        let asked = crate::response::retry_after(resp).unwrap_or_default();
        if asked > MAX_REFRESH_RETRY_AFTER {
            return None;
        }
        Some(now.add(backoff.max(asked)))
    }

    fn on_refresh(&mut self, now: Time, outcome: std::result::Result<HttpResponse, Failure>) {
        let Some(mut record) = self.record.take() else {
            return self.finish(Err(self.login_required("nothing is stored")));
        };
        if let Ok(resp) = &outcome {
            if self.resent_with_nonce(now, resp) {
                self.record = Some(record);
                return;
            }
        }
        let key = self.key();
        let still_valid = self.rejected.is_none() && !record.grant.is_expired(now);
        let result = match &outcome {
            Ok(resp) => record
                .grant
                .process_refresh_response(now, resp, &self.policy)
                // A 2xx with an OAuth error in it (GitHub's way) is an answer, not a lost one.
                .map_err(|e| match e.oauth() {
                    None if resp.is_success() => answer_lost(e),
                    _ => e,
                }),
            Err(failure @ (Failure::Transport { .. } | Failure::Timeout)) => Err(answer_lost(
                super::error::failure_error(&record.grant.token_endpoint, failure),
            )),
            Err(failure) => Err(super::error::failure_error(
                &record.grant.token_endpoint,
                failure,
            )),
        };
        // Only an answer that says the refresh was not carried out is waited out and sent
        // again; a still-valid token is handed out at once instead.
        let retry_at = match (&outcome, &result) {
            (Ok(resp), Err(error)) if !still_valid => self.retry_time(now, resp, error),
            _ => None,
        };
        if let Some(at) = retry_at {
            self.retries += 1;
            self.retry_at = Some(at);
            self.record = Some(record);
            return;
        }
        match result {
            Ok(_rotated) => {
                self.events.push_back(Event::Save {
                    key,
                    record: encode(&record),
                });
                self.finish(Ok(record.grant));
            }
            Err(e) if is_invalid_grant(&e) => {
                self.events.push_back(Event::Delete { key });
                self.events.push_back(Event::Warning(e));
                let error =
                    self.login_required("the authorization server refused the refresh token");
                self.finish(Err(error));
            }
            Err(e) if still_valid => {
                self.events.push_back(Event::Warning(e));
                self.finish(Ok(record.grant));
            }
            Err(e) => self.finish(Err(e)),
        }
    }
}

impl Access {
    /// Starts obtaining `record`'s token again, as its machine grant says.
    fn reacquire(&mut self, now: Time, record: GrantRecord) {
        let grant = &record.grant;
        let Some(how) = grant.acquire.clone() else {
            return self.finish(Err(self.login_required("there is no refresh token")));
        };
        let target = TokenTarget::new(
            grant.tokens.scope.clone(),
            grant.send_resource.then(|| grant.resource.clone()),
            grant.audience.clone(),
        );
        let mut acquire = Acquire::new(
            how,
            grant.client.clone(),
            grant.issuer.clone(),
            grant.token_endpoint.clone(),
            target,
            grant.dpop_key.clone(),
            self.policy.clone(),
        );
        let next = acquire.start();
        self.record = Some(record);
        self.step = Step::Acquire(Box::new(acquire));
        self.on_acquire(now, next);
    }

    fn on_acquire(&mut self, now: Time, next: Next) {
        match next {
            Next::Credential(source) => self.events.push_back(Event::Credential { source }),
            Next::Send(request) => {
                self.outbox.send(now, request, ());
            }
            Next::Done(result) => self.reacquired(now, result),
        }
    }

    fn on_acquire_outcome(
        &mut self,
        now: Time,
        outcome: std::result::Result<HttpResponse, Failure>,
    ) {
        let Step::Acquire(acquire) = &mut self.step else {
            return;
        };
        if let Some(next) = acquire.handle_outcome(now, outcome) {
            self.on_acquire(now, next);
        }
    }

    /// Stores the new token before handing it out; a failure keeps the grant (the next
    /// attempt reads the credential again), and a still-valid token is used meanwhile.
    fn reacquired(&mut self, now: Time, result: Result<TokenSet>) {
        let Some(mut record) = self.record.take() else {
            return self.finish(Err(self.login_required("nothing is stored")));
        };
        match result {
            Ok(tokens) => {
                record.grant.tokens = tokens;
                record.grant.updated_at = now;
                self.events.push_back(Event::Save {
                    key: self.key(),
                    record: encode(&record),
                });
                self.finish(Ok(record.grant));
            }
            Err(e) if self.rejected.is_none() && !record.grant.is_expired(now) => {
                self.events.push_back(Event::Warning(e));
                self.finish(Ok(record.grant));
            }
            Err(e) => self.finish(Err(e)),
        }
    }
}

/// `cause`, said of a refresh that the server may have carried out unseen: the stored refresh
/// token may be spent (see [`FlowError::RefreshAnswerLost`]).
fn answer_lost(cause: Error) -> Error {
    FlowError::RefreshAnswerLost {
        cause: Box::new(cause),
    }
    .into()
}

impl Machine for Access {
    type Output = Grant;

    fn poll_transmit(&mut self) -> Option<(RequestId, HttpRequest)> {
        self.outbox.pop()
    }

    fn handle_response(&mut self, now: Time, id: RequestId, response: HttpResponse) {
        if matches!(self.step, Step::Acquire(_)) && self.outbox.take(id).is_some() {
            return self.on_acquire_outcome(now, Ok(response));
        }
        if self.outbox.take(id).is_some() && matches!(self.step, Step::Refresh) {
            self.on_refresh(now, Ok(response));
        }
    }

    fn handle_failure(&mut self, now: Time, id: RequestId, failure: Failure) {
        if matches!(self.step, Step::Acquire(_)) && self.outbox.take(id).is_some() {
            return self.on_acquire_outcome(now, Err(failure));
        }
        if self.outbox.take(id).is_some() && matches!(self.step, Step::Refresh) {
            self.on_refresh(now, Err(failure));
        }
    }

    fn poll_timeout(&self) -> Option<Time> {
        [self.outbox.deadline(), self.retry_at]
            .into_iter()
            .flatten()
            .min()
    }

    fn handle_timeout(&mut self, now: Time) {
        if matches!(self.step, Step::Acquire(_)) {
            if let Some((_, (), failure)) = self.outbox.expired(now).into_iter().next() {
                self.on_acquire_outcome(now, Err(failure));
            }
            return;
        }
        if let Some((_, (), failure)) = self.outbox.expired(now).into_iter().next() {
            self.on_refresh(now, Err(failure));
        }
        if matches!(self.step, Step::Refresh) && self.retry_at.is_some_and(|at| now >= at) {
            self.retry_at = None;
            self.send_refresh(now);
        }
    }

    fn handle_loaded(&mut self, now: Time, key: &str, record: Option<String>) {
        match self.step {
            Step::Read | Step::ReadLocked => self.on_record(now, key, record),
            _ => {}
        }
    }

    fn handle_locked(&mut self, _now: Time) {
        if matches!(self.step, Step::Lock) {
            self.step = Step::ReadLocked;
            self.load();
        }
    }

    fn handle_credential(&mut self, now: Time, value: std::result::Result<String, String>) {
        let Step::Acquire(acquire) = &mut self.step else {
            return;
        };
        if let Some(next) = acquire.handle_credential(value) {
            self.on_acquire(now, next);
        }
    }

    fn abort(&mut self) {
        if !matches!(self.step, Step::Done) {
            self.finish(Err(FlowError::Aborted.into()));
        }
    }

    fn poll_event(&mut self) -> Option<Event<Grant>> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ClientCredentials;
    use crate::jws::{DpopKey, EcPublicJwk, KeyHandle};
    use crate::metadata::AuthorizationServerMetadata;
    use crate::token::TokenSet;

    /// A grant issued at 1000 s, expiring `lifetime` seconds later, with a refresh token or not.
    fn grant(lifetime: Option<u64>, refresh: bool) -> Grant {
        let issuer = "https://as.example";
        let metadata = AuthorizationServerMetadata::for_tests(issuer);
        let issued = Time::from_unix_secs(1000);
        let tokens = TokenSet {
            access_token: AccessToken::new("at"),
            token_type: "Bearer".into(),
            refresh_token: refresh.then(|| crate::secret::RefreshToken::new("rt")),
            expires_at: lifetime.map(|l| issued.add(Duration::from_secs(l))),
            issued_at: Some(issued),
            scope: None,
            id_token: None,
        };
        let server = ResourceUri::parse("https://mcp.example/mcp").unwrap();
        let client = ClientCredentials::public(issuer, "app");
        Grant::new(server, None, &metadata, client, tokens, issued).unwrap()
    }

    /// Every millisecond before the deadline `decide` says `Use`, and at the deadline it does
    /// not, unless the deadline is the cap.
    fn assert_deadline_matches_decide(grant: &Grant, now: Time) {
        let until = reuse_until(grant, now).expect("reusable");
        assert!(until > now);
        assert!(until <= now.add(MAX_TOKEN_REUSE));
        let last = Time::from_unix_millis(until.unix_millis() - 1);
        assert_eq!(decide(grant, last, None, None), Decision::Use);
        if until < now.add(MAX_TOKEN_REUSE) {
            assert_ne!(decide(grant, until, None, None), Decision::Use);
        }
    }

    #[test]
    fn a_refreshable_token_is_reused_until_it_is_due_for_a_refresh() {
        let g = grant(Some(3600), true);
        let early = Time::from_unix_secs(1000);
        assert_eq!(reuse_until(&g, early), Some(early.add(MAX_TOKEN_REUSE)));
        assert_deadline_matches_decide(&g, early);
        // Close to the refresh margin, the deadline is the margin, not the cap.
        let refresh_at = g.refresh_at().unwrap();
        let near = refresh_at.sub(Duration::from_secs(5));
        assert_eq!(reuse_until(&g, near), Some(refresh_at));
        assert_deadline_matches_decide(&g, near);
        assert_eq!(reuse_until(&g, refresh_at), None);
    }

    #[test]
    fn a_token_without_refresh_is_reused_until_it_expires() {
        let g = grant(Some(60), false);
        let now = Time::from_unix_secs(1050);
        assert_eq!(reuse_until(&g, now), Some(Time::from_unix_secs(1060)));
        assert_deadline_matches_decide(&g, now);
        assert_eq!(reuse_until(&g, Time::from_unix_secs(1060)), None);
    }

    #[test]
    fn a_token_without_expiry_is_reused_for_the_cap_only() {
        let g = grant(None, true);
        let now = Time::from_unix_secs(5000);
        assert_eq!(reuse_until(&g, now), Some(now.add(MAX_TOKEN_REUSE)));
    }

    #[test]
    fn a_dpop_bound_token_is_never_reused_without_the_core() {
        let mut g = grant(Some(3600), true);
        g.tokens.token_type = "DPoP".into();
        g.dpop_key = Some(DpopKey::new(
            EcPublicJwk::p256("x", "y"),
            KeyHandle::Stored { id: "k".into() },
        ));
        assert_eq!(reuse_until(&g, Time::from_unix_secs(1000)), None);
    }
}
