//! OAuth 2.0 Token Revocation (RFC 7009), for logging out.
//!
//! Revoking a refresh token also invalidates the access tokens of the same grant where the
//! server supports it (RFC 7009 §2.1), so a logout revokes the refresh token when there is one:
//! [`RevocableToken::for_logout`] picks it.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::client::ClientCredentials;
use crate::error::{ProtocolError, Result, UsageError};
use crate::http::{HttpRequest, HttpResponse};
use crate::metadata::AuthorizationServerMetadata;
use crate::policy::Policy;
use crate::response::{check_transport, oauth_error, temporarily_unavailable};
use crate::secret::{AccessToken, RefreshToken};
use crate::token::TokenSet;

/// The `token_type_hint` of a revocation request (RFC 7009 §2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenTypeHint {
    /// `access_token`.
    AccessToken,
    /// `refresh_token`.
    RefreshToken,
}

impl TokenTypeHint {
    /// The registered value (`access_token` or `refresh_token`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessToken => "access_token",
            Self::RefreshToken => "refresh_token",
        }
    }
}

/// A token to revoke. Built from `&AccessToken` or `&RefreshToken` with `into()`, so the hint
/// always matches the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevocableToken<'a> {
    /// An access token.
    Access(&'a AccessToken),
    /// A refresh token.
    Refresh(&'a RefreshToken),
}

impl<'a> RevocableToken<'a> {
    /// The token to revoke on logout: the refresh token if there is one (which ends the whole
    /// grant, RFC 7009 §2.1), else the access token.
    #[must_use]
    pub fn for_logout(tokens: &'a TokenSet) -> Self {
        tokens
            .refresh_token
            .as_ref()
            .map_or(Self::Access(&tokens.access_token), Self::Refresh)
    }

    /// The hint that goes with this token.
    #[must_use]
    pub fn hint(self) -> TokenTypeHint {
        match self {
            Self::Access(_) => TokenTypeHint::AccessToken,
            Self::Refresh(_) => TokenTypeHint::RefreshToken,
        }
    }

    fn secret(self) -> &'a str {
        match self {
            Self::Access(t) => t.secret(),
            Self::Refresh(t) => t.secret(),
        }
    }
}

impl<'a> From<&'a AccessToken> for RevocableToken<'a> {
    fn from(token: &'a AccessToken) -> Self {
        Self::Access(token)
    }
}

impl<'a> From<&'a RefreshToken> for RevocableToken<'a> {
    fn from(token: &'a RefreshToken) -> Self {
        Self::Refresh(token)
    }
}

/// Builds a revocation request (RFC 7009 §2.1): `token` and its `token_type_hint`, with the
/// client authenticated as at the token endpoint.
///
/// ```
/// use mcpauth_core::revocation::revocation_request;
/// use mcpauth_core::{AuthorizationServerMetadata, ClientCredentials, Policy, RefreshToken};
///
/// let mut server = AuthorizationServerMetadata::with_default_endpoints("https://as.example");
/// server.revocation_endpoint = Some("https://as.example/revoke".parse().unwrap());
/// let client = ClientCredentials::public("https://as.example", "my-cli");
/// let refresh = RefreshToken::new("rt");
/// let req = revocation_request(&server, &refresh, &client, &Policy::default())?;
/// assert_eq!(req.body, b"token=rt&token_type_hint=refresh_token&client_id=my-cli");
/// # Ok::<(), mcpauth_core::Error>(())
/// ```
///
/// # Errors
/// [`UsageError::MissingEndpoint`] when the server has no `revocation_endpoint`;
/// [`SecurityError::CredentialsForOtherIssuer`](crate::SecurityError::CredentialsForOtherIssuer)
/// when `client` belongs to another issuer;
/// [`SecurityError::InsecureUrl`](crate::SecurityError::InsecureUrl) for a plain-http endpoint.
pub fn revocation_request<'a>(
    server: &AuthorizationServerMetadata,
    token: impl Into<RevocableToken<'a>>,
    client: &ClientCredentials,
    policy: &Policy,
) -> Result<HttpRequest> {
    revocation_request_at(
        &server.issuer,
        server.revocation_endpoint.as_ref(),
        token.into(),
        client,
        policy,
    )
}

/// [`revocation_request`] from a stored issuer and endpoint (what a [`Grant`](crate::Grant)
/// keeps), so that logout needs no fresh discovery.
pub(crate) fn revocation_request_at(
    issuer: &str,
    endpoint: Option<&Url>,
    token: RevocableToken<'_>,
    client: &ClientCredentials,
    policy: &Policy,
) -> Result<HttpRequest> {
    let endpoint = endpoint
        .cloned()
        .ok_or_else(|| UsageError::MissingEndpoint {
            issuer: issuer.to_owned(),
            endpoint: "revocation_endpoint",
        })?;
    client.ensure_issuer(issuer)?;
    policy.check_endpoint("revocation_endpoint", &endpoint)?;
    let form = [
        ("token", token.secret()),
        ("token_type_hint", token.hint().as_str()),
    ];
    let mut req = client.authenticated_post(endpoint, &form);
    req.max_response_bytes = policy.max_response_bytes;
    Ok(req)
}

/// Validates a revocation response (RFC 7009 §2.2).
///
/// Any 2xx is success and the body is ignored: the server answers 200 even for a token that
/// was invalid or already revoked, since the client's goal is reached either way.
///
/// # Errors
/// [`ProtocolError::TemporarilyUnavailable`] for HTTP 503 (and 429), with the `Retry-After`
/// delay when given: the token is not revoked yet and the client may retry (§2.2.1).
/// [`OAuthError`](crate::OAuthError) for an error body (`unsupported_token_type`,
/// `invalid_client`, ...); [`ProtocolError::UnexpectedStatus`] for any other status;
/// [`ProtocolError::ResponseTooLarge`] or [`ProtocolError::UnexpectedRedirect`] first.
pub fn process_revocation_response(url: &Url, resp: &HttpResponse, policy: &Policy) -> Result<()> {
    check_transport(url, resp, policy.max_response_bytes)?;
    if resp.is_success() {
        return Ok(());
    }
    if let Some(unavailable) = temporarily_unavailable(url, resp) {
        return Err(unavailable.into());
    }
    if let Some(error) = oauth_error(url, resp) {
        return Err(error.into());
    }
    Err(ProtocolError::UnexpectedStatus {
        url: url.to_string(),
        status: resp.status,
        expected: "200",
    }
    .into())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;
    use crate::client::TokenEndpointAuthMethod;
    use crate::error::Error;
    use crate::secret::ClientSecret;
    use crate::time::Time;

    fn server() -> AuthorizationServerMetadata {
        let mut s =
            AuthorizationServerMetadata::with_default_endpoints("https://server.example.com");
        s.revocation_endpoint = Some(Url::parse("https://server.example.com/revoke").unwrap());
        s
    }

    fn revoke_url() -> Url {
        Url::parse("https://server.example.com/revoke").unwrap()
    }

    fn process(resp: HttpResponse) -> Result<()> {
        process_revocation_response(&revoke_url(), &resp, &Policy::default())
    }

    // RFC 7009 §2.1 example: client s6BhdRkqt3 revokes a refresh token with HTTP Basic.
    #[test]
    fn rfc7009_section_2_1_example_request() {
        let client = ClientCredentials::confidential(
            "https://server.example.com",
            "s6BhdRkqt3",
            ClientSecret::new("gX1fBat3bV"),
            TokenEndpointAuthMethod::ClientSecretBasic,
        );
        let token = RefreshToken::new("45ghiukldjahdnhzdauz");
        let req = revocation_request(&server(), &token, &client, &Policy::default()).unwrap();
        assert_eq!(req.method, crate::http::Method::Post);
        assert_eq!(req.url.as_str(), "https://server.example.com/revoke");
        assert_eq!(
            req.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(
            req.header("authorization"),
            Some("Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW")
        );
        assert_eq!(
            req.body,
            b"token=45ghiukldjahdnhzdauz&token_type_hint=refresh_token"
        );
        assert!(!req.follow_redirects);
    }

    #[test]
    fn access_token_goes_with_access_token_hint() {
        let client = ClientCredentials::public("https://server.example.com", "cli");
        let token = AccessToken::new("at");
        let req = revocation_request(&server(), &token, &client, &Policy::default()).unwrap();
        assert_eq!(
            req.body,
            b"token=at&token_type_hint=access_token&client_id=cli"
        );
    }

    #[test]
    fn logout_prefers_the_refresh_token() {
        let json = |body: &str| {
            crate::token::process_token_response(
                Time::from_unix_secs(0),
                &revoke_url(),
                &HttpResponse::json(200, body),
                &Policy::default(),
            )
            .unwrap()
        };
        let with_refresh = json(r#"{"access_token":"at","refresh_token":"rt"}"#);
        let t = RevocableToken::for_logout(&with_refresh);
        assert_eq!(t.hint(), TokenTypeHint::RefreshToken);
        assert_eq!(t.secret(), "rt");
        let without = json(r#"{"access_token":"at"}"#);
        assert_eq!(
            RevocableToken::for_logout(&without).hint(),
            TokenTypeHint::AccessToken
        );
    }

    #[test]
    fn missing_endpoint_other_issuer_and_plain_http_are_refused() {
        let client = ClientCredentials::public("https://server.example.com", "cli");
        let token = AccessToken::new("at");
        let bare =
            AuthorizationServerMetadata::with_default_endpoints("https://server.example.com");
        let err = revocation_request(&bare, &token, &client, &Policy::default()).unwrap_err();
        assert!(matches!(
            err,
            Error::Usage(UsageError::MissingEndpoint {
                endpoint: "revocation_endpoint",
                ..
            })
        ));
        let other = ClientCredentials::public("https://other.example.com", "cli");
        let err = revocation_request(&server(), &token, &other, &Policy::default()).unwrap_err();
        assert_eq!(err.code(), "CREDENTIALS_FOR_OTHER_ISSUER");
        let mut insecure = server();
        insecure.revocation_endpoint =
            Some(Url::parse("http://server.example.com/revoke").unwrap());
        let err = revocation_request(&insecure, &token, &client, &Policy::default()).unwrap_err();
        assert_eq!(err.code(), "INSECURE_URL");
    }

    // RFC 7009 §2.2: 200 whether or not the token was valid; the body is ignored.
    #[test]
    fn any_2xx_is_success_and_the_body_is_ignored() {
        assert!(process(HttpResponse::new(200, vec![], "")).is_ok());
        assert!(process(HttpResponse::new(200, vec![], "not json at all")).is_ok());
        assert!(process(HttpResponse::json(200, r#"{"error":"ignored"}"#)).is_ok());
        assert!(process(HttpResponse::new(204, vec![], "")).is_ok());
    }

    // RFC 7009 §2.2.1: unsupported_token_type, and RFC 6749 §5.2 errors.
    #[test]
    fn error_bodies_are_oauth_errors() {
        for code in [
            "unsupported_token_type",
            "invalid_client",
            "invalid_request",
        ] {
            let err =
                process(HttpResponse::json(400, format!(r#"{{"error":"{code}"}}"#))).unwrap_err();
            assert_eq!(err.oauth().unwrap().error, code);
        }
        let err = process(HttpResponse::json(401, r#"{"error":"invalid_client"}"#)).unwrap_err();
        assert_eq!(err.oauth().unwrap().status, 401);
    }

    // RFC 7009 §2.2.1: 503 means "not revoked yet, retry", possibly with Retry-After.
    #[test]
    fn service_unavailable_carries_retry_after() {
        let resp = HttpResponse::new(503, vec![("Retry-After".into(), "120".into())], "");
        match process(resp).unwrap_err() {
            Error::Protocol(ProtocolError::TemporarilyUnavailable {
                status,
                retry_after,
                ..
            }) => {
                assert_eq!(status, 503);
                assert_eq!(retry_after, Some(Duration::from_secs(120)));
            }
            other => panic!("unexpected {other:?}"),
        }
        let err = process(HttpResponse::json(
            503,
            r#"{"error":"temporarily_unavailable"}"#,
        ))
        .unwrap_err();
        assert_eq!(err.code(), "TEMPORARILY_UNAVAILABLE");
    }

    #[test]
    fn other_statuses_and_redirects_are_protocol_errors() {
        let err = process(HttpResponse::new(500, vec![], "<html>")).unwrap_err();
        assert_eq!(err.code(), "UNEXPECTED_STATUS");
        let err = process(HttpResponse::new(
            302,
            vec![("location".into(), "https://evil.example".into())],
            "",
        ))
        .unwrap_err();
        assert_eq!(err.code(), "UNEXPECTED_REDIRECT");
    }

    #[test]
    fn debug_of_revocable_token_and_request_hides_the_token() {
        let token = RefreshToken::new("SECRET-RT");
        let t = RevocableToken::from(&token);
        assert!(!format!("{t:?}").contains("SECRET"));
        let client = ClientCredentials::public("https://server.example.com", "cli");
        let req = revocation_request(&server(), t, &client, &Policy::default()).unwrap();
        assert!(!format!("{req:?}").contains("SECRET"));
    }

    #[test]
    fn hint_serializes_as_registered_name() {
        assert_eq!(
            serde_json::to_string(&TokenTypeHint::RefreshToken).unwrap(),
            "\"refresh_token\""
        );
        assert_eq!(TokenTypeHint::AccessToken.as_str(), "access_token");
    }

    proptest! {
        #[test]
        fn arbitrary_responses_never_panic(
            status in 0u16..1000,
            retry in proptest::option::of("[0-9a-zA-Z ,:-]{0,30}"),
            body in proptest::collection::vec(any::<u8>(), 0..128),
        ) {
            let headers = retry.map(|r| vec![("retry-after".to_owned(), r)]).unwrap_or_default();
            let result = process(HttpResponse::new(status, headers, body));
            prop_assert_eq!(result.is_ok(), (200..300).contains(&status));
        }
    }
}
