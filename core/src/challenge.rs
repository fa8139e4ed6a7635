//! `WWW-Authenticate` challenges: parsing (RFC 9110 §11.6.1, §11.2), the Bearer challenge
//! (RFC 6750 §3, RFC 9728 §5.1), and what a protected resource's response asks the client to do.
//!
//! A resource answers `401` when a request lacks a valid token and `403` with
//! `error="insufficient_scope"` when the token lacks scope (MCP step-up).
//! [`classify_response`] turns either into an [`AuthChallenge`]; its [`BearerChallenge`] carries
//! the `scope` to request and the `resource_metadata` URL to discover from.
//!
//! ```
//! use mcpauth_core::HttpResponse;
//! use mcpauth_core::challenge::{AuthChallenge, classify_response};
//!
//! let resp = HttpResponse::new(
//!     403,
//!     vec![(
//!         "WWW-Authenticate".into(),
//!         r#"Bearer error="insufficient_scope", scope="files:read files:write""#.into(),
//!     )],
//!     "",
//! );
//! let Some(AuthChallenge::InsufficientScope(c)) = classify_response(&resp)? else {
//!     panic!("a step-up challenge");
//! };
//! assert_eq!(c.scopes().collect::<Vec<_>>(), ["files:read", "files:write"]);
//! # Ok::<(), mcpauth_core::Error>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::http::HttpResponse;

mod parse;

pub use parse::parse_www_authenticate;

/// The header name, as errors report it.
const HEADER: &str = "WWW-Authenticate";

/// One challenge of a `WWW-Authenticate` header (RFC 9110 §11.2).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(export, optional_fields = nullable)
)]
pub struct Challenge {
    /// The auth-scheme as sent, such as `Bearer` (compare case-insensitively).
    pub scheme: String,
    /// The token68 form of credentials data (`Negotiate abc==`), if the challenge has one.
    pub token68: Option<String>,
    /// The auth-params in order; names lowercased, values unquoted and unescaped.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// The value of parameter `name` (case-insensitive), if present.
    #[must_use]
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the scheme is `Bearer` (case-insensitive, RFC 9110 §11.1; RFC 6750 §3).
    #[must_use]
    pub fn is_bearer(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("bearer")
    }

    /// Whether the scheme is `DPoP` (case-insensitive, RFC 9449 §7.1).
    #[must_use]
    pub fn is_dpop(&self) -> bool {
        self.scheme
            .eq_ignore_ascii_case(crate::dpop::DPOP_TOKEN_TYPE)
    }
}

/// The parameters of a `Bearer` challenge (RFC 6750 §3, RFC 9728 §5.1), or of a `DPoP` one,
/// which has the same parameters (RFC 9449 §7.1; its `algs` is not kept: proofs are ES256).
///
/// Values are kept exactly as sent. `resource_metadata` in particular is not validated here:
/// the discovery step checks it (HTTPS, same origin rules) before fetching it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(export, optional_fields = nullable)
)]
#[non_exhaustive]
pub struct BearerChallenge {
    /// `realm`: the protection space.
    pub realm: Option<String>,
    /// `scope`: space-separated scopes the resource needs (RFC 6750 §3; MCP treats it as
    /// authoritative for the current operation).
    pub scope: Option<String>,
    /// `error`: `invalid_request`, `invalid_token` or `insufficient_scope` (RFC 6750 §3.1).
    pub error: Option<String>,
    /// `error_description`: human-readable, not for branching.
    pub error_description: Option<String>,
    /// `error_uri`: a page about the error.
    pub error_uri: Option<String>,
    /// `resource_metadata`: the protected resource metadata URL (RFC 9728 §5.1).
    pub resource_metadata: Option<String>,
}

impl BearerChallenge {
    /// The Bearer parameters of `challenge`, or `None` when it is neither a `Bearer` nor a
    /// `DPoP` challenge.
    ///
    /// A token68 on a Bearer challenge (which RFC 6750 §3 does not define) is ignored;
    /// unknown parameters are ignored too (RFC 6750 §3: extensions may add them).
    #[must_use]
    pub fn from_challenge(challenge: &Challenge) -> Option<Self> {
        if !challenge.is_bearer() && !challenge.is_dpop() {
            return None;
        }
        let get = |name: &str| challenge.param(name).map(str::to_owned);
        Some(Self {
            realm: get("realm"),
            scope: get("scope"),
            error: get("error"),
            error_description: get("error_description"),
            error_uri: get("error_uri"),
            resource_metadata: get("resource_metadata"),
        })
    }

    /// The challenged scopes, split on whitespace (RFC 6749 §3.3); empty without `scope`.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope
            .as_deref()
            .unwrap_or_default()
            .split_ascii_whitespace()
    }

    /// Whether `error` is `insufficient_scope` (RFC 6750 §3.1).
    #[must_use]
    pub fn is_insufficient_scope(&self) -> bool {
        self.error.as_deref() == Some("insufficient_scope")
    }
}

/// What a protected resource's response asks the client to do (MCP authorization,
/// "Authorization Flow Steps" and "Scope Challenge Handling").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AuthChallenge {
    /// `401`: the request had no valid token; authorize (or refresh) and retry.
    Unauthorized(BearerChallenge),
    /// `403` with `error="insufficient_scope"`: the token lacks scope; step up with the union
    /// of the granted and the challenged scopes (see [`crate::scope::union_scopes`]).
    InsufficientScope(BearerChallenge),
}

impl AuthChallenge {
    /// The Bearer challenge behind either kind.
    #[must_use]
    pub fn challenge(&self) -> &BearerChallenge {
        match self {
            AuthChallenge::Unauthorized(c) | AuthChallenge::InsufficientScope(c) => c,
        }
    }

    /// The challenged scopes, split on whitespace; empty when the challenge has no `scope`.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.challenge().scopes()
    }
}

/// Classifies a protected resource's response (RFC 6750 §3.1; MCP step-up).
///
/// - `401`: [`AuthChallenge::Unauthorized`] with the first Bearer challenge, or an empty one
///   when the header is absent or offers no Bearer challenge: a bare 401 still means
///   "authorize".
/// - `403` whose Bearer challenge has `error="insufficient_scope"`:
///   [`AuthChallenge::InsufficientScope`].
/// - anything else, including a `403` without `insufficient_scope`: `None`. Such a 403 is a
///   refusal, not a challenge; re-authorizing would not change it. The header is not parsed.
///
/// # Errors
/// [`ProtocolError::InvalidHeader`] when a `401` or `403` carries a malformed `WWW-Authenticate`
/// field (see [`bearer_challenge`]).
///
/// [`ProtocolError::InvalidHeader`]: crate::ProtocolError::InvalidHeader
pub fn classify_response(resp: &HttpResponse) -> Result<Option<AuthChallenge>> {
    match resp.status {
        401 => Ok(Some(AuthChallenge::Unauthorized(
            bearer_challenge(resp)?.unwrap_or_default(),
        ))),
        403 => Ok(bearer_challenge(resp)?
            .filter(BearerChallenge::is_insufficient_scope)
            .map(AuthChallenge::InsufficientScope)),
        _ => Ok(None),
    }
}

/// The first Bearer (or DPoP) challenge among all `WWW-Authenticate` fields of `resp`
/// (RFC 9110 §11.6.1, RFC 6750 §3, RFC 9449 §7.1), or `None` when there is none.
///
/// Fields are parsed in order and the search stops at the first Bearer challenge, so a malformed
/// field after it is not looked at.
///
/// # Errors
/// [`ProtocolError::InvalidHeader`] when a field before the first Bearer challenge (or the field
/// holding it) is malformed.
///
/// [`ProtocolError::InvalidHeader`]: crate::ProtocolError::InvalidHeader
pub fn bearer_challenge(resp: &HttpResponse) -> Result<Option<BearerChallenge>> {
    for value in resp.header_all(HEADER) {
        let found = parse_www_authenticate(value)?
            .iter()
            .find_map(BearerChallenge::from_challenge);
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Parses a header that must be valid (shared with `parse.rs`'s tests).
    pub(crate) fn parse(header: &str) -> Vec<Challenge> {
        parse_www_authenticate(header).unwrap()
    }

    /// Owned parameter pairs, for comparing with [`Challenge::params`].
    pub(crate) fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn response(status: u16, headers: &[&str]) -> HttpResponse {
        let headers = headers
            .iter()
            .map(|v| ("WWW-Authenticate".to_owned(), (*v).to_owned()))
            .collect();
        HttpResponse::new(status, headers, "")
    }

    #[test]
    fn rfc6750_examples_parse_into_bearer_fields() {
        let cs = parse(r#"Bearer realm="example""#);
        assert_eq!(cs.len(), 1);
        assert_eq!(cs[0].scheme, "Bearer");
        assert_eq!(cs[0].params, params(&[("realm", "example")]));

        let cs = parse(
            r#"Bearer realm="example", error="invalid_token", error_description="The access token expired""#,
        );
        let bearer = BearerChallenge::from_challenge(&cs[0]).unwrap();
        assert_eq!(bearer.realm.as_deref(), Some("example"));
        assert_eq!(bearer.error.as_deref(), Some("invalid_token"));
        assert_eq!(
            bearer.error_description.as_deref(),
            Some("The access token expired")
        );
        assert_eq!(bearer.scope, None);
    }

    #[test]
    fn rfc9728_resource_metadata_is_kept_exactly() {
        let cs = parse(
            r#"Bearer error="invalid_request", error_description="No access token was provided in this request", resource_metadata="https://resource.example.com/.well-known/oauth-protected-resource""#,
        );
        let bearer = BearerChallenge::from_challenge(&cs[0]).unwrap();
        assert_eq!(
            bearer.resource_metadata.as_deref(),
            Some("https://resource.example.com/.well-known/oauth-protected-resource")
        );
        // BWS around `=`, as in the RFC's folded example.
        let cs = parse(r#"Bearer resource_metadata = "https://r.example/x?a=1""#);
        assert_eq!(
            cs[0].param("resource_metadata"),
            Some("https://r.example/x?a=1")
        );
    }

    #[test]
    fn mcp_step_up_header_gives_insufficient_scope() {
        let resp = response(
            403,
            &[concat!(
                r#"Bearer error="insufficient_scope", scope="files:read files:write user:profile:write", "#,
                r#"resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource", "#,
                r#"error_description="Additional file write permission required""#
            )],
        );
        let Some(AuthChallenge::InsufficientScope(c)) = classify_response(&resp).unwrap() else {
            panic!("expected a step-up challenge");
        };
        assert_eq!(
            c.scopes().collect::<Vec<_>>(),
            ["files:read", "files:write", "user:profile:write"]
        );
        assert_eq!(
            c.resource_metadata.as_deref(),
            Some("https://mcp.example.com/.well-known/oauth-protected-resource")
        );
    }

    #[test]
    fn first_bearer_challenge_wins_across_header_fields() {
        let resp = response(
            401,
            &[
                r#"Basic realm="x""#,
                r#"Negotiate, Bearer scope="first""#,
                r#"Bearer scope="second""#,
            ],
        );
        let c = bearer_challenge(&resp).unwrap().unwrap();
        assert_eq!(c.scope.as_deref(), Some("first"));
        assert_eq!(bearer_challenge(&response(401, &["Basic"])).unwrap(), None);
        assert_eq!(bearer_challenge(&response(401, &[])).unwrap(), None);
    }

    #[test]
    fn malformed_field_before_the_bearer_one_is_an_error() {
        let resp = response(401, &[r#"Basic realm="x"#, r#"Bearer scope="a""#]);
        assert_eq!(
            bearer_challenge(&resp).unwrap_err().code(),
            "INVALID_HEADER"
        );
    }

    #[test]
    fn bare_401_still_means_authorize() {
        let got = classify_response(&response(401, &[])).unwrap();
        assert_eq!(
            got,
            Some(AuthChallenge::Unauthorized(BearerChallenge::default()))
        );
        let got = classify_response(&response(401, &[r#"Basic realm="x""#])).unwrap();
        assert_eq!(
            got,
            Some(AuthChallenge::Unauthorized(BearerChallenge::default()))
        );
        let got = classify_response(&response(401, &[r#"Bearer scope="mcp""#])).unwrap();
        assert_eq!(got.unwrap().scopes().collect::<Vec<_>>(), ["mcp"]);
    }

    #[test]
    fn forbidden_without_insufficient_scope_is_not_a_challenge() {
        assert_eq!(classify_response(&response(403, &[])).unwrap(), None);
        let resp = response(403, &[r#"Bearer error="invalid_token", scope="a""#]);
        assert_eq!(classify_response(&resp).unwrap(), None);
        // The error code is case-sensitive (RFC 6749 §5.2 codes are exact strings).
        let resp = response(403, &[r#"Bearer error="INSUFFICIENT_SCOPE""#]);
        assert_eq!(classify_response(&resp).unwrap(), None);
    }

    #[test]
    fn other_statuses_are_not_challenges_and_not_parsed() {
        let resp = response(200, &["Bearer realm=\"unterminated"]);
        assert_eq!(classify_response(&resp).unwrap(), None);
        assert_eq!(
            classify_response(&response(500, &["Bearer"])).unwrap(),
            None
        );
        let resp = response(401, &["Bearer realm=\"unterminated"]);
        assert_eq!(
            classify_response(&resp).unwrap_err().code(),
            "INVALID_HEADER"
        );
    }

    #[test]
    fn bearer_with_token68_has_no_params() {
        let cs = parse("Bearer abc");
        let c = BearerChallenge::from_challenge(&cs[0]).unwrap();
        assert_eq!(c, BearerChallenge::default());
        assert_eq!(BearerChallenge::from_challenge(&parse("Basic")[0]), None);
    }

    #[test]
    fn a_dpop_challenge_carries_the_same_parameters_as_a_bearer_one() {
        let resp = response(
            401,
            &[
                r#"DPoP algs="ES256 PS256", error="invalid_token", resource_metadata="https://mcp.example/prm", scope="a b""#,
            ],
        );
        let Some(AuthChallenge::Unauthorized(c)) = classify_response(&resp).unwrap() else {
            panic!("a 401 challenge");
        };
        assert_eq!(
            c.resource_metadata.as_deref(),
            Some("https://mcp.example/prm")
        );
        assert_eq!(c.scopes().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(c.error.as_deref(), Some("invalid_token"));
        let step_up = response(403, &[r#"dpop error="insufficient_scope", scope="c""#]);
        assert!(matches!(
            classify_response(&step_up).unwrap(),
            Some(AuthChallenge::InsufficientScope(_))
        ));
    }
}
