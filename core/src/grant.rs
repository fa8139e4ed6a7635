//! A login as drivers persist it: the tokens for one resource from one authorization server,
//! with everything needed to refresh and revoke them later without discovering again.
//!
//! Both drivers (native and wasm) store this same record, so a refresh is built and checked
//! in one place. Where it is stored, and which grant is current, is
//! [`flow::store`](crate::flow::store)'s: one grant per server, replaced (and revoked) by the
//! next login, so tokens from one authorization server are never presented to another (MCP:
//! "separate registration state for each authorization server").

use std::time::Duration;

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
    TokenSet, expiry_margin, process_refresh_response_with, refresh_token_grant_request,
};
use crate::userinfo::{DisplayIdentity, id_token_identity};

/// Tokens for one resource from one authorization server, with the endpoints to maintain them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(export, optional_fields = nullable)
)]
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
    /// The DPoP key the tokens are bound to (RFC 9449), when the login used DPoP; every
    /// refresh and every request to the server carries a proof signed with it.
    #[serde(default)]
    pub dpop_key: Option<crate::jws::DpopKey>,
    /// How to obtain tokens again without a user, for a machine login (there is no refresh
    /// token).
    #[serde(default)]
    pub acquire: Option<crate::flow::MachineGrant>,
    /// The `audience` parameter sent with the login, sent again with each refresh.
    #[serde(default)]
    pub audience: Option<String>,
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
            dpop_key: None,
            acquire: None,
            audience: None,
        })
    }

    /// How long the access token was issued for: [`TokenSet::lifetime`], or for a record
    /// stored before tokens kept `issued_at`, the time from `updated_at` to `expires_at`.
    /// `None` when the server gave no `expires_in`.
    #[must_use]
    pub fn token_lifetime(&self) -> Option<Duration> {
        let expires_at = self.tokens.expires_at?;
        let issued_at = self.tokens.issued_at.unwrap_or(self.updated_at);
        Some(issued_at.until(expires_at))
    }

    /// How long before expiry the access token is refreshed: [`expiry_margin`] of its
    /// [`token_lifetime`](Self::token_lifetime), at most
    /// [`DEFAULT_EXPIRY_MARGIN`](crate::token::DEFAULT_EXPIRY_MARGIN) and at most half the
    /// lifetime.
    #[must_use]
    pub fn expiry_margin(&self) -> Duration {
        expiry_margin(self.token_lifetime())
    }

    /// Whether the access token should be refreshed before use: it expires within
    /// [`expiry_margin`](Self::expiry_margin) of `now` and a refresh token is at hand. A token
    /// just obtained never needs it, however short its lifetime.
    #[must_use]
    pub fn needs_refresh(&self, now: Time) -> bool {
        self.tokens.refresh_token.is_some() && self.tokens.is_expired(now, self.expiry_margin())
    }

    /// When [`needs_refresh`](Self::needs_refresh) turns true, for a driver that refreshes
    /// in the background: `expires_at` minus the [`expiry_margin`](Self::expiry_margin).
    /// `None` without a refresh token or without an expiry.
    #[must_use]
    pub fn refresh_at(&self) -> Option<Time> {
        self.tokens.refresh_token.as_ref()?;
        Some(self.tokens.expires_at?.sub(self.expiry_margin()))
    }

    /// Whether the access token is past its expiry (no margin): it cannot be used and, without
    /// a refresh token, only a new login helps.
    #[must_use]
    pub fn is_expired(&self, now: Time) -> bool {
        self.tokens.is_expired(now, Duration::ZERO)
    }

    /// The refresh request (RFC 6749 §6), with `resource` unless the grant omits it, and the
    /// login's [`audience`](Self::audience) if it had one.
    ///
    /// # Errors
    /// [`UsageError::NoRefreshToken`]; [`SecurityError::InsecureUrl`](crate::SecurityError).
    pub fn refresh_request(&self, policy: &Policy) -> Result<HttpRequest> {
        let resource = self.send_resource.then_some(&self.resource);
        let mut request = refresh_token_grant_request(
            self.token_endpoint.clone(),
            &self.tokens,
            resource,
            None,
            &self.client,
            policy,
        )?;
        if let Some(audience) = &self.audience {
            request.append_form_pair("audience", audience);
        }
        Ok(request)
    }

    /// Applies a refresh response. Returns whether the refresh token was rotated; the caller
    /// must persist the grant before using the new tokens, because a rotated-out refresh token
    /// is dead (and re-using it may revoke the whole grant, RFC 9700 §4.14.2).
    ///
    /// A grant with a [`dpop_key`](Self::dpop_key) is refreshed with a DPoP proof, so the
    /// token type `DPoP` is accepted; a `Bearer` answer is kept as a bearer token (RFC 9449
    /// §5) and the key stays, since the refresh token may still be bound to it.
    ///
    /// # Errors
    /// As [`process_refresh_response`](crate::token::process_refresh_response); the grant is
    /// unchanged on error. On
    /// `invalid_grant` ([`is_invalid_grant`](crate::token::is_invalid_grant)) the grant is
    /// dead and should be deleted.
    pub fn process_refresh_response(
        &mut self,
        now: Time,
        resp: &HttpResponse,
        policy: &Policy,
    ) -> Result<bool> {
        // A grant with a DPoP key refreshes with a proof (RFC 9449 §5), so `DPoP` is accepted.
        let proof = self.dpop_key.is_some();
        let refreshed = process_refresh_response_with(
            now,
            &self.tokens,
            &self.token_endpoint,
            resp,
            policy,
            proof,
        )?;
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

    /// Whether the access token is DPoP-bound (RFC 9449 §7.1): the grant has a DPoP key and
    /// the server said `token_type` `DPoP`. A `Bearer` token from a DPoP login (the server
    /// declined to bind it, RFC 9449 §5) is sent as a bearer token, without proofs.
    #[must_use]
    pub fn is_dpop_bound(&self) -> bool {
        self.dpop_key.is_some()
            && self
                .tokens
                .token_type
                .eq_ignore_ascii_case(crate::dpop::DPOP_TOKEN_TYPE)
    }

    /// The `Authorization` header value presenting the access token: `DPoP <token>` for a
    /// [DPoP-bound](Self::is_dpop_bound) token, `Bearer <token>` otherwise.
    #[must_use]
    pub fn authorization(&self) -> String {
        let scheme = if self.is_dpop_bound() {
            crate::dpop::DPOP_TOKEN_TYPE
        } else {
            "Bearer"
        };
        format!("{scheme} {}", self.tokens.access_token.secret())
    }

    /// The DPoP proof for a `method` request to `url` presenting the access token (with
    /// `ath`, and the server's `nonce` if it gave one); `None` unless the token is
    /// [DPoP-bound](Self::is_dpop_bound).
    #[must_use]
    pub fn resource_proof(
        &self,
        method: &str,
        url: &Url,
        nonce: Option<&str>,
    ) -> Option<crate::jws::JwsTemplate> {
        let key = self.dpop_key.as_ref().filter(|_| self.is_dpop_bound())?;
        Some(crate::dpop::proof(
            key,
            method,
            url,
            nonce,
            Some(&self.tokens.access_token),
        ))
    }

    /// Who the login belongs to, from the ID token if there is one. For display only.
    ///
    /// Without `iss` in the token, the grant's issuer fills it, so that a bare subject is
    /// labelled `sub 1 at https://as.example` ([`DisplayIdentity::label`]).
    #[must_use]
    pub fn display_identity(&self) -> Option<DisplayIdentity> {
        self.tokens
            .id_token
            .as_ref()
            .and_then(id_token_identity)
            .map(|identity| identity.or_issuer(&self.issuer))
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

    fn grant_with(expires_in: u64) -> Grant {
        let mut g = grant();
        g.tokens = tokens(&format!(
            r#"{{"access_token":"at","expires_in":{expires_in},"refresh_token":"rt"}}"#
        ));
        g
    }

    #[test]
    fn a_four_second_token_gets_a_two_second_margin_and_is_not_due_when_fresh() {
        let g = grant_with(4);
        assert_eq!(g.token_lifetime(), Some(Duration::from_secs(4)));
        assert_eq!(g.expiry_margin(), Duration::from_secs(2));
        assert!(!g.needs_refresh(Time::from_unix_secs(1000)));
        assert!(!g.needs_refresh(Time::from_unix_millis(1_001_999)));
        assert!(g.needs_refresh(Time::from_unix_secs(1002)));
        assert_eq!(g.refresh_at(), Some(Time::from_unix_secs(1002)));
    }

    #[test]
    fn a_freshly_refreshed_short_token_does_not_need_refreshing_again() {
        let mut g = grant_with(4);
        let resp = HttpResponse::json(
            200,
            r#"{"access_token":"at2","expires_in":4,"refresh_token":"rt2"}"#,
        );
        g.process_refresh_response(Time::from_unix_secs(1003), &resp, &Policy::default())
            .unwrap();
        assert!(!g.needs_refresh(Time::from_unix_secs(1003)));
        assert!(g.needs_refresh(Time::from_unix_secs(1005)));
    }

    #[test]
    fn a_one_hour_token_keeps_the_thirty_second_margin() {
        let g = grant_with(3600);
        assert_eq!(g.expiry_margin(), Duration::from_secs(30));
        assert!(!g.needs_refresh(Time::from_unix_secs(4569)));
        assert!(g.needs_refresh(Time::from_unix_secs(4570)));
        assert_eq!(g.refresh_at(), Some(Time::from_unix_secs(4570)));
    }

    #[test]
    fn records_stored_without_issued_at_take_the_lifetime_from_updated_at() {
        let g = grant_with(4);
        let mut json = serde_json::to_value(&g).unwrap();
        json["tokens"].as_object_mut().unwrap().remove("issued_at");
        let old: Grant = serde_json::from_value(json).unwrap();
        assert_eq!(old.tokens.issued_at, None);
        assert_eq!(old.token_lifetime(), Some(Duration::from_secs(4)));
        assert!(!old.needs_refresh(Time::from_unix_secs(1000)));
        assert!(old.needs_refresh(Time::from_unix_secs(1002)));
    }

    #[test]
    fn without_expiry_or_refresh_token_there_is_no_refresh_time() {
        let mut g = grant_with(60);
        g.tokens.refresh_token = None;
        assert_eq!(g.refresh_at(), None);
        let forever = {
            let mut g = grant();
            g.tokens = tokens(r#"{"access_token":"at","refresh_token":"rt"}"#);
            g
        };
        assert_eq!(forever.token_lifetime(), None);
        assert_eq!(forever.expiry_margin(), Duration::from_secs(30));
        assert_eq!(forever.refresh_at(), None);
        assert!(!forever.needs_refresh(Time::from_unix_secs(u64::MAX / 1000)));
    }

    #[test]
    fn refresh_sends_the_audience_of_the_login_only_when_it_had_one() {
        let mut g = grant();
        let body = |g: &Grant| {
            String::from_utf8(g.refresh_request(&Policy::default()).unwrap().body).unwrap()
        };
        assert!(!body(&g).contains("audience"), "{}", body(&g));
        g.audience = Some("https://api.example/v2 & more".into());
        assert_eq!(
            body(&g),
            "grant_type=refresh_token&refresh_token=rt1&resource=https%3A%2F%2Fmcp.example%2Fmcp\
             &client_id=cid&audience=https%3A%2F%2Fapi.example%2Fv2+%26+more"
        );
        let stored: Grant = serde_json::from_str(&serde_json::to_string(&g).unwrap()).unwrap();
        assert_eq!(stored.audience, g.audience, "the record keeps it");
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
    fn display_identity_of_a_bare_subject_names_the_grants_issuer() {
        use base64::Engine as _;
        let mut g = grant();
        assert_eq!(g.display_identity(), None);
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"sub":"1"}"#);
        g.tokens.id_token = Some(crate::IdToken::new(format!("e30.{payload}.")));
        let who = g.display_identity().unwrap();
        assert_eq!(who.iss.as_deref(), Some("https://as.example"));
        assert_eq!(who.label().as_deref(), Some("sub 1 at https://as.example"));
    }

    #[test]
    fn survives_a_serde_round_trip_without_leaking_in_debug() {
        let g = grant();
        let json = serde_json::to_string(&g).unwrap();
        assert_eq!(serde_json::from_str::<Grant>(&json).unwrap(), g);
        assert!(!format!("{g:?}").contains("rt1"));
    }

    #[test]
    fn only_a_dpop_token_with_a_key_is_presented_with_a_proof() {
        let key = crate::jws::DpopKey::new(
            crate::jws::EcPublicJwk::p256("x", "y"),
            crate::jws::KeyHandle::Stored { id: "k".into() },
        );
        let url = Url::parse("https://mcp.example/mcp").unwrap();
        let mut g = grant();
        assert_eq!(g.authorization(), "Bearer at1");
        g.dpop_key = Some(key);
        assert_eq!(g.authorization(), "Bearer at1", "a Bearer token stays one");
        assert!(g.resource_proof("POST", &url, None).is_none());
        g.tokens.token_type = "DPoP".into();
        assert_eq!(g.authorization(), "DPoP at1");
        let proof = g.resource_proof("POST", &url, Some("n")).unwrap();
        assert_eq!(proof.claims["nonce"], "n");
        assert_eq!(
            proof.claims["ath"],
            crate::dpop::ath(&g.tokens.access_token).as_str()
        );
    }

    #[test]
    fn a_grant_with_a_key_accepts_a_dpop_refresh_and_one_without_refuses_it() {
        let resp = HttpResponse::json(
            200,
            r#"{"access_token":"at2","token_type":"DPoP","expires_in":60}"#,
        );
        let mut plain = grant();
        let refused =
            plain.process_refresh_response(Time::from_unix_secs(2000), &resp, &Policy::default());
        assert_eq!(refused.unwrap_err().code(), "INVALID_FIELD");
        let mut bound = grant();
        bound.dpop_key = Some(crate::jws::DpopKey::new(
            crate::jws::EcPublicJwk::p256("x", "y"),
            crate::jws::KeyHandle::Stored { id: "k".into() },
        ));
        bound
            .process_refresh_response(Time::from_unix_secs(2000), &resp, &Policy::default())
            .unwrap();
        assert!(bound.is_dpop_bound());
    }
}
