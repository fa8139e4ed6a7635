//! The front channel of the authorization code flow: the authorization URL (RFC 6749 §4.1.1,
//! RFC 7636 §4.3, RFC 8707 §2) and validation of the redirect back (RFC 6749 §4.1.2,
//! RFC 9207 §2.4). The code exchange is in [`token`](crate::token).
//!
//! The shape of the flow, as a driver runs it:
//!
//! ```
//! use mcpauth_core::authorize::{
//!     AuthorizationParams, authorization_url, validate_authorization_response,
//! };
//! use mcpauth_core::token::authorization_code_grant_request;
//! use mcpauth_core::{AuthorizationServerMetadata, ClientCredentials, Policy, ResourceUri};
//!
//! let server = AuthorizationServerMetadata::for_tests("https://as.example");
//! let client = ClientCredentials::public("https://as.example", "my-client");
//! let params = AuthorizationParams::new(
//!     "http://127.0.0.1:8123/callback",
//!     ResourceUri::parse("https://mcp.example/mcp")?,
//! )
//! .with_scope("mcp:tools");
//! let mut n = 0u8;
//! let mut entropy = |buf: &mut [u8]| { n += 1; buf.fill(n) }; // `OsEntropy` in real code
//!
//! // 1. Build the URL; store `pending` (it serializes) and send the user agent to `url`.
//! let (url, pending) =
//!     authorization_url(&server, &client, &params, &mut entropy, &Policy::default())?;
//! assert!(url.as_str().starts_with("https://as.example/authorize?response_type=code&"));
//!
//! // 2. The user agent comes back to the redirect URI; validate what it brought.
//! let callback = format!("/callback?code=c0de&state={}", pending.state.secret());
//! let response = validate_authorization_response(&pending, &callback)?;
//!
//! // 3. Exchange the code (send the request, then `process_authorization_code_response`).
//! let request = authorization_code_grant_request(&pending, response, &client, &Policy::default())?;
//! assert_eq!(request.url.as_str(), "https://as.example/token");
//! # Ok::<(), mcpauth_core::Error>(())
//! ```

use serde::{Deserialize, Serialize};
use url::Url;

use crate::client::ClientCredentials;
use crate::entropy::Entropy;
#[cfg(doc)]
use crate::error::SecurityError;
use crate::error::{ProtocolError, Result, UsageError};
use crate::metadata::AuthorizationServerMetadata;
use crate::pkce::{self, Pkce};
use crate::policy::{Policy, ResourceUri};
use crate::secret::{PkceVerifier, State};

mod response;

pub use response::{AuthorizationResponse, callback_belongs_to, validate_authorization_response};

/// Parameter names the authorization request sets itself. Extra parameters may not use them:
/// the security parameters must not be overridden, and `response_mode`, `request` and
/// `request_uri` would move the response out of the query or replace the request wholesale.
pub const RESERVED_PARAMETERS: [&str; 11] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "resource",
    "response_mode",
    "request",
    "request_uri",
];

/// What the caller chooses for one authorization request (RFC 6749 §4.1.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationParams {
    /// The redirect URI, sent exactly as given and registered with the server. It must be
    /// `https`, or `http` on a loopback host (MCP "Communication Security"; RFC 8252 §7.3),
    /// and must have no fragment (RFC 6749 §3.1.2).
    pub redirect_uri: String,
    /// The space-separated scopes to request; `None` omits the parameter (MCP scope
    /// selection: omit it when neither the challenge nor the resource metadata names any).
    pub scope: Option<String>,
    /// The canonical URI of the MCP server the token is for (RFC 8707 §2).
    ///
    /// # Security
    /// The MCP spec requires sending `resource` in both the authorization and the token
    /// request, so that the token is bound to its audience. `None` is an escape hatch for
    /// authorization servers that reject the parameter (such as Microsoft Entra ID v2):
    /// the token is then not audience-restricted by this request. Set it through
    /// [`dangerously_omit_resource`](Self::dangerously_omit_resource) so the choice is visible.
    pub resource: Option<ResourceUri>,
    /// Further parameters (`prompt`, `login_hint`, ...), appended after the core's own.
    /// Names in [`RESERVED_PARAMETERS`] and repeated names are refused.
    pub extra_params: Vec<(String, String)>,
    /// The `audience` the tokens are for, for authorization servers that take one instead of
    /// (or beside) `resource` (Auth0 issues opaque tokens without it). Sent after `resource`,
    /// and repeated by the code exchange; an `audience` among the
    /// [`extra_params`](Self::extra_params) as well is refused as a repeat.
    #[serde(default)]
    pub audience: Option<String>,
}

impl AuthorizationParams {
    /// Parameters for `redirect_uri` and `resource`, with no scope and no extras.
    #[must_use]
    pub fn new(redirect_uri: impl Into<String>, resource: ResourceUri) -> Self {
        Self {
            redirect_uri: redirect_uri.into(),
            scope: None,
            resource: Some(resource),
            extra_params: Vec::new(),
            audience: None,
        }
    }

    /// Requests tokens for `audience` (see [`audience`](Self::audience)).
    #[must_use]
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Requests `scope` (space-separated).
    #[must_use]
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Adds an extra parameter (see [`extra_params`](Self::extra_params)).
    #[must_use]
    pub fn with_extra_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra_params.push((name.into(), value.into()));
        self
    }

    /// Sends no `resource` parameter, against the MCP spec's requirement (RFC 8707 §2).
    ///
    /// # Security
    /// Only for authorization servers that reject `resource` (such as Microsoft Entra ID v2,
    /// which takes the audience from `scope` instead). Tokens are then not bound to the MCP
    /// server by this request; a token for one server may be accepted by another.
    #[must_use]
    pub fn dangerously_omit_resource(mut self) -> Self {
        self.resource = None;
        self
    }
}

/// Everything the client must remember between sending the user agent away and receiving
/// the redirect back: the per-request record of MCP "Authorization Response Validation".
///
/// Drivers store it across the redirect (in memory, or serialized, for example in a
/// browser's `sessionStorage`) and pass it to [`validate_authorization_response`] and the
/// code exchange. It holds the PKCE verifier and the state: keep it as confidential as a
/// token. `Debug` shows neither.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(export, optional_fields = nullable)
)]
#[non_exhaustive]
pub struct PendingAuthorization {
    /// The issuer of the validated server metadata the request was built from.
    pub issuer: String,
    /// The metadata's `authorization_response_iss_parameter_supported` at redirect time
    /// (RFC 9207 §3; MCP SEP-2468).
    pub iss_parameter_supported: bool,
    /// The token endpoint to exchange the code at.
    pub token_endpoint: Url,
    /// The `client_id` sent.
    pub client_id: String,
    /// The `redirect_uri` sent, exactly; the code exchange repeats it (RFC 6749 §4.1.3).
    pub redirect_uri: String,
    /// The `resource` sent; the code exchange repeats it (RFC 8707 §2.2).
    pub resource: Option<ResourceUri>,
    /// The `scope` requested.
    pub scope: Option<String>,
    /// The `audience` sent, if any; the code exchange repeats it.
    #[serde(default)]
    pub audience: Option<String>,
    /// The `state` sent.
    pub state: State,
    /// The PKCE verifier whose S256 challenge was sent (RFC 7636 §4.1).
    pub verifier: PkceVerifier,
}

/// Builds the authorization URL to send the user agent to, and the record to keep until it
/// comes back (RFC 6749 §4.1.1, RFC 7636 §4.3, RFC 8707 §2).
///
/// The query is `response_type=code`, `client_id`, `redirect_uri`, `scope` (when given),
/// `state`, `code_challenge`, `code_challenge_method=S256`, `resource` (when given), then the
/// extra parameters, appended to any query the authorization endpoint already has
/// (RFC 6749 §3.1). A fresh PKCE verifier and state are drawn from `entropy`.
///
/// # Errors
/// - [`SecurityError::CredentialsForOtherIssuer`] when `client` belongs to another server;
/// - [`SecurityError::PkceNotSupported`] when the server does not advertise S256;
/// - [`UsageError::MissingEndpoint`] without an authorization or token endpoint;
/// - [`SecurityError::InsecureUrl`] for a plain-http endpoint or redirect URI off loopback;
/// - [`UsageError::InvalidUrl`] for an unparsable redirect URI or one with a fragment;
/// - [`UsageError::InvalidParameter`] for an extra parameter that is reserved or repeated;
/// - [`ProtocolError::InvalidField`] when the endpoint itself has a fragment or a reserved
///   parameter in its query;
/// - [`Error::Entropy`](crate::Error::Entropy) when the entropy source fails.
pub fn authorization_url(
    server: &AuthorizationServerMetadata,
    client: &ClientCredentials,
    params: &AuthorizationParams,
    entropy: &mut dyn Entropy,
    policy: &Policy,
) -> Result<(Url, PendingAuthorization)> {
    client.ensure_issuer(&server.issuer)?;
    pkce::ensure_s256(server, policy)?;
    let issuer = &server.issuer;
    let mut url = endpoint(
        issuer,
        "authorization_endpoint",
        server.authorization_endpoint.as_ref(),
        policy,
    )?;
    let token_endpoint = endpoint(
        issuer,
        "token_endpoint",
        server.token_endpoint.as_ref(),
        policy,
    )?;
    check_redirect_uri(&params.redirect_uri, policy)?;
    check_extra_params(issuer, &url, params)?;
    let pkce = Pkce::generate(entropy)?;
    let state = pkce::generate_state(entropy)?;
    append_request_parameters(&mut url, &client.client_id, params, &state, &pkce.challenge);
    let pending = PendingAuthorization {
        issuer: server.issuer.clone(),
        iss_parameter_supported: server.authorization_response_iss_parameter_supported,
        token_endpoint,
        client_id: client.client_id.clone(),
        redirect_uri: params.redirect_uri.clone(),
        resource: params.resource.clone(),
        scope: params.scope.clone(),
        audience: params.audience.clone(),
        state,
        verifier: pkce.verifier,
    };
    Ok((url, pending))
}

/// Appends the request's parameters, in RFC order, to whatever query `url` already has.
fn append_request_parameters(
    url: &mut Url,
    client_id: &str,
    params: &AuthorizationParams,
    state: &State,
    challenge: &str,
) {
    let mut query = url.query_pairs_mut();
    query
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", &params.redirect_uri);
    if let Some(scope) = &params.scope {
        query.append_pair("scope", scope);
    }
    query
        .append_pair("state", state.secret())
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", Pkce::METHOD);
    if let Some(resource) = &params.resource {
        query.append_pair("resource", resource.as_str());
    }
    if let Some(audience) = &params.audience {
        query.append_pair("audience", audience);
    }
    for (name, value) in &params.extra_params {
        query.append_pair(name, value);
    }
}

/// The metadata endpoint `field` of `issuer`: present, allowed by `policy`, no fragment.
fn endpoint(issuer: &str, field: &'static str, url: Option<&Url>, policy: &Policy) -> Result<Url> {
    let url = url.ok_or_else(|| UsageError::MissingEndpoint {
        issuer: issuer.to_owned(),
        endpoint: field,
    })?;
    policy.check_endpoint(field, url)?;
    if url.fragment().is_some() {
        return Err(ProtocolError::InvalidField {
            url: issuer.to_owned(),
            field,
            reason: "must not have a fragment (RFC 6749 §3.1)".into(),
        }
        .into());
    }
    Ok(url.clone())
}

/// A redirect URI must parse, have no fragment, and be https or loopback http.
fn check_redirect_uri(redirect_uri: &str, policy: &Policy) -> Result<()> {
    let invalid = |reason: String| UsageError::InvalidUrl {
        what: "redirect_uri",
        url: redirect_uri.to_owned(),
        reason,
    };
    let url = Url::parse(redirect_uri).map_err(|e| invalid(e.to_string()))?;
    if url.fragment().is_some() {
        return Err(invalid("a redirect URI has no fragment (RFC 6749 §3.1.2)".into()).into());
    }
    policy.check_endpoint("redirect_uri", &url)
}

/// Refuses reserved names (in the extras or already in the endpoint's query) and repeats,
/// counting an `audience` the parameters set as already there.
fn check_extra_params(issuer: &str, endpoint: &Url, params: &AuthorizationParams) -> Result<()> {
    let extras = &params.extra_params;
    let mut seen: Vec<String> = Vec::new();
    if params.audience.is_some() {
        seen.push("audience".to_owned());
    }
    for (name, _) in endpoint.query_pairs() {
        let audience_too = name == "audience" && params.audience.is_some();
        if RESERVED_PARAMETERS.contains(&name.as_ref()) || audience_too {
            return Err(ProtocolError::InvalidField {
                url: issuer.to_owned(),
                field: "authorization_endpoint",
                reason: format!("has `{name}` in its query, which the request sets itself"),
            }
            .into());
        }
        seen.push(name.into_owned());
    }
    for (name, _) in extras {
        let reason = if RESERVED_PARAMETERS.contains(&name.as_str()) {
            "is set by the core and cannot be overridden"
        } else if seen.contains(name) {
            "appears more than once (RFC 6749 §3.1)"
        } else {
            seen.push(name.clone());
            continue;
        };
        return Err(UsageError::InvalidParameter {
            name: name.clone(),
            reason,
        }
        .into());
    }
    Ok(())
}

/// Fixtures shared by the tests of the flow (here, `response`, and `token`).
#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const ISSUER: &str = "https://as.example";
    /// base64url of 32 bytes of 1 and of 2: what `counter()` draws for verifier and state.
    pub(crate) const VERIFIER: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE";
    pub(crate) const STATE: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI";

    fn server() -> AuthorizationServerMetadata {
        AuthorizationServerMetadata::for_tests(ISSUER)
    }

    pub(crate) fn client() -> ClientCredentials {
        ClientCredentials::public(ISSUER, "client-1")
    }

    fn params() -> AuthorizationParams {
        AuthorizationParams::new(
            "http://127.0.0.1:8123/cb",
            ResourceUri::parse("https://mcp.example/mcp").unwrap(),
        )
        .with_scope("mcp:read mcp:write")
    }

    /// Fills the n-th draw with bytes of value n, so verifier and state are known.
    fn counter() -> impl FnMut(&mut [u8]) {
        let mut n = 0u8;
        move |buf: &mut [u8]| {
            n += 1;
            buf.fill(n);
        }
    }

    fn build_with(
        server: &AuthorizationServerMetadata,
        params: &AuthorizationParams,
    ) -> Result<(Url, PendingAuthorization)> {
        authorization_url(
            server,
            &client(),
            params,
            &mut counter(),
            &Policy::default(),
        )
    }

    fn code(server: &AuthorizationServerMetadata, params: &AuthorizationParams) -> &'static str {
        build_with(server, params).unwrap_err().code()
    }

    /// The record of a request built from `params()` for a server that does (or does not)
    /// advertise `iss` in responses.
    pub(crate) fn pending(iss_supported: bool) -> PendingAuthorization {
        let mut server = server();
        server.authorization_response_iss_parameter_supported = iss_supported;
        build_with(&server, &params()).unwrap().1
    }

    /// The record of a request to `server`, by a public client registered there, as the
    /// conformance suite's client sends it (`redirect_uri` `http://localhost:8976/callback`).
    pub(crate) fn pending_at(
        server: &AuthorizationServerMetadata,
        policy: &Policy,
    ) -> PendingAuthorization {
        let client = ClientCredentials::public(server.issuer.clone(), "test-client-id");
        let params = AuthorizationParams::new(
            "http://localhost:8976/callback",
            ResourceUri::parse("http://localhost:4001/mcp").unwrap(),
        );
        authorization_url(server, &client, &params, &mut counter(), policy)
            .unwrap()
            .1
    }

    // --- authorization request ---

    #[test]
    fn legacy_fallback_server_without_metadata_works_only_when_s256_is_assumed() {
        // Conformance auth/2025-03-26-oauth-endpoint-fallback: default endpoints, no metadata.
        let server = AuthorizationServerMetadata::with_default_endpoints("http://localhost:4000");
        let client = ClientCredentials::public("http://localhost:4000", "test-client-id");
        let strict = authorization_url(
            &server,
            &client,
            &params(),
            &mut counter(),
            &Policy::default(),
        );
        assert_eq!(strict.unwrap_err().code(), "PKCE_NOT_SUPPORTED");
        let legacy = Policy {
            dangerously_assume_pkce_s256: true,
            ..Policy::default()
        };
        let pending = pending_at(&server, &legacy);
        assert!(!pending.iss_parameter_supported);
        assert_eq!(
            pending.token_endpoint.as_str(),
            "http://localhost:4000/token"
        );
    }

    #[test]
    fn authorization_url_has_exactly_the_rfc_parameters_in_order() {
        let (url, _) = build_with(&server(), &params()).unwrap();
        let challenge = pkce::s256_challenge(VERIFIER);
        assert_eq!(challenge, "VtX6czP210fbQsI5QH5dpMMvTHnzXQkrE0_TWkAtnFw");
        assert_eq!(
            url.as_str(),
            format!(
                "https://as.example/authorize?response_type=code&client_id=client-1\
                 &redirect_uri=http%3A%2F%2F127.0.0.1%3A8123%2Fcb&scope=mcp%3Aread+mcp%3Awrite\
                 &state={STATE}&code_challenge={challenge}&code_challenge_method=S256\
                 &resource=https%3A%2F%2Fmcp.example%2Fmcp"
            )
        );
    }

    #[test]
    fn pending_records_what_the_exchange_and_the_iss_check_need() {
        let p = pending(true);
        assert_eq!(p.issuer, ISSUER);
        assert!(p.iss_parameter_supported);
        assert!(!pending(false).iss_parameter_supported);
        assert_eq!(p.token_endpoint.as_str(), "https://as.example/token");
        assert_eq!(p.client_id, "client-1");
        assert_eq!(p.redirect_uri, "http://127.0.0.1:8123/cb");
        assert_eq!(
            p.resource.as_ref().unwrap().as_str(),
            "https://mcp.example/mcp"
        );
        assert_eq!(p.scope.as_deref(), Some("mcp:read mcp:write"));
        assert_eq!(p.state.secret(), STATE);
        assert_eq!(p.verifier.secret(), VERIFIER);
    }

    #[test]
    fn existing_endpoint_query_is_kept_before_the_request_parameters() {
        let mut s = server();
        s.authorization_endpoint =
            Some(Url::parse("https://as.example/authorize?tenant=a%20b").unwrap());
        let (url, _) = build_with(&s, &params()).unwrap();
        assert!(
            url.query()
                .unwrap()
                .starts_with("tenant=a%20b&response_type=code&client_id="),
            "{url}"
        );
    }

    #[test]
    fn endpoint_query_with_a_request_parameter_is_refused() {
        let mut s = server();
        s.authorization_endpoint =
            Some(Url::parse("https://as.example/authorize?response_type=token").unwrap());
        let e = build_with(&s, &params()).unwrap_err();
        assert_eq!(e.code(), "INVALID_FIELD");
        assert!(e.to_string().contains("`response_type`"), "{e}");
    }

    #[test]
    fn scope_is_omitted_when_none_and_resource_only_when_dangerously_omitted() {
        let mut p = params();
        p.scope = None;
        let (url, pending) = build_with(&server(), &p).unwrap();
        assert!(!url.query_pairs().any(|(k, _)| k == "scope"));
        assert!(url.query_pairs().any(|(k, _)| k == "resource"));
        assert_eq!(pending.scope, None);
        let (url, pending) = build_with(&server(), &p.dangerously_omit_resource()).unwrap();
        assert!(!url.query_pairs().any(|(k, _)| k == "resource"));
        assert_eq!(pending.resource, None);
    }

    #[test]
    fn audience_is_sent_after_resource_only_when_set_and_kept_for_the_exchange() {
        let (url, pending) = build_with(&server(), &params()).unwrap();
        assert!(!url.query_pairs().any(|(k, _)| k == "audience"), "{url}");
        assert_eq!(pending.audience, None);
        let p = params()
            .with_audience("https://api.example")
            .with_extra_param("prompt", "consent");
        let (url, pending) = build_with(&server(), &p).unwrap();
        assert!(
            url.query().unwrap().ends_with(
                "&resource=https%3A%2F%2Fmcp.example%2Fmcp\
                 &audience=https%3A%2F%2Fapi.example&prompt=consent"
            ),
            "{url}"
        );
        assert_eq!(pending.audience.as_deref(), Some("https://api.example"));
    }

    #[test]
    fn an_audience_set_twice_is_refused() {
        let twice = params()
            .with_audience("a")
            .with_extra_param("audience", "b");
        let e = build_with(&server(), &twice).unwrap_err();
        assert_eq!(e.code(), "INVALID_PARAMETER");
        assert!(e.to_string().contains("more than once"), "{e}");
        let mut s = server();
        s.authorization_endpoint =
            Some(Url::parse("https://as.example/authorize?audience=a").unwrap());
        let e = build_with(&s, &params().with_audience("b")).unwrap_err();
        assert_eq!(e.code(), "INVALID_FIELD");
        assert!(e.to_string().contains("`audience`"), "{e}");
        // Without the option, an audience in the extras is an ordinary extra parameter.
        let (url, _) = build_with(&server(), &params().with_extra_param("audience", "c")).unwrap();
        assert!(url.query().unwrap().ends_with("&audience=c"), "{url}");
    }

    #[test]
    fn s256_support_is_required() {
        let mut s = server();
        s.code_challenge_methods_supported = None;
        assert_eq!(code(&s, &params()), "PKCE_NOT_SUPPORTED");
        s.code_challenge_methods_supported = Some(vec!["plain".into()]);
        assert_eq!(code(&s, &params()), "PKCE_NOT_SUPPORTED");
    }

    #[test]
    fn extra_params_are_appended_but_cannot_override_or_repeat() {
        let p = params()
            .with_extra_param("prompt", "consent")
            .with_extra_param("login_hint", "a@b");
        let (url, _) = build_with(&server(), &p).unwrap();
        assert!(
            url.query()
                .unwrap()
                .ends_with("&prompt=consent&login_hint=a%40b"),
            "{url}"
        );
        for name in RESERVED_PARAMETERS {
            let e = build_with(&server(), &params().with_extra_param(name, "x")).unwrap_err();
            assert_eq!(e.code(), "INVALID_PARAMETER", "{name}");
            assert!(e.to_string().contains("cannot be overridden"), "{e}");
        }
        let twice = params()
            .with_extra_param("prompt", "a")
            .with_extra_param("prompt", "b");
        assert_eq!(code(&server(), &twice), "INVALID_PARAMETER");
        let mut s = server();
        s.authorization_endpoint =
            Some(Url::parse("https://as.example/authorize?prompt=a").unwrap());
        let e = build_with(&s, &params().with_extra_param("prompt", "b")).unwrap_err();
        assert!(e.to_string().contains("more than once"), "{e}");
    }

    #[test]
    fn missing_or_insecure_endpoints_are_refused() {
        let mut s = server();
        s.authorization_endpoint = None;
        assert_eq!(code(&s, &params()), "MISSING_ENDPOINT");
        let mut s = server();
        s.token_endpoint = None;
        let e = build_with(&s, &params()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "authorization server `https://as.example` has no token_endpoint"
        );
        let mut s = server();
        s.authorization_endpoint = Some(Url::parse("http://as.example/authorize").unwrap());
        assert_eq!(code(&s, &params()), "INSECURE_URL");
        let mut s = server();
        s.authorization_endpoint = Some(Url::parse("https://as.example/authorize#x").unwrap());
        assert_eq!(code(&s, &params()), "INVALID_FIELD");
    }

    #[test]
    fn redirect_uri_must_be_https_or_loopback_and_is_sent_verbatim() {
        for ok in [
            "https://app.example/cb",
            "http://127.0.0.1:8123",
            "http://localhost:3000/cb",
            "http://[::1]:9/cb",
        ] {
            let mut p = params();
            p.redirect_uri = ok.into();
            let (url, pending) = build_with(&server(), &p).unwrap();
            let sent = url
                .query_pairs()
                .find(|(k, _)| k == "redirect_uri")
                .unwrap()
                .1;
            assert_eq!(sent, ok);
            assert_eq!(pending.redirect_uri, ok);
        }
        for (bad, want) in [
            ("http://app.example/cb", "INSECURE_URL"),
            ("com.example.app:/cb", "INSECURE_URL"),
            ("https://app.example/cb#frag", "INVALID_URL"),
            ("/cb", "INVALID_URL"),
        ] {
            let mut p = params();
            p.redirect_uri = bad.into();
            assert_eq!(code(&server(), &p), want, "{bad}");
        }
    }

    #[test]
    fn credentials_of_another_issuer_are_refused_before_anything_is_drawn() {
        let other = ClientCredentials::public("https://other.example", "client-1");
        let mut draws = 0;
        let mut entropy = |_: &mut [u8]| draws += 1;
        let e = authorization_url(
            &server(),
            &other,
            &params(),
            &mut entropy,
            &Policy::default(),
        )
        .unwrap_err();
        assert_eq!(e.code(), "CREDENTIALS_FOR_OTHER_ISSUER");
        assert_eq!(draws, 0);
    }

    #[test]
    fn entropy_failure_is_reported() {
        struct Broken;
        impl Entropy for Broken {
            fn fill(&mut self, _: &mut [u8]) -> Result<()> {
                Err(crate::Error::Entropy {
                    reason: "no source".into(),
                })
            }
        }
        let e = authorization_url(
            &server(),
            &client(),
            &params(),
            &mut Broken,
            &Policy::default(),
        )
        .unwrap_err();
        assert_eq!(e.code(), "ENTROPY_UNAVAILABLE");
    }

    #[test]
    fn pending_round_trips_through_serde_and_debug_hides_secrets() {
        let p = pending(true);
        let json = serde_json::to_string(&p).unwrap();
        let back: PendingAuthorization = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
        assert_eq!(back.state.secret(), STATE);
        assert_eq!(back.verifier.secret(), VERIFIER);
        assert!(back.iss_parameter_supported);
        let shown = format!("{back:?}");
        assert!(
            !shown.contains(STATE) && !shown.contains(VERIFIER),
            "{shown}"
        );
        assert!(shown.contains("State([redacted])"), "{shown}");
    }
}
