//! [`Session`]: log in to MCP servers, keep their tokens fresh, log out.
//!
//! Every operation is one of the core's flow machines ([`mcpauth_core::flow`]) run by the
//! crate's one driver loop: a login is a [`Login`](mcpauth_core::flow::Login), a token a
//! [`Access`](mcpauth_core::flow::Access), a logout a [`Logout`](mcpauth_core::flow::Logout).
//! The session turns its options into the machines' configuration, and their outcomes into
//! its results; what is stored under which key is the core's
//! ([`mcpauth_core::flow::store`]), one grant per server.
//!
//! # Single-flight refresh
//! Any number of concurrent [`Session::access_token`] calls on an expiring token make exactly
//! one refresh request: the core's [`Access`](mcpauth_core::flow::Access) takes the refresh
//! lock and reads the grant again under it, and the driver's lock is a per-name async mutex
//! in the process plus the store's file lock across processes. A rotated-out refresh token is
//! never sent (servers such as oidc-provider revoke the whole grant when one is replayed).

mod login;
mod logout_status;
mod tokens;
mod web;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::future::BoxFuture;
use mcpauth_core::jws::JwsTemplate;
use mcpauth_core::{Policy, Time};

use crate::driver::{Clock, Io, Locks, Sleep};
use crate::error::Result;
use crate::http::HttpDriver;
use crate::keys::{ClientKey, Signer};
use crate::store::TokenStore;
use crate::ui::{ConsoleUi, LoginUi};

pub use login::{Flow, LoginOptions, LoginSummary};
pub use mcpauth_core::flow::Profile;
pub use mcpauth_core::flow::login::{ManualEndpoints, PreRegistered as PreRegisteredClient};
/// One stored login, for `status`: the core's, so both drivers show the same.
pub use mcpauth_core::flow::store::LoginStatus;
/// How a machine login obtains tokens (client credentials, jwt-bearer, enterprise-managed),
/// where it reads its credential, and the enterprise IdP: the core's, as the npm package has
/// them.
pub use mcpauth_core::flow::{CredentialSource, EnterpriseIdp, MachineGrant};

/// The per-request time-out unless the builder sets one.
const DEFAULT_TIMEOUT: Duration = mcpauth_core::flow::DEFAULT_REQUEST_TIMEOUT;

/// Logs in to MCP servers and keeps their tokens. Cheap to clone.
///
/// A session works on one [`Profile`] of each server (by default none: the server's one
/// unnamed login); [`with_profile`](Session::with_profile) gives a session on another that
/// shares everything else.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
    profile: Option<Profile>,
}

struct Inner {
    io: Io,
    policy: Policy,
    timeout: Duration,
    client_name: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("policy", &self.inner.policy)
            .field("timeout", &self.inner.timeout)
            .field("client_name", &self.inner.client_name)
            .field("profile", &self.profile)
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
    clock: Clock,
    profile: Option<Profile>,
    sleep: Option<Sleep>,
    client_key: Option<Arc<ClientKey>>,
}

impl SessionBuilder {
    /// The security policy (default: [`Policy::default`]).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// How long each HTTP request may take, from connecting to the last body byte (default
    /// 30 s). A whole login is bounded by [`LoginOptions::timeout`] instead.
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

    /// The clock, for tests that move time (default: the system clock). Deadlines and
    /// expiries are measured on it.
    pub fn clock(mut self, clock: impl Fn() -> Time + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// How a flow waits out a pause of its own while nothing else can end it, such as a device
    /// login's poll interval (default: a real timer). `sleep` gets the pause's length, on the
    /// [`clock`](Self::clock)'s scale. Tests pass one that moves their clock ahead by it
    /// instead of sleeping, so the intervals the core decides pass at once. While a request
    /// is in flight, or a login waits for its callback, the wait stays on the real timer:
    /// those answers can come any time, and their deadlines are real.
    pub fn sleep(
        mut self,
        sleep: impl Fn(Duration) -> BoxFuture<'static, ()> + Send + Sync + 'static,
    ) -> Self {
        self.sleep = Some(Arc::new(sleep));
        self
    }

    /// The profile to log in to and take tokens of (default: none, the server's one unnamed
    /// login). See [`Profile`].
    pub fn profile(mut self, profile: Option<Profile>) -> Self {
        self.profile = profile;
        self
    }

    /// The client's private key for `private_key_jwt` (RFC 7523 §2.2): it signs the client
    /// assertions of every login and of every token obtained again without a user (a client
    /// credentials grant past its expiry). Load it with [`ClientKey::from_file`]. A login's
    /// [`LoginOptions::client_key`] wins over it for that login.
    pub fn client_key(mut self, key: ClientKey) -> Self {
        self.client_key = Some(Arc::new(key));
        self
    }

    /// Builds the session. Nothing network-related is set up yet: the HTTP client (and the
    /// TLS configuration) is built on the first request.
    ///
    /// # Errors
    /// None today; kept so that a session that must check something up front can.
    pub fn build(self) -> Result<Session> {
        let io = Io {
            http: HttpDriver::new(self.timeout)?,
            store: self.store,
            ui: self.ui,
            clock: self.clock,
            locks: Locks::default(),
            paste: false,
            sleep: self.sleep,
            signer: Signer::new(self.client_key),
        };
        Ok(Session {
            inner: Arc::new(Inner {
                io,
                policy: self.policy,
                timeout: self.timeout,
                client_name: self.client_name,
            }),
            profile: self.profile,
        })
    }
}

impl Session {
    /// A builder over `store`.
    pub fn builder(store: Arc<dyn TokenStore>) -> SessionBuilder {
        SessionBuilder {
            store,
            policy: Policy::default(),
            timeout: DEFAULT_TIMEOUT,
            client_name: "mcpauth".into(),
            ui: Arc::new(ConsoleUi::default()),
            clock: Arc::new(|| Time::from(SystemTime::now())),
            profile: None,
            sleep: None,
            client_key: None,
        }
    }

    /// The same session on `profile`'s logins (store, HTTP client, locks and policy shared).
    #[must_use]
    pub fn with_profile(&self, profile: Option<Profile>) -> Session {
        Session {
            inner: self.inner.clone(),
            profile,
        }
    }

    /// The profile this session works on (`None`: the servers' unnamed logins).
    #[must_use]
    pub fn profile(&self) -> Option<&Profile> {
        self.profile.as_ref()
    }

    /// The policy in force.
    #[must_use]
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// How long one request may take (the builder's [`timeout`](SessionBuilder::timeout)).
    #[must_use]
    pub fn request_timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// How many HTTP requests this session has sent so far.
    #[must_use]
    pub fn requests_sent(&self) -> u64 {
        self.inner.io.http.requests_sent()
    }

    /// The session's HTTP client, built now if no request has built it yet (the session builds
    /// nothing network-related before its first request): every login, refresh and logout of
    /// the session, and the MCP requests of an [`AuthClient`](crate::AuthClient) over it, share
    /// its connection pool and its TLS setup. It follows no redirect.
    ///
    /// # Errors
    /// [`Error::Transport`](crate::Error::Transport) when the TLS configuration or the client
    /// cannot be built (the platform's certificate store cannot be opened, say).
    pub fn http_client(&self) -> Result<reqwest::Client> {
        self.inner.io.http.client()
    }

    fn now(&self) -> Time {
        (self.inner.io.clock)()
    }

    /// Dates and signs a JWT the core wrote (a DPoP proof for a request to an MCP server):
    /// the compact JWS.
    pub(crate) fn sign_jws(&self, template: &JwsTemplate) -> mcpauth_core::Result<String> {
        let signing = template.stamp(self.now(), &mut mcpauth_core::OsEntropy)?;
        let signer = &self.inner.io.signer;
        let signature = signer.sign(&signing.key, signing.alg, signing.input.as_bytes())?;
        signing.compact(&signature)
    }

    /// The session's `private_key_jwt` key, if it has one.
    fn client_key(&self) -> Option<&ClientKey> {
        self.inner.io.signer.client()
    }

    fn io(&self) -> &Io {
        &self.inner.io
    }

    fn store(&self) -> &dyn TokenStore {
        self.inner.io.store.as_ref()
    }
}
