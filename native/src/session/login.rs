//! [`Session::login`]: the native options in, the core's [`Login`] run, a summary out.

use std::sync::Arc;
use std::time::Duration;

use mcpauth_core::flow::login::Redirect;
use mcpauth_core::flow::{Event, Login, LoginConfig, MachineGrant};
use mcpauth_core::{BearerChallenge, Grant, OsEntropy};

use super::{ManualEndpoints, PreRegisteredClient, Session};
use crate::driver::{self, Io};
use crate::error::Result;
use crate::keys::{ClientKey, Signer, generate_dpop_key};

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
    /// How long the whole login may take: discovery, registration, the user in the browser
    /// or at the device page, the token requests.
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
    /// Obtain tokens without a user: the client credentials grant (with
    /// [`client`](Self::client)'s secret, or its [`client_key`](Self::client_key) for
    /// `private_key_jwt`), a workload's token (jwt-bearer), or an enterprise IdP's ID token
    /// (enterprise-managed authorization). [`flow`](Self::flow) is then unused. The grant
    /// remembers how, and tokens are obtained again that way when they expire.
    pub grant: Option<MachineGrant>,
    /// Ask for DPoP-bound tokens (RFC 9449): a fresh P-256 key is generated for the login and
    /// kept, encrypted, with the grant; every token request and every request to the server
    /// carries a proof signed with it.
    pub dpop: bool,
    /// An `audience` parameter for authorization servers that want one (Auth0), sent with the
    /// authorization, token and refresh requests.
    pub audience: Option<String>,
    /// The client's private key for `private_key_jwt`, for this login (else the session's,
    /// [`SessionBuilder::client_key`](super::SessionBuilder::client_key)). A
    /// [`client`](Self::client) that names no `key_alg` takes the key's.
    pub client_key: Option<Arc<ClientKey>>,
}

impl Default for LoginOptions {
    /// The core's defaults ([`LoginConfig::default`]): a browser login, probing first, five
    /// minutes for the whole login.
    fn default() -> Self {
        let core = LoginConfig::default();
        Self {
            flow: Flow::Browser,
            scope: core.scope,
            client: None,
            client_metadata_url: core.client_metadata_url,
            port: None,
            timeout: Duration::from_millis(core.timeout_ms.unwrap_or(u64::MAX)),
            challenge: core.challenge,
            previous_scope: core.previous_scope,
            extra_params: core.extra_params,
            dangerously_omit_resource: core.dangerously_omit_resource,
            issuer: core.issuer,
            endpoints: core.endpoints,
            probe: core.probe,
            server_headers: core.server_headers,
            grant: core.grant,
            dpop: core.dpop,
            audience: core.audience,
            client_key: None,
        }
    }
}

/// The outcome of a login.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LoginSummary {
    /// The stored grant.
    pub grant: Grant,
    /// Who logged in, when the server said (ID token or userinfo). Display only; `status`
    /// shows the same.
    pub identity: Option<String>,
    /// The profile the grant was stored under (for [`Session::complete_login`], the one the
    /// login was begun for: a gateway checks it is the user who came back).
    pub profile: Option<super::Profile>,
    /// HTTP requests this login sent (discovery, registration, token, ...).
    pub requests: u64,
    /// What went wrong without failing the login: the grant it replaced could not be revoked,
    /// userinfo failed. The UI was told as they happened.
    pub warnings: Vec<mcpauth_core::Error>,
}

impl Session {
    /// Logs in to the MCP server at `server_url`: discovery, client identity, authorization
    /// (browser, paste or device flow), code exchange. The grant replaces the server's previous
    /// one, which is then revoked.
    ///
    /// # Errors
    /// Any core error (discovery, issuer/resource/state checks, OAuth errors, `TIMEOUT` when
    /// [`LoginOptions::timeout`] passes), [`Error::PortInUse`](crate::Error::PortInUse), store errors.
    pub async fn login(&self, server_url: &str, options: &LoginOptions) -> Result<LoginSummary> {
        Ok(self.run_login(server_url, options).await??)
    }

    /// Runs a login: the outer error is the driver's I/O, the inner one the login's.
    pub(crate) async fn run_login(
        &self,
        server_url: &str,
        options: &LoginOptions,
    ) -> Result<mcpauth_core::Result<LoginSummary>> {
        let login = match self
            .login_config(server_url, options)
            .and_then(|config| Login::new(config, self.now(), &mut OsEntropy))
        {
            Ok(login) => login,
            Err(e) => return Ok(Err(e)),
        };
        let io = self.login_io(options);
        let mut warnings = Vec::new();
        let outcome = driver::run(login, &io, |event| {
            if let Event::Warning(warning) = event {
                warnings.push(warning.clone());
            }
        })
        .await?;
        Ok(outcome.result.map(|done| {
            self.io().ui.done();
            LoginSummary {
                grant: done.grant,
                identity: done.identity,
                profile: self.profile.clone(),
                requests: outcome.requests,
                warnings,
            }
        }))
    }

    /// The driver's I/O for a login with `options`: the session's, pasting the redirect for
    /// [`Flow::Paste`], and signing with the login's own client key if it has one.
    pub(super) fn login_io(&self, options: &LoginOptions) -> Io {
        let mut io = Io {
            paste: options.flow == Flow::Paste,
            ..self.io().clone()
        };
        if let Some(key) = &options.client_key {
            io.signer = Signer::new(Some(Arc::clone(key)));
        }
        io
    }

    /// The core's configuration of a login with `options` and this session's settings, with
    /// a fresh DPoP key when the login asks for DPoP.
    ///
    /// # Errors
    /// [`Error::Entropy`](mcpauth_core::Error::Entropy) when no DPoP key can be generated.
    pub(super) fn login_config(
        &self,
        server_url: &str,
        options: &LoginOptions,
    ) -> mcpauth_core::Result<LoginConfig> {
        let mut config = LoginConfig::new(server_url);
        config.redirect = match options.flow {
            Flow::Device => Redirect::Device,
            Flow::Browser | Flow::Paste => Redirect::Loopback { port: options.port },
        };
        config.scope.clone_from(&options.scope);
        config.preregistered = options.client.iter().cloned().collect();
        let key = options.client_key.as_deref().or(self.client_key());
        if let Some(key) = key {
            for client in &mut config.preregistered {
                if client.key_alg.is_none() {
                    client.key_alg = Some(key.alg());
                    client.key_id = client.key_id.take().or(key.key_id().map(str::to_owned));
                }
            }
        }
        config
            .client_metadata_url
            .clone_from(&options.client_metadata_url);
        config.client_name.clone_from(&self.inner.client_name);
        config.challenge.clone_from(&options.challenge);
        config.previous_scope.clone_from(&options.previous_scope);
        config.extra_params.clone_from(&options.extra_params);
        config.dangerously_omit_resource = options.dangerously_omit_resource;
        config.issuer.clone_from(&options.issuer);
        config.endpoints.clone_from(&options.endpoints);
        config.probe = options.probe;
        config.server_headers.clone_from(&options.server_headers);
        config.timeout_ms = Some(millis(options.timeout));
        config.request_timeout_ms = millis(self.inner.timeout);
        config.policy = self.inner.policy.clone();
        config.profile.clone_from(&self.profile);
        config.grant.clone_from(&options.grant);
        config.dpop = options.dpop;
        config.audience.clone_from(&options.audience);
        if options.dpop {
            config.dpop_key = Some(generate_dpop_key(&mut OsEntropy)?);
        }
        Ok(config)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
