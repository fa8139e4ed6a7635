//! The client credentials grant (RFC 6749 §4.4; MCP's OAuth client credentials extension): a
//! client that acts for itself obtains a token with its own authentication alone, a secret
//! (`client_secret_basic`, `client_secret_post`) or a signed assertion (`private_key_jwt`,
//! RFC 7523 §2.2). There is no refresh token (§4.4.3): a new token is obtained the same way.
//!
//! [`TokenTarget`] is what every token request of a machine login asks for, here and in the
//! [`jwt_bearer`](crate::jwt_bearer) grant.

use url::Url;

use crate::client::ClientCredentials;
use crate::error::{Result, UsageError};
use crate::http::HttpRequest;
use crate::policy::{Policy, ResourceUri};

/// The `grant_type` of the client credentials grant.
pub const CLIENT_CREDENTIALS_GRANT_TYPE: &str = "client_credentials";

/// What a token request asks for: the scope, the resource (RFC 8707) and, for servers that
/// want one, an `audience`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenTarget {
    /// The scope, space-separated; `None` sends no `scope`.
    pub scope: Option<String>,
    /// The MCP server's resource identifier (MCP requires it); `None` only with the escape
    /// hatch for servers that reject it.
    pub resource: Option<ResourceUri>,
    /// An `audience` parameter (Auth0-style servers).
    pub audience: Option<String>,
}

impl TokenTarget {
    /// A target with this scope, resource and audience.
    #[must_use]
    pub fn new(
        scope: Option<String>,
        resource: Option<ResourceUri>,
        audience: Option<String>,
    ) -> Self {
        Self {
            scope,
            resource,
            audience,
        }
    }

    /// The form pairs it adds, in a fixed order: `scope`, `resource`, `audience`.
    pub(crate) fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("scope", self.scope.as_deref()),
            ("resource", self.resource.as_ref().map(ResourceUri::as_str)),
            ("audience", self.audience.as_deref()),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name, v)))
        .collect()
    }
}

/// The client credentials token request (RFC 6749 §4.4.2) to `token_endpoint`, authenticated
/// as `client` is registered.
///
/// # Errors
/// [`UsageError::NoClientIdentity`] for a client with neither a secret nor a key (a public
/// client cannot use this grant, RFC 6749 §4.4);
/// [`SecurityError::InsecureUrl`](crate::SecurityError::InsecureUrl) for a plain-http
/// endpoint off loopback.
pub fn client_credentials_grant_request(
    token_endpoint: Url,
    target: &TokenTarget,
    client: &ClientCredentials,
    policy: &Policy,
) -> Result<HttpRequest> {
    if !can_authenticate(client) {
        return Err(UsageError::NoClientIdentity {
            issuer: client.issuer.clone(),
        }
        .into());
    }
    policy.check_endpoint("token_endpoint", &token_endpoint)?;
    let mut form = vec![("grant_type", CLIENT_CREDENTIALS_GRANT_TYPE)];
    form.extend(target.pairs());
    let mut req = client.authenticated_post(token_endpoint, &form);
    req.max_response_bytes = policy.max_response_bytes;
    Ok(req)
}

/// Whether `client` can authenticate itself: a confidential client with a secret, or one with
/// a key for `private_key_jwt`.
#[must_use]
pub fn can_authenticate(client: &ClientCredentials) -> bool {
    use crate::client::TokenEndpointAuthMethod as M;
    match client.auth_method {
        M::ClientSecretBasic | M::ClientSecretPost => client.client_secret.is_some(),
        M::PrivateKeyJwt => client.key_alg.is_some(),
        M::None => false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use base64::Engine as _;

    use super::*;
    use crate::client::TokenEndpointAuthMethod;
    use crate::jws::{JwsAlg, SigningKey};
    use crate::secret::ClientSecret;

    const ISSUER: &str = "https://as.example";

    fn token_url() -> Url {
        Url::parse("https://as.example/token").unwrap()
    }

    fn target() -> TokenTarget {
        TokenTarget::new(
            Some("mcp:read mcp:write".into()),
            Some(ResourceUri::parse("https://mcp.example/mcp").unwrap()),
            Some("https://api.example".into()),
        )
    }

    fn form(req: &HttpRequest) -> BTreeMap<String, String> {
        url::form_urlencoded::parse(&req.body)
            .into_owned()
            .collect()
    }

    fn request(client: &ClientCredentials) -> HttpRequest {
        client_credentials_grant_request(token_url(), &target(), client, &Policy::default())
            .unwrap()
    }

    #[test]
    fn the_request_asks_for_scope_resource_and_audience() {
        let client = ClientCredentials::confidential(
            ISSUER,
            "svc",
            ClientSecret::new("s"),
            TokenEndpointAuthMethod::ClientSecretPost,
        );
        let req = request(&client);
        assert_eq!(
            String::from_utf8(req.body.clone()).unwrap(),
            "grant_type=client_credentials&scope=mcp%3Aread+mcp%3Awrite\
             &resource=https%3A%2F%2Fmcp.example%2Fmcp&audience=https%3A%2F%2Fapi.example\
             &client_id=svc&client_secret=s"
        );
        assert_eq!(req.max_response_bytes, Policy::default().max_response_bytes);
        let bare = client_credentials_grant_request(
            token_url(),
            &TokenTarget::default(),
            &client,
            &Policy::default(),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(bare.body).unwrap(),
            "grant_type=client_credentials&client_id=svc&client_secret=s"
        );
    }

    #[test]
    fn client_secret_basic_authenticates_in_the_header_only() {
        let client = ClientCredentials::confidential(
            ISSUER,
            "conformance-test-client",
            ClientSecret::new("conformance-test-secret"),
            TokenEndpointAuthMethod::ClientSecretBasic,
        );
        let req = request(&client);
        let expected = base64::engine::general_purpose::STANDARD
            .encode("conformance-test-client:conformance-test-secret");
        assert_eq!(
            req.header("authorization"),
            Some(format!("Basic {expected}").as_str())
        );
        let form = form(&req);
        assert!(!form.contains_key("client_secret"));
        assert!(!form.contains_key("client_id"));
        assert_eq!(form["grant_type"], "client_credentials");
    }

    #[test]
    fn private_key_jwt_carries_a_client_assertion_and_no_secret() {
        let mut client = ClientCredentials::public(ISSUER, "conformance-test-client");
        client.auth_method = TokenEndpointAuthMethod::PrivateKeyJwt;
        client.key_alg = Some(JwsAlg::ES256);
        let req = request(&client);
        let form = form(&req);
        assert_eq!(
            form["client_assertion_type"],
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        );
        assert_eq!(req.header("authorization"), None);
        assert!(!form.contains_key("client_secret"));
        assert_eq!(req.signatures.len(), 1);
        assert_eq!(req.signatures[0].key, SigningKey::Client);
        assert_eq!(req.signatures[0].claims["aud"], ISSUER);
    }

    #[test]
    fn a_client_without_a_secret_or_key_cannot_use_the_grant() {
        let public = ClientCredentials::public(ISSUER, "app");
        let err =
            client_credentials_grant_request(token_url(), &target(), &public, &Policy::default())
                .unwrap_err();
        assert_eq!(err.code(), "NO_CLIENT_IDENTITY");
        let mut keyless = public.clone();
        keyless.auth_method = TokenEndpointAuthMethod::PrivateKeyJwt;
        assert!(!can_authenticate(&keyless));
    }

    #[test]
    fn a_plain_http_token_endpoint_is_refused() {
        let client = ClientCredentials::confidential(
            ISSUER,
            "svc",
            ClientSecret::new("s"),
            TokenEndpointAuthMethod::ClientSecretBasic,
        );
        let err = client_credentials_grant_request(
            Url::parse("http://as.example/token").unwrap(),
            &target(),
            &client,
            &Policy::default(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "INSECURE_URL");
    }
}
