//! Who a login belongs to, for display: claims read from an ID token or the userinfo endpoint.
//!
//! # Security
//! Nothing here verifies a signature. The values are shown to the person at the terminal
//! ("logged in as alice@example.com") and must never decide access.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::Result;
use crate::http::{HttpRequest, HttpResponse};
use crate::policy::Policy;
use crate::response::{Json, success_json};
use crate::secret::{AccessToken, IdToken};

/// Display claims (OpenID Connect Core §5.1). Unverified: for display only.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(export, optional_fields = nullable)
)]
#[non_exhaustive]
pub struct DisplayIdentity {
    /// `sub`: unique only together with the issuer (OpenID Connect Core §2).
    pub sub: Option<String>,
    /// `email`.
    pub email: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `preferred_username`.
    #[serde(default)]
    pub preferred_username: Option<String>,
    /// `iss` of the ID token, or the issuer the login was made with
    /// ([`or_issuer`](Self::or_issuer)); it qualifies `sub` in [`label`](Self::label).
    #[serde(default)]
    pub iss: Option<String>,
}

impl DisplayIdentity {
    fn from_json(json: &Json) -> Result<Self> {
        Ok(Self {
            sub: json.str("sub")?,
            email: json.str("email")?,
            name: json.str("name")?,
            preferred_username: json.str("preferred_username")?,
            iss: json.str("iss")?,
        })
    }

    /// This identity with `iss` set to `issuer` when it has none (a userinfo response, or an
    /// ID token without `iss`).
    #[must_use]
    pub fn or_issuer(mut self, issuer: &str) -> Self {
        if shown(self.iss.as_ref()).is_none() {
            self.iss = Some(issuer.to_owned());
        }
        self
    }

    /// The most readable of the claims: `email`, then `preferred_username`, then `name`.
    ///
    /// With none of those, `sub` is shown as `sub 1 at https://as.example` (or `sub 1` when
    /// the issuer is unknown): a subject is an opaque identifier, often a bare number, that
    /// means something only at its issuer. Empty claims count as absent; `None` when nothing
    /// is left.
    ///
    /// ```
    /// use mcpauth_core::{IdToken, userinfo::id_token_identity};
    /// // {"sub":"1","iss":"https://as.example"}
    /// let jwt = "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIiwiaXNzIjoiaHR0cHM6Ly9hcy5leGFtcGxlIn0.";
    /// let who = id_token_identity(&IdToken::new(jwt)).unwrap();
    /// assert_eq!(who.label().as_deref(), Some("sub 1 at https://as.example"));
    /// ```
    #[must_use]
    pub fn label(&self) -> Option<String> {
        if let Some(readable) = shown(self.email.as_ref())
            .or(shown(self.preferred_username.as_ref()))
            .or(shown(self.name.as_ref()))
        {
            return Some(readable.to_owned());
        }
        let sub = shown(self.sub.as_ref())?;
        Some(match shown(self.iss.as_ref()) {
            Some(iss) => format!("sub {sub} at {iss}"),
            None => format!("sub {sub}"),
        })
    }
}

/// A claim worth showing: present and not blank.
fn shown(claim: Option<&String>) -> Option<&str> {
    claim.map(String::as_str).filter(|c| !c.trim().is_empty())
}

/// Reads the display claims of an ID token's payload without verifying it.
///
/// `None` when the token is not a three-part JWS/JWT with a JSON object payload.
///
/// ```
/// use mcpauth_core::{IdToken, userinfo::id_token_identity};
/// // {"sub":"248289761001","email":"janedoe@example.com"}
/// let jwt = "eyJhbGciOiJub25lIn0.eyJzdWIiOiIyNDgyODk3NjEwMDEiLCJlbWFpbCI6ImphbmVkb2VAZXhhbXBsZS5jb20ifQ.";
/// let who = id_token_identity(&IdToken::new(jwt)).unwrap();
/// assert_eq!(who.label().as_deref(), Some("janedoe@example.com"));
/// ```
#[must_use]
pub fn id_token_identity(token: &IdToken) -> Option<DisplayIdentity> {
    let mut parts = token.secret().split('.');
    let (_header, payload) = (parts.next()?, parts.next()?);
    parts.next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let url = Url::parse("urn:mcpauth:id_token").ok()?;
    DisplayIdentity::from_json(&Json::parse(&url, &bytes).ok()?).ok()
}

/// The userinfo request (OpenID Connect Core §5.3.1), with the access token as a bearer.
///
/// # Errors
/// [`SecurityError::InsecureUrl`](crate::SecurityError::InsecureUrl) for a plain-http endpoint.
pub fn userinfo_request(
    endpoint: &Url,
    token: &AccessToken,
    policy: &Policy,
) -> Result<HttpRequest> {
    policy.check_endpoint("userinfo_endpoint", endpoint)?;
    let mut req = HttpRequest::get_json(endpoint.clone());
    req.push_header("authorization", format!("Bearer {}", token.secret()));
    req.max_response_bytes = policy.max_response_bytes;
    Ok(req)
}

/// Parses a userinfo response (OpenID Connect Core §5.3.2). Signed (JWT) responses are not
/// supported and fail as invalid JSON.
///
/// # Errors
/// [`ProtocolError`](crate::ProtocolError) for a bad status, body or claim type.
pub fn process_userinfo_response(
    url: &Url,
    resp: &HttpResponse,
    policy: &Policy,
) -> Result<DisplayIdentity> {
    DisplayIdentity::from_json(&success_json(url, resp, policy.max_response_bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn jwt(payload: &str) -> IdToken {
        let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        IdToken::new(format!(
            "{}.{}.sig",
            enc(r#"{"alg":"RS256"}"#),
            enc(payload)
        ))
    }

    #[test]
    fn reads_display_claims_from_id_token() {
        let who = id_token_identity(&jwt(r#"{"sub":"u1","name":"Jane","iss":"x"}"#)).unwrap();
        assert_eq!(who.sub.as_deref(), Some("u1"));
        assert_eq!(who.iss.as_deref(), Some("x"));
        assert_eq!(who.label().as_deref(), Some("Jane"));
    }

    fn label(payload: &str) -> Option<String> {
        id_token_identity(&jwt(payload)).unwrap().label()
    }

    #[test]
    fn label_prefers_email_then_preferred_username_then_name() {
        let all = r#"{"sub":"1","iss":"https://as.example","email":"a@b.c","preferred_username":"alice","name":"Alice A"}"#;
        assert_eq!(label(all).as_deref(), Some("a@b.c"));
        assert_eq!(
            label(r#"{"sub":"1","preferred_username":"alice","name":"Alice A"}"#).as_deref(),
            Some("alice")
        );
        assert_eq!(
            label(r#"{"sub":"1","name":"Alice A"}"#).as_deref(),
            Some("Alice A")
        );
        assert_eq!(
            label(r#"{"sub":"1","email":"","preferred_username":" ","name":"Alice A"}"#).as_deref(),
            Some("Alice A"),
            "blank claims count as absent"
        );
    }

    #[test]
    fn a_numeric_sub_alone_is_labelled_with_its_issuer_never_bare() {
        assert_eq!(
            label(r#"{"sub":"1","iss":"https://as.example"}"#).as_deref(),
            Some("sub 1 at https://as.example")
        );
        let no_iss = id_token_identity(&jwt(r#"{"sub":"1"}"#)).unwrap();
        assert_eq!(no_iss.label().as_deref(), Some("sub 1"));
        assert_eq!(
            no_iss.or_issuer("https://as.example").label().as_deref(),
            Some("sub 1 at https://as.example")
        );
        // The token's own `iss` is kept over the issuer the caller knows.
        let tenant = id_token_identity(&jwt(r#"{"sub":"1","iss":"https://as.example/t1"}"#))
            .unwrap()
            .or_issuer("https://as.example/common");
        assert_eq!(
            tenant.label().as_deref(),
            Some("sub 1 at https://as.example/t1")
        );
        // Not only numbers: any subject is opaque outside its issuer.
        assert_eq!(
            label(r#"{"sub":"auth0|5f1c","iss":"https://as.example"}"#).as_deref(),
            Some("sub auth0|5f1c at https://as.example")
        );
        assert_eq!(label(r#"{"sub":"","iss":"https://as.example"}"#), None);
        assert_eq!(label(r#"{"iss":"https://as.example"}"#), None);
    }

    #[test]
    fn identities_stored_before_preferred_username_and_iss_still_load() {
        let old: DisplayIdentity =
            serde_json::from_str(r#"{"sub":"1","email":null,"name":null}"#).unwrap();
        assert_eq!(old.preferred_username, None);
        assert_eq!(old.iss, None);
        assert_eq!(old.label().as_deref(), Some("sub 1"));
    }

    #[test]
    fn malformed_id_tokens_give_none() {
        for bad in [
            "",
            "a.b",
            "a.!!!.c",
            "a.b.c.d",
            jwt("[1]").secret(),
            jwt(r#"{"sub":5}"#).secret(),
        ] {
            assert_eq!(id_token_identity(&IdToken::new(bad)), None, "{bad}");
        }
    }

    #[test]
    fn userinfo_pair_sends_bearer_and_parses_claims() {
        let url = Url::parse("https://as.example/userinfo").unwrap();
        let req = userinfo_request(&url, &AccessToken::new("at"), &Policy::default()).unwrap();
        assert_eq!(req.header("authorization"), Some("Bearer at"));
        assert!(!format!("{req:?}").contains("Bearer at"));
        let resp = HttpResponse::json(200, r#"{"sub":"u","email":"a@b.c"}"#);
        let who = process_userinfo_response(&url, &resp, &Policy::default()).unwrap();
        assert_eq!(who.label().as_deref(), Some("a@b.c"));
        let insecure = Url::parse("http://as.example/userinfo").unwrap();
        assert!(userinfo_request(&insecure, &AccessToken::new("at"), &Policy::default()).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_id_tokens_never_panic(s in ".*") {
            let _ = id_token_identity(&IdToken::new(s));
        }
    }
}
