//! Token responses (RFC 6749 §5.1), parsed once into a [`TokenSet`] with an absolute expiry.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{ProtocolError, Result};
use crate::http::HttpResponse;
use crate::policy::Policy;
use crate::response::{Json, success_json};
use crate::secret::{AccessToken, IdToken, RefreshToken};
use crate::time::Time;

/// How long before `expires_at` a token already counts as expired: clock skew plus the time
/// the request that carries it takes.
pub const DEFAULT_EXPIRY_MARGIN: Duration = Duration::from_secs(30);

/// Tokens from a token endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TokenSet {
    /// The access token.
    pub access_token: AccessToken,
    /// The token type: `Bearer` (other types are refused when parsing), except for a token
    /// exchange that issued something other than an access token, where it is `N_A`
    /// (RFC 8693 §2.2.1; see [`ExchangedToken`](crate::exchange::ExchangedToken)).
    pub token_type: String,
    /// The refresh token, if one was issued.
    pub refresh_token: Option<RefreshToken>,
    /// When the access token expires, if the server said (`now + expires_in`).
    pub expires_at: Option<Time>,
    /// The granted scope, space-separated, if the server said.
    pub scope: Option<String>,
    /// An OpenID Connect ID token, for display only.
    pub id_token: Option<IdToken>,
}

impl TokenSet {
    /// Whether the access token is expired or expires within `margin` of `now`.
    /// A token without `expires_at` never expires by time (the server's 401 decides).
    #[must_use]
    pub fn is_expired(&self, now: Time, margin: Duration) -> bool {
        self.expires_at.is_some_and(|at| now.add(margin) >= at)
    }

    /// The granted scopes, split on spaces.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope
            .as_deref()
            .unwrap_or_default()
            .split_ascii_whitespace()
    }
}

/// Validates a token endpoint response and parses it (RFC 6749 §5.1, §5.2).
///
/// `now` is when the response arrived; `expires_at` is computed from it.
///
/// # Errors
/// [`OAuthError`](crate::OAuthError) for an error body; [`ProtocolError`] for a missing or
/// mistyped field or a token type other than `Bearer`.
pub fn process_token_response(
    now: Time,
    url: &Url,
    resp: &HttpResponse,
    policy: &Policy,
) -> Result<TokenSet> {
    let json = success_json(url, resp, policy.max_response_bytes)?;
    parse_token_set(now, &json)
}

/// Parses the members of a successful token response; shared by every grant.
pub(crate) fn parse_token_set(now: Time, json: &Json) -> Result<TokenSet> {
    parse_token_set_also_accepting(now, json, None)
}

/// Like [`parse_token_set`], but also accepts the token type `also` (compared
/// case-insensitively and kept as given): token exchange uses `N_A` for an issued token that
/// is not an access token (RFC 8693 §2.2.1).
pub(crate) fn parse_token_set_also_accepting(
    now: Time,
    json: &Json,
    also: Option<&str>,
) -> Result<TokenSet> {
    let access_token = json.req_str("access_token")?;
    if access_token.is_empty() {
        return Err(invalid(json, "access_token", "must not be empty"));
    }
    let token_type = json.str("token_type")?.unwrap_or_else(|| "Bearer".into());
    let token_type = match also {
        Some(extra) if token_type.eq_ignore_ascii_case(extra) => extra.to_owned(),
        _ if token_type.eq_ignore_ascii_case("bearer") => "Bearer".to_owned(),
        _ => {
            return Err(invalid(
                json,
                "token_type",
                format!("is `{token_type}`; only Bearer tokens are supported"),
            ));
        }
    };
    let expires_at = json
        .u64("expires_in")?
        .map(|s| now.add(Duration::from_secs(s)));
    Ok(TokenSet {
        access_token: AccessToken::new(access_token),
        token_type,
        refresh_token: json
            .str("refresh_token")?
            .filter(|t| !t.is_empty())
            .map(RefreshToken::new),
        expires_at,
        scope: json.str("scope")?,
        id_token: json.str("id_token")?.map(IdToken::new),
    })
}

fn invalid(json: &Json, field: &'static str, reason: impl Into<String>) -> crate::Error {
    ProtocolError::InvalidField {
        url: json.url().to_owned(),
        field,
        reason: reason.into(),
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> Url {
        Url::parse("https://as.example/token").unwrap()
    }

    fn parse(status: u16, body: &str) -> Result<TokenSet> {
        process_token_response(
            Time::from_unix_secs(1000),
            &url(),
            &HttpResponse::json(status, body),
            &Policy::default(),
        )
    }

    #[test]
    fn computes_expires_at_from_now() {
        let t = parse(200, r#"{"access_token":"at","token_type":"bearer","expires_in":3600,"refresh_token":"rt","scope":"a b"}"#).unwrap();
        assert_eq!(t.expires_at, Some(Time::from_unix_secs(4600)));
        assert_eq!(t.token_type, "Bearer");
        assert_eq!(t.refresh_token.as_ref().unwrap().secret(), "rt");
        assert_eq!(t.scopes().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn expiry_uses_the_margin() {
        let t = parse(
            200,
            r#"{"access_token":"at","token_type":"Bearer","expires_in":60}"#,
        )
        .unwrap();
        assert!(!t.is_expired(Time::from_unix_secs(1000), DEFAULT_EXPIRY_MARGIN));
        assert!(!t.is_expired(Time::from_unix_secs(1029), DEFAULT_EXPIRY_MARGIN));
        assert!(t.is_expired(Time::from_unix_secs(1030), DEFAULT_EXPIRY_MARGIN));
        assert!(t.is_expired(Time::from_unix_secs(1060), Duration::ZERO));
        let forever = parse(200, r#"{"access_token":"at","token_type":"Bearer"}"#).unwrap();
        assert!(!forever.is_expired(Time::from_unix_secs(u64::MAX / 1000), DEFAULT_EXPIRY_MARGIN));
    }

    #[test]
    fn refuses_non_bearer_and_missing_token() {
        assert_eq!(
            parse(200, r#"{"access_token":"at","token_type":"DPoP"}"#)
                .unwrap_err()
                .code(),
            "INVALID_FIELD"
        );
        assert_eq!(
            parse(200, r#"{"token_type":"Bearer"}"#).unwrap_err().code(),
            "MISSING_FIELD"
        );
        assert_eq!(
            parse(200, r#"{"access_token":"","token_type":"Bearer"}"#)
                .unwrap_err()
                .code(),
            "INVALID_FIELD"
        );
        assert_eq!(
            parse(200, r#"{"access_token":"a","expires_in":-5}"#)
                .unwrap_err()
                .code(),
            "INVALID_FIELD"
        );
    }

    #[test]
    fn error_body_is_typed() {
        let err = parse(
            400,
            r#"{"error":"invalid_grant","error_description":"used"}"#,
        )
        .unwrap_err();
        assert_eq!(err.oauth().unwrap().error, "invalid_grant");
    }

    #[test]
    fn debug_of_token_set_hides_tokens() {
        let t = parse(
            200,
            r#"{"access_token":"SECRET-A","refresh_token":"SECRET-R","id_token":"SECRET-I"}"#,
        )
        .unwrap();
        assert!(!format!("{t:?}").contains("SECRET"));
    }
}
