//! The enterprise IdP's half of enterprise-managed authorization (MCP extension, following
//! draft-ietf-oauth-identity-assertion-authz-grant): a token exchange (RFC 8693) of the
//! user's ID token for an Identity Assertion JWT Authorization Grant (ID-JAG), which the
//! [`jwt_bearer`](crate::jwt_bearer) grant then presents to the MCP server's authorization
//! server.
//!
//! The request and response are RFC 8693's ([`exchange`](crate::exchange)); this module fixes
//! the token types and checks that what came back is an ID-JAG.

use url::Url;

use crate::client::{ClientCredentials, TokenEndpointAuthMethod};
use crate::error::{ProtocolError, Result};
use crate::exchange::{
    TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_NOT_APPLICABLE, TokenExchangeParams,
    process_token_exchange_response, token_exchange_request,
};
use crate::http::{HttpRequest, HttpResponse};
use crate::policy::{Policy, ResourceUri};
use crate::secret::{ClientSecret, SecurityToken};
use crate::time::Time;

/// Token type: an Identity Assertion JWT Authorization Grant.
pub const TOKEN_TYPE_ID_JAG: &str = "urn:ietf:params:oauth:token-type:id-jag";

/// What the ID-JAG is requested for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IdJagTarget {
    /// The issuer identifier of the MCP server's authorization server: the ID-JAG's `aud`.
    pub audience: String,
    /// The MCP server's resource identifier (RFC 8707).
    pub resource: Option<ResourceUri>,
    /// The scope wanted at the MCP server, space-separated.
    pub scope: Option<String>,
}

impl IdJagTarget {
    /// An ID-JAG for the authorization server `audience`, the `resource` and `scope`.
    #[must_use]
    pub fn new(
        audience: impl Into<String>,
        resource: Option<ResourceUri>,
        scope: Option<String>,
    ) -> Self {
        Self {
            audience: audience.into(),
            resource,
            scope,
        }
    }
}

/// This client at the enterprise IdP: `client_secret_basic` with a secret, else a public
/// client sending its `client_id`.
#[must_use]
pub fn idp_client(
    token_endpoint: &str,
    client_id: &str,
    secret: Option<&ClientSecret>,
) -> ClientCredentials {
    match secret {
        Some(secret) => ClientCredentials::confidential(
            token_endpoint,
            client_id,
            secret.clone(),
            TokenEndpointAuthMethod::ClientSecretBasic,
        ),
        None => ClientCredentials::public(token_endpoint, client_id),
    }
}

/// The token exchange at the IdP's `token_endpoint` (RFC 8693 §2.1): the `id_token` as
/// `subject_token` of type `id_token`, asking for an ID-JAG (`requested_token_type`) for the
/// authorization server `audience` and the `resource`, with `scope` if any.
///
/// # Errors
/// [`SecurityError::InsecureUrl`](crate::SecurityError::InsecureUrl) for a plain-http
/// endpoint off loopback.
pub fn id_jag_request(
    token_endpoint: Url,
    id_token: &SecurityToken,
    target: &IdJagTarget,
    idp_client: &ClientCredentials,
    policy: &Policy,
) -> Result<HttpRequest> {
    let mut params = TokenExchangeParams::new(id_token.clone(), TOKEN_TYPE_ID_TOKEN);
    params.requested_token_type = Some(TOKEN_TYPE_ID_JAG.into());
    params.audience = Some(target.audience.clone());
    params.resource.clone_from(&target.resource);
    params.scope.clone_from(&target.scope);
    token_exchange_request(token_endpoint, &params, idp_client, policy)
}

/// Validates the IdP's answer (RFC 8693 §2.2) and returns the ID-JAG: `issued_token_type`
/// must be [`TOKEN_TYPE_ID_JAG`] and `token_type` `N_A` (the ID-JAG is a grant, not an access
/// token); the ID-JAG is in `access_token`, as RFC 8693 names it for every type.
///
/// # Errors
/// [`OAuthError`](crate::OAuthError) for an error body; [`ProtocolError::InvalidField`]
/// naming `issued_token_type` or `token_type` when they are not the ID-JAG's; as
/// [`process_token_exchange_response`].
pub fn process_id_jag_response(
    now: Time,
    url: &Url,
    resp: &HttpResponse,
    policy: &Policy,
) -> Result<SecurityToken> {
    let exchanged = process_token_exchange_response(now, url, resp, policy)?;
    let invalid = |field: &'static str, reason: String| -> crate::Error {
        ProtocolError::InvalidField {
            url: url.to_string(),
            field,
            reason,
        }
        .into()
    };
    if exchanged.issued_token_type != TOKEN_TYPE_ID_JAG {
        return Err(invalid(
            "issued_token_type",
            format!(
                "is `{}`, not an ID-JAG (`{TOKEN_TYPE_ID_JAG}`)",
                exchanged.issued_token_type
            ),
        ));
    }
    if exchanged.tokens.token_type != TOKEN_TYPE_NOT_APPLICABLE {
        return Err(invalid(
            "token_type",
            format!(
                "is `{}`; an ID-JAG is not an access token (`N_A`)",
                exchanged.tokens.token_type
            ),
        ));
    }
    Ok(SecurityToken::new(exchanged.tokens.access_token.secret()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn idp_url() -> Url {
        Url::parse("https://idp.example/token").unwrap()
    }

    fn target() -> IdJagTarget {
        IdJagTarget::new(
            "https://as.example",
            Some(ResourceUri::parse("https://mcp.example/mcp").unwrap()),
            Some("mcp:read".into()),
        )
    }

    fn parse(body: &str) -> Result<SecurityToken> {
        process_id_jag_response(
            Time::from_unix_secs(1),
            &idp_url(),
            &HttpResponse::json(200, body),
            &Policy::default(),
        )
    }

    #[test]
    fn the_exchange_asks_for_an_id_jag_for_the_authorization_server_and_resource() {
        let secret = ClientSecret::new("idp-secret");
        let client = idp_client(idp_url().as_str(), "idp-client", Some(&secret));
        let req = id_jag_request(
            idp_url(),
            &SecurityToken::new("eyJ.id.token"),
            &target(),
            &client,
            &Policy::default(),
        )
        .unwrap();
        let form: BTreeMap<String, String> = url::form_urlencoded::parse(&req.body)
            .into_owned()
            .collect();
        let expected: BTreeMap<String, String> = [
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            (
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:id-jag",
            ),
            ("subject_token", "eyJ.id.token"),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:id_token",
            ),
            ("audience", "https://as.example"),
            ("resource", "https://mcp.example/mcp"),
            ("scope", "mcp:read"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(form, expected);
        assert!(req.header("authorization").unwrap().starts_with("Basic "));

        let public = idp_client(idp_url().as_str(), "idp-client", None);
        let req = id_jag_request(
            idp_url(),
            &SecurityToken::new("t"),
            &target(),
            &public,
            &Policy::default(),
        )
        .unwrap();
        assert!(
            String::from_utf8(req.body)
                .unwrap()
                .ends_with("&client_id=idp-client")
        );
    }

    #[test]
    fn the_answer_must_be_an_id_jag_that_is_not_an_access_token() {
        let jag = parse(
            r#"{"access_token":"eyJ.jag","issued_token_type":"urn:ietf:params:oauth:token-type:id-jag","token_type":"N_A"}"#,
        )
        .unwrap();
        assert_eq!(jag.secret(), "eyJ.jag");

        let err = parse(
            r#"{"access_token":"at","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"N_A"}"#,
        )
        .unwrap_err();
        assert!(
            matches!(
                &err,
                crate::Error::Protocol(ProtocolError::InvalidField {
                    field: "issued_token_type",
                    ..
                })
            ),
            "{err}"
        );
        let err = parse(
            r#"{"access_token":"at","issued_token_type":"urn:ietf:params:oauth:token-type:id-jag","token_type":"Bearer"}"#,
        )
        .unwrap_err();
        assert!(
            matches!(
                &err,
                crate::Error::Protocol(ProtocolError::InvalidField {
                    field: "token_type",
                    ..
                })
            ),
            "{err}"
        );
        let refused = process_id_jag_response(
            Time::from_unix_secs(1),
            &idp_url(),
            &HttpResponse::json(400, r#"{"error":"invalid_grant"}"#),
            &Policy::default(),
        )
        .unwrap_err();
        assert_eq!(refused.oauth().unwrap().error, "invalid_grant");
    }
}
