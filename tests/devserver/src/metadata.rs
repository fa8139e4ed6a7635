//! Discovery documents: RFC 9728 protected resource metadata and RFC 8414 AS metadata.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::faults::{Endpoint, Faults};
use crate::state::App;

/// Scopes the MCP endpoint knows.
pub(crate) const RESOURCE_SCOPES: [&str; 2] = ["mcp:read", "mcp:admin"];

/// Scopes the AS advertises. `openid`, `profile` and `email` are accepted too, unadvertised.
pub(crate) const AS_SCOPES: [&str; 3] = ["mcp:read", "mcp:admin", "offline_access"];

/// Every scope `/authorize` and `/device_authorization` accept.
pub(crate) fn known_scope(scope: &str) -> bool {
    AS_SCOPES.contains(&scope) || ["openid", "profile", "email"].contains(&scope)
}

/// The grant type URN of RFC 8628.
pub(crate) const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The grant type URN of RFC 8693.
pub(crate) const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// The grant type of RFC 6749 §4.4.
pub(crate) const CLIENT_CREDENTIALS_GRANT: &str = "client_credentials";

/// The grant type URN of RFC 7523 §2.1 (JWT assertions as authorization grants).
pub(crate) const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// What [`crate::Faults::wrong_issuer`] and [`crate::Faults::wrong_iss`] append to the issuer.
pub(crate) const WRONG_ISSUER_SUFFIX: &str = "/not-this-issuer";

/// `GET /.well-known/oauth-protected-resource/mcp` (RFC 9728 §3).
pub(crate) async fn protected_resource(State(app): State<App>) -> Response {
    app.record(|s| s.resource_metadata_fetches += 1);
    let resource = if app.faults().wrong_resource {
        format!("{}/other-mcp", app.urls.base)
    } else {
        app.urls.mcp.clone()
    };
    let faults = app.faults();
    let servers: Vec<String> = if faults.empty_authorization_servers {
        Vec::new()
    } else if faults.prm_issuer_trailing_slash {
        vec![format!("{}/", app.urls.issuer)]
    } else {
        vec![app.urls.issuer.clone()]
    };
    let document = Json(json!({
        "resource": resource,
        "authorization_servers": servers,
        "scopes_supported": RESOURCE_SCOPES,
        "bearer_methods_supported": ["header"],
        "resource_name": "mcpauth devserver",
    }));
    with_caching(&faults, document.into_response())
}

/// Where registration is served: `/register/v2` once [`Faults::registration_moved`].
pub(crate) fn registration_path(faults: &Faults) -> &'static str {
    if faults.registration_moved {
        "/register/v2"
    } else {
        "/register"
    }
}

/// Adds [`Faults::metadata_cache_control`] to a metadata response.
fn with_caching(faults: &Faults, mut response: Response) -> Response {
    let value = faults
        .metadata_cache_control
        .as_deref()
        .and_then(|v| axum::http::HeaderValue::from_str(v).ok());
    if let Some(value) = value {
        response
            .headers_mut()
            .insert(axum::http::header::CACHE_CONTROL, value);
    }
    response
}

/// The host [`Faults::cleartext_endpoints`] puts endpoints on (`.invalid` never resolves).
pub(crate) const CLEARTEXT_ORIGIN: &str = "http://mcpauth.invalid";

/// AS metadata (RFC 8414 §2), served under every well-known URL the issuer implies (or only
/// the one [`Faults::as_metadata_only_at`] names).
pub(crate) async fn authorization_server(State(app): State<App>, uri: Uri) -> Response {
    let faults = app.faults();
    if let Some(only) = &faults.as_metadata_only_at {
        if uri.path() != only {
            return StatusCode::NOT_FOUND.into_response();
        }
    }
    app.record(|s| s.metadata_fetches += 1);
    let iss = &app.urls.issuer;
    let issuer = if faults.wrong_issuer {
        format!("{iss}{WRONG_ISSUER_SUFFIX}")
    } else if faults.issuer_trailing_slash {
        format!("{iss}/")
    } else {
        iss.clone()
    };
    let at = |endpoint: Endpoint, path: &str| {
        if faults.cleartext_endpoints.contains(&endpoint) {
            format!("{CLEARTEXT_ORIGIN}{path}")
        } else {
            format!("{iss}{path}")
        }
    };
    let mut metadata = json!({
        "issuer": issuer,
        "authorization_endpoint": at(Endpoint::Authorize, "/authorize"),
        "token_endpoint": at(Endpoint::Token, "/token"),
        "registration_endpoint": at(Endpoint::Register, registration_path(&faults)),
        "revocation_endpoint": at(Endpoint::Revoke, "/revoke"),
        "device_authorization_endpoint": at(Endpoint::DeviceAuthorization, "/device_authorization"),
        "userinfo_endpoint": at(Endpoint::Userinfo, "/userinfo"),
        "scopes_supported": AS_SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": [
            "authorization_code", "refresh_token", DEVICE_CODE_GRANT, TOKEN_EXCHANGE_GRANT,
            CLIENT_CREDENTIALS_GRANT, JWT_BEARER_GRANT,
        ],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256"],
        "dpop_signing_alg_values_supported": ["ES256"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post", "private_key_jwt"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["none"],
    });
    pkce_methods(&faults, &mut metadata);
    with_caching(&faults, Json(metadata).into_response())
}

/// `code_challenge_methods_supported` as the faults have it: `["S256"]`, left out, or
/// `["plain"]`.
fn pkce_methods(faults: &Faults, metadata: &mut Value) {
    let Some(object) = metadata.as_object_mut() else {
        return;
    };
    if faults.omit_code_challenge_methods {
        object.remove("code_challenge_methods_supported");
    } else if faults.plain_code_challenge_only {
        object.insert("code_challenge_methods_supported".into(), json!(["plain"]));
    }
}
