//! [`Login`]: from an MCP server URL to a stored grant.
//!
//! probe (optional) → discovery → PKCE check → client identity (pre-registered, CIMD, a
//! registration made earlier for this flow, or a new one) → authorization URL and callback,
//! or device code and polls → code exchange → grant → userinfo (display only) → the grant
//! replaces the server's previous one, which is revoked.
//!
//! A login with a fixed redirect URI (a web app) saves itself at the callback boundary
//! ([`PendingLogin`] under [`pending_key`]), so the page that receives the redirect resumes
//! it with [`Login::resume`].

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use super::error::{FlowError, failure_error};
use super::outbox::Outbox;
use super::store::{
    GrantRecord, PendingLogin, RECORD_VERSION, RegisteredFlow, RegistrationRecord, encode,
    grant_key, pending_key, registration_key,
};
use super::{DEFAULT_REQUEST_TIMEOUT, Event, Failure, Machine, RequestId};
use crate::authorize::{callback_belongs_to, validate_authorization_response};
use crate::challenge::{BearerChallenge, classify_response};
use crate::client::{ClientCredentials, TokenEndpointAuthMethod};
use crate::device::{
    DevicePoll, DeviceStatus, device_authorization_request, process_device_authorization_response,
};
use crate::discovery::{Discovered, Discovery};
use crate::entropy::Entropy;
use crate::error::{Error, OAuthError, Result, UsageError};
use crate::grant::Grant;
use crate::http::{HttpRequest, HttpResponse};
use crate::identity::{IdentityOptions, IdentityPlan, is_invalid_client, plan_client_identity};
use crate::login::{LoginOptions, login_resource, login_scope, start_authorization};
use crate::metadata::AuthorizationServerMetadata;
use crate::policy::{Policy, ResourceUri};
use crate::registration::{
    ApplicationType, ClientMetadata, choose_token_endpoint_auth_method,
    process_registration_response,
};
use crate::secret::ClientSecret;
use crate::time::Time;
use crate::token::{
    TokenSet, authorization_code_grant_request, process_authorization_code_response,
};
use crate::userinfo::{DisplayIdentity, process_userinfo_response};

/// The path a loopback listener serves the redirect on.
pub const CALLBACK_PATH: &str = "/callback";

/// How the user agent comes back, or that it does not (device flow).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, optional_fields))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Redirect {
    /// A loopback listener (RFC 8252 §7.3), on `port` if given, else on the port of the
    /// registration made earlier, else on any. Also for pasting the redirect back by hand.
    Loopback {
        /// A fixed port.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port: Option<u16>,
    },
    /// A redirect URI the app serves itself (web apps).
    Fixed {
        /// The redirect URI, registered exactly.
        uri: String,
    },
    /// The device authorization grant (RFC 8628): no redirect.
    Device,
}

impl Default for Redirect {
    fn default() -> Self {
        Self::Loopback { port: None }
    }
}

/// Credentials registered out of band.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, optional_fields))]
#[serde(rename_all = "camelCase")]
pub struct PreRegistered {
    /// The issuer they belong to; `None` binds them to whichever one the server names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The client id.
    pub client_id: String,
    /// The secret of a confidential client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<ClientSecret>,
    /// How to authenticate; chosen from the server's metadata when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_method: Option<TokenEndpointAuthMethod>,
}

/// Endpoints configured by hand, for servers without discovery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, optional_fields))]
#[serde(rename_all = "camelCase")]
pub struct ManualEndpoints {
    /// The issuer (default: the authorization endpoint's origin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The authorization endpoint.
    pub authorization_endpoint: Url,
    /// The token endpoint.
    pub token_endpoint: Url,
}

/// Everything a login is told at the start. The same fields, camelCase, in the npm package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(export, optional_fields = nullable)
)]
#[serde(default, rename_all = "camelCase")]
#[non_exhaustive]
pub struct LoginConfig {
    /// The MCP server URL.
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub server: String,
    /// How the user agent comes back.
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub redirect: Redirect,
    /// An explicit scope, replacing the MCP selection rules; `""` sends no `scope` at all.
    pub scope: Option<String>,
    /// Pre-registered clients: the one for the server's issuer (or without an issuer) is used.
    /// A single entry for another issuer is an error, not a silent fallback.
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub preregistered: Vec<PreRegistered>,
    /// The https URL of this client's ID metadata document (CIMD).
    pub client_metadata_url: Option<String>,
    /// The `client_name` of dynamic registrations.
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub client_name: String,
    /// `native` or `web`, for dynamic registration (default: native, or web for a fixed
    /// https redirect URI).
    pub application_type: Option<ApplicationType>,
    /// The 401/403 challenge that prompted this login.
    pub challenge: Option<BearerChallenge>,
    /// The scope held before, for a step-up.
    pub previous_scope: Option<String>,
    /// Extra authorization request parameters.
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub extra_params: Vec<(String, String)>,
    /// Leaves out RFC 8707 `resource`.
    ///
    /// # Security
    /// MCP requires `resource`; only for authorization servers that reject it (Entra ID).
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub dangerously_omit_resource: bool,
    /// Skips protected resource metadata and uses this issuer.
    pub issuer: Option<String>,
    /// Skips discovery and uses these endpoints.
    pub endpoints: Option<ManualEndpoints>,
    /// Sends one unauthenticated request to the server first (when no challenge is given), to
    /// read its `WWW-Authenticate`: its `resource_metadata` and `scope`. On by default.
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub probe: bool,
    /// Headers for requests to the MCP server itself (the probe). Never sent to the
    /// authorization server.
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub server_headers: Vec<(String, String)>,
    /// How long the whole login may take, in milliseconds (default 5 minutes).
    pub timeout_ms: Option<u64>,
    /// How long each request may take, in milliseconds.
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub request_timeout_ms: u64,
    /// The checks in force.
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub policy: Policy,
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self {
            server: String::new(),
            redirect: Redirect::default(),
            scope: None,
            preregistered: Vec::new(),
            client_metadata_url: None,
            client_name: "mcpauth".into(),
            application_type: None,
            challenge: None,
            previous_scope: None,
            extra_params: Vec::new(),
            dangerously_omit_resource: false,
            issuer: None,
            endpoints: None,
            probe: true,
            server_headers: Vec::new(),
            timeout_ms: Some(300_000),
            request_timeout_ms: millis(DEFAULT_REQUEST_TIMEOUT),
            policy: Policy::default(),
        }
    }
}

impl LoginConfig {
    /// A login to `server` with the defaults.
    #[must_use]
    pub fn new(server: impl Into<String>) -> Self {
        Self {
            server: server.into(),
            ..Self::default()
        }
    }
}

/// A finished login.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoginOutcome {
    /// The stored grant.
    pub grant: Grant,
    /// Who logged in (ID token or userinfo), for display.
    pub identity: Option<String>,
}

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
}

impl Login {
    /// Starts a login. `entropy` seeds the PKCE verifier and `state` (drawn now, used later).
    ///
    /// # Errors
    /// [`UsageError::InvalidUrl`] or [`SecurityError::InsecureUrl`](crate::SecurityError) for
    /// the server URL; [`Error::Entropy`].
    pub fn new(config: LoginConfig, now: Time, entropy: &mut dyn Entropy) -> Result<Self> {
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
            config,
        })
    }

    /// The redirect URI the driver listens on, after [`Event::Listen`].
    pub fn set_redirect_uri(&mut self, now: Time, uri: &str) {
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
                self.outbox.send(now, request, Tag::Exchange);
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

    fn discover(&mut self, now: Time) {
        let policy = self.config.policy.clone();
        if let Some(manual) = &self.config.endpoints {
            let discovered = configured(&self.server, manual, &policy);
            return match discovered {
                Ok(d) => self.discovered(now, d),
                Err(e) => self.finish(Err(e)),
            };
        }
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
                Ok(d) => self.discovered(now, d),
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
    fn discovered(&mut self, _now: Time, discovered: Discovered) {
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

    fn on_registration_loaded(&mut self, now: Time, key: &str, text: Option<String>) {
        let Step::LoadRegistration(discovered) = std::mem::replace(&mut self.step, Step::Done)
        else {
            return;
        };
        // An unreadable or foreign record is replaced by a new registration.
        let record = text
            .and_then(|t| serde_json::from_str::<RegistrationRecord>(&t).ok())
            .filter(|r| {
                r.v == RECORD_VERSION && r.registration.credentials.issuer == discovered.issuer
            });
        let _ = key;
        match &self.config.redirect {
            Redirect::Device => {
                let cached = record.filter(|r| r.fits(RegisteredFlow::Device, None, now));
                self.identify(now, *discovered, cached, None);
            }
            Redirect::Fixed { uri } => {
                let uri = uri.clone();
                let cached = record.filter(|r| r.fits(RegisteredFlow::Code, Some(&uri), now));
                self.identify(now, *discovered, cached, Some(uri));
            }
            Redirect::Loopback { port } => {
                let required = port.is_some();
                let port =
                    port.or_else(|| record.as_ref().and_then(RegistrationRecord::loopback_port));
                self.events.push_back(Event::Listen {
                    port,
                    required,
                    path: CALLBACK_PATH,
                });
                self.step = Step::Listen(discovered, record.map(Box::new));
            }
        }
    }

    fn preregistered(&self, metadata: &AuthorizationServerMetadata) -> Option<ClientCredentials> {
        let list = &self.config.preregistered;
        let entry = list
            .iter()
            .find(|c| c.issuer.as_deref() == Some(metadata.issuer.as_str()))
            .or_else(|| list.iter().find(|c| c.issuer.is_none()))
            .or_else(|| list.first().filter(|_| list.len() == 1))?;
        let issuer = entry
            .issuer
            .clone()
            .unwrap_or_else(|| metadata.issuer.clone());
        let method = entry.auth_method.unwrap_or_else(|| {
            choose_token_endpoint_auth_method(metadata, entry.client_secret.is_some())
        });
        Some(match &entry.client_secret {
            Some(secret) => {
                ClientCredentials::confidential(issuer, &entry.client_id, secret.clone(), method)
            }
            None => ClientCredentials::public(issuer, &entry.client_id),
        })
    }

    fn client_metadata(&self, redirect_uri: Option<&str>) -> ClientMetadata {
        let name = self.config.client_name.clone();
        let Some(uri) = redirect_uri else {
            return ClientMetadata::device_only(name);
        };
        let web = match self.config.application_type {
            Some(kind) => kind == ApplicationType::Web,
            None => uri.starts_with("https://"),
        };
        if web {
            ClientMetadata::web(name, vec![uri.to_owned()])
        } else {
            ClientMetadata::native(name, vec![uri.to_owned()])
        }
    }

    fn identify(
        &mut self,
        now: Time,
        discovered: Discovered,
        cached: Option<RegistrationRecord>,
        redirect_uri: Option<String>,
    ) {
        let key = registration_key(&discovered.issuer, self.flow());
        let options = IdentityOptions {
            preregistered: self.preregistered(&discovered.metadata),
            cached_registration: cached.as_ref().map(|r| r.registration.credentials.clone()),
            metadata_document_url: self.config.client_metadata_url.clone(),
            client_metadata: self.client_metadata(redirect_uri.as_deref()),
        };
        match plan_client_identity(&discovered.metadata, &options, &self.config.policy) {
            Ok(IdentityPlan::Ready(credentials)) => {
                let from_cache = options.cached_registration.as_ref() == Some(&credentials);
                let client = Client {
                    discovered,
                    credentials,
                    registration_key: from_cache.then_some(key),
                };
                self.authorize(now, client, redirect_uri);
            }
            Ok(IdentityPlan::Register(request)) => {
                self.outbox.send(now, request, Tag::Register);
                self.step = Step::Register(Box::new(discovered), redirect_uri);
            }
            Err(e) => self.finish(Err(e)),
        }
    }

    fn on_registered(
        &mut self,
        now: Time,
        url: &Url,
        outcome: std::result::Result<HttpResponse, Failure>,
    ) {
        let Step::Register(discovered, redirect_uri) =
            std::mem::replace(&mut self.step, Step::Done)
        else {
            return;
        };
        let registration = outcome
            .map_err(|f| failure_error(url, &f))
            .and_then(|resp| {
                process_registration_response(&discovered.metadata, url, &resp, &self.config.policy)
            });
        let registration = match registration {
            Ok(r) => r,
            Err(e) => return self.finish(Err(e)),
        };
        let key = registration_key(&discovered.issuer, self.flow());
        let record = RegistrationRecord {
            v: RECORD_VERSION,
            registration,
            flow: self.flow(),
            redirect_uri: redirect_uri.clone(),
        };
        self.events.push_back(Event::Save {
            key: key.clone(),
            record: encode(&record),
        });
        let client = Client {
            discovered: *discovered,
            credentials: record.registration.credentials,
            registration_key: Some(key),
        };
        self.authorize(now, client, redirect_uri);
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
        let tokens = outcome
            .map_err(|f| failure_error(url, &f))
            .and_then(|resp| {
                process_authorization_code_response(
                    now,
                    &pending.pending,
                    url,
                    &resp,
                    &pending.policy,
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

    fn on_device_authorized(
        &mut self,
        now: Time,
        url: &Url,
        outcome: std::result::Result<HttpResponse, Failure>,
    ) {
        let Step::DeviceAuthorize(client) = std::mem::replace(&mut self.step, Step::Done) else {
            return;
        };
        let policy = &self.config.policy;
        let authorization = outcome
            .map_err(|f| failure_error(url, &f))
            .and_then(|resp| process_device_authorization_response(now, url, &resp, policy));
        let authorization = match authorization {
            Ok(a) => a,
            Err(e) => {
                self.drop_registration_if_unknown(client.registration_key.as_ref(), &e);
                return self.finish(Err(e));
            }
        };
        let resource = login_resource(&client.discovered, &self.options());
        let poll = DevicePoll::from_metadata(
            now,
            authorization.clone(),
            &client.discovered.metadata,
            client.credentials.clone(),
            resource,
            policy,
        );
        match poll {
            Ok(poll) => {
                self.events.push_back(Event::DeviceCode(authorization));
                self.step = Step::DevicePoll(client, Box::new(poll), false);
            }
            Err(e) => self.finish(Err(e)),
        }
    }

    fn on_polled(&mut self, now: Time, outcome: std::result::Result<HttpResponse, Failure>) {
        let Step::DevicePoll(client, poll, in_flight) = &mut self.step else {
            return;
        };
        *in_flight = false;
        let endpoint = client
            .discovered
            .metadata
            .token_endpoint
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let status = match outcome {
            Ok(resp) => poll.handle_response(now, &resp, &self.config.policy),
            Err(_) => poll.handle_failure(now).map(|()| DeviceStatus::Pending),
        };
        let over = |error: &str, description: &str| -> Error {
            OAuthError {
                error: error.to_owned(),
                error_description: Some(description.to_owned()),
                error_uri: None,
                status: 400,
                where_: endpoint.clone(),
            }
            .into()
        };
        let finished = poll.is_finished();
        match status {
            Ok(DeviceStatus::Tokens(tokens)) => {
                let Step::DevicePoll(client, _, _) = std::mem::replace(&mut self.step, Step::Done)
                else {
                    return;
                };
                let resource = login_resource(&client.discovered, &self.options());
                self.granted(now, *client, resource, tokens);
            }
            Ok(DeviceStatus::Expired) => self.finish(Err(over(
                "expired_token",
                "the device code expired before the login was approved",
            ))),
            Ok(DeviceStatus::Denied) => self.finish(Err(over(
                "access_denied",
                "the login was denied on the device page",
            ))),
            Ok(DeviceStatus::Pending | DeviceStatus::SlowDown { .. }) => {}
            Err(e) if finished => {
                let key = client.registration_key.clone();
                self.drop_registration_if_unknown(key.as_ref(), &e);
                self.finish(Err(e));
            }
            Err(_transient) => {}
        }
    }

    fn granted(
        &mut self,
        now: Time,
        client: Client,
        resource: Option<ResourceUri>,
        tokens: TokenSet,
    ) {
        let grant = Grant::new(
            self.server.clone(),
            resource,
            &client.discovered.metadata,
            client.credentials,
            tokens,
            now,
        );
        let grant = match grant {
            Ok(g) => g,
            Err(e) => return self.finish(Err(e)),
        };
        let identity = grant
            .display_identity()
            .and_then(|who| display_label(&who, &grant.issuer));
        let record = GrantRecord::new(grant, identity);
        let userinfo = client.discovered.metadata.userinfo_endpoint.clone();
        match userinfo.filter(|_| record.identity.is_none()) {
            Some(endpoint) => {
                match crate::userinfo::userinfo_request(
                    &endpoint,
                    &record.grant.tokens.access_token,
                    &self.config.policy,
                ) {
                    Ok(request) => {
                        self.outbox.send(now, request, Tag::UserInfo(endpoint));
                        self.step = Step::UserInfo(Box::new(record));
                    }
                    Err(e) => {
                        self.events.push_back(Event::Warning(e));
                        self.load_previous(record);
                    }
                }
            }
            None => self.load_previous(record),
        }
    }

    fn on_userinfo(&mut self, url: &Url, outcome: std::result::Result<HttpResponse, Failure>) {
        let Step::UserInfo(mut record) = std::mem::replace(&mut self.step, Step::Done) else {
            return;
        };
        let who = outcome
            .map_err(|f| failure_error(url, &f))
            .and_then(|resp| process_userinfo_response(url, &resp, &self.config.policy));
        match who {
            Ok(who) => record.identity = display_label(&who, &record.grant.issuer),
            Err(e) => self.events.push_back(Event::Warning(e)),
        }
        self.load_previous(*record);
    }

    fn load_previous(&mut self, record: GrantRecord) {
        self.events.push_back(Event::Load {
            key: grant_key(&self.server),
        });
        self.step = Step::LoadPrevious(Box::new(record));
    }

    /// Stores the new grant first (a token is never lost), then revokes the one it replaces.
    fn on_previous_loaded(&mut self, now: Time, key: &str, text: Option<String>) {
        let Step::LoadPrevious(record) = std::mem::replace(&mut self.step, Step::Done) else {
            return;
        };
        self.events.push_back(Event::Save {
            key: key.to_owned(),
            record: encode(&record),
        });
        let previous = text.and_then(|t| GrantRecord::parse(key, &t).ok());
        let replaced = previous.filter(|p| {
            p.grant.tokens.access_token != record.grant.tokens.access_token
                && p.grant.tokens.refresh_token != record.grant.tokens.refresh_token
        });
        let request = replaced.map(|p| p.grant.revocation_request(&self.config.policy));
        match request {
            Some(Ok(Some(request))) => {
                let url = request.url.clone();
                self.outbox.send(now, request, Tag::Revoke(url));
                self.step = Step::Revoke(record);
            }
            Some(Err(e)) => {
                self.events.push_back(Event::Warning(e));
                self.succeed(*record);
            }
            Some(Ok(None)) | None => self.succeed(*record),
        }
    }

    fn on_revoked(&mut self, url: &Url, outcome: std::result::Result<HttpResponse, Failure>) {
        let Step::Revoke(record) = std::mem::replace(&mut self.step, Step::Done) else {
            return;
        };
        let revoked = outcome
            .map_err(|f| failure_error(url, &f))
            .and_then(|resp| {
                crate::revocation::process_revocation_response(url, &resp, &self.config.policy)
            });
        if let Err(e) = revoked {
            self.events.push_back(Event::Warning(e));
        }
        self.succeed(*record);
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
        if let Some(tag) = self.outbox.take(id) {
            self.route(now, tag, outcome);
        }
    }

    fn route(&mut self, now: Time, tag: Tag, outcome: std::result::Result<HttpResponse, Failure>) {
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
                    self.outbox.send(now, request, Tag::DevicePoll);
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
        match self.step {
            Step::LoadRegistration(_) => self.on_registration_loaded(now, key, record),
            Step::LoadPrevious(_) => self.on_previous_loaded(now, key, record),
            _ => {}
        }
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

/// A label for who logged in: email, username, name, or `sub` with the issuer.
fn display_label(who: &DisplayIdentity, issuer: &str) -> Option<String> {
    who.clone().or_issuer(issuer).label()
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

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
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
