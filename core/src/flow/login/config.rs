//! What a login is told at the start, and what it ends with.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::challenge::BearerChallenge;
use crate::client::TokenEndpointAuthMethod;
use crate::flow::DEFAULT_REQUEST_TIMEOUT;
use crate::flow::profile::Profile;
use crate::grant::Grant;
use crate::jws::{DpopKey, JwsAlg};
use crate::policy::Policy;
use crate::registration::ApplicationType;
use crate::secret::ClientSecret;
use crate::secret::SecurityToken;
use std::time::Duration;

/// The path a loopback listener serves the redirect on.
pub const CALLBACK_PATH: &str = "/callback";

/// How the user agent comes back, or that it does not (device flow).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, optional_fields))]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    try_from = "crate::tagged::FlatRedirect"
)]
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
    /// For `private_key_jwt`: the algorithm of the client's key (the driver holds the key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_alg: Option<JwsAlg>,
    /// For `private_key_jwt`: the `kid` the server knows the client's key by, if it needs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
}

/// Where a login reads a credential it presents: a workload's token, an employee's ID token.
/// `file` and `env` are read by the driver ([`Event::Credential`](crate::flow::Event)) each
/// time a token is obtained, so a token the platform rotates is picked up on expiry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    try_from = "crate::tagged::FlatCredentialSource"
)]
#[non_exhaustive]
pub enum CredentialSource {
    /// The credential itself.
    Value {
        /// The token.
        value: SecurityToken,
    },
    /// A file holding it (surrounding whitespace is ignored), such as a projected Kubernetes
    /// service account token.
    File {
        /// The path.
        path: String,
    },
    /// An environment variable holding it.
    Env {
        /// The variable's name.
        name: String,
    },
}

/// The enterprise identity provider of enterprise-managed authorization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(export, optional_fields = nullable)
)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EnterpriseIdp {
    /// The IdP's token endpoint, where the ID token is exchanged for an ID-JAG (RFC 8693).
    pub token_endpoint: String,
    /// This client's id at the IdP.
    pub client_id: String,
    /// This client's secret at the IdP, if it is confidential (sent with `client_secret_basic`).
    #[serde(default)]
    pub client_secret: Option<crate::secret::ClientSecret>,
}

impl EnterpriseIdp {
    /// An IdP at `token_endpoint` knowing this client as `client_id`.
    #[must_use]
    pub fn new(token_endpoint: impl Into<String>, client_id: impl Into<String>) -> Self {
        Self {
            token_endpoint: token_endpoint.into(),
            client_id: client_id.into(),
            client_secret: None,
        }
    }
}

/// How a login obtains tokens without a user, and how they are obtained again when they
/// expire (there is no refresh token to use). Kept in the grant's record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    try_from = "crate::tagged::FlatMachineGrant"
)]
#[non_exhaustive]
pub enum MachineGrant {
    /// The client credentials grant (RFC 6749 §4.4; MCP's OAuth client credentials
    /// extension) with the pre-registered client's secret or private key.
    ClientCredentials,
    /// The jwt-bearer grant (RFC 7523 §2.1) with a workload's identity token (workload
    /// identity federation).
    JwtBearer {
        /// Where the workload token is read.
        assertion: CredentialSource,
    },
    /// Enterprise-managed authorization: the user's ID token is exchanged at the enterprise
    /// IdP for an ID-JAG (RFC 8693, `urn:ietf:params:oauth:token-type:id-jag`), which the
    /// jwt-bearer grant presents to the MCP server's authorization server.
    EnterpriseManaged {
        /// Where the ID token is read.
        id_token: CredentialSource,
        /// The IdP.
        idp: EnterpriseIdp,
    },
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
    /// The profile the grant belongs to (`None`: the server's default login).
    pub profile: Option<Profile>,
    /// Obtains tokens without a user (client credentials, jwt-bearer, enterprise-managed)
    /// instead of the authorization code or device flow `redirect` names.
    pub grant: Option<MachineGrant>,
    /// Asks for DPoP-bound tokens (RFC 9449), signing proofs with `dpop_key`.
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub dpop: bool,
    /// The DPoP key: a fresh P-256 key the driver generates for each DPoP login (natively into
    /// the grant's record, in browsers as a non-extractable key).
    pub dpop_key: Option<DpopKey>,
    /// An `audience` parameter for authorization servers that want one (Auth0), sent with the
    /// authorization, token and refresh requests.
    pub audience: Option<String>,
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
            profile: None,
            grant: None,
            dpop: false,
            dpop_key: None,
            audience: None,
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

pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
