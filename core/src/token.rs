//! The token endpoint: responses (RFC 6749 §5.1) parsed once into a [`TokenSet`] with an
//! absolute expiry, the authorization code exchange (RFC 6749 §4.1.3) and refresh with
//! rotation (RFC 6749 §6, RFC 9700 §4.14).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::authorize::{AuthorizationResponse, PendingAuthorization};
use crate::client::ClientCredentials;
use crate::error::{Error, ProtocolError, Result, UsageError};
use crate::http::{HttpRequest, HttpResponse};
use crate::policy::{Policy, ResourceUri};
use crate::response::{Json, success_json_or_form};
use crate::secret::{AccessToken, IdToken, RefreshToken};
use crate::time::Time;

/// How long before `expires_at` a token already counts as expired: clock skew plus the time
/// the request that carries it takes. The most [`expiry_margin`] gives.
pub const DEFAULT_EXPIRY_MARGIN: Duration = Duration::from_secs(30);

/// How long before its expiry a token of `lifetime` is refreshed: [`DEFAULT_EXPIRY_MARGIN`],
/// but never more than half the lifetime, so that a short-lived token (a few seconds, as some
/// test servers and tight deployments issue) is used for a while before it counts as due,
/// instead of counting as due the moment it arrives. [`DEFAULT_EXPIRY_MARGIN`] when the
/// lifetime is unknown.
///
/// ```
/// use std::time::Duration;
/// use mcpauth_core::token::expiry_margin;
/// assert_eq!(expiry_margin(Some(Duration::from_secs(4))), Duration::from_secs(2));
/// assert_eq!(expiry_margin(Some(Duration::from_secs(3600))), Duration::from_secs(30));
/// assert_eq!(expiry_margin(None), Duration::from_secs(30));
/// ```
#[must_use]
pub fn expiry_margin(lifetime: Option<Duration>) -> Duration {
    lifetime.map_or(DEFAULT_EXPIRY_MARGIN, |lifetime| {
        DEFAULT_EXPIRY_MARGIN.min(lifetime / 2)
    })
}

/// The largest duration a server may give in seconds (`expires_in`, the device `interval`):
/// 2^32 − 1 s, about 136 years. A larger value is a server bug (often a timestamp in
/// milliseconds sent as a lifetime) and is refused rather than read as "never".
pub const MAX_DURATION_SECS: u64 = 4_294_967_295;

/// Tokens from a token endpoint.
///
/// `expires_in` is read by one rule wherever a server sends it (here and in
/// [`DeviceAuthorization`](crate::device::DeviceAuthorization)): a whole number of seconds,
/// as a JSON number (`3600`, also `3600.0`) or a string of ASCII digits (`"3600"`, which some
/// deployed servers send), at most [`MAX_DURATION_SECS`]. Anything else (`"3600.5"`, `-1`,
/// `"1h"`, `" 60"`, `""`, `true`, a larger value) is a
/// [`ProtocolError::InvalidField`] naming `expires_in` and the URL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(export, optional_fields = nullable)
)]
#[non_exhaustive]
pub struct TokenSet {
    /// The access token.
    pub access_token: AccessToken,
    /// The token type: `Bearer` (other types are refused when parsing), or `DPoP` for a token
    /// bound to the DPoP key of a request that carried a proof (RFC 9449 §5; it is then sent
    /// as `Authorization: DPoP`, each request with a proof), except for a token exchange that
    /// issued something other than an access token, where it is `N_A` (RFC 8693 §2.2.1; see
    /// [`ExchangedToken`](crate::exchange::ExchangedToken)).
    pub token_type: String,
    /// The refresh token, if one was issued.
    pub refresh_token: Option<RefreshToken>,
    /// When the access token expires, if the server said (`now + expires_in`).
    pub expires_at: Option<Time>,
    /// When the response that carried these tokens arrived (the `now` it was processed with),
    /// so that [`lifetime`](Self::lifetime) is known. `None` in records stored before it was
    /// kept.
    #[serde(default)]
    pub issued_at: Option<Time>,
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

    /// How long the access token was issued for (`expires_at - issued_at`), when both are
    /// known; the input of [`expiry_margin`].
    #[must_use]
    pub fn lifetime(&self) -> Option<Duration> {
        Some(self.issued_at?.until(self.expires_at?))
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
/// `now` is when the response arrived; `expires_at` is `now + expires_in`. `expires_in` is a
/// whole number of seconds, as a JSON number or a string of digits, at most
/// [`MAX_DURATION_SECS`] (the rule is on [`TokenSet`]).
///
/// The body is JSON, or form-encoded when its `Content-Type` is
/// `application/x-www-form-urlencoded` (GitHub's default): each parameter is then a string
/// member, so `expires_in=3600` reads as `"3600"`, which the rule accepts. An error body may
/// be form-encoded the same way.
///
/// # Errors
/// [`OAuthError`](crate::OAuthError) for an error body; [`ProtocolError`] for a missing or
/// mistyped field (including an `expires_in` that breaks the rule) or a token type other
/// than `Bearer`.
pub fn process_token_response(
    now: Time,
    url: &Url,
    resp: &HttpResponse,
    policy: &Policy,
) -> Result<TokenSet> {
    process_token_response_with(now, url, resp, policy, false)
}

/// [`process_token_response`] for a request that carried a DPoP proof when `proof` is true:
/// then the token type `DPoP` (case-insensitive, RFC 9449 §5) is accepted as well, and kept
/// as `DPoP`. Without a proof a `DPoP` token could not be used, so it is refused like any
/// other unknown type.
pub(crate) fn process_token_response_with(
    now: Time,
    url: &Url,
    resp: &HttpResponse,
    policy: &Policy,
    proof: bool,
) -> Result<TokenSet> {
    let json = success_json_or_form(url, resp, policy.max_response_bytes)?;
    if proof {
        parse_token_set_also_accepting(now, &json, Some(crate::dpop::DPOP_TOKEN_TYPE))
    } else {
        parse_token_set(now, &json)
    }
}

/// The code exchange request (RFC 6749 §4.1.3; RFC 7636 §4.5; RFC 8707 §2.2).
///
/// Sends `grant_type=authorization_code`, the code, the `redirect_uri`, `resource` and
/// `audience` of the authorization request, and the PKCE `code_verifier` to
/// `pending.token_endpoint`, with the client's authentication. The response takes the code by value: a code is used once.
///
/// The request's response cap is the default
/// [`DEFAULT_MAX_RESPONSE_BYTES`](crate::http::DEFAULT_MAX_RESPONSE_BYTES);
/// [`process_authorization_code_response`] applies the policy's cap.
///
/// # Errors
/// [`SecurityError::CredentialsForOtherIssuer`](crate::SecurityError::CredentialsForOtherIssuer)
/// when `client` belongs to another server than the one that issued the code;
/// [`UsageError::InvalidState`] when its `client_id` is not the one the code was issued to.
pub fn authorization_code_grant_request(
    pending: &PendingAuthorization,
    response: AuthorizationResponse,
    client: &ClientCredentials,
    policy: &Policy,
) -> Result<HttpRequest> {
    client.ensure_issuer(&pending.issuer)?;
    if client.client_id != pending.client_id {
        return Err(UsageError::InvalidState(
            "the client_id of these credentials is not the one the authorization request used",
        )
        .into());
    }
    let code = response.into_code();
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.secret()),
        ("redirect_uri", pending.redirect_uri.as_str()),
        ("code_verifier", pending.verifier.secret()),
    ];
    if let Some(resource) = &pending.resource {
        form.push(("resource", resource.as_str()));
    }
    if let Some(audience) = &pending.audience {
        form.push(("audience", audience.as_str()));
    }
    let mut request = client.authenticated_post(pending.token_endpoint.clone(), &form);
    request.max_response_bytes = policy.max_response_bytes;
    Ok(request)
}

/// Validates the code exchange response (RFC 6749 §4.1.4, §5.1).
///
/// Without a `scope` in the response, the granted scope is the requested one (RFC 6749
/// §5.1), so it is filled from `pending.scope`.
///
/// # Errors
/// As [`process_token_response`].
pub fn process_authorization_code_response(
    now: Time,
    pending: &PendingAuthorization,
    url: &Url,
    resp: &HttpResponse,
    policy: &Policy,
) -> Result<TokenSet> {
    process_authorization_code_response_with(now, pending, url, resp, policy, false)
}

/// [`process_authorization_code_response`] for an exchange that carried a DPoP proof when
/// `proof` is true (see [`process_token_response_with`]).
pub(crate) fn process_authorization_code_response_with(
    now: Time,
    pending: &PendingAuthorization,
    url: &Url,
    resp: &HttpResponse,
    policy: &Policy,
    proof: bool,
) -> Result<TokenSet> {
    let mut tokens = process_token_response_with(now, url, resp, policy, proof)?;
    if tokens.scope.is_none() {
        tokens.scope.clone_from(&pending.scope);
    }
    Ok(tokens)
}

/// The refresh request (RFC 6749 §6; OAuth 2.1 §4.3).
///
/// Sends `grant_type=refresh_token` and the refresh token, with `scope` only to narrow it
/// (RFC 6749 §6: it may not add scopes) and `resource` for the same audience as before
/// (RFC 8707 §2.2; MCP requires it), with the client's authentication.
///
/// # Errors
/// [`UsageError::NoRefreshToken`] when `tokens` has none;
/// [`SecurityError::InsecureUrl`](crate::SecurityError::InsecureUrl) for a plain-http
/// endpoint off loopback.
pub fn refresh_token_grant_request(
    token_endpoint: Url,
    tokens: &TokenSet,
    resource: Option<&ResourceUri>,
    scope: Option<&str>,
    client: &ClientCredentials,
    policy: &Policy,
) -> Result<HttpRequest> {
    let refresh_token = tokens
        .refresh_token
        .as_ref()
        .ok_or(UsageError::NoRefreshToken)?;
    policy.check_endpoint("token_endpoint", &token_endpoint)?;
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.secret()),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    if let Some(resource) = resource {
        form.push(("resource", resource.as_str()));
    }
    let mut req = client.authenticated_post(token_endpoint, &form);
    req.max_response_bytes = policy.max_response_bytes;
    Ok(req)
}

/// The outcome of a refresh: the tokens to store, replacing the previous ones.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Refreshed {
    /// The new token set, with what the response omitted carried over from the previous one.
    pub tokens: TokenSet,
    /// Whether the server issued a new refresh token (rotation, RFC 9700 §4.14.2). The old
    /// one is then invalid: store the new set before anything else uses the old token.
    pub rotated: bool,
}

/// Validates a refresh response (RFC 6749 §6, §5.1; OAuth 2.1 §4.3.1; RFC 9700 §4.14).
///
/// What the response omits is carried over from `previous`: the refresh token (then
/// `rotated` is false; RFC 6749 §6 lets the server keep it), the scope (unchanged unless a
/// narrower one was requested, in which case the server should have said), and the ID token.
///
/// An `invalid_grant` error stays a typed [`OAuthError`](crate::OAuthError): the refresh
/// token is expired, revoked or already used, so drop the tokens and authorize again (see
/// [`is_invalid_grant`]).
///
/// # Errors
/// As [`process_token_response`].
pub fn process_refresh_response(
    now: Time,
    previous: &TokenSet,
    url: &Url,
    resp: &HttpResponse,
    policy: &Policy,
) -> Result<Refreshed> {
    process_refresh_response_with(now, previous, url, resp, policy, false)
}

/// [`process_refresh_response`] for a refresh that carried a DPoP proof when `proof` is true
/// (see [`process_token_response_with`]).
pub(crate) fn process_refresh_response_with(
    now: Time,
    previous: &TokenSet,
    url: &Url,
    resp: &HttpResponse,
    policy: &Policy,
    proof: bool,
) -> Result<Refreshed> {
    let mut tokens = process_token_response_with(now, url, resp, policy, proof)?;
    let rotated = match (&tokens.refresh_token, &previous.refresh_token) {
        (None, _) => {
            tokens.refresh_token.clone_from(&previous.refresh_token);
            false
        }
        (Some(new), Some(old)) => !old.ct_eq(new.secret()),
        (Some(_), None) => true,
    };
    if tokens.scope.is_none() {
        tokens.scope.clone_from(&previous.scope);
    }
    if tokens.id_token.is_none() {
        tokens.id_token.clone_from(&previous.id_token);
    }
    Ok(Refreshed { tokens, rotated })
}

/// Whether `err` is the token endpoint's `invalid_grant` (RFC 6749 §5.2): the code or
/// refresh token is invalid, expired, revoked or already used. Drivers drop the stored
/// tokens and authorize again.
#[must_use]
pub fn is_invalid_grant(err: &Error) -> bool {
    err.oauth().is_some_and(|e| e.error == "invalid_grant")
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
        .seconds("expires_in")?
        .map(|lifetime| now.add(lifetime));
    Ok(TokenSet {
        access_token: AccessToken::new(access_token),
        token_type,
        refresh_token: json
            .str("refresh_token")?
            .filter(|t| !t.is_empty())
            .map(RefreshToken::new),
        expires_at,
        issued_at: Some(now),
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
    fn expires_in_as_a_numeric_string_counts_like_a_number() {
        for expires_in in ["3600", r#""3600""#, "3600.0", r#""03600""#] {
            let t = parse(
                200,
                &format!(r#"{{"access_token":"at","expires_in":{expires_in}}}"#),
            )
            .unwrap();
            assert_eq!(
                t.expires_at,
                Some(Time::from_unix_secs(4600)),
                "{expires_in}"
            );
        }
    }

    #[test]
    fn malformed_or_absurd_expires_in_is_refused_naming_field_and_url() {
        for (expires_in, reason) in [
            (r#""3600.5""#, r#"got the string "3600.5""#),
            ("3600.5", "got 3600.5"),
            ("-1", "got -1"),
            (r#""-1""#, r#"got the string "-1""#),
            (r#""abc""#, r#"got the string "abc""#),
            ("[]", "got array"),
            ("4294967296", "is more than 4294967295 seconds"),
            ("18446744073709551615", "is more than 4294967295 seconds"),
            (
                r#""184467440737095516150""#,
                "is more than 4294967295 seconds",
            ),
            ("1e300", "is more than 4294967295 seconds"),
        ] {
            let e = parse(
                200,
                &format!(r#"{{"access_token":"at","expires_in":{expires_in}}}"#),
            )
            .unwrap_err();
            assert_eq!(e.code(), "INVALID_FIELD", "{expires_in}");
            let message = e.to_string();
            assert!(
                message.starts_with("https://as.example/token: field `expires_in` "),
                "{message}"
            );
            assert!(message.contains(reason), "{expires_in}: {message}");
        }
        let largest = parse(200, r#"{"access_token":"at","expires_in":4294967295}"#).unwrap();
        assert_eq!(
            largest.expires_at,
            Some(Time::from_unix_secs(1000 + MAX_DURATION_SECS))
        );
    }

    #[test]
    fn expiry_margin_is_half_the_lifetime_up_to_thirty_seconds() {
        let secs = Duration::from_secs;
        assert_eq!(expiry_margin(Some(secs(4))), secs(2));
        assert_eq!(expiry_margin(Some(secs(3600))), secs(30));
        assert_eq!(expiry_margin(Some(secs(60))), secs(30));
        assert_eq!(expiry_margin(Some(secs(59))), Duration::from_millis(29_500));
        assert_eq!(expiry_margin(Some(Duration::ZERO)), Duration::ZERO);
        assert_eq!(expiry_margin(None), DEFAULT_EXPIRY_MARGIN);
    }

    #[test]
    fn token_sets_record_when_they_were_issued_and_for_how_long() {
        let t = parse(200, r#"{"access_token":"at","expires_in":4}"#).unwrap();
        assert_eq!(t.issued_at, Some(Time::from_unix_secs(1000)));
        assert_eq!(t.lifetime(), Some(Duration::from_secs(4)));
        let forever = parse(200, r#"{"access_token":"at"}"#).unwrap();
        assert_eq!(forever.lifetime(), None);
        let stored_before: TokenSet = serde_json::from_str(
            r#"{"access_token":"at","token_type":"Bearer","refresh_token":null,
                "expires_at":5000,"scope":null,"id_token":null}"#,
        )
        .unwrap();
        assert_eq!(stored_before.issued_at, None);
        assert_eq!(stored_before.lifetime(), None);
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

    /// A response as GitHub sends it unless asked for JSON.
    fn form_response(status: u16, body: &str) -> HttpResponse {
        HttpResponse::new(
            status,
            vec![(
                "Content-Type".into(),
                "application/x-www-form-urlencoded; charset=utf-8".into(),
            )],
            body,
        )
    }

    fn parse_form(status: u16, body: &str) -> Result<TokenSet> {
        process_token_response(
            Time::from_unix_secs(1000),
            &url(),
            &form_response(status, body),
            &Policy::default(),
        )
    }

    #[test]
    fn a_form_encoded_token_response_reads_as_its_json_would() {
        // GitHub's answer for a GitHub App user token (docs.github.com, "Generating a user
        // access token for a GitHub App"), form-encoded as it comes by default.
        let t = parse_form(
            200,
            "access_token=ghu_16C7e42F292c6912E7710c838347Ae178B4a&expires_in=28800\
             &refresh_token=ghr_1B4a2e77838347a7E420ce178F2E7c6912E169246c34E1ccbF66C4681\
             &refresh_token_expires_in=15811200&scope=repo%2Cgist+user&token_type=bearer",
        )
        .unwrap();
        assert_eq!(
            t.access_token.secret(),
            "ghu_16C7e42F292c6912E7710c838347Ae178B4a"
        );
        assert_eq!(t.token_type, "Bearer");
        assert_eq!(t.expires_at, Some(Time::from_unix_secs(1000 + 28800)));
        assert!(
            t.refresh_token
                .as_ref()
                .unwrap()
                .secret()
                .starts_with("ghr_1B4a")
        );
        assert_eq!(t.scope.as_deref(), Some("repo,gist user"));
        // GitHub's OAuth app answer: no expiry, no refresh token.
        let t = parse_form(
            200,
            "access_token=gho_16C7e42F292c6912E7710c838347Ae178B4a&scope=repo%2Cgist&token_type=bearer",
        )
        .unwrap();
        assert_eq!((t.expires_at, t.refresh_token), (None, None));
    }

    #[test]
    fn a_form_encoded_error_is_an_oauth_error_even_at_http_200() {
        // GitHub answers a bad code with HTTP 200 and this form body.
        let e = parse_form(
            200,
            "error=bad_verification_code&error_description=The+code+passed+is+incorrect+or+expired.\
             &error_uri=https%3A%2F%2Fdocs.github.com%2Fapps%2Fmanaging-oauth-apps\
             %2Ftroubleshooting-oauth-app-access-token-request-errors%2F%23bad-verification-code",
        )
        .unwrap_err();
        let oauth = e.oauth().unwrap();
        assert_eq!(oauth.error, "bad_verification_code");
        assert_eq!(
            oauth.error_description.as_deref(),
            Some("The code passed is incorrect or expired.")
        );
        assert!(
            oauth
                .error_uri
                .as_deref()
                .unwrap()
                .ends_with("#bad-verification-code")
        );
        assert_eq!(oauth.status, 200);
        let e = refresh_form(400, "error=invalid_grant").unwrap_err();
        assert!(is_invalid_grant(&e), "{e}");
        // The same holds for a JSON error at HTTP 200.
        let e = parse(200, r#"{"error":"bad_refresh_token"}"#).unwrap_err();
        assert_eq!(e.oauth().unwrap().error, "bad_refresh_token");
    }

    #[test]
    fn the_content_type_decides_between_json_and_form() {
        // A form body labelled JSON is not guessed at.
        let e = parse(200, "access_token=at&token_type=bearer").unwrap_err();
        assert_eq!(e.code(), "INVALID_JSON");
        // Nor is a JSON body labelled form: it is one oddly named parameter.
        let e = parse_form(200, r#"{"access_token":"at"}"#).unwrap_err();
        assert_eq!(e.code(), "MISSING_FIELD");
        for content_type in [
            "application/x-www-form-urlencoded",
            "APPLICATION/X-WWW-FORM-URLENCODED ; charset=UTF-8",
        ] {
            let resp = HttpResponse::new(
                200,
                vec![("content-type".into(), content_type.into())],
                "access_token=at",
            );
            let t =
                process_token_response(Time::from_unix_secs(1), &url(), &resp, &Policy::default());
            assert_eq!(t.unwrap().access_token.secret(), "at", "{content_type}");
        }
    }

    #[test]
    fn a_form_encoded_response_repeating_a_parameter_is_refused() {
        let e = parse_form(
            200,
            "access_token=mine&token_type=bearer&access_token=theirs",
        )
        .unwrap_err();
        assert_eq!(e.code(), "INVALID_JSON");
        assert!(e.to_string().contains("repeats `access_token`"), "{e}");
        assert!(
            !e.to_string().contains("theirs"),
            "no values in messages: {e}"
        );
        let e = parse_form(200, "access_token=%FF%FE").unwrap_err();
        assert!(e.to_string().contains("not UTF-8"), "{e}");
    }

    fn refresh_form(status: u16, body: &str) -> Result<Refreshed> {
        process_refresh_response(
            Time::from_unix_secs(1000),
            &tokens(Some("rt-1")),
            &url(),
            &form_response(status, body),
            &Policy::default(),
        )
    }

    #[test]
    fn a_form_encoded_refresh_response_rotates_like_a_json_one() {
        let r = refresh_form(
            200,
            "access_token=at-2&expires_in=60&refresh_token=rt-2&token_type=bearer",
        )
        .unwrap();
        assert!(r.rotated);
        assert_eq!(r.tokens.expires_at, Some(Time::from_unix_secs(1060)));
        assert_eq!(r.tokens.scope.as_deref(), Some("a b"), "carried over");
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

    // --- authorization code exchange (RFC 6749 §4.1.3) ---

    use crate::authorize::tests::{ISSUER, STATE, VERIFIER, client, pending};
    use crate::authorize::{
        AuthorizationResponse, PendingAuthorization, validate_authorization_response,
    };
    use crate::client::TokenEndpointAuthMethod;
    use crate::http::Method;
    use crate::secret::ClientSecret;
    use base64::Engine as _;
    use proptest::prelude::*;

    fn response(p: &PendingAuthorization) -> AuthorizationResponse {
        validate_authorization_response(p, &format!("code=c0de&state={STATE}")).unwrap()
    }

    fn body(req: &HttpRequest) -> String {
        String::from_utf8(req.body.clone()).unwrap()
    }

    fn confidential(method: TokenEndpointAuthMethod) -> ClientCredentials {
        ClientCredentials::confidential(ISSUER, "client-1", ClientSecret::new("s3cret"), method)
    }

    fn exchange(client: &ClientCredentials) -> Result<HttpRequest> {
        let p = pending(false);
        authorization_code_grant_request(&p, response(&p), client, &Policy::default())
    }

    fn exchange_form() -> String {
        format!(
            "grant_type=authorization_code&code=c0de\
             &redirect_uri=http%3A%2F%2F127.0.0.1%3A8123%2Fcb&code_verifier={VERIFIER}\
             &resource=https%3A%2F%2Fmcp.example%2Fmcp"
        )
    }

    #[test]
    fn code_exchange_of_a_public_client_sends_client_id_in_the_body() {
        let req = exchange(&client()).unwrap();
        assert_eq!(req.method, Method::Post);
        assert_eq!(req.url.as_str(), "https://as.example/token");
        assert_eq!(
            body(&req),
            format!("{}&client_id=client-1", exchange_form())
        );
        assert_eq!(req.header("authorization"), None);
        assert_eq!(
            req.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert!(!req.follow_redirects);
    }

    #[test]
    fn code_exchange_with_client_secret_basic_authenticates_in_the_header() {
        let req = exchange(&confidential(TokenEndpointAuthMethod::ClientSecretBasic)).unwrap();
        assert_eq!(body(&req), exchange_form());
        let basic = base64::engine::general_purpose::STANDARD.encode("client-1:s3cret");
        assert_eq!(
            req.header("authorization"),
            Some(format!("Basic {basic}").as_str())
        );
    }

    #[test]
    fn code_exchange_with_client_secret_post_authenticates_in_the_body() {
        let req = exchange(&confidential(TokenEndpointAuthMethod::ClientSecretPost)).unwrap();
        assert_eq!(
            body(&req),
            format!(
                "{}&client_id=client-1&client_secret=s3cret",
                exchange_form()
            )
        );
        assert_eq!(req.header("authorization"), None);
    }

    #[test]
    fn code_exchange_repeats_an_omitted_resource_as_omitted() {
        let mut p = pending(false);
        p.resource = None;
        let req = authorization_code_grant_request(&p, response(&p), &client(), &Policy::default())
            .unwrap();
        assert!(!body(&req).contains("resource="), "{}", body(&req));
    }

    #[test]
    fn code_exchange_repeats_the_audience_of_the_authorization_request() {
        assert!(!body(&exchange(&client()).unwrap()).contains("audience"));
        let mut p = pending(false);
        p.audience = Some("https://api.example/".into());
        let req = authorization_code_grant_request(&p, response(&p), &client(), &Policy::default())
            .unwrap();
        assert_eq!(
            body(&req),
            format!(
                "{}&audience=https%3A%2F%2Fapi.example%2F&client_id=client-1",
                exchange_form()
            )
        );
    }

    #[test]
    fn code_exchange_refuses_credentials_of_another_issuer_or_client() {
        let other = ClientCredentials::public("https://other.example", "client-1");
        assert_eq!(
            exchange(&other).unwrap_err().code(),
            "CREDENTIALS_FOR_OTHER_ISSUER"
        );
        // The code came from an issuer other than the credentials' (a mix-up).
        let mut p = pending(false);
        p.issuer = "https://evil.example".into();
        let e = authorization_code_grant_request(&p, response(&p), &client(), &Policy::default())
            .unwrap_err();
        assert_eq!(e.code(), "CREDENTIALS_FOR_OTHER_ISSUER");
        let renamed = ClientCredentials::public(ISSUER, "client-2");
        assert_eq!(exchange(&renamed).unwrap_err().code(), "INVALID_STATE");
    }

    fn process_code(p: &PendingAuthorization, status: u16, body: &str) -> Result<TokenSet> {
        process_authorization_code_response(
            Time::from_unix_secs(1000),
            p,
            &url(),
            &HttpResponse::json(status, body),
            &Policy::default(),
        )
    }

    #[test]
    fn granted_scope_defaults_to_the_requested_one() {
        let p = pending(false);
        let t = process_code(&p, 200, r#"{"access_token":"at","token_type":"Bearer"}"#).unwrap();
        assert_eq!(t.scope.as_deref(), Some("mcp:read mcp:write"));
        let t = process_code(
            &p,
            200,
            r#"{"access_token":"at","token_type":"Bearer","scope":"mcp:read"}"#,
        )
        .unwrap();
        assert_eq!(t.scope.as_deref(), Some("mcp:read"));
    }

    #[test]
    fn invalid_grant_is_recognized_and_other_errors_are_not() {
        let p = pending(false);
        let e = process_code(&p, 400, r#"{"error":"invalid_grant"}"#).unwrap_err();
        assert!(is_invalid_grant(&e));
        assert_eq!(e.oauth().unwrap().status, 400);
        let e = process_code(&p, 401, r#"{"error":"invalid_client"}"#).unwrap_err();
        assert!(!is_invalid_grant(&e));
        let e = process_code(&p, 500, "oops").unwrap_err();
        assert!(!is_invalid_grant(&e));
    }

    // --- refresh (RFC 6749 §6, RFC 9700 §4.14) ---

    fn tokens(refresh_token: Option<&str>) -> TokenSet {
        TokenSet {
            access_token: AccessToken::new("at-1"),
            token_type: "Bearer".into(),
            refresh_token: refresh_token.map(RefreshToken::new),
            expires_at: Some(Time::from_unix_secs(500)),
            issued_at: Some(Time::from_unix_secs(440)),
            scope: Some("a b".into()),
            id_token: Some(IdToken::new("id-1")),
        }
    }

    fn mcp() -> ResourceUri {
        ResourceUri::parse("https://mcp.example/mcp").unwrap()
    }

    #[test]
    fn refresh_request_sends_token_scope_and_resource() {
        let policy = Policy {
            max_response_bytes: 4096,
            ..Policy::default()
        };
        let t = tokens(Some("rt-1"));
        let req =
            refresh_token_grant_request(url(), &t, Some(&mcp()), None, &client(), &policy).unwrap();
        assert_eq!(
            body(&req),
            "grant_type=refresh_token&refresh_token=rt-1\
             &resource=https%3A%2F%2Fmcp.example%2Fmcp&client_id=client-1"
        );
        assert_eq!(req.max_response_bytes, 4096);
        let req =
            refresh_token_grant_request(url(), &t, None, Some("a"), &client(), &policy).unwrap();
        assert_eq!(
            body(&req),
            "grant_type=refresh_token&refresh_token=rt-1&scope=a&client_id=client-1"
        );
        let basic = confidential(TokenEndpointAuthMethod::ClientSecretBasic);
        let req = refresh_token_grant_request(url(), &t, None, None, &basic, &policy).unwrap();
        assert_eq!(body(&req), "grant_type=refresh_token&refresh_token=rt-1");
        assert!(req.header("authorization").is_some());
    }

    #[test]
    fn refresh_needs_a_refresh_token_and_a_secure_endpoint() {
        let p = Policy::default();
        let e = refresh_token_grant_request(url(), &tokens(None), None, None, &client(), &p)
            .unwrap_err();
        assert_eq!(e.code(), "NO_REFRESH_TOKEN");
        let plain = Url::parse("http://as.example/token").unwrap();
        let e = refresh_token_grant_request(plain, &tokens(Some("rt")), None, None, &client(), &p)
            .unwrap_err();
        assert_eq!(e.code(), "INSECURE_URL");
        let loopback = Url::parse("http://127.0.0.1:9000/token").unwrap();
        assert!(
            refresh_token_grant_request(loopback, &tokens(Some("rt")), None, None, &client(), &p)
                .is_ok()
        );
    }

    fn refresh(previous: &TokenSet, status: u16, body: &str) -> Result<Refreshed> {
        process_refresh_response(
            Time::from_unix_secs(1000),
            previous,
            &url(),
            &HttpResponse::json(status, body),
            &Policy::default(),
        )
    }

    #[test]
    fn refresh_without_a_new_refresh_token_keeps_the_old_one() {
        let r = refresh(
            &tokens(Some("rt-1")),
            200,
            r#"{"access_token":"at-2","token_type":"Bearer","expires_in":60}"#,
        )
        .unwrap();
        assert!(!r.rotated);
        let t = r.tokens;
        assert_eq!(t.access_token.secret(), "at-2");
        assert_eq!(t.refresh_token.unwrap().secret(), "rt-1");
        assert_eq!(t.expires_at, Some(Time::from_unix_secs(1060)));
        assert_eq!(t.scope.as_deref(), Some("a b"));
        assert_eq!(t.id_token.unwrap().secret(), "id-1");
    }

    #[test]
    fn refresh_with_a_new_refresh_token_reports_rotation() {
        let r = refresh(
            &tokens(Some("rt-1")),
            200,
            r#"{"access_token":"at-2","token_type":"Bearer","refresh_token":"rt-2","scope":"a","id_token":"id-2"}"#,
        )
        .unwrap();
        assert!(r.rotated);
        assert_eq!(r.tokens.refresh_token.unwrap().secret(), "rt-2");
        assert_eq!(r.tokens.scope.as_deref(), Some("a"));
        assert_eq!(r.tokens.id_token.unwrap().secret(), "id-2");
        let same = refresh(
            &tokens(Some("rt-1")),
            200,
            r#"{"access_token":"at-2","refresh_token":"rt-1"}"#,
        )
        .unwrap();
        assert!(!same.rotated);
        assert!(!format!("{same:?}").contains("rt-1"));
    }

    #[test]
    fn refresh_with_invalid_grant_stays_a_typed_oauth_error() {
        let e = refresh(
            &tokens(Some("rt-1")),
            400,
            r#"{"error":"invalid_grant","error_description":"refresh token reused"}"#,
        )
        .unwrap_err();
        assert!(is_invalid_grant(&e));
        assert_eq!(e.code(), "OAUTH_ERROR");
        assert!(!e.to_string().contains("rt-1"));
    }

    proptest! {
        #[test]
        fn arbitrary_token_response_bodies_never_panic(
            status in 100u16..600,
            body in prop::collection::vec(any::<u8>(), 0..256),
        ) {
            let resp = HttpResponse::json(status, body);
            let now = Time::from_unix_secs(1000);
            let _ = process_authorization_code_response(
                now, &pending(false), &url(), &resp, &Policy::default());
            let _ = process_refresh_response(
                now, &tokens(Some("rt")), &url(), &resp, &Policy::default());
        }

        #[test]
        fn arbitrary_form_encoded_token_response_bodies_never_panic(
            status in prop::sample::select(vec![200u16, 400, 401, 503]),
            body in prop::collection::vec(any::<u8>(), 0..256),
        ) {
            let resp = form_response(status, "");
            let resp = HttpResponse { body, ..resp };
            let now = Time::from_unix_secs(1000);
            let _ = process_authorization_code_response(
                now, &pending(false), &url(), &resp, &Policy::default());
            let _ = process_refresh_response(
                now, &tokens(Some("rt")), &url(), &resp, &Policy::default());
        }

        #[test]
        fn form_shaped_token_response_bodies_never_panic(
            status in prop::sample::select(vec![200u16, 400, 500]),
            body in r#"((access_token|refresh_token|token_type|expires_in|scope|error|error_description|%[0-9A-Fa-f]{0,2}|\+)=([a-zA-Z0-9+%]{0,8}|-?[0-9]{1,22})&?){0,7}"#,
        ) {
            let t = parse_form(status, &body);
            if let Ok(t) = t {
                prop_assert!(!t.access_token.secret().is_empty());
            }
        }

        #[test]
        fn json_shaped_token_response_bodies_never_panic(
            status in prop::sample::select(vec![200u16, 201, 400, 401, 500]),
            body in r#"\{("(access_token|refresh_token|token_type|expires_in|scope|id_token|error|error_description)":(null|true|-?[0-9]{1,22}(\.[0-9])?|"[a-zA-Z0-9 ]{0,8}"|\[\]|\{\}),?){0,7}\}"#,
        ) {
            let resp = HttpResponse::json(status, body);
            let now = Time::from_unix_millis(u64::MAX);
            let _ = process_authorization_code_response(
                now, &pending(true), &url(), &resp, &Policy::default());
            let _ = process_refresh_response(now, &tokens(None), &url(), &resp, &Policy::default());
        }
    }

    #[test]
    fn a_dpop_token_type_is_accepted_only_for_a_request_that_carried_a_proof() {
        let body = r#"{"access_token":"at","token_type":"dpop"}"#;
        let resp = HttpResponse::json(200, body);
        let with = |proof| {
            process_token_response_with(
                Time::from_unix_secs(1000),
                &url(),
                &resp,
                &Policy::default(),
                proof,
            )
        };
        assert_eq!(with(true).unwrap().token_type, "DPoP");
        assert_eq!(with(false).unwrap_err().code(), "INVALID_FIELD");
        let bearer = HttpResponse::json(200, r#"{"access_token":"at","token_type":"Bearer"}"#);
        let downgraded = process_token_response_with(
            Time::from_unix_secs(1000),
            &url(),
            &bearer,
            &Policy::default(),
            true,
        );
        assert_eq!(downgraded.unwrap().token_type, "Bearer");
    }
}
