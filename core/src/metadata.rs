//! The two metadata documents discovery produces, parsed once into typed values.
//!
//! Parsing checks types field by field and refuses non-HTTPS endpoints (except loopback) per
//! the [`Policy`]. Issuer and resource identity checks belong to the discovery steps, which
//! know which URL the document was fetched for.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::Result;
use crate::policy::Policy;
use crate::response::Json;

/// Authorization server metadata (RFC 8414 §2, OpenID Connect Discovery §3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(export, optional_fields = nullable)
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub struct AuthorizationServerMetadata {
    /// The issuer identifier, identical to the one the document was fetched for.
    pub issuer: String,
    /// Where the user agent is sent to authorize.
    pub authorization_endpoint: Option<Url>,
    /// Where codes and refresh tokens are exchanged.
    pub token_endpoint: Option<Url>,
    /// RFC 7591 dynamic client registration.
    pub registration_endpoint: Option<Url>,
    /// RFC 7009 token revocation.
    pub revocation_endpoint: Option<Url>,
    /// RFC 8628 device authorization.
    pub device_authorization_endpoint: Option<Url>,
    /// OpenID Connect userinfo, for display of who is logged in.
    pub userinfo_endpoint: Option<Url>,
    /// Scopes the server knows.
    pub scopes_supported: Option<Vec<String>>,
    /// `response_type` values.
    pub response_types_supported: Option<Vec<String>>,
    /// Grant types.
    pub grant_types_supported: Option<Vec<String>>,
    /// Client authentication methods at the token endpoint.
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// PKCE methods; the MCP spec refuses servers without `S256` here.
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// RFC 9207: the server puts `iss` in authorization responses.
    pub authorization_response_iss_parameter_supported: bool,
    /// The server accepts client ID metadata documents as `client_id`.
    pub client_id_metadata_document_supported: bool,
}

impl AuthorizationServerMetadata {
    /// Parses a document, checking field types and endpoint schemes.
    pub(crate) fn from_json(json: &Json, policy: &Policy) -> Result<Self> {
        let endpoint = |field: &'static str| -> Result<Option<Url>> {
            let url = json.url_field(field)?;
            if let Some(u) = &url {
                policy.check_endpoint(field, u)?;
            }
            Ok(url)
        };
        Ok(Self {
            issuer: json.req_str("issuer")?,
            authorization_endpoint: endpoint("authorization_endpoint")?,
            token_endpoint: endpoint("token_endpoint")?,
            registration_endpoint: endpoint("registration_endpoint")?,
            revocation_endpoint: endpoint("revocation_endpoint")?,
            device_authorization_endpoint: endpoint("device_authorization_endpoint")?,
            userinfo_endpoint: endpoint("userinfo_endpoint")?,
            scopes_supported: json.str_array("scopes_supported")?,
            response_types_supported: json.str_array("response_types_supported")?,
            grant_types_supported: json.str_array("grant_types_supported")?,
            token_endpoint_auth_methods_supported: json
                .str_array("token_endpoint_auth_methods_supported")?,
            code_challenge_methods_supported: json.str_array("code_challenge_methods_supported")?,
            authorization_response_iss_parameter_supported: json
                .bool("authorization_response_iss_parameter_supported")?
                .unwrap_or(false),
            client_id_metadata_document_supported: json
                .bool("client_id_metadata_document_supported")?
                .unwrap_or(false),
        })
    }

    /// Metadata with only an issuer and conventional endpoints, for building values by hand
    /// (manual configuration, the 2025-03-26 fallback, tests). Every endpoint is derived from
    /// `issuer`: `/authorize`, `/token`, `/register`.
    ///
    /// # Panics
    /// Never: an unparsable issuer leaves the endpoints empty.
    #[must_use]
    pub fn with_default_endpoints(issuer: &str) -> Self {
        let base = Url::parse(issuer).ok();
        let at = |path: &str| base.as_ref().and_then(|b| b.join(path).ok());
        Self {
            issuer: issuer.to_owned(),
            authorization_endpoint: at("/authorize"),
            token_endpoint: at("/token"),
            registration_endpoint: at("/register"),
            revocation_endpoint: None,
            device_authorization_endpoint: None,
            userinfo_endpoint: None,
            scopes_supported: None,
            response_types_supported: None,
            grant_types_supported: None,
            token_endpoint_auth_methods_supported: None,
            code_challenge_methods_supported: None,
            authorization_response_iss_parameter_supported: false,
            client_id_metadata_document_supported: false,
        }
    }

    /// Test metadata: default endpoints plus S256.
    #[doc(hidden)]
    #[must_use]
    pub fn for_tests(issuer: &str) -> Self {
        Self {
            code_challenge_methods_supported: Some(vec!["S256".into()]),
            ..Self::with_default_endpoints(issuer)
        }
    }

    /// Whether `scope` is listed in `scopes_supported`.
    #[must_use]
    pub fn supports_scope(&self, scope: &str) -> bool {
        self.scopes_supported
            .as_ref()
            .is_some_and(|s| s.iter().any(|x| x == scope))
    }
}

/// Protected resource metadata (RFC 9728 §2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(export, optional_fields = nullable)
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub struct ProtectedResourceMetadata {
    /// The resource identifier, as the document states it.
    pub resource: String,
    /// Issuers of authorization servers for this resource.
    pub authorization_servers: Vec<String>,
    /// Scopes the resource uses.
    pub scopes_supported: Option<Vec<String>>,
    /// How bearer tokens may be sent.
    pub bearer_methods_supported: Option<Vec<String>>,
    /// A display name.
    pub resource_name: Option<String>,
}

impl ProtectedResourceMetadata {
    /// Parses a document, checking field types.
    pub(crate) fn from_json(json: &Json) -> Result<Self> {
        Ok(Self {
            resource: json.req_str("resource")?,
            authorization_servers: json.str_array("authorization_servers")?.unwrap_or_default(),
            scopes_supported: json.str_array("scopes_supported")?,
            bearer_methods_supported: json.str_array("bearer_methods_supported")?,
            resource_name: json.str("resource_name")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str, policy: &Policy) -> Result<AuthorizationServerMetadata> {
        let url = Url::parse("https://as.example/.well-known/oauth-authorization-server").unwrap();
        AuthorizationServerMetadata::from_json(&Json::parse(&url, body.as_bytes())?, policy)
    }

    #[test]
    fn parses_rfc8414_example_fields() {
        let m = parse(
            r#"{"issuer":"https://as.example","authorization_endpoint":"https://as.example/authorize",
            "token_endpoint":"https://as.example/token","code_challenge_methods_supported":["S256"],
            "scopes_supported":["mcp","offline_access"],"authorization_response_iss_parameter_supported":true,
            "unknown_member":{"ignored":true}}"#,
            &Policy::default(),
        )
        .unwrap();
        assert_eq!(m.issuer, "https://as.example");
        assert_eq!(
            m.token_endpoint.unwrap().as_str(),
            "https://as.example/token"
        );
        assert!(m.authorization_response_iss_parameter_supported);
        assert!(!m.client_id_metadata_document_supported);
        assert!(m.code_challenge_methods_supported.is_some());
    }

    #[test]
    fn refuses_plain_http_endpoint_on_public_host() {
        let err = parse(
            r#"{"issuer":"https://as.example","token_endpoint":"http://as.example/token"}"#,
            &Policy::default(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "INSECURE_URL");
        assert!(err.to_string().contains("token_endpoint"), "{err}");
    }

    #[test]
    fn wrong_types_name_the_field() {
        let err = parse(
            r#"{"issuer":"https://as.example","scopes_supported":"a b"}"#,
            &Policy::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("`scopes_supported` must be an array"),
            "{err}"
        );
        let err = parse(
            r#"{"token_endpoint":"https://as.example/token"}"#,
            &Policy::default(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "MISSING_FIELD");
    }

    #[test]
    fn default_endpoints_hang_off_the_issuer_origin() {
        let m = AuthorizationServerMetadata::with_default_endpoints("https://mcp.example/sub");
        assert_eq!(
            m.authorization_endpoint.unwrap().as_str(),
            "https://mcp.example/authorize"
        );
        assert_eq!(
            m.registration_endpoint.unwrap().as_str(),
            "https://mcp.example/register"
        );
    }

    #[test]
    fn resource_metadata_requires_resource() {
        let url = Url::parse("https://mcp.example/.well-known/oauth-protected-resource").unwrap();
        let json =
            Json::parse(&url, br#"{"authorization_servers":["https://as.example"]}"#).unwrap();
        assert_eq!(
            ProtectedResourceMetadata::from_json(&json)
                .unwrap_err()
                .code(),
            "MISSING_FIELD"
        );
        let json = Json::parse(&url, br#"{"resource":"https://mcp.example","authorization_servers":["https://as.example"],"scopes_supported":["a"]}"#).unwrap();
        let prm = ProtectedResourceMetadata::from_json(&json).unwrap();
        assert_eq!(prm.authorization_servers, ["https://as.example"]);
    }
}
