//! The first-login recipe every driver follows after discovery: which scope to request
//! (including step-up), which `resource` to send, and the authorization request itself.
//!
//! Drivers call [`login_scope`] and [`start_authorization`] instead of combining
//! [`scope`](crate::scope) and [`authorize`](crate::authorize) themselves, so the rules live
//! here once.

use url::Url;

use crate::authorize::{AuthorizationParams, PendingAuthorization, authorization_url};
use crate::client::ClientCredentials;
use crate::discovery::Discovered;
use crate::entropy::Entropy;
use crate::error::Result;
use crate::policy::{Policy, ResourceUri};
use crate::scope::{select_scope, union_scopes};

/// What the caller knows when a login starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoginOptions {
    /// A scope the user asked for explicitly (`--scope`); it replaces the selection rules.
    pub scope: Option<String>,
    /// The `scope` of the 401 or 403 challenge that started this login, if any.
    pub challenge_scope: Option<String>,
    /// Scopes requested or granted before, for step-up after `403 insufficient_scope`: the
    /// new request is their union with the challenge's (MCP SEP-2350).
    pub previous_scope: Option<String>,
    /// Extra authorization parameters (`prompt`, `login_hint`, ...). Reserved names are
    /// refused.
    pub extra_params: Vec<(String, String)>,
    /// The `audience` the tokens are for (Auth0 and other servers that take one): sent with
    /// the authorization request, the code exchange and the device authorization request.
    pub audience: Option<String>,
    /// Leaves out the RFC 8707 `resource` parameter.
    ///
    /// # Security
    /// The MCP spec requires `resource`; it binds the token to this server. Only for
    /// authorization servers that reject it (Microsoft Entra ID does).
    pub dangerously_omit_resource: bool,
}

/// The scope to request: the explicit one (`""`: none at all), else the selection rules of the MCP spec
/// ([`select_scope`]); for a step-up, the union with what was requested before.
#[must_use]
pub fn login_scope(discovered: &Discovered, options: &LoginOptions) -> Option<String> {
    if let Some(explicit) = &options.scope {
        // An explicit empty scope means "send none", not `scope=`.
        return (!explicit.trim().is_empty()).then(|| explicit.clone());
    }
    let prm_scopes = discovered
        .resource_metadata
        .as_ref()
        .and_then(|prm| prm.scopes_supported.as_deref());
    let selected = select_scope(
        options.challenge_scope.as_deref(),
        prm_scopes,
        &discovered.metadata,
    );
    match (&options.previous_scope, selected) {
        (Some(previous), Some(selected)) => Some(union_scopes(previous, &selected)),
        (Some(previous), None) => Some(previous.clone()),
        (None, selected) => selected,
    }
}

/// The `resource` to send (RFC 8707), or `None` with the escape hatch.
#[must_use]
pub fn login_resource(discovered: &Discovered, options: &LoginOptions) -> Option<ResourceUri> {
    (!options.dangerously_omit_resource).then(|| discovered.resource.clone())
}

/// Builds the authorization URL for a discovered server and a client identity, with
/// [`login_scope`], [`login_resource`] and the `audience` of the options. Store the [`PendingAuthorization`] until the
/// user agent comes back.
///
/// # Errors
/// As [`authorization_url`]: PKCE S256 not advertised, credentials of another issuer, an
/// insecure or missing endpoint, a bad redirect URI or extra parameter.
pub fn start_authorization(
    discovered: &Discovered,
    client: &ClientCredentials,
    redirect_uri: &str,
    options: &LoginOptions,
    entropy: &mut dyn Entropy,
    policy: &Policy,
) -> Result<(Url, PendingAuthorization)> {
    let mut params = AuthorizationParams::new(redirect_uri, discovered.resource.clone());
    if login_resource(discovered, options).is_none() {
        params = params.dangerously_omit_resource();
    }
    if let Some(scope) = login_scope(discovered, options) {
        params = params.with_scope(scope);
    }
    for (name, value) in &options.extra_params {
        params = params.with_extra_param(name.clone(), value.clone());
    }
    if let Some(audience) = &options.audience {
        params = params.with_audience(audience.clone());
    }
    authorization_url(&discovered.metadata, client, &params, entropy, policy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::Discovery;
    use crate::http::HttpResponse;

    /// Discovery of `https://mcp.example/mcp` answered from fixtures.
    fn discovered(prm_scopes: &str, as_scopes: &str) -> Discovered {
        let mut d = Discovery::new("https://mcp.example/mcp", None, Policy::default()).unwrap();
        let prm = format!(
            r#"{{"resource":"https://mcp.example/mcp","authorization_servers":["https://as.example"],"scopes_supported":{prm_scopes}}}"#
        );
        let meta = format!(
            r#"{{"issuer":"https://as.example","authorization_endpoint":"https://as.example/authorize",
            "token_endpoint":"https://as.example/token","code_challenge_methods_supported":["S256"],"scopes_supported":{as_scopes}}}"#
        );
        for _ in 0..8 {
            while let Some((id, req)) = d.poll_transmit() {
                let body = match req.url.path() {
                    "/.well-known/oauth-protected-resource/mcp" => prm.clone(),
                    "/.well-known/oauth-authorization-server"
                        if req.url.host_str() == Some("as.example") =>
                    {
                        meta.clone()
                    }
                    _ => String::new(),
                };
                let status = if body.is_empty() { 404 } else { 200 };
                d.handle_response(id, HttpResponse::json(status, body));
            }
            if let Some(result) = d.poll_result() {
                return result.unwrap();
            }
        }
        panic!("discovery did not finish");
    }

    #[test]
    fn scope_priority_explicit_then_challenge_then_resource() {
        let d = discovered(r#"["mcp:read","mcp:write"]"#, r#"["mcp:read"]"#);
        let mut o = LoginOptions::default();
        assert_eq!(login_scope(&d, &o).as_deref(), Some("mcp:read mcp:write"));
        o.challenge_scope = Some("mcp:admin".into());
        assert_eq!(login_scope(&d, &o).as_deref(), Some("mcp:admin"));
        o.scope = Some("x".into());
        assert_eq!(login_scope(&d, &o).as_deref(), Some("x"));
    }

    #[test]
    fn step_up_requests_the_union_and_offline_access_only_when_listed() {
        let d = discovered(
            r#"["mcp:read"]"#,
            r#"["mcp:read","mcp:write","offline_access"]"#,
        );
        let o = LoginOptions {
            challenge_scope: Some("mcp:write".into()),
            previous_scope: Some("mcp:read offline_access".into()),
            ..LoginOptions::default()
        };
        assert_eq!(
            login_scope(&d, &o).as_deref(),
            Some("mcp:read offline_access mcp:write")
        );
        let without = discovered(r#"["mcp:read"]"#, r#"["mcp:read"]"#);
        assert_eq!(
            login_scope(&without, &LoginOptions::default()).as_deref(),
            Some("mcp:read")
        );
    }

    #[test]
    fn authorization_carries_resource_unless_omitted() {
        let d = discovered("null", "null");
        let client = ClientCredentials::public("https://as.example", "cid");
        let mut zero = |b: &mut [u8]| b.fill(7);
        let (url, pending) = start_authorization(
            &d,
            &client,
            "http://127.0.0.1:9/cb",
            &LoginOptions::default(),
            &mut zero,
            &Policy::default(),
        )
        .unwrap();
        assert!(
            url.query()
                .unwrap()
                .contains("resource=https%3A%2F%2Fmcp.example%2Fmcp"),
            "{url}"
        );
        assert!(
            !url.query().unwrap().contains("scope="),
            "no scope anywhere means none is sent: {url}"
        );
        assert_eq!(
            pending.resource.as_ref().map(ResourceUri::as_str),
            Some("https://mcp.example/mcp")
        );

        let omit = LoginOptions {
            dangerously_omit_resource: true,
            ..LoginOptions::default()
        };
        let (url, pending) = start_authorization(
            &d,
            &client,
            "http://127.0.0.1:9/cb",
            &omit,
            &mut zero,
            &Policy::default(),
        )
        .unwrap();
        assert!(!url.query().unwrap().contains("resource="), "{url}");
        assert!(pending.resource.is_none());
    }
}
