//! The JWT bearer grant (RFC 7523 §2.1): a JWT issued by someone the authorization server
//! trusts is presented as the authorization grant. Two MCP extensions use it:
//!
//! - workload identity federation: the JWT is the workload's own identity token (a Kubernetes
//!   service account token, a cloud's workload token), read from a file or an environment
//!   variable each time, and the client is public (`client_id` in the body);
//! - enterprise-managed authorization: the JWT is an ID-JAG the enterprise IdP issued
//!   ([`id_jag`](crate::id_jag)), and the client authenticates as it is registered
//!   (`client_secret_basic` in the extension's examples).
//!
//! Its errors (`invalid_grant`, `invalid_scope`, `unauthorized_client`) end the attempt: the
//! same assertion would be refused again, and falling back to another grant type is not
//! what the extension allows.

use url::Url;

use crate::client::ClientCredentials;
use crate::client_credentials::TokenTarget;
use crate::error::Result;
use crate::http::HttpRequest;
use crate::policy::Policy;
use crate::secret::SecurityToken;

/// The `grant_type` of the JWT bearer grant (RFC 7523 §2.1).
pub const JWT_BEARER_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The JWT bearer token request (RFC 7523 §2.1) presenting `assertion`, authenticated as
/// `client` is registered (a public client sends its `client_id`).
///
/// # Errors
/// [`SecurityError::InsecureUrl`](crate::SecurityError::InsecureUrl) for a plain-http
/// endpoint off loopback.
pub fn jwt_bearer_grant_request(
    token_endpoint: Url,
    assertion: &SecurityToken,
    target: &TokenTarget,
    client: &ClientCredentials,
    policy: &Policy,
) -> Result<HttpRequest> {
    policy.check_endpoint("token_endpoint", &token_endpoint)?;
    let mut form = vec![
        ("grant_type", JWT_BEARER_GRANT_TYPE),
        ("assertion", assertion.secret()),
    ];
    form.extend(target.pairs());
    let mut req = client.authenticated_post(token_endpoint, &form);
    req.max_response_bytes = policy.max_response_bytes;
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::TokenEndpointAuthMethod;
    use crate::policy::ResourceUri;
    use crate::secret::ClientSecret;

    fn token_url() -> Url {
        Url::parse("https://as.example/token").unwrap()
    }

    fn target() -> TokenTarget {
        TokenTarget::new(
            Some("mcp:read".into()),
            Some(ResourceUri::parse("https://mcp.example/mcp").unwrap()),
            None,
        )
    }

    #[test]
    fn a_workload_presents_its_token_as_a_public_client() {
        let client = ClientCredentials::public("https://as.example", "conformance-wif-workload");
        let req = jwt_bearer_grant_request(
            token_url(),
            &SecurityToken::new("eyJ.workload.jwt"),
            &target(),
            &client,
            &Policy::default(),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(req.body.clone()).unwrap(),
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer\
             &assertion=eyJ.workload.jwt&scope=mcp%3Aread\
             &resource=https%3A%2F%2Fmcp.example%2Fmcp&client_id=conformance-wif-workload"
        );
        assert_eq!(req.header("authorization"), None);
    }

    #[test]
    fn a_confidential_client_authenticates_with_basic_and_sends_the_audience() {
        let client = ClientCredentials::confidential(
            "https://as.example",
            "xaa",
            ClientSecret::new("sec"),
            TokenEndpointAuthMethod::ClientSecretBasic,
        );
        let mut target = target();
        target.audience = Some("urn:api".into());
        let req = jwt_bearer_grant_request(
            token_url(),
            &SecurityToken::new("id-jag"),
            &target,
            &client,
            &Policy::default(),
        )
        .unwrap();
        assert!(req.header("authorization").unwrap().starts_with("Basic "));
        let form: std::collections::BTreeMap<String, String> =
            url::form_urlencoded::parse(&req.body)
                .into_owned()
                .collect();
        assert_eq!(form["assertion"], "id-jag");
        assert_eq!(form["audience"], "urn:api");
        assert!(!form.contains_key("client_id"));
    }

    #[test]
    fn the_assertion_never_shows_in_debug() {
        let client = ClientCredentials::public("https://as.example", "w");
        let req = jwt_bearer_grant_request(
            token_url(),
            &SecurityToken::new("SECRET-WORKLOAD"),
            &target(),
            &client,
            &Policy::default(),
        )
        .unwrap();
        assert!(!format!("{req:?}").contains("SECRET-WORKLOAD"));
    }
}
