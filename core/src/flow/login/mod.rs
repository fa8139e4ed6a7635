//! [`Login`]: from an MCP server URL to a stored grant.
//!
//! probe (optional) → discovery (or the server's discovery record, while the metadata's
//! caching headers allow: [`DiscoveryRecord`](super::store::DiscoveryRecord)) → PKCE check →
//! client identity (pre-registered, CIMD, a registration made earlier for this flow, or a new
//! one) → authorization URL and callback, or device code and polls → code exchange → grant →
//! userinfo (display only) → the grant replaces the server's previous one, which is revoked.
//!
//! A machine login (`config.grant`: client credentials, JWT bearer, enterprise-managed)
//! goes from discovery straight to obtaining tokens with a pre-registered client, without a
//! user (the `machine` module).
//!
//! With [`LoginConfig::dpop`], every token request of the login (the code exchange, each
//! device poll) carries a DPoP proof signed with [`LoginConfig::dpop_key`] (RFC 9449 §5),
//! through one token call: one `use_dpop_nonce` answer is retried with the server's nonce, and
//! the newest nonce the server gave is carried by the login's later token requests. A `DPoP`
//! token type is accepted only for a request that carried a proof. A server that answers a
//! proof with a `Bearer` token declined to bind the access token (RFC 9449 §5 lets it): the
//! token is kept and used as a bearer token, without proofs, while the grant keeps the key,
//! because the refresh token of a public client is bound to it all the same, and each refresh
//! proves possession of it.
//!
//! A login with a fixed redirect URI (a web app) saves itself at the callback boundary
//! ([`PendingLogin`] under [`pending_key`]), so the page that receives the redirect resumes
//! it with [`Login::resume`].

use std::collections::VecDeque;
use std::time::Duration;

use url::Url;

use super::error::{FlowError, failure_error};
use super::outbox::Outbox;
use super::store::{
    GrantRecord, PendingLogin, RECORD_VERSION, RegisteredFlow, RegistrationRecord, encode,
    grant_key, pending_key, registration_key,
};
use super::token_call::TokenCall;
use super::{Event, Failure, Machine, RequestId};
use crate::authorize::{callback_belongs_to, validate_authorization_response};
use crate::challenge::{BearerChallenge, classify_response};
use crate::client::ClientCredentials;
use crate::device::{
    DevicePoll, DeviceStatus, device_authorization_request, process_device_authorization_response,
};
use crate::discovery::{Discovered, Discovery};
use crate::entropy::Entropy;
use crate::error::{Error, OAuthError, Result, UsageError};
use crate::grant::Grant;
use crate::http::{HttpRequest, HttpResponse};
use crate::identity::{IdentityOptions, IdentityPlan, is_invalid_client, plan_client_identity};
use crate::jws::DpopKey;
use crate::login::{LoginOptions, login_resource, login_scope, start_authorization};
use crate::metadata::AuthorizationServerMetadata;
use crate::policy::{Policy, ResourceUri};
use crate::registration::{
    ApplicationType, ClientMetadata, choose_token_endpoint_auth_method,
    process_registration_response,
};
use crate::time::Time;
use crate::token::{
    TokenSet, authorization_code_grant_request, process_authorization_code_response_with,
};
use crate::userinfo::{DisplayIdentity, process_userinfo_response};

mod cache;
mod config;
mod device;
mod finish;
mod identity;
mod machine;

pub use config::{
    CALLBACK_PATH, CredentialSource, EnterpriseIdp, LoginConfig, LoginOutcome, MachineGrant,
    ManualEndpoints, PreRegistered, Redirect,
};

/// What a request of the login was for.
#[derive(Debug)]
enum Tag {
    Probe,
    Discovery(RequestId),
    Register,
    Exchange,
    DeviceAuthorization,
    DevicePoll,
    UserInfo(Url),
    Revoke(Url),
    Acquire,
}

/// The client identity settled on, and what to drop if the server does not know it.
#[derive(Debug)]
struct Client {
    discovered: Discovered,
    credentials: ClientCredentials,
    registration_key: Option<String>,
}

/// Where a login stands.
#[derive(Debug)]
enum Step {
    Probe,
    LoadDiscovery,
    Discover(Box<Discovery>),
    LoadRegistration(Box<Discovered>),
    Listen(Box<Discovered>, Option<Box<RegistrationRecord>>),
    Register(Box<Discovered>, Option<String>),
    Callback(Box<PendingLogin>),
    Exchange(Box<PendingLogin>),
    DeviceAuthorize(Box<Client>),
    DevicePoll(Box<Client>, Box<DevicePoll>, bool),
    UserInfo(Box<GrantRecord>),
    LoadPrevious(Box<GrantRecord>),
    Revoke(Box<GrantRecord>),
    Acquire(Box<Client>, Box<crate::flow::acquire::Acquire>),
    Done,
}

/// One login (see the [module docs](self)).
#[derive(Debug)]
pub struct Login {
    config: LoginConfig,
    server: ResourceUri,
    challenge: Option<BearerChallenge>,
    seed: [u8; 64],
    deadline: Option<Time>,
    foreign_callbacks: u32,
    step: Step,
    outbox: Outbox<Tag>,
    events: VecDeque<Event<LoginOutcome>>,
    /// The token request in flight (code exchange or device poll), for its nonce retry.
    token_call: Option<TokenCall>,
    /// The newest DPoP nonce the authorization server gave, for the next token request.
    as_nonce: Option<String>,
    /// What the login did with the discovery cache.
    cache: cache::CacheUse,
    /// The time of the input being handled, for steps that start over from deep inside.
    clock: Time,
}

impl Login {
    /// Starts a login. `entropy` seeds the PKCE verifier and `state` (drawn now, used later).
    ///
    /// # Errors
    /// [`UsageError::InvalidUrl`] or [`SecurityError::InsecureUrl`](crate::SecurityError) for
    /// the server URL; [`UsageError::NoSigningKey`] for [`LoginConfig::dpop`] without a
    /// [`LoginConfig::dpop_key`]; [`Error::Entropy`].
    pub fn new(config: LoginConfig, now: Time, entropy: &mut dyn Entropy) -> Result<Self> {
        if config.dpop && config.dpop_key.is_none() {
            return Err(UsageError::NoSigningKey {
                what: "DPoP key",
                hint: "generate a P-256 key for the login and pass it as dpop_key",
            }
            .into());
        }
        let server = ResourceUri::parse(&config.server)?;
        config.policy.check_endpoint("server", server.url())?;
        let mut seed = [0; 64];
        entropy.fill(&mut seed)?;
        let mut this = Self {
            deadline: config
                .timeout_ms
                .map(|ms| now.add(Duration::from_millis(ms))),
            outbox: Outbox::new(Duration::from_millis(config.request_timeout_ms)),
            challenge: config.challenge.clone(),
            server,
            seed,
            foreign_callbacks: 0,
            step: Step::Probe,
            events: VecDeque::new(),
            token_call: None,
            as_nonce: None,
            cache: cache::CacheUse::default(),
            clock: now,
            config,
        };
        if this.challenge.is_none() && this.config.probe && this.config.endpoints.is_none() {
            let probe = this.probe_request();
            this.outbox.send(now, probe, Tag::Probe);
        } else {
            this.discover(now);
        }
        Ok(this)
    }

    /// Resumes a login saved at the callback boundary (the record stored under
    /// [`pending_key`]); hand it the callback with [`handle_callback`](Self::handle_callback).
    ///
    /// # Errors
    /// [`FlowError::UnreadableRecord`].
    pub fn resume(key: &str, record: &str) -> Result<Self> {
        let pending = PendingLogin::parse(key, record)?;
        let config = LoginConfig {
            server: pending.discovered.server.to_string(),
            redirect: Redirect::Fixed {
                uri: pending.pending.redirect_uri.clone(),
            },
            policy: pending.policy.clone(),
            request_timeout_ms: pending.request_timeout_ms,
            profile: pending.profile.clone(),
            audience: pending.pending.audience.clone(),
            dpop: pending.dpop_key.is_some(),
            dpop_key: pending.dpop_key.clone(),
            ..LoginConfig::default()
        };
        Ok(Self {
            server: pending.discovered.server.clone(),
            challenge: None,
            seed: [0; 64],
            deadline: pending.deadline,
            foreign_callbacks: 0,
            outbox: Outbox::new(Duration::from_millis(pending.request_timeout_ms)),
            events: VecDeque::new(),
            step: Step::Callback(Box::new(pending)),
            token_call: None,
            as_nonce: None,
            cache: cache::CacheUse::default(),
            clock: Time::from_unix_millis(0),
            config,
        })
    }

    /// The redirect URI the driver listens on, after [`Event::Listen`].
    pub fn set_redirect_uri(&mut self, now: Time, uri: &str) {
        self.clock = now;
        let Step::Listen(discovered, record) = std::mem::replace(&mut self.step, Step::Done) else {
            return;
        };
        let cached = record
            .map(|r| *r)
            .filter(|r| r.fits(RegisteredFlow::Code, Some(uri), now));
        self.identify(now, *discovered, cached, Some(uri.to_owned()));
    }

    /// A request arrived at the redirect URI. Returns whether it belongs to this login (it
    /// carries its `state`): if not, it is ignored, [`Event::ForeignCallback`] tells the user,
    /// and the login goes on; answer the browser with an error page. If it does, the login
    /// goes on to the code exchange or ends with the error the redirect carries.
    pub fn handle_callback(&mut self, now: Time, callback: &str) -> bool {
        let Step::Callback(pending) = &self.step else {
            return false;
        };
        if !callback_belongs_to(&pending.pending, callback) {
            self.foreign_callbacks = self.foreign_callbacks.saturating_add(1);
            self.events.push_back(Event::ForeignCallback);
            return false;
        }
        let Step::Callback(pending) = std::mem::replace(&mut self.step, Step::Done) else {
            return false;
        };
        if matches!(self.config.redirect, Redirect::Fixed { .. }) {
            self.events.push_back(Event::Delete {
                key: pending_key(pending.pending.state.secret()),
            });
        }
        let request = validate_authorization_response(&pending.pending, callback).and_then(|r| {
            authorization_code_grant_request(&pending.pending, r, &pending.client, &pending.policy)
        });
        match request {
            Ok(request) => {
                self.send_token(now, request, Tag::Exchange);
                self.step = Step::Exchange(pending);
            }
            Err(e) => self.finish(Err(e)),
        }
        true
    }

    /// The login's deadline, if it has one.
    #[must_use]
    pub fn deadline(&self) -> Option<Time> {
        self.deadline
    }

    // ----- steps -----

    fn probe_request(&self) -> HttpRequest {
        let body = br#"{"jsonrpc":"2.0","id":0,"method":"ping"}"#.to_vec();
        let mut req = HttpRequest::post_json(self.server.url().clone(), body);
        req.headers.retain(|(n, _)| n != "accept");
        req.push_header("accept", "application/json, text/event-stream");
        for (name, value) in &self.config.server_headers {
            req.push_header(&name.to_ascii_lowercase(), value.clone());
        }
        req.max_response_bytes = self.config.policy.max_response_bytes;
        req
    }

    /// Configured endpoints, else the discovery record, else discovery.
    fn discover(&mut self, now: Time) {
        if let Some(manual) = &self.config.endpoints {
            let discovered = configured(&self.server, manual, &self.config.policy);
            return match discovered {
                Ok(d) => self.discovered(now, d),
                Err(e) => self.finish(Err(e)),
            };
        }
        self.load_discovery();
    }

    /// Discovers from the server, whatever is stored.
    fn start_discovery(&mut self, now: Time) {
        let policy = self.config.policy.clone();
        let discovery = match &self.config.issuer {
            Some(issuer) => Discovery::with_issuer(self.server.as_str(), issuer, policy),
            None => Discovery::new(
                self.server.as_str(),
                self.challenge
                    .as_ref()
                    .and_then(|c| c.resource_metadata.as_deref()),
                policy,
            ),
        };
        match discovery {
            Ok(d) => {
                self.step = Step::Discover(Box::new(d));
                self.pump_discovery(now);
            }
            Err(e) => self.finish(Err(e)),
        }
    }

    fn pump_discovery(&mut self, now: Time) {
        let Step::Discover(discovery) = &mut self.step else {
            return;
        };
        while let Some((id, request)) = discovery.poll_transmit() {
            self.outbox.send(now, request, Tag::Discovery(id));
        }
        if let Some(result) = discovery.poll_result() {
            match result {
                Ok(d) => {
                    let sources = discovery.source_headers().to_vec();
                    self.keep_discovered(now, &sources, &d);
                    self.discovered(now, d);
                }
                Err(e) => self.finish(Err(e)),
            }
        }
    }

    fn flow(&self) -> RegisteredFlow {
        match self.config.redirect {
            Redirect::Device => RegisteredFlow::Device,
            _ => RegisteredFlow::Code,
        }
    }

    /// Checks what the server must support before anything is registered there.
    fn discovered(&mut self, now: Time, discovered: Discovered) {
        if let Some(how) = self.config.grant.clone() {
            return self.acquire(now, discovered, how);
        }
        let metadata = &discovered.metadata;
        let supported = match self.flow() {
            RegisteredFlow::Code => crate::pkce::ensure_s256(metadata, &self.config.policy),
            RegisteredFlow::Device if metadata.device_authorization_endpoint.is_none() => {
                Err(UsageError::MissingEndpoint {
                    issuer: metadata.issuer.clone(),
                    endpoint: "device_authorization_endpoint",
                }
                .into())
            }
            RegisteredFlow::Device => Ok(()),
        };
        if let Err(e) = supported {
            return self.finish(Err(e));
        }
        self.events.push_back(Event::Load {
            key: registration_key(&discovered.issuer, self.flow()),
        });
        self.step = Step::LoadRegistration(Box::new(discovered));
    }

    fn options(&self) -> LoginOptions {
        let mut options = LoginOptions::default();
        options.scope.clone_from(&self.config.scope);
        options.challenge_scope = self.challenge.as_ref().and_then(|c| c.scope.clone());
        options
            .previous_scope
            .clone_from(&self.config.previous_scope);
        options.extra_params.clone_from(&self.config.extra_params);
        options.dangerously_omit_resource = self.config.dangerously_omit_resource;
        options.audience.clone_from(&self.config.audience);
        options
    }

    fn authorize(&mut self, now: Time, client: Client, redirect_uri: Option<String>) {
        let options = self.options();
        let policy = &self.config.policy;
        let Some(redirect_uri) = redirect_uri else {
            let request = device_authorization_request(
                &client.discovered.metadata,
                &client.credentials,
                login_scope(&client.discovered, &options).as_deref(),
                login_resource(&client.discovered, &options).as_ref(),
                options.audience.as_deref(),
                policy,
            );
            return match request {
                Ok(request) => {
                    self.outbox.send(now, request, Tag::DeviceAuthorization);
                    self.step = Step::DeviceAuthorize(Box::new(client));
                }
                Err(e) => self.finish(Err(e)),
            };
        };
        let mut seed = self.seed;
        let mut offset = 0;
        let mut entropy = |buf: &mut [u8]| {
            for byte in buf.iter_mut() {
                *byte = seed.get(offset % 64).copied().unwrap_or(0) ^ (offset / 64) as u8;
                offset += 1;
            }
        };
        let started = start_authorization(
            &client.discovered,
            &client.credentials,
            &redirect_uri,
            &options,
            &mut entropy,
            policy,
        );
        seed.fill(0);
        let (url, pending) = match started {
            Ok(started) => started,
            Err(e) => return self.finish(Err(e)),
        };
        let pending = PendingLogin {
            v: RECORD_VERSION,
            discovered: client.discovered,
            client: client.credentials,
            registration_key: client.registration_key,
            pending,
            policy: policy.clone(),
            request_timeout_ms: self.config.request_timeout_ms,
            deadline: self.deadline,
            profile: self.config.profile.clone(),
            dpop_key: self.dpop_key().cloned(),
        };
        if matches!(self.config.redirect, Redirect::Fixed { .. }) {
            self.events.push_back(Event::Save {
                key: pending_key(pending.pending.state.secret()),
                record: encode(&pending),
            });
        }
        self.events.push_back(Event::Authorize {
            url: url.to_string(),
        });
        self.cache.user_involved = true;
        self.step = Step::Callback(Box::new(pending));
    }

    fn drop_registration_if_unknown(&mut self, key: Option<&String>, error: &Error) {
        let refused = is_invalid_client(error)
            || error
                .oauth()
                .is_some_and(|e| e.error == "unauthorized_client");
        if let (true, Some(key)) = (refused, key) {
            self.events.push_back(Event::Delete { key: key.clone() });
        }
    }

    fn on_exchanged(
        &mut self,
        now: Time,
        url: &Url,
        outcome: std::result::Result<HttpResponse, Failure>,
    ) {
        let Step::Exchange(pending) = std::mem::replace(&mut self.step, Step::Done) else {
            return;
        };
        let proof = self.dpop_key().is_some();
        let tokens = outcome
            .map_err(|f| failure_error(url, &f))
            .and_then(|resp| {
                process_authorization_code_response_with(
                    now,
                    &pending.pending,
                    url,
                    &resp,
                    &pending.policy,
                    proof,
                )
            });
        match tokens {
            Ok(tokens) => {
                let resource = pending.pending.resource.clone();
                let client = Client {
                    discovered: pending.discovered,
                    credentials: pending.client,
                    registration_key: pending.registration_key,
                };
                self.granted(now, client, resource, tokens);
            }
            Err(e) => {
                self.drop_registration_if_unknown(pending.registration_key.as_ref(), &e);
                self.finish(Err(e));
            }
        }
    }

    /// A login that ends while it waits for its redirect (timed out, aborted) deletes the record
    /// saved for it, so that a callback arriving later finds nothing to resume.
    fn forget_pending(&mut self) {
        if let (Step::Callback(pending), Redirect::Fixed { .. }) =
            (&self.step, &self.config.redirect)
        {
            self.events.push_back(Event::Delete {
                key: pending_key(pending.pending.state.secret()),
            });
        }
    }

    fn succeed(&mut self, record: GrantRecord) {
        self.finish(Ok(LoginOutcome {
            grant: record.grant,
            identity: record.identity,
        }));
    }

    fn finish(&mut self, result: Result<LoginOutcome>) {
        if let Err(e) = &result {
            if self.rediscover_after(e) {
                return;
            }
        }
        self.step = Step::Done;
        self.outbox.clear();
        self.events.push_back(Event::Done(result));
    }

    fn on_outcome(
        &mut self,
        now: Time,
        id: RequestId,
        outcome: std::result::Result<HttpResponse, Failure>,
    ) {
        self.clock = now;
        if let Some(tag) = self.outbox.take(id) {
            self.route(now, tag, outcome);
        }
    }

    /// The DPoP key of the login's token requests, when it uses DPoP.
    fn dpop_key(&self) -> Option<&DpopKey> {
        dpop_key(&self.config)
    }

    /// Sends a token request of the login (see the [module docs](self) for DPoP).
    fn send_token(&mut self, now: Time, request: HttpRequest, tag: Tag) {
        let call = TokenCall::new(request, dpop_key(&self.config), self.as_nonce.clone());
        self.outbox.send(now, call.request(), tag);
        self.token_call = Some(call);
    }

    /// Takes the nonce a token endpoint's answer gives, and answers its `use_dpop_nonce` once
    /// by sending the request again. Returns whether it did (then `resp` is no answer yet).
    fn resent_with_nonce(&mut self, now: Time, tag: &Tag, resp: &HttpResponse) -> bool {
        let Some(call) = &mut self.token_call else {
            return false;
        };
        let again = call.retry(resp);
        self.as_nonce = call.nonce_after(resp);
        let Some(again) = again else {
            return false;
        };
        let tag = match tag {
            Tag::DevicePoll => Tag::DevicePoll,
            _ => Tag::Exchange,
        };
        self.outbox.send(now, again, tag);
        true
    }

    fn route(&mut self, now: Time, tag: Tag, outcome: std::result::Result<HttpResponse, Failure>) {
        if let (Tag::Exchange | Tag::DevicePoll, Ok(resp)) = (&tag, &outcome) {
            if self.resent_with_nonce(now, &tag, resp) {
                return;
            }
        }
        match tag {
            Tag::Probe => {
                self.challenge = outcome
                    .ok()
                    .and_then(|resp| classify_response(&resp).ok().flatten())
                    .map(|c| c.challenge().clone());
                self.discover(now);
            }
            Tag::Discovery(inner) => {
                if let Step::Discover(discovery) = &mut self.step {
                    match outcome {
                        Ok(resp) => discovery.handle_response(inner, resp),
                        Err(f) => discovery.handle_failure(inner, &failure_reason(&f)),
                    }
                }
                self.pump_discovery(now);
            }
            Tag::Register => {
                let url = self.registration_url();
                self.on_registered(now, &url, outcome);
            }
            Tag::Exchange => {
                let url = match &self.step {
                    Step::Exchange(p) => p.pending.token_endpoint.clone(),
                    _ => return,
                };
                self.on_exchanged(now, &url, outcome);
            }
            Tag::DeviceAuthorization => {
                let url = match &self.step {
                    Step::DeviceAuthorize(c) => {
                        c.discovered.metadata.device_authorization_endpoint.clone()
                    }
                    _ => None,
                };
                if let Some(url) = url {
                    self.on_device_authorized(now, &url, outcome);
                }
            }
            Tag::DevicePoll => self.on_polled(now, outcome),
            Tag::UserInfo(url) => self.on_userinfo(&url, outcome),
            Tag::Revoke(url) => self.on_revoked(&url, outcome),
            Tag::Acquire => self.on_acquire_outcome(now, outcome),
        }
    }

    fn registration_url(&self) -> Url {
        match &self.step {
            Step::Register(d, _) => d.metadata.registration_endpoint.clone(),
            _ => None,
        }
        .unwrap_or_else(|| self.server.url().clone())
    }

    fn operation(&self) -> &'static str {
        match self.config.redirect {
            Redirect::Device => "device login",
            _ => "login",
        }
    }
}

impl Machine for Login {
    type Output = LoginOutcome;

    fn poll_transmit(&mut self) -> Option<(RequestId, HttpRequest)> {
        self.outbox.pop()
    }

    fn handle_response(&mut self, now: Time, id: RequestId, response: HttpResponse) {
        self.on_outcome(now, id, Ok(response));
    }

    fn handle_failure(&mut self, now: Time, id: RequestId, failure: Failure) {
        if failure == Failure::Aborted {
            return self.abort();
        }
        self.on_outcome(now, id, Err(failure));
    }

    fn poll_timeout(&self) -> Option<Time> {
        let poll = match &self.step {
            Step::DevicePoll(_, poll, false) => poll.poll_timeout(),
            Step::Done => return None,
            _ => None,
        };
        [self.deadline, self.outbox.deadline(), poll]
            .into_iter()
            .flatten()
            .min()
    }

    fn handle_timeout(&mut self, now: Time) {
        if matches!(self.step, Step::Done) {
            return;
        }
        self.clock = now;
        if self.deadline.is_some_and(|at| now >= at) {
            let error = FlowError::Timeout {
                operation: self.operation(),
                foreign_callbacks: self.foreign_callbacks,
            };
            self.forget_pending();
            return self.finish(Err(error.into()));
        }
        for (_id, tag, failure) in self.outbox.expired(now) {
            self.route(now, tag, Err(failure));
        }
        if let Step::DevicePoll(_, poll, in_flight) = &mut self.step {
            if !*in_flight {
                if let Some(request) = poll.poll_transmit(now) {
                    *in_flight = true;
                    let call =
                        TokenCall::new(request, dpop_key(&self.config), self.as_nonce.clone());
                    self.outbox.send(now, call.request(), Tag::DevicePoll);
                    self.token_call = Some(call);
                } else if poll.is_expired() {
                    let error = FlowError::Timeout {
                        operation: "device login (the device code expired before approval)",
                        foreign_callbacks: 0,
                    };
                    self.finish(Err(error.into()));
                }
            }
        }
    }

    fn handle_loaded(&mut self, now: Time, key: &str, record: Option<String>) {
        self.clock = now;
        match self.step {
            Step::LoadDiscovery => self.on_discovery_loaded(now, record),
            Step::LoadRegistration(_) => self.on_registration_loaded(now, key, record),
            Step::LoadPrevious(_) => self.on_previous_loaded(now, key, record),
            _ => {}
        }
    }

    fn handle_credential(&mut self, now: Time, value: std::result::Result<String, String>) {
        self.clock = now;
        self.on_credential(now, value);
    }

    fn abort(&mut self) {
        if !matches!(self.step, Step::Done) {
            self.forget_pending();
            self.finish(Err(FlowError::Aborted.into()));
        }
    }

    fn poll_event(&mut self) -> Option<Event<LoginOutcome>> {
        self.events.pop_front()
    }
}

/// The DPoP key of a login's token requests: `dpop_key` when `dpop` is on.
fn dpop_key(config: &LoginConfig) -> Option<&DpopKey> {
    config.dpop_key.as_ref().filter(|_| config.dpop)
}

fn failure_reason(failure: &Failure) -> String {
    match failure {
        Failure::Transport { reason } => reason.clone(),
        Failure::Timeout => "no answer in time".to_owned(),
        Failure::Aborted => "cancelled".to_owned(),
    }
}

fn configured(
    server: &ResourceUri,
    manual: &ManualEndpoints,
    policy: &Policy,
) -> Result<Discovered> {
    policy.check_endpoint("authorization_endpoint", &manual.authorization_endpoint)?;
    policy.check_endpoint("token_endpoint", &manual.token_endpoint)?;
    let issuer = manual
        .issuer
        .clone()
        .unwrap_or_else(|| manual.authorization_endpoint.origin().ascii_serialization());
    let mut metadata = AuthorizationServerMetadata::with_default_endpoints(&issuer);
    metadata.authorization_endpoint = Some(manual.authorization_endpoint.clone());
    metadata.token_endpoint = Some(manual.token_endpoint.clone());
    metadata.registration_endpoint = None;
    Ok(Discovered::configured(server.clone(), metadata))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A web login with configured endpoints and a pre-registered client, driven up to the
    /// redirect: it has saved its pending record and waits for the callback.
    fn waiting_for_callback(now: Time) -> (Login, String) {
        let mut config = LoginConfig::new("https://mcp.example/mcp");
        config.redirect = Redirect::Fixed {
            uri: "https://app.example/callback".into(),
        };
        config.endpoints = Some(ManualEndpoints {
            issuer: Some("https://as.example".into()),
            authorization_endpoint: Url::parse("https://as.example/authorize").unwrap(),
            token_endpoint: Url::parse("https://as.example/token").unwrap(),
        });
        config.preregistered = vec![PreRegistered {
            issuer: None,
            client_id: "app".into(),
            client_secret: None,
            auth_method: None,
            key_alg: None,
            key_id: None,
        }];
        config.policy.dangerously_assume_pkce_s256 = true;
        let mut login = Login::new(config, now, &mut |b: &mut [u8]| b.fill(7)).unwrap();
        let Some(Event::Load { key }) = login.poll_event() else {
            panic!("the registration is read first");
        };
        login.handle_loaded(now, &key, None);
        let Some(Event::Save { key, .. }) = login.poll_event() else {
            panic!("the pending login is saved before the redirect");
        };
        assert!(key.starts_with("pending#"), "{key}");
        assert!(matches!(login.poll_event(), Some(Event::Authorize { .. })));
        (login, key)
    }

    #[test]
    fn an_aborted_web_login_deletes_its_pending_record() {
        let now = Time::from_unix_secs(1_000);
        let (mut login, saved) = waiting_for_callback(now);
        login.abort();
        assert!(matches!(login.poll_event(), Some(Event::Delete { key }) if key == saved));
        let Some(Event::Done(Err(e))) = login.poll_event() else {
            panic!("the login ends");
        };
        assert_eq!(e.code(), "ABORTED");
    }

    #[test]
    fn a_web_login_past_its_deadline_deletes_its_pending_record() {
        let now = Time::from_unix_secs(1_000);
        let (mut login, saved) = waiting_for_callback(now);
        let deadline = login.poll_timeout().unwrap();
        login.handle_timeout(deadline);
        assert!(matches!(login.poll_event(), Some(Event::Delete { key }) if key == saved));
        let Some(Event::Done(Err(e))) = login.poll_event() else {
            panic!("the login ends");
        };
        assert_eq!(e.code(), "TIMEOUT");
    }
}
