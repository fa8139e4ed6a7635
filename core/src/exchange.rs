//! OAuth 2.0 Token Exchange (RFC 8693 §2): trade a security token for another one at a token
//! endpoint, for example an IdP's ID token for an authorization grant usable at an MCP server's
//! authorization server (MCP enterprise-managed authorization).

use serde::{Deserialize, Serialize};
use url::Url;

use crate::client::ClientCredentials;
use crate::error::{ProtocolError, Result};
use crate::http::{HttpRequest, HttpResponse};
use crate::policy::{Policy, ResourceUri};
use crate::response::success_json_or_form;
use crate::secret::{AccessToken, SecurityToken};
use crate::time::Time;
use crate::token::{TokenSet, parse_token_set_also_accepting};

/// The `grant_type` of a token exchange request (RFC 8693 §2.1).
pub const TOKEN_EXCHANGE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// Token type: an OAuth 2.0 access token (RFC 8693 §3).
pub const TOKEN_TYPE_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
/// Token type: an OAuth 2.0 refresh token (RFC 8693 §3).
pub const TOKEN_TYPE_REFRESH_TOKEN: &str = "urn:ietf:params:oauth:token-type:refresh_token";
/// Token type: an OpenID Connect ID token (RFC 8693 §3).
pub const TOKEN_TYPE_ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
/// Token type: a base64url-encoded SAML 1.1 assertion (RFC 8693 §3).
pub const TOKEN_TYPE_SAML1: &str = "urn:ietf:params:oauth:token-type:saml1";
/// Token type: a base64url-encoded SAML 2.0 assertion (RFC 8693 §3).
pub const TOKEN_TYPE_SAML2: &str = "urn:ietf:params:oauth:token-type:saml2";
/// Token type: a JWT (RFC 8693 §3, RFC 7519 §9).
pub const TOKEN_TYPE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

/// The `token_type` of an exchange response whose token is not an access token
/// (RFC 8693 §2.2.1).
pub const TOKEN_TYPE_NOT_APPLICABLE: &str = "N_A";

/// An actor token: who acts on behalf of the subject (delegation, RFC 8693 §1.1, §2.1).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ActorToken {
    /// The token representing the acting party.
    pub token: SecurityToken,
    /// Its type, one of the `TOKEN_TYPE_*` identifiers or another URI.
    pub token_type: String,
}

impl ActorToken {
    /// An actor token of type `token_type`.
    #[must_use]
    pub fn new(token: SecurityToken, token_type: impl Into<String>) -> Self {
        Self {
            token,
            token_type: token_type.into(),
        }
    }
}

/// The parameters of a token exchange request (RFC 8693 §2.1).
///
/// Start from [`new`](Self::new) or [`from_access_token`](Self::from_access_token) and set the
/// optional fields:
///
/// ```
/// use mcpauth_core::exchange::{TokenExchangeParams, TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_JWT};
/// use mcpauth_core::SecurityToken;
///
/// let mut params = TokenExchangeParams::new(SecurityToken::new("eyJ..."), TOKEN_TYPE_ID_TOKEN);
/// params.requested_token_type = Some(TOKEN_TYPE_JWT.into());
/// params.audience = Some("https://as.example".into());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenExchangeParams {
    /// The token representing the party on whose behalf the request is made.
    pub subject_token: SecurityToken,
    /// Its type, one of the `TOKEN_TYPE_*` identifiers or another URI.
    pub subject_token_type: String,
    /// The acting party, for delegation; `actor_token_type` is sent with it.
    pub actor: Option<ActorToken>,
    /// The type of token wanted; the server picks when absent.
    pub requested_token_type: Option<String>,
    /// Where the token will be used (RFC 8707), in canonical form.
    pub resource: Option<ResourceUri>,
    /// The logical name of the target service, when it is not a URI.
    pub audience: Option<String>,
    /// The scope wanted, space-separated.
    pub scope: Option<String>,
}

impl TokenExchangeParams {
    /// Exchanges `subject_token` of type `subject_token_type`; nothing optional is set.
    #[must_use]
    pub fn new(subject_token: SecurityToken, subject_token_type: impl Into<String>) -> Self {
        Self {
            subject_token,
            subject_token_type: subject_token_type.into(),
            actor: None,
            requested_token_type: None,
            resource: None,
            audience: None,
            scope: None,
        }
    }

    /// Exchanges an OAuth access token ([`TOKEN_TYPE_ACCESS_TOKEN`]).
    #[must_use]
    pub fn from_access_token(token: &AccessToken) -> Self {
        Self::new(SecurityToken::new(token.secret()), TOKEN_TYPE_ACCESS_TOKEN)
    }
}

/// The result of a token exchange (RFC 8693 §2.2.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[non_exhaustive]
pub struct ExchangedToken {
    /// The issued token, in `tokens.access_token` whatever its type (the RFC keeps the member
    /// name `access_token` for every type). `tokens.token_type` is `Bearer`, or `N_A` when the
    /// issued token is not an access token.
    pub tokens: TokenSet,
    /// The type of the issued token, such as [`TOKEN_TYPE_ACCESS_TOKEN`] or [`TOKEN_TYPE_JWT`].
    pub issued_token_type: String,
}

impl ExchangedToken {
    /// Whether the issued token is usable as a bearer access token (its `token_type` is not
    /// `N_A`).
    #[must_use]
    pub fn is_bearer(&self) -> bool {
        self.tokens.token_type == "Bearer"
    }
}

/// Builds a token exchange request (RFC 8693 §2.1) to `token_endpoint`, authenticating
/// `client` as at any token endpoint.
///
/// The endpoint may belong to another server than the MCP server's authorization server (an
/// enterprise IdP, say); `client` must be the credentials registered there.
///
/// # Errors
/// [`SecurityError::InsecureUrl`](crate::SecurityError::InsecureUrl) for a plain-http
/// endpoint.
pub fn token_exchange_request(
    token_endpoint: Url,
    params: &TokenExchangeParams,
    client: &ClientCredentials,
    policy: &Policy,
) -> Result<HttpRequest> {
    policy.check_endpoint("token_endpoint", &token_endpoint)?;
    let mut form = vec![("grant_type", TOKEN_EXCHANGE_GRANT_TYPE)];
    let optional = [
        (
            "resource",
            params.resource.as_ref().map(ResourceUri::as_str),
        ),
        ("audience", params.audience.as_deref()),
        ("scope", params.scope.as_deref()),
        (
            "requested_token_type",
            params.requested_token_type.as_deref(),
        ),
    ];
    form.extend(
        optional
            .into_iter()
            .filter_map(|(name, value)| value.map(|v| (name, v))),
    );
    form.push(("subject_token", params.subject_token.secret()));
    form.push(("subject_token_type", &params.subject_token_type));
    if let Some(actor) = &params.actor {
        form.push(("actor_token", actor.token.secret()));
        form.push(("actor_token_type", &actor.token_type));
    }
    let mut req = client.authenticated_post(token_endpoint, &form);
    req.max_response_bytes = policy.max_response_bytes;
    Ok(req)
}

/// Validates a token exchange response (RFC 8693 §2.2).
///
/// `now` is when the response arrived; `expires_at` is computed from it. `token_type` may be
/// `Bearer` or `N_A`; `issued_token_type` is required. A form-encoded body is read as a token
/// response's is (see [`process_token_response`](crate::token::process_token_response)).
///
/// # Errors
/// [`OAuthError`](crate::OAuthError) for an error body (§2.2.2: `invalid_request`,
/// `invalid_target`, ...); [`ProtocolError::MissingField`] or [`ProtocolError::InvalidField`]
/// naming the field, including a token type other than `Bearer` or `N_A`.
pub fn process_token_exchange_response(
    now: Time,
    url: &Url,
    resp: &HttpResponse,
    policy: &Policy,
) -> Result<ExchangedToken> {
    let json = success_json_or_form(url, resp, policy.max_response_bytes)?;
    let issued_token_type = json.req_str("issued_token_type")?;
    if issued_token_type.is_empty() {
        return Err(ProtocolError::InvalidField {
            url: json.url().to_owned(),
            field: "issued_token_type",
            reason: "must not be empty".into(),
        }
        .into());
    }
    let tokens = parse_token_set_also_accepting(now, &json, Some(TOKEN_TYPE_NOT_APPLICABLE))?;
    Ok(ExchangedToken {
        tokens,
        issued_token_type,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;
    use crate::client::TokenEndpointAuthMethod;
    use crate::secret::ClientSecret;

    fn token_url() -> Url {
        Url::parse("https://as.example.com/as/token.oauth2").unwrap()
    }

    fn form(req: &HttpRequest) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&req.body)
            .into_owned()
            .collect()
    }

    fn form_map(req: &HttpRequest) -> BTreeMap<String, String> {
        form(req).into_iter().collect()
    }

    fn parse(status: u16, body: &str) -> Result<ExchangedToken> {
        process_token_exchange_response(
            Time::from_unix_secs(1000),
            &token_url(),
            &HttpResponse::json(status, body),
            &Policy::default(),
        )
    }

    // RFC 8693 §2.3: a resource server exchanges the access token it received for one to call
    // a backend, authenticating with client_secret_basic as `rs08`.
    #[test]
    fn rfc8693_section_2_3_example_request() {
        let client = ClientCredentials::confidential(
            "https://as.example.com",
            "rs08",
            ClientSecret::new("long-secure-random-secret"),
            TokenEndpointAuthMethod::ClientSecretBasic,
        );
        let mut params = TokenExchangeParams::from_access_token(&AccessToken::new(
            "accVkjcJyb4BWCxGsndESCJQbdFMogUC5PbRDqceLTC",
        ));
        params.resource = Some(ResourceUri::parse("https://backend.example.com/api").unwrap());
        let req =
            token_exchange_request(token_url(), &params, &client, &Policy::default()).unwrap();
        assert_eq!(
            req.header("authorization"),
            Some("Basic cnMwODpsb25nLXNlY3VyZS1yYW5kb20tc2VjcmV0")
        );
        assert_eq!(
            String::from_utf8(req.body.clone()).unwrap(),
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange\
             &resource=https%3A%2F%2Fbackend.example.com%2Fapi\
             &subject_token=accVkjcJyb4BWCxGsndESCJQbdFMogUC5PbRDqceLTC\
             &subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token"
        );
        assert_eq!(req.max_response_bytes, Policy::default().max_response_bytes);
    }

    #[test]
    fn rfc8693_section_2_3_example_response() {
        let t = parse(
            200,
            r#"{"access_token":"eyJhbGciOiJFUzI1NiIsImtpZCI6IjllciJ9.eyJhdWQiOiJodHRwczovL2JhY2tlbmQuZXhhbXBsZS5jb20ifQ.sig",
                "issued_token_type":"urn:ietf:params:oauth:token-type:access_token",
                "token_type":"Bearer","expires_in":60}"#,
        )
        .unwrap();
        assert_eq!(t.issued_token_type, TOKEN_TYPE_ACCESS_TOKEN);
        assert!(t.is_bearer());
        assert_eq!(t.tokens.expires_at, Some(Time::from_unix_secs(1060)));
        assert!(
            t.tokens
                .access_token
                .secret()
                .starts_with("eyJhbGciOiJFUzI1NiIs")
        );
    }

    // RFC 8693 Appendix A.1: impersonation; a JWT for a logical audience, issued as a JWT
    // that is not an access token (token_type N_A).
    #[test]
    fn appendix_a1_impersonation_request_and_n_a_response() {
        let client = ClientCredentials::public("https://as.example.com", "c");
        let mut params = TokenExchangeParams::new(
            SecurityToken::new("eyJhbGciOiJFUzI1NiIsImtpZCI6IjE2In0.e30.s"),
            TOKEN_TYPE_JWT,
        );
        params.audience = Some("urn:example:cooperation-context".into());
        let req =
            token_exchange_request(token_url(), &params, &client, &Policy::default()).unwrap();
        let pairs = form(&req);
        let names: Vec<&str> = pairs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "grant_type",
                "audience",
                "subject_token",
                "subject_token_type",
                "client_id"
            ]
        );
        let map = form_map(&req);
        assert_eq!(map["audience"], "urn:example:cooperation-context");
        assert_eq!(map["subject_token_type"], TOKEN_TYPE_JWT);

        let t = parse(
            200,
            r#"{"access_token":"eyJhbGciOiJFUzI1NiIsImtpZCI6IjcyIn0.e30.s",
                "issued_token_type":"urn:ietf:params:oauth:token-type:jwt",
                "token_type":"N_A","expires_in":3600}"#,
        )
        .unwrap();
        assert_eq!(t.issued_token_type, TOKEN_TYPE_JWT);
        assert_eq!(t.tokens.token_type, "N_A");
        assert!(!t.is_bearer());
        assert_eq!(t.tokens.expires_at, Some(Time::from_unix_secs(4600)));
    }

    // RFC 8693 Appendix A.2: delegation; the actor token and its type travel together.
    #[test]
    fn appendix_a2_delegation_sends_actor_token_and_type() {
        let client = ClientCredentials::public("https://as.example.com", "c");
        let mut params =
            TokenExchangeParams::new(SecurityToken::new("subject-jwt"), TOKEN_TYPE_JWT);
        params.audience = Some("urn:example:cooperation-context".into());
        params.actor = Some(ActorToken::new(
            SecurityToken::new("actor-jwt"),
            TOKEN_TYPE_JWT,
        ));
        params.requested_token_type = Some(TOKEN_TYPE_JWT.into());
        params.scope = Some("status feed".into());
        let req =
            token_exchange_request(token_url(), &params, &client, &Policy::default()).unwrap();
        let map = form_map(&req);
        assert_eq!(map["actor_token"], "actor-jwt");
        assert_eq!(map["actor_token_type"], TOKEN_TYPE_JWT);
        assert_eq!(map["requested_token_type"], TOKEN_TYPE_JWT);
        assert_eq!(map["scope"], "status feed");
        assert_eq!(map["grant_type"], TOKEN_EXCHANGE_GRANT_TYPE);

        let t = parse(
            200,
            r#"{"access_token":"eyJhbGciOiJFUzI1NiIsImtpZCI6IjcyIn0.e30.t",
                "issued_token_type":"urn:ietf:params:oauth:token-type:jwt",
                "token_type":"N_A","expires_in":3600}"#,
        )
        .unwrap();
        assert_eq!(
            t.tokens.access_token.secret(),
            "eyJhbGciOiJFUzI1NiIsImtpZCI6IjcyIn0.e30.t"
        );
    }

    #[test]
    fn without_actor_no_actor_parameters_are_sent() {
        let client = ClientCredentials::public("https://as.example.com", "c");
        let params = TokenExchangeParams::new(SecurityToken::new("t"), TOKEN_TYPE_ID_TOKEN);
        let req =
            token_exchange_request(token_url(), &params, &client, &Policy::default()).unwrap();
        let map = form_map(&req);
        assert!(!map.contains_key("actor_token"));
        assert!(!map.contains_key("actor_token_type"));
        assert!(!map.contains_key("audience"));
        assert_eq!(map["client_id"], "c");
    }

    #[test]
    fn plain_http_token_endpoint_is_refused() {
        let client = ClientCredentials::public("https://as.example.com", "c");
        let params = TokenExchangeParams::new(SecurityToken::new("t"), TOKEN_TYPE_ID_TOKEN);
        let err = token_exchange_request(
            Url::parse("http://as.example.com/token").unwrap(),
            &params,
            &client,
            &Policy::default(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "INSECURE_URL");
    }

    #[test]
    fn missing_issued_token_type_is_refused_by_name() {
        let err = parse(200, r#"{"access_token":"a","token_type":"Bearer"}"#).unwrap_err();
        assert!(matches!(
            err,
            crate::Error::Protocol(ProtocolError::MissingField {
                field: "issued_token_type",
                ..
            })
        ));
        let err = parse(
            200,
            r#"{"access_token":"a","token_type":"Bearer","issued_token_type":""}"#,
        )
        .unwrap_err();
        assert_eq!(err.code(), "INVALID_FIELD");
        let err = parse(
            200,
            r#"{"access_token":"a","token_type":"Bearer","issued_token_type":7}"#,
        )
        .unwrap_err();
        assert_eq!(err.code(), "INVALID_FIELD");
    }

    #[test]
    fn token_types_other_than_bearer_or_n_a_are_refused() {
        let err = parse(
            200,
            r#"{"access_token":"a","token_type":"DPoP","issued_token_type":"urn:ietf:params:oauth:token-type:access_token"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("token_type"), "{err}");
        let lower = parse(
            200,
            r#"{"access_token":"a","token_type":"n_a","issued_token_type":"urn:ietf:params:oauth:token-type:jwt"}"#,
        )
        .unwrap();
        assert_eq!(lower.tokens.token_type, "N_A");
    }

    // RFC 8693 §2.2.2: errors are RFC 6749 §5.2 error responses, plus invalid_target.
    #[test]
    fn error_responses_are_oauth_errors() {
        for code in [
            "invalid_request",
            "invalid_target",
            "invalid_grant",
            "unauthorized_client",
        ] {
            let err = parse(
                400,
                &format!(r#"{{"error":"{code}","error_description":"no"}}"#),
            )
            .unwrap_err();
            let oauth = err.oauth().unwrap();
            assert_eq!(oauth.error, code);
            assert_eq!(oauth.status, 400);
        }
    }

    #[test]
    fn debug_never_shows_tokens() {
        let mut params = TokenExchangeParams::new(SecurityToken::new("SECRET-S"), TOKEN_TYPE_JWT);
        params.actor = Some(ActorToken::new(
            SecurityToken::new("SECRET-A"),
            TOKEN_TYPE_JWT,
        ));
        assert!(!format!("{params:?}").contains("SECRET"));
        let t = parse(
            200,
            r#"{"access_token":"SECRET-T","refresh_token":"SECRET-R","issued_token_type":"x"}"#,
        )
        .unwrap();
        assert!(!format!("{t:?}").contains("SECRET"));
    }

    #[test]
    fn exchanged_token_round_trips_through_serde() {
        let t = parse(
            200,
            r#"{"access_token":"a","token_type":"N_A","issued_token_type":"urn:ietf:params:oauth:token-type:jwt","expires_in":5}"#,
        )
        .unwrap();
        let back: ExchangedToken =
            serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(back, t);
        assert_eq!(
            back.tokens.expires_at,
            Some(Time::from_unix_secs(1000).add(Duration::from_secs(5)))
        );
    }

    proptest! {
        #[test]
        fn arbitrary_responses_never_panic(status in 0u16..1000, body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = process_token_exchange_response(
                Time::from_unix_secs(1),
                &token_url(),
                &HttpResponse::json(status, body),
                &Policy::default(),
            );
        }

        #[test]
        fn json_shaped_responses_never_panic(
            access in prop_oneof![Just("\"a\"".to_owned()), Just("1".to_owned()), Just("null".to_owned()), "\"[^\"\\\\]{0,8}\""],
            token_type in prop_oneof![Just("\"N_A\"".to_owned()), Just("\"Bearer\"".to_owned()), Just("[]".to_owned()), "\"[a-zA-Z_]{0,6}\""],
            issued in prop_oneof![Just("\"x\"".to_owned()), Just("\"\"".to_owned()), Just("{}".to_owned()), Just("null".to_owned())],
            expires in prop_oneof![Just("3600".to_owned()), Just("-1".to_owned()), Just("\"60\"".to_owned()), Just("1e400".to_owned()), Just("18446744073709551615".to_owned())],
        ) {
            let body = format!(r#"{{"access_token":{access},"token_type":{token_type},"issued_token_type":{issued},"expires_in":{expires}}}"#);
            if let Ok(t) = parse(200, &body) {
                prop_assert!(t.tokens.token_type == "Bearer" || t.tokens.token_type == "N_A");
                prop_assert!(!t.issued_token_type.is_empty());
            }
        }
    }
}
