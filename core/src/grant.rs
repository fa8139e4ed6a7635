//! A login as drivers persist it: the tokens for one resource from one authorization server,
//! with everything needed to refresh and revoke them later without discovering again.
//!
//! Both drivers (native and wasm) store this same record, so a refresh is built and checked
//! in one place. Grants are keyed by resource *and* issuer ([`grant_key`]): tokens from one
//! authorization server are never presented to another (MCP: "separate registration state for
//! each authorization server").

use serde::{Deserialize, Serialize};
use url::Url;

use crate::client::ClientCredentials;
use crate::error::{Result, UsageError};
use crate::http::{HttpRequest, HttpResponse};
use crate::metadata::AuthorizationServerMetadata;
use crate::policy::{Policy, ResourceUri};
use crate::revocation::{RevocableToken, revocation_request_at};
use crate::time::Time;
use crate::token::{
    DEFAULT_EXPIRY_MARGIN, TokenSet, process_refresh_response, refresh_token_grant_request,
};
use crate::userinfo::{DisplayIdentity, id_token_identity};

/// The storage key of a grant: the canonical resource URI and the issuer.
///
/// ```
/// let r = mcpauth_core::ResourceUri::parse("https://mcp.example/mcp/").unwrap();
/// assert_eq!(mcpauth_core::grant::grant_key(&r, "https://as.example"),
///            "https://mcp.example/mcp#https://as.example");
/// ```
#[must_use]
pub fn grant_key(resource: &ResourceUri, issuer: &str) -> String {
    format!("{}#{issuer}", resource.as_str())
}

/// The storage key of a cached client registration at `issuer`.
#[must_use]
pub fn registration_key(issuer: &str) -> String {
    format!("client#{issuer}")
}

/// Tokens for one resource from one authorization server, with the endpoints to maintain them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, optional_fields))]
#[non_exhaustive]
pub struct Grant {
    /// The MCP server the tokens are for, as the user named it: half of the storage key.
    pub server: ResourceUri,
    /// The RFC 8707 resource the tokens were requested for (the protected resource metadata's
    /// `resource`, which may be the server's origin).
    pub resource: ResourceUri,
    /// The issuer that granted them.
    pub issuer: String,
    /// The client identity used, bound to `issuer`.
    pub client: ClientCredentials,
    /// Where refreshes go.
    pub token_endpoint: Url,
    /// Where tokens are revoked on logout (RFC 7009), if the server offers it.
    pub revocation_endpoint: Option<Url>,
    /// Whether `resource` is sent with refreshes (false only when the authorization used the
    /// documented escape hatch for servers that reject it).
    pub send_resource: bool,
    /// The tokens.
    pub tokens: TokenSet,
    /// When the tokens were last obtained or refreshed.
    pub updated_at: Time,
}

impl Grant {
    /// A grant from a completed authorization of `server`, for RFC 8707 `resource` (`None`
    /// when the authorization omitted it through the documented escape hatch).
    ///
    /// # Errors
    /// [`UsageError::MissingEndpoint`] when the metadata has no token endpoint;
    /// [`SecurityError::CredentialsForOtherIssuer`](crate::SecurityError) when `client`
    /// belongs to another issuer.
    pub fn new(
        server: ResourceUri,
        resource: Option<ResourceUri>,
        metadata: &AuthorizationServerMetadata,
        client: ClientCredentials,
        tokens: TokenSet,
        now: Time,
    ) -> Result<Self> {
        client.ensure_issuer(&metadata.issuer)?;
        let token_endpoint =
            metadata
                .token_endpoint
                .clone()
                .ok_or_else(|| UsageError::MissingEndpoint {
                    issuer: metadata.issuer.clone(),
                    endpoint: "token_endpoint",
                })?;
        Ok(Self {
            send_resource: resource.is_some(),
            resource: resource.unwrap_or_else(|| server.clone()),
            server,
            issuer: metadata.issuer.clone(),
            client,
            token_endpoint,
            revocation_endpoint: metadata.revocation_endpoint.clone(),
            tokens,
            updated_at: now,
        })
    }

    /// This grant's storage key ([`grant_key`] of the server and issuer).
    #[must_use]
    pub fn key(&self) -> String {
        grant_key(&self.server, &self.issuer)
    }

    /// Whether the access token should be refreshed before use: it expires within
    /// [`DEFAULT_EXPIRY_MARGIN`] of `now` and a refresh token is at hand.
    #[must_use]
    pub fn needs_refresh(&self, now: Time) -> bool {
        self.tokens.refresh_token.is_some() && self.tokens.is_expired(now, DEFAULT_EXPIRY_MARGIN)
    }

    /// Whether the access token is past its expiry (no margin): it cannot be used and, without
    /// a refresh token, only a new login helps.
    #[must_use]
    pub fn is_expired(&self, now: Time) -> bool {
        self.tokens.is_expired(now, std::time::Duration::ZERO)
    }

    /// The refresh request (RFC 6749 §6), with `resource` unless the grant omits it.
    ///
    /// # Errors
    /// [`UsageError::NoRefreshToken`]; [`SecurityError::InsecureUrl`](crate::SecurityError).
    pub fn refresh_request(&self, policy: &Policy) -> Result<HttpRequest> {
        let resource = self.send_resource.then_some(&self.resource);
        refresh_token_grant_request(
            self.token_endpoint.clone(),
            &self.tokens,
            resource,
            None,
            &self.client,
            policy,
        )
    }

    /// Applies a refresh response. Returns whether the refresh token was rotated; the caller
    /// must persist the grant before using the new tokens, because a rotated-out refresh token
    /// is dead (and re-using it may revoke the whole grant, RFC 9700 §4.14.2).
    ///
    /// # Errors
    /// As [`process_refresh_response`]; the grant is unchanged on error. On
    /// `invalid_grant` ([`is_invalid_grant`](crate::token::is_invalid_grant)) the grant is
    /// dead and should be deleted.
    pub fn process_refresh_response(
        &mut self,
        now: Time,
        resp: &HttpResponse,
        policy: &Policy,
    ) -> Result<bool> {
        let refreshed =
            process_refresh_response(now, &self.tokens, &self.token_endpoint, resp, policy)?;
        self.tokens = refreshed.tokens;
        self.updated_at = now;
        Ok(refreshed.rotated)
    }

    /// The logout request (RFC 7009 §2.1): revokes the refresh token if there is one (which
    /// the server should extend to its access tokens, §2.1), else the access token. `None`
    /// when the server has no revocation endpoint: then logout only forgets the tokens.
    ///
    /// # Errors
    /// [`SecurityError::InsecureUrl`](crate::SecurityError) for a plain-http endpoint.
    pub fn revocation_request(&self, policy: &Policy) -> Result<Option<HttpRequest>> {
        if self.revocation_endpoint.is_none() {
            return Ok(None);
        }
        revocation_request_at(
            &self.issuer,
            self.revocation_endpoint.as_ref(),
            RevocableToken::for_logout(&self.tokens),
            &self.client,
            policy,
        )
        .map(Some)
    }

    /// Who the login belongs to, from the ID token if there is one. For display only.
    #[must_use]
    pub fn display_identity(&self) -> Option<DisplayIdentity> {
        self.tokens.id_token.as_ref().and_then(id_token_identity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::process_token_response;

    fn tokens(body: &str) -> TokenSet {
        let url = Url::parse("https://as.example/token").unwrap();
        process_token_response(
            Time::from_unix_secs(1000),
            &url,
            &HttpResponse::json(200, body),
            &Policy::default(),
        )
        .unwrap()
    }

    fn grant() -> Grant {
        let server = AuthorizationServerMetadata::for_tests("https://as.example");
        let mcp = ResourceUri::parse("https://mcp.example/mcp").unwrap();
        Grant::new(
            mcp.clone(),
            Some(mcp),
            &server,
            ClientCredentials::public("https://as.example", "cid"),
            tokens(r#"{"access_token":"at1","token_type":"Bearer","expires_in":60,"refresh_token":"rt1"}"#),
            Time::from_unix_secs(1000),
        )
        .unwrap()
    }

    #[test]
    fn keyed_by_resource_and_issuer() {
        assert_eq!(grant().key(), "https://mcp.example/mcp#https://as.example");
        assert_eq!(
            registration_key("https://as.example"),
            "client#https://as.example"
        );
    }

    #[test]
    fn refuses_credentials_of_another_issuer() {
        let server = AuthorizationServerMetadata::for_tests("https://other.example");
        let err = Grant::new(
            ResourceUri::parse("https://mcp.example").unwrap(),
            None,
            &server,
            ClientCredentials::public("https://as.example", "cid"),
            tokens(r#"{"access_token":"a"}"#),
            Time::from_unix_secs(0),
        )
        .unwrap_err();
        assert_eq!(err.code(), "CREDENTIALS_FOR_OTHER_ISSUER");
    }

    #[test]
    fn needs_refresh_within_the_margin_only_with_a_refresh_token() {
        let g = grant();
        assert!(!g.needs_refresh(Time::from_unix_secs(1029)));
        assert!(g.needs_refresh(Time::from_unix_secs(1030)));
        assert!(!g.is_expired(Time::from_unix_secs(1059)));
        assert!(g.is_expired(Time::from_unix_secs(1060)));
        let mut no_rt = g.clone();
        no_rt.tokens.refresh_token = None;
        assert!(!no_rt.needs_refresh(Time::from_unix_secs(5000)));
    }

    #[test]
    fn refresh_sends_resource_unless_omitted_and_applies_rotation() {
        let mut g = grant();
        let body = String::from_utf8(g.refresh_request(&Policy::default()).unwrap().body).unwrap();
        assert_eq!(
            body,
            "grant_type=refresh_token&refresh_token=rt1&resource=https%3A%2F%2Fmcp.example%2Fmcp&client_id=cid"
        );
        g.send_resource = false;
        let body = String::from_utf8(g.refresh_request(&Policy::default()).unwrap().body).unwrap();
        assert!(!body.contains("resource="), "{body}");

        let resp = HttpResponse::json(
            200,
            r#"{"access_token":"at2","token_type":"Bearer","expires_in":60,"refresh_token":"rt2"}"#,
        );
        assert!(
            g.process_refresh_response(Time::from_unix_secs(2000), &resp, &Policy::default())
                .unwrap()
        );
        assert_eq!(g.tokens.access_token.secret(), "at2");
        assert_eq!(g.tokens.refresh_token.as_ref().unwrap().secret(), "rt2");
        assert_eq!(g.updated_at, Time::from_unix_secs(2000));

        let failed = HttpResponse::json(400, r#"{"error":"invalid_grant"}"#);
        let before = g.clone();
        assert!(
            g.process_refresh_response(Time::from_unix_secs(3000), &failed, &Policy::default())
                .is_err()
        );
        assert_eq!(g, before, "a failed refresh leaves the grant as it was");
    }

    #[test]
    fn logout_revokes_the_refresh_token_when_the_server_can() {
        let mut g = grant();
        assert_eq!(g.revocation_request(&Policy::default()).unwrap(), None);
        g.revocation_endpoint = Some(Url::parse("https://as.example/revoke").unwrap());
        let req = g.revocation_request(&Policy::default()).unwrap().unwrap();
        assert_eq!(req.url.as_str(), "https://as.example/revoke");
        assert_eq!(
            String::from_utf8(req.body).unwrap(),
            "token=rt1&token_type_hint=refresh_token&client_id=cid"
        );
    }

    #[test]
    fn survives_a_serde_round_trip_without_leaking_in_debug() {
        let g = grant();
        let json = serde_json::to_string(&g).unwrap();
        assert_eq!(serde_json::from_str::<Grant>(&json).unwrap(), g);
        assert!(!format!("{g:?}").contains("rt1"));
    }
}
