//! Canned documents and URLs for the discovery tests, shaped like the MCP conformance mocks.

use crate::http::HttpResponse;

/// The MCP server of most tests.
pub(super) const MCP: &str = "https://mcp.example.com/mcp";
/// Its origin, as a root issuer string (no trailing slash).
pub(super) const MCP_ORIGIN: &str = "https://mcp.example.com";
/// Its path-inserted PRM URL.
pub(super) const PRM_PATH: &str =
    "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";
/// Its root PRM URL.
pub(super) const PRM_ROOT: &str = "https://mcp.example.com/.well-known/oauth-protected-resource";
/// A custom PRM location, as a challenge would give it.
pub(super) const PRM_CUSTOM: &str = "https://mcp.example.com/custom/metadata/location.json";
/// The RFC 8414 URL of the origin as a root issuer: the speculative request.
pub(super) const ORIGIN_RFC8414: &str =
    "https://mcp.example.com/.well-known/oauth-authorization-server";
/// The OpenID URL of the origin.
pub(super) const ORIGIN_OIDC: &str = "https://mcp.example.com/.well-known/openid-configuration";

/// A separate authorization server.
pub(super) const AS: &str = "https://auth.example.com";
/// Its RFC 8414 URL.
pub(super) const AS_RFC8414: &str =
    "https://auth.example.com/.well-known/oauth-authorization-server";
/// Its OpenID URL.
pub(super) const AS_OIDC: &str = "https://auth.example.com/.well-known/openid-configuration";

/// A path issuer on the separate server.
pub(super) const TENANT: &str = "https://auth.example.com/tenant1";
/// Its metadata URLs, in the MCP order.
pub(super) const TENANT_URLS: [&str; 3] = [
    "https://auth.example.com/.well-known/oauth-authorization-server/tenant1",
    "https://auth.example.com/.well-known/openid-configuration/tenant1",
    "https://auth.example.com/tenant1/.well-known/openid-configuration",
];

/// A protected resource metadata document.
pub(super) fn prm(resource: &str, issuers: &[&str]) -> HttpResponse {
    let body = serde_json::json!({
        "resource": resource,
        "authorization_servers": issuers,
        "scopes_supported": ["mcp:basic"],
    });
    HttpResponse::json(200, body.to_string())
}

/// Authorization server metadata for `issuer`, endpoints under it, PKCE S256.
pub(super) fn as_metadata(issuer: &str) -> HttpResponse {
    let base = issuer.trim_end_matches('/');
    let body = serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "registration_endpoint": format!("{base}/register"),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
    });
    HttpResponse::json(200, body.to_string())
}

/// Like [`as_metadata`], with endpoints under `/oauth` (the 2025-03-26 backcompat mock) and
/// `code_challenge_methods_supported` as given (`None` omits it).
pub(super) fn legacy_as_metadata(issuer: &str, pkce: Option<&[&str]>) -> HttpResponse {
    let base = issuer.trim_end_matches('/');
    let mut body = serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{base}/oauth/authorize"),
        "token_endpoint": format!("{base}/oauth/token"),
        "registration_endpoint": format!("{base}/oauth/register"),
    });
    if let (Some(methods), Some(map)) = (pkce, body.as_object_mut()) {
        map.insert("code_challenge_methods_supported".into(), methods.into());
    }
    HttpResponse::json(200, body.to_string())
}

/// Express's plain 404.
pub(super) fn not_found() -> HttpResponse {
    HttpResponse::new(
        404,
        vec![("content-type".into(), "text/html; charset=utf-8".into())],
        "<pre>Cannot GET</pre>",
    )
}

/// A 500 without an OAuth body.
pub(super) fn server_error() -> HttpResponse {
    HttpResponse::new(500, vec![], "internal error")
}
