//! [`Session`]: log in to MCP servers, keep their tokens fresh, log out.
//!
//! The session only drives the core: discovery order, client identity, scopes, the
//! authorization request and response checks, token parsing and expiry are all
//! `mcpauth-core` calls. What lives here is I/O and concurrency: sending requests, the
//! loopback server, the device-flow timer, the store, and single-flight refresh.
//!
//! # Single-flight refresh
//! Any number of concurrent [`Session::access_token`] calls on an expiring token make exactly
//! one refresh request: in-process they queue on a per-grant async mutex, across processes on
//! the store's file lock, and whoever gets the lock re-reads the grant first. If another
//! caller already refreshed, the new tokens are used as they are; a rotated-out refresh token
//! is never sent (servers such as oidc-provider revoke the whole grant when one is replayed).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use mcpauth_core::authorize::validate_authorization_response;
use mcpauth_core::challenge::{BearerChallenge, classify_response};
use mcpauth_core::device::{
    DevicePoll, device_authorization_request, process_device_authorization_response,
};
use mcpauth_core::grant::registration_key;
use mcpauth_core::login::{login_resource, login_scope};
use mcpauth_core::registration::{
    choose_token_endpoint_auth_method, process_registration_response,
};
use mcpauth_core::token::{
    authorization_code_grant_request, is_invalid_grant, process_authorization_code_response,
};
use mcpauth_core::userinfo::{process_userinfo_response, userinfo_request};
use mcpauth_core::{
    AccessToken, ClientCredentials, ClientMetadata, ClientSecret, DeviceStatus, Discovered,
    Discovery, Grant, HttpRequest, HttpResponse, IdentityOptions, IdentityPlan, OAuthError,
    OsEntropy, Policy, Registration, ResourceUri, Time, TokenEndpointAuthMethod, is_invalid_client,
    plan_client_identity, start_authorization,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::http::HttpDriver;
use crate::loopback::LoopbackServer;
use crate::store::TokenStore;
use crate::ui::{ConsoleUi, LoginUi};

/// The path the loopback server serves.
const CALLBACK_PATH: &str = "/callback";

/// How the user authorizes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Flow {
    /// Authorization code + PKCE through a browser and the loopback server (RFC 8252).
    #[default]
    Browser,
    /// Authorization code + PKCE, the user pasting back the address the browser was
    /// redirected to (for SSH sessions, where the browser cannot reach the loopback port).
    Paste,
    /// The device authorization grant (RFC 8628).
    Device,
}

/// A client registered by hand for a server.
#[derive(Clone, Debug)]
pub struct PreRegisteredClient {
    /// The client id.
    pub client_id: String,
    /// The secret of a confidential client.
    pub client_secret: Option<ClientSecret>,
    /// How to authenticate; chosen from the server's metadata when `None`.
    pub auth_method: Option<TokenEndpointAuthMethod>,
    /// The issuer these credentials belong to. `None` binds them to whichever authorization
    /// server the MCP server names at login.
    pub issuer: Option<String>,
}

/// Endpoints configured by hand, for servers without discovery.
#[derive(Clone, Debug)]
pub struct ManualEndpoints {
    /// The issuer (default: the authorization endpoint's origin). Credentials and tokens are
    /// stored under it, and an RFC 9207 `iss` in the response must equal it.
    pub issuer: Option<String>,
    /// The authorization endpoint.
    pub authorization_endpoint: url::Url,
    /// The token endpoint.
    pub token_endpoint: url::Url,
}

/// Options of one login.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LoginOptions {
    /// How the user authorizes.
    pub flow: Flow,
    /// An explicit scope, replacing the MCP selection rules.
    pub scope: Option<String>,
    /// A pre-registered client (else CIMD or dynamic registration).
    pub client: Option<PreRegisteredClient>,
    /// The https URL of this client's ID metadata document, used when the server supports it.
    pub client_metadata_url: Option<String>,
    /// A fixed loopback port (else the one registered before, else a free one).
    pub port: Option<u16>,
    /// How long to wait for the user.
    pub timeout: Duration,
    /// The 401/403 challenge that prompted this login, if any.
    pub challenge: Option<BearerChallenge>,
    /// The scopes held before, for step-up (the new request is the union).
    pub previous_scope: Option<String>,
    /// Extra authorization request parameters.
    pub extra_params: Vec<(String, String)>,
    /// Leave out RFC 8707 `resource` (for servers that reject it, such as Entra ID).
    pub dangerously_omit_resource: bool,
    /// Skip protected resource metadata and use this issuer (manual configuration).
    pub issuer: Option<String>,
    /// Skip discovery altogether and use these endpoints.
    pub endpoints: Option<ManualEndpoints>,
    /// Send one unauthenticated request to the server first, to read its `WWW-Authenticate`
    /// challenge (its `resource_metadata` and `scope`). On by default.
    pub probe: bool,
    /// Extra headers for requests to the MCP server itself (the probe), such as an API
    /// gateway's key. Never sent to the authorization server.
    pub server_headers: Vec<(String, String)>,
}

impl Default for LoginOptions {
    fn default() -> Self {
        Self {
            flow: Flow::Browser,
            scope: None,
            client: None,
            client_metadata_url: None,
            port: None,
            timeout: Duration::from_secs(300),
            challenge: None,
            previous_scope: None,
            extra_params: Vec::new(),
            dangerously_omit_resource: false,
            issuer: None,
            endpoints: None,
            probe: true,
            server_headers: Vec::new(),
        }
    }
}

/// The outcome of a login.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LoginSummary {
    /// The stored grant.
    pub grant: Grant,
    /// Who logged in, when the server said (ID token or userinfo). Display only.
    pub identity: Option<String>,
    /// HTTP requests this login sent (discovery, registration, token, ...).
    pub requests: u64,
}

/// One stored login, for `status`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LoginStatus {
    /// The MCP server.
    pub server: String,
    /// The issuer.
    pub issuer: String,
    /// Granted scopes.
    pub scope: Option<String>,
    /// Time left on the access token (`None`: no expiry given; zero: expired).
    pub expires_in: Option<Duration>,
    /// Whether a refresh token is stored.
    pub refreshable: bool,
    /// Who the login belongs to, from the ID token. Display only.
    pub identity: Option<String>,
}

/// A cached dynamic registration and the redirect URI it was made with.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct CachedClient {
    registration: Registration,
    redirect_uri: Option<String>,
}

/// Logs in to MCP servers and keeps their tokens. Cheap to clone.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

struct Inner {
    http: HttpDriver,
    store: Arc<dyn TokenStore>,
    policy: Policy,
    client_name: String,
    ui: Arc<dyn LoginUi>,
    clock: Arc<dyn Fn() -> Time + Send + Sync>,
    gates: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("policy", &self.inner.policy)
            .field("client_name", &self.inner.client_name)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Session`].
#[must_use]
pub struct SessionBuilder {
    store: Arc<dyn TokenStore>,
    policy: Policy,
    timeout: Duration,
    client_name: String,
    ui: Arc<dyn LoginUi>,
    clock: Arc<dyn Fn() -> Time + Send + Sync>,
}

impl SessionBuilder {
    /// The security policy (default: [`Policy::default`]).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// The per-request time-out (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The `client_name` sent in dynamic registrations (default `mcpauth`).
    pub fn client_name(mut self, name: impl Into<String>) -> Self {
        self.client_name = name.into();
        self
    }

    /// How logins talk to the user (default: [`ConsoleUi`]).
    pub fn ui(mut self, ui: Arc<dyn LoginUi>) -> Self {
        self.ui = ui;
        self
    }

    /// The clock, for tests that move time (default: the system clock).
    pub fn clock(mut self, clock: impl Fn() -> Time + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Builds the session.
    ///
    /// # Errors
    /// [`Error::Transport`] when the HTTP client cannot be built.
    pub fn build(self) -> Result<Session> {
        Ok(Session {
            inner: Arc::new(Inner {
                http: HttpDriver::new(self.timeout)?,
                store: self.store,
                policy: self.policy,
                client_name: self.client_name,
                ui: self.ui,
                clock: self.clock,
                gates: Mutex::new(HashMap::new()),
            }),
        })
    }
}

impl Session {
    /// A builder over `store`.
    pub fn builder(store: Arc<dyn TokenStore>) -> SessionBuilder {
        SessionBuilder {
            store,
            policy: Policy::default(),
            timeout: Duration::from_secs(30),
            client_name: "mcpauth".into(),
            ui: Arc::new(ConsoleUi::default()),
            clock: Arc::new(|| Time::from(SystemTime::now())),
        }
    }

    /// The policy in force.
    #[must_use]
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// How many HTTP requests this session has sent so far.
    #[must_use]
    pub fn requests_sent(&self) -> u64 {
        self.inner.http.requests_sent()
    }

    fn now(&self) -> Time {
        (self.inner.clock)()
    }

    async fn send(&self, req: HttpRequest) -> Result<HttpResponse> {
        self.inner.http.send(req).await
    }

    // ----- login -----

    /// Logs in to the MCP server at `server_url`: discovery, client identity, authorization
    /// (browser, paste or device flow), code exchange; stores the grant.
    ///
    /// # Errors
    /// Any core error (discovery, issuer/resource/state checks, OAuth errors), transport
    /// errors and time-outs, [`Error::PortInUse`], store errors.
    pub async fn login(&self, server_url: &str, options: &LoginOptions) -> Result<LoginSummary> {
        let before = self.requests_sent();
        let server = ResourceUri::parse(server_url)?;
        let challenge = match (&options.challenge, options.probe) {
            (Some(c), _) => Some(c.clone()),
            (None, true) => self.probe(&server, &options.server_headers).await,
            (None, false) => None,
        };
        let discovered = self.discover(&server, challenge.as_ref(), options).await?;
        let mut core_options = mcpauth_core::LoginOptions::default();
        core_options.scope.clone_from(&options.scope);
        core_options.challenge_scope = challenge.and_then(|c| c.scope);
        core_options
            .previous_scope
            .clone_from(&options.previous_scope);
        core_options.extra_params.clone_from(&options.extra_params);
        core_options.dangerously_omit_resource = options.dangerously_omit_resource;

        let tokens = match options.flow {
            Flow::Device => {
                self.device_flow(&discovered, options, &core_options)
                    .await?
            }
            Flow::Browser | Flow::Paste => {
                self.code_flow(&discovered, options, &core_options).await?
            }
        };
        let (client, tokens) = tokens;
        let grant = Grant::new(
            discovered.server.clone(),
            login_resource(&discovered, &core_options),
            &discovered.metadata,
            client,
            tokens,
            self.now(),
        )?;
        self.save_grant(&grant)?;
        self.forget_other_issuers(&grant)?;
        let identity = match grant
            .display_identity()
            .and_then(|i| i.label().map(str::to_owned))
        {
            Some(label) => Some(label),
            None => self.userinfo(&discovered, &grant).await,
        };
        self.inner.ui.done();
        Ok(LoginSummary {
            grant,
            identity,
            requests: self.requests_sent() - before,
        })
    }

    /// One unauthenticated request to learn the server's challenge. Failures are not errors:
    /// discovery then starts from the well-known URLs.
    async fn probe(
        &self,
        server: &ResourceUri,
        headers: &[(String, String)],
    ) -> Option<BearerChallenge> {
        let body = br#"{"jsonrpc":"2.0","id":0,"method":"ping"}"#.to_vec();
        let mut req = HttpRequest::post_json(server.url().clone(), body);
        req.headers.retain(|(n, _)| n != "accept");
        req.push_header("accept", "application/json, text/event-stream");
        for (name, value) in headers {
            req.push_header(name, value.clone());
        }
        let resp = self.send(req).await.ok()?;
        classify_response(&resp)
            .ok()
            .flatten()
            .map(|c| c.challenge().clone())
    }

    async fn discover(
        &self,
        server: &ResourceUri,
        challenge: Option<&BearerChallenge>,
        options: &LoginOptions,
    ) -> Result<Discovered> {
        if let Some(manual) = &options.endpoints {
            let policy = &self.inner.policy;
            policy.check_endpoint("authorization_endpoint", &manual.authorization_endpoint)?;
            policy.check_endpoint("token_endpoint", &manual.token_endpoint)?;
            let issuer = manual
                .issuer
                .clone()
                .unwrap_or_else(|| manual.authorization_endpoint.origin().ascii_serialization());
            let mut metadata =
                mcpauth_core::AuthorizationServerMetadata::with_default_endpoints(&issuer);
            metadata.authorization_endpoint = Some(manual.authorization_endpoint.clone());
            metadata.token_endpoint = Some(manual.token_endpoint.clone());
            metadata.registration_endpoint = None;
            return Ok(Discovered::configured(server.clone(), metadata));
        }
        let policy = self.inner.policy.clone();
        let discovery = match &options.issuer {
            Some(issuer) => Discovery::with_issuer(server.as_str(), issuer, policy)?,
            None => Discovery::new(
                server.as_str(),
                challenge.and_then(|c| c.resource_metadata.as_deref()),
                policy,
            )?,
        };
        self.inner.http.discover(discovery).await
    }

    /// Pre-registered, CIMD, cached or new registration (the core's priority), for a client
    /// that will use `redirect_uri`.
    async fn client_for(
        &self,
        discovered: &Discovered,
        options: &LoginOptions,
        redirect_uri: Option<&str>,
    ) -> Result<ClientCredentials> {
        let server = &discovered.metadata;
        let preregistered = options.client.as_ref().map(|c| {
            let issuer = c.issuer.clone().unwrap_or_else(|| server.issuer.clone());
            let method = c.auth_method.unwrap_or_else(|| {
                choose_token_endpoint_auth_method(server, c.client_secret.is_some())
            });
            match &c.client_secret {
                Some(secret) => {
                    ClientCredentials::confidential(issuer, &c.client_id, secret.clone(), method)
                }
                None => ClientCredentials::public(issuer, &c.client_id),
            }
        });
        let cached = self
            .cached_client(&server.issuer)?
            .filter(|c| redirect_uri.is_none() || c.redirect_uri.as_deref() == redirect_uri)
            .filter(|c| !c.registration.is_secret_expired(self.now()));
        let name = &self.inner.client_name;
        let metadata = match redirect_uri {
            None => ClientMetadata::device_only(name),
            Some(uri) if server.device_authorization_endpoint.is_some() => {
                ClientMetadata::native(name, vec![uri.to_owned()]).with_device_code_grant()
            }
            Some(uri) => ClientMetadata::native(name, vec![uri.to_owned()]),
        };
        let identity = IdentityOptions {
            preregistered,
            cached_registration: cached.map(|c| c.registration.credentials),
            metadata_document_url: options.client_metadata_url.clone(),
            client_metadata: metadata,
        };
        match plan_client_identity(server, &identity, &self.inner.policy)? {
            IdentityPlan::Ready(credentials) => Ok(credentials),
            IdentityPlan::Register(request) => {
                let url = request.url.clone();
                let resp = self.send(request).await?;
                let registration =
                    process_registration_response(server, &url, &resp, &self.inner.policy)?;
                let credentials = registration.credentials.clone();
                let cached = CachedClient {
                    registration,
                    redirect_uri: redirect_uri.map(str::to_owned),
                };
                self.save_json(&registration_key(&server.issuer), &cached)?;
                Ok(credentials)
            }
        }
    }

    fn cached_client(&self, issuer: &str) -> Result<Option<CachedClient>> {
        self.load_json(&registration_key(issuer))
    }

    /// The loopback port to use: the fixed one, else the one the cached registration was
    /// made with (servers that match redirect URIs exactly then accept it), else any.
    fn preferred_port(&self, issuer: &str, options: &LoginOptions) -> Option<u16> {
        options.port.or_else(|| {
            let cached = self.cached_client(issuer).ok().flatten()?;
            let uri = url::Url::parse(cached.redirect_uri.as_deref()?).ok()?;
            uri.port()
        })
    }

    fn bind_loopback(&self, issuer: &str, options: &LoginOptions) -> Result<LoopbackServer> {
        match (options.port, self.preferred_port(issuer, options)) {
            (Some(port), _) => LoopbackServer::bind(Some(port), CALLBACK_PATH),
            (None, Some(port)) => LoopbackServer::bind(Some(port), CALLBACK_PATH)
                .or_else(|_| LoopbackServer::bind(None, CALLBACK_PATH)),
            (None, None) => LoopbackServer::bind(None, CALLBACK_PATH),
        }
    }

    async fn code_flow(
        &self,
        discovered: &Discovered,
        options: &LoginOptions,
        core_options: &mcpauth_core::LoginOptions,
    ) -> Result<(ClientCredentials, mcpauth_core::TokenSet)> {
        let server = self.bind_loopback(&discovered.issuer, options)?;
        let redirect_uri = server.redirect_uri();
        let client = self
            .client_for(discovered, options, Some(&redirect_uri))
            .await?;
        let (url, pending) = start_authorization(
            discovered,
            &client,
            &redirect_uri,
            core_options,
            &mut OsEntropy,
            &self.inner.policy,
        )?;
        let response = if options.flow == Flow::Paste {
            drop(server);
            let pasted = self.inner.ui.paste_redirect(&url).await?;
            validate_authorization_response(&pending, &pasted)?
        } else {
            self.inner.ui.authorize(&url);
            server.wait(&pending, options.timeout).await?
        };
        let request =
            authorization_code_grant_request(&pending, response, &client, &self.inner.policy)?;
        let token_url = request.url.clone();
        let resp = self.send(request).await?;
        let tokens = process_authorization_code_response(
            self.now(),
            &pending,
            &token_url,
            &resp,
            &self.inner.policy,
        )
        .inspect_err(|e| self.drop_registration_on_invalid_client(&discovered.issuer, e))?;
        Ok((client, tokens))
    }

    async fn device_flow(
        &self,
        discovered: &Discovered,
        options: &LoginOptions,
        core_options: &mcpauth_core::LoginOptions,
    ) -> Result<(ClientCredentials, mcpauth_core::TokenSet)> {
        let client = self.client_for(discovered, options, None).await?;
        let scope = login_scope(discovered, core_options);
        let resource = login_resource(discovered, core_options);
        let policy = &self.inner.policy;
        let request = device_authorization_request(
            &discovered.metadata,
            &client,
            scope.as_deref(),
            resource.as_ref(),
            policy,
        )?;
        let url = request.url.clone();
        let resp = self.send(request).await?;
        let authorization = process_device_authorization_response(self.now(), &url, &resp, policy)
            .inspect_err(|e| self.drop_registration_on_invalid_client(&discovered.issuer, e))?;
        self.inner.ui.device_code(&authorization);
        let mut poll = DevicePoll::from_metadata(
            self.now(),
            authorization,
            &discovered.metadata,
            client.clone(),
            resource,
            policy,
        )?;
        let where_ = poll.authorization().verification_uri.to_string();
        loop {
            let now = self.now();
            if let Some(request) = poll.poll_transmit(now) {
                let outcome = self.send(request).await;
                let now = self.now();
                let status = match outcome {
                    Ok(resp) => match poll.handle_response(now, &resp, policy) {
                        Ok(status) => status,
                        Err(e) if poll.is_finished() => return Err(e.into()),
                        Err(_transient) => DeviceStatus::Pending,
                    },
                    Err(_transport) => {
                        poll.handle_failure(now)?;
                        DeviceStatus::Pending
                    }
                };
                match status {
                    DeviceStatus::Tokens(tokens) => return Ok((client, tokens)),
                    DeviceStatus::Expired => return Err(device_error("expired_token", &where_)),
                    DeviceStatus::Denied => return Err(device_error("access_denied", &where_)),
                    _ => {}
                }
            }
            let Some(next) = poll.poll_timeout() else {
                return Err(device_error("expired_token", &where_));
            };
            self.inner
                .ui
                .device_waiting(self.now().until(poll.deadline()));
            let wait = self.now().until(next).min(Duration::from_secs(1));
            tokio::time::sleep(wait).await;
        }
    }

    fn drop_registration_on_invalid_client(&self, issuer: &str, error: &mcpauth_core::Error) {
        if is_invalid_client(error) {
            let _ = self.inner.store.delete(&registration_key(issuer));
        }
    }

    async fn userinfo(&self, discovered: &Discovered, grant: &Grant) -> Option<String> {
        let endpoint = discovered.metadata.userinfo_endpoint.as_ref()?;
        let policy = &self.inner.policy;
        let request = userinfo_request(endpoint, &grant.tokens.access_token, policy).ok()?;
        let resp = self.send(request).await.ok()?;
        let identity = process_userinfo_response(endpoint, &resp, policy).ok()?;
        identity.label().map(str::to_owned)
    }

    // ----- tokens -----

    /// A valid access token for `server_url`, refreshed first when it expires within the
    /// core's margin (30 s).
    ///
    /// # Errors
    /// [`Error::NotLoggedIn`] when nothing is stored or the refresh token was refused
    /// (`invalid_grant`: the grant is then deleted); transport and store errors.
    pub async fn access_token(&self, server_url: &str) -> Result<AccessToken> {
        let grant = self.current_grant(server_url)?;
        let now = self.now();
        if grant.needs_refresh(now) {
            return self.refresh_grant(&grant.key(), None).await;
        }
        if grant.is_expired(now) {
            return Err(Error::NotLoggedIn {
                server: server_url.to_owned(),
            });
        }
        Ok(grant.tokens.access_token)
    }

    /// Refreshes after the server refused `rejected` (a 401), unless another caller already
    /// replaced it. Returns the token to retry with.
    ///
    /// # Errors
    /// As [`access_token`](Self::access_token); [`Error::NotLoggedIn`] when there is no
    /// refresh token.
    pub async fn refresh_after_rejection(
        &self,
        server_url: &str,
        rejected: &AccessToken,
    ) -> Result<AccessToken> {
        let grant = self.current_grant(server_url)?;
        self.refresh_grant(&grant.key(), Some(rejected)).await
    }

    /// Single-flight refresh of the grant at `key`. With `rejected`, refreshes unless the
    /// stored token already differs from it; without, refreshes unless it is fresh.
    async fn refresh_grant(
        &self,
        key: &str,
        rejected: Option<&AccessToken>,
    ) -> Result<AccessToken> {
        let gate = self.gate(key);
        let _in_process = gate.lock().await;
        let store = Arc::clone(&self.inner.store);
        let lock_key = key.to_owned();
        let _across_processes = tokio::task::spawn_blocking(move || store.lock(&lock_key))
            .await
            .map_err(|_| Error::Cancelled)??;
        let mut grant: Grant = self.load_json(key)?.ok_or_else(|| not_logged_in(key))?;
        let now = self.now();
        let stale = match rejected {
            Some(rejected) => grant.tokens.access_token == *rejected,
            None => grant.needs_refresh(now),
        };
        if !stale {
            return Ok(grant.tokens.access_token);
        }
        if grant.tokens.refresh_token.is_none() {
            return Err(not_logged_in(key));
        }
        let request = grant.refresh_request(&self.inner.policy)?;
        let resp = self.send(request).await?;
        match grant.process_refresh_response(self.now(), &resp, &self.inner.policy) {
            Ok(_rotated) => {
                self.save_grant(&grant)?;
                Ok(grant.tokens.access_token)
            }
            Err(e) if is_invalid_grant(&e) => {
                self.inner.store.delete(key)?;
                Err(not_logged_in(key))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn gate(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut gates = self
            .inner
            .gates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(gates.entry(key.to_owned()).or_default())
    }

    /// The newest grant stored for `server_url` (several only after an authorization server
    /// migration, until the next login removes the old one).
    ///
    /// # Errors
    /// [`Error::NotLoggedIn`]; store errors.
    pub fn current_grant(&self, server_url: &str) -> Result<Grant> {
        let server = ResourceUri::parse(server_url)?;
        self.grants_for(&server)?
            .into_iter()
            .max_by_key(|g| g.updated_at)
            .ok_or_else(|| Error::NotLoggedIn {
                server: server_url.to_owned(),
            })
    }

    fn grants_for(&self, server: &ResourceUri) -> Result<Vec<Grant>> {
        let prefix = format!("{}#", server.as_str());
        let mut grants = Vec::new();
        for key in self.inner.store.keys()? {
            if key.starts_with(&prefix) {
                if let Some(grant) = self.load_json::<Grant>(&key)? {
                    grants.push(grant);
                }
            }
        }
        Ok(grants)
    }

    fn forget_other_issuers(&self, grant: &Grant) -> Result<()> {
        for old in self.grants_for(&grant.server)? {
            if old.issuer != grant.issuer {
                self.inner.store.delete(&old.key())?;
            }
        }
        Ok(())
    }

    // ----- logout and status -----

    /// Revokes (RFC 7009, when the server offers it) and deletes every grant for
    /// `server_url`. Revocation failures do not stop the deletion; they are returned as
    /// warnings.
    ///
    /// # Errors
    /// [`Error::NotLoggedIn`]; store errors.
    pub async fn logout(&self, server_url: &str) -> Result<Vec<Error>> {
        let server = ResourceUri::parse(server_url)?;
        let grants = self.grants_for(&server)?;
        if grants.is_empty() {
            return Err(Error::NotLoggedIn {
                server: server_url.to_owned(),
            });
        }
        let mut warnings = Vec::new();
        for grant in grants {
            if let Err(e) = self.revoke(&grant).await {
                warnings.push(e);
            }
            self.inner.store.delete(&grant.key())?;
        }
        Ok(warnings)
    }

    async fn revoke(&self, grant: &Grant) -> Result<()> {
        let Some(request) = grant.revocation_request(&self.inner.policy)? else {
            return Ok(());
        };
        let url = request.url.clone();
        let resp = self.send(request).await?;
        mcpauth_core::revocation::process_revocation_response(&url, &resp, &self.inner.policy)?;
        Ok(())
    }

    /// Every stored login.
    ///
    /// # Errors
    /// Store errors.
    pub fn status(&self) -> Result<Vec<LoginStatus>> {
        let now = self.now();
        let mut out = Vec::new();
        for key in self.inner.store.keys()? {
            if key.starts_with("client#") {
                continue;
            }
            let Some(grant) = self.load_json::<Grant>(&key)? else {
                continue;
            };
            out.push(LoginStatus {
                server: grant.server.to_string(),
                issuer: grant.issuer.clone(),
                scope: grant.tokens.scope.clone(),
                expires_in: grant.tokens.expires_at.map(|at| now.until(at)),
                refreshable: grant.tokens.refresh_token.is_some(),
                identity: grant
                    .display_identity()
                    .and_then(|i| i.label().map(str::to_owned)),
            });
        }
        out.sort_by(|a, b| a.server.cmp(&b.server));
        Ok(out)
    }

    /// Keeps the grant for `server_url` fresh in the background: refreshes shortly before
    /// each expiry, so a long-running tool never presents an expired token. Stops when the
    /// login is gone or cannot be refreshed; abort the handle to stop earlier.
    pub fn spawn_refresher(&self, server_url: &str) -> tokio::task::JoinHandle<Result<()>> {
        let session = self.clone();
        let server_url = server_url.to_owned();
        tokio::spawn(async move {
            loop {
                let grant = session.current_grant(&server_url)?;
                let Some(expires_at) = grant.tokens.expires_at else {
                    return Ok(());
                };
                if grant.tokens.refresh_token.is_none() {
                    return Ok(());
                }
                let refresh_at = expires_at.sub(mcpauth_core::DEFAULT_EXPIRY_MARGIN);
                tokio::time::sleep(session.now().until(refresh_at)).await;
                session.access_token(&server_url).await?;
            }
        })
    }

    // ----- store -----

    fn save_grant(&self, grant: &Grant) -> Result<()> {
        self.save_json(&grant.key(), grant)
    }

    fn save_json<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec(value).map_err(|e| Error::Store {
            reason: format!("cannot encode {key}: {e}"),
        })?;
        self.inner.store.save(key, &bytes)
    }

    fn load_json<T: for<'de> Deserialize<'de>>(&self, key: &str) -> Result<Option<T>> {
        let Some(bytes) = self.inner.store.load(key)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Store {
                reason: format!("stored record {key} is unreadable ({e}); log in again"),
            })
    }
}

fn not_logged_in(key: &str) -> Error {
    Error::NotLoggedIn {
        server: key.split('#').next().unwrap_or(key).to_owned(),
    }
}

/// The device flow ended without tokens: reported as the server's OAuth error would be.
fn device_error(error: &str, where_: &str) -> Error {
    Error::Core(
        OAuthError {
            error: error.to_owned(),
            error_description: Some(match error {
                "access_denied" => "the authorization request was denied".to_owned(),
                _ => "the device code expired before the login was approved".to_owned(),
            }),
            error_uri: None,
            status: 400,
            where_: where_.to_owned(),
        }
        .into(),
    )
}
