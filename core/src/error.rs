//! Typed errors, kept in the three kinds a caller reacts to differently.
//!
//! - [`OAuthError`]: the server answered with an OAuth error body (RFC 6749 §5.2). The request
//!   was understood and refused; `error` says why (`invalid_grant`, `access_denied`, ...).
//! - [`ProtocolError`]: the server broke the protocol: a status, a body or a field that the
//!   RFCs do not allow. Messages name the URL and the field.
//! - [`SecurityError`]: a check the core runs to protect the user refused to go on (issuer or
//!   resource mismatch, state mismatch, plain HTTP, missing PKCE support).
//! - [`UsageError`]: the caller misused the API or asked for something the server cannot do.
//!
//! Every error has a stable [`code()`](Error::code), which the npm package exposes as
//! `err.code`; [`codes`] lists every code of the core and of the drivers. Messages never
//! contain a secret.

use thiserror::Error;

pub mod codes;

/// Any error of the core.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an OAuth error body.
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    /// The server broke the protocol.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// A security check refused to go on.
    #[error(transparent)]
    Security(#[from] SecurityError),
    /// The caller misused the API.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// A flow could not finish: a deadline, the transport, a login needed.
    #[error(transparent)]
    Flow(#[from] crate::flow::error::FlowError),
    /// The entropy source failed, so no verifier or state could be drawn.
    #[error("the entropy source failed: {reason}")]
    Entropy {
        /// What the source reported.
        reason: String,
    },
}

impl Error {
    /// A stable, machine-readable code, such as `ISSUER_MISMATCH` or `OAUTH_ERROR`: one of
    /// [`codes::ALL`].
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Error::OAuth(_) => codes::OAUTH_ERROR,
            Error::Protocol(e) => e.code(),
            Error::Security(e) => e.code(),
            Error::Usage(e) => e.code(),
            Error::Flow(e) => e.code(),
            Error::Entropy { .. } => codes::ENTROPY_UNAVAILABLE,
        }
    }

    /// The server's OAuth error, if this is one.
    #[must_use]
    pub fn oauth(&self) -> Option<&OAuthError> {
        match self {
            Error::OAuth(e) => Some(e),
            _ => None,
        }
    }
}

/// An OAuth error response (RFC 6749 §5.2, §4.1.2.1; RFC 8628 §3.5).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{where_} returned OAuth error `{error}`{}", describe(.error_description))]
pub struct OAuthError {
    /// The `error` code, such as `invalid_grant`.
    pub error: String,
    /// The server's `error_description`, if any. Human-readable, not for branching.
    pub error_description: Option<String>,
    /// The server's `error_uri`, if any.
    pub error_uri: Option<String>,
    /// The HTTP status (0 for an error delivered in an authorization redirect).
    pub status: u16,
    /// Which endpoint answered (a URL), or `authorization response`.
    pub where_: String,
}

fn describe(description: &Option<String>) -> String {
    description
        .as_deref()
        .map(|d| format!(": {d}"))
        .unwrap_or_default()
}

fn iss_missing(expected: &str, reported: Option<&OAuthError>) -> String {
    let missing = format!(
        "authorization server `{expected}` advertises authorization_response_iss_parameter_supported, but the response has no iss"
    );
    match reported {
        None => missing,
        Some(error) => format!("{error} (unverified: {missing})"),
    }
}

fn retry_hint(retry_after: &Option<std::time::Duration>) -> String {
    retry_after
        .map(|d| format!("; retry after {} s", d.as_secs()))
        .unwrap_or_default()
}

/// The server broke the protocol.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The status is not one the step allows.
    #[error("{url} answered HTTP {status}; expected {expected}")]
    UnexpectedStatus {
        /// The request URL.
        url: String,
        /// The status received.
        status: u16,
        /// What was expected, in words.
        expected: &'static str,
    },
    /// The server redirected a request the core does not allow to be redirected.
    #[error(
        "{url} answered with a redirect (HTTP {status}), which is not followed for OAuth endpoints"
    )]
    UnexpectedRedirect {
        /// The request URL.
        url: String,
        /// The 3xx status.
        status: u16,
    },
    /// The body exceeds the size cap.
    #[error("{url} sent a body larger than {limit} bytes")]
    ResponseTooLarge {
        /// The request URL.
        url: String,
        /// The cap in bytes.
        limit: usize,
    },
    /// The body is not a JSON object.
    #[error("{url} did not send a JSON object: {reason}")]
    InvalidJson {
        /// The request URL.
        url: String,
        /// What the parser reported.
        reason: String,
    },
    /// A required field is absent.
    #[error("{url}: required field `{field}` is missing")]
    MissingField {
        /// The request URL (or `authorization response`).
        url: String,
        /// The field name.
        field: &'static str,
    },
    /// A field has the wrong type or an invalid value.
    #[error("{url}: field `{field}` {reason}")]
    InvalidField {
        /// The request URL (or `authorization response`).
        url: String,
        /// The field name.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A header could not be parsed.
    #[error("malformed {header} header: {reason}")]
    InvalidHeader {
        /// The header name.
        header: &'static str,
        /// What is wrong with it, and where.
        reason: String,
    },
    /// The server is overloaded or down for now (HTTP 503, or 429) and may say when to retry
    /// (RFC 7009 §2.2.1, RFC 9110 §10.2.3). Trying again later may succeed.
    #[error("{url} is temporarily unavailable (HTTP {status}){}", retry_hint(.retry_after))]
    TemporarilyUnavailable {
        /// The request URL.
        url: String,
        /// The status received (503 or 429).
        status: u16,
        /// The server's `Retry-After`, when it gave one in seconds.
        retry_after: Option<std::time::Duration>,
    },
    /// Every candidate URL of a discovery step failed.
    #[error("could not discover {what}; tried {}", .tried.join(", "))]
    DiscoveryFailed {
        /// What was being discovered.
        what: &'static str,
        /// Each URL tried and why it failed.
        tried: Vec<String>,
    },
}

impl ProtocolError {
    /// A stable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            ProtocolError::UnexpectedStatus { .. } => codes::UNEXPECTED_STATUS,
            ProtocolError::UnexpectedRedirect { .. } => codes::UNEXPECTED_REDIRECT,
            ProtocolError::ResponseTooLarge { .. } => codes::RESPONSE_TOO_LARGE,
            ProtocolError::InvalidJson { .. } => codes::INVALID_JSON,
            ProtocolError::MissingField { .. } => codes::MISSING_FIELD,
            ProtocolError::InvalidField { .. } => codes::INVALID_FIELD,
            ProtocolError::InvalidHeader { .. } => codes::INVALID_HEADER,
            ProtocolError::TemporarilyUnavailable { .. } => codes::TEMPORARILY_UNAVAILABLE,
            ProtocolError::DiscoveryFailed { .. } => codes::DISCOVERY_FAILED,
        }
    }
}

/// A security check refused to go on.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SecurityError {
    /// An endpoint is not HTTPS and not a loopback host.
    #[error("{what} {url} must use https (plain http is allowed only for loopback hosts)")]
    InsecureUrl {
        /// Which endpoint or document.
        what: &'static str,
        /// The offending URL.
        url: String,
    },
    /// Metadata names another issuer than the one its URL was built from (RFC 8414 §3.3).
    #[error("{url} describes issuer `{found}`, but it was fetched for issuer `{expected}`")]
    IssuerMismatch {
        /// The metadata URL.
        url: String,
        /// The issuer the URL was built from.
        expected: String,
        /// The `issuer` the document declares.
        found: String,
    },
    /// Protected resource metadata names another resource (RFC 9728 §3.3).
    #[error("{url} describes resource `{found}`, but the server is `{expected}`")]
    ResourceMismatch {
        /// The metadata URL.
        url: String,
        /// The canonical server URI.
        expected: String,
        /// The `resource` the document declares.
        found: String,
    },
    /// The authorization server does not advertise PKCE S256.
    #[error(
        "authorization server `{issuer}` does not advertise PKCE S256 in code_challenge_methods_supported; refusing to authorize (set dangerously_assume_pkce_s256 for legacy servers)"
    )]
    PkceNotSupported {
        /// The issuer.
        issuer: String,
    },
    /// The authorization response has no `state`.
    #[error("the authorization response has no state parameter")]
    StateMissing,
    /// The authorization response's `state` is not the one sent.
    #[error(
        "the authorization response's state does not match the request (possible CSRF or a stale tab)"
    )]
    StateMismatch,
    /// RFC 9207: the server advertises `iss` but the response lacks it.
    ///
    /// The response is refused either way. When it carried an OAuth error (the user declined,
    /// a scope was refused), that error is in `oauth_error` and leads the message, so the user
    /// reads why the login failed; the code stays `ISS_MISSING`, because nothing ties the error
    /// to the expected server.
    #[error("{}", iss_missing(.expected, .oauth_error.as_deref()))]
    IssMissing {
        /// The expected issuer.
        expected: String,
        /// The `error`, `error_description` and `error_uri` the response carried, if it was an
        /// error response (status 0, `where_` = `authorization response`). Unverified: control
        /// characters are escaped and each value is cut at 200 characters.
        oauth_error: Option<Box<OAuthError>>,
    },
    /// RFC 9207: the response's `iss` is not the expected issuer.
    #[error(
        "the authorization response comes from issuer `{found}`, expected `{expected}` (possible mix-up attack)"
    )]
    IssMismatch {
        /// The expected issuer.
        expected: String,
        /// The `iss` received.
        found: String,
    },
    /// Pre-registered credentials belong to another authorization server.
    #[error(
        "the configured client credentials are for authorization server `{registered_for}`, but `{issuer}` is in use; they are not sent to another server"
    )]
    CredentialsForOtherIssuer {
        /// The issuer the credentials were registered with.
        registered_for: String,
        /// The issuer now in use.
        issuer: String,
    },
    /// Step-up authorization was tried too often for one resource.
    #[error("gave up on step-up authorization for {resource} after {attempts} attempts")]
    StepUpLimit {
        /// The resource.
        resource: String,
        /// Attempts made.
        attempts: u32,
    },
}

impl SecurityError {
    /// A stable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            SecurityError::InsecureUrl { .. } => codes::INSECURE_URL,
            SecurityError::IssuerMismatch { .. } => codes::ISSUER_MISMATCH,
            SecurityError::ResourceMismatch { .. } => codes::RESOURCE_MISMATCH,
            SecurityError::PkceNotSupported { .. } => codes::PKCE_NOT_SUPPORTED,
            SecurityError::StateMissing => codes::STATE_MISSING,
            SecurityError::StateMismatch => codes::STATE_MISMATCH,
            SecurityError::IssMissing { .. } => codes::ISS_MISSING,
            SecurityError::IssMismatch { .. } => codes::ISS_MISMATCH,
            SecurityError::CredentialsForOtherIssuer { .. } => codes::CREDENTIALS_FOR_OTHER_ISSUER,
            SecurityError::StepUpLimit { .. } => codes::STEP_UP_LIMIT,
        }
    }
}

/// The caller misused the API, or asked for something the server does not offer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum UsageError {
    /// A URL given by the caller is not valid for its purpose.
    #[error("invalid {what} `{url}`: {reason}")]
    InvalidUrl {
        /// What the URL is for.
        what: &'static str,
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The authorization server lacks an endpoint the step needs.
    #[error("authorization server `{issuer}` has no {endpoint}")]
    MissingEndpoint {
        /// The issuer.
        issuer: String,
        /// The metadata field that is absent, such as `device_authorization_endpoint`.
        endpoint: &'static str,
    },
    /// No way to obtain a client id: nothing pre-registered, no CIMD support, no DCR.
    #[error(
        "no client identity for `{issuer}`: no pre-registered client, no client ID metadata document support, and no registration_endpoint"
    )]
    NoClientIdentity {
        /// The issuer.
        issuer: String,
    },
    /// Client metadata given by the caller cannot be registered or published as it is.
    #[error("invalid client metadata: `{field}` {reason}")]
    InvalidClientMetadata {
        /// The metadata field (RFC 7591 §2 name).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A state machine was driven out of order.
    #[error("{0}")]
    InvalidState(&'static str),
    /// A token set has no refresh token to refresh with.
    #[error("no refresh token is stored; log in again")]
    NoRefreshToken,
    /// A profile name cannot be used in store keys (see [`Profile`](crate::flow::Profile)).
    #[error("profile name `{name}` {reason}")]
    InvalidProfile {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An extra request parameter would override one the core sets, or repeats a name
    /// (RFC 6749 §3.1: parameters must not be included more than once).
    #[error("authorization parameter `{name}` {reason}")]
    InvalidParameter {
        /// The parameter name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A signature handed back for a JWT the core wrote does not fit its algorithm.
    #[error(
        "a {alg} signature of {len} bytes does not fit (ES256 wants the raw 64-byte r || s, not DER)"
    )]
    InvalidSignature {
        /// The algorithm.
        alg: &'static str,
        /// The signature's length.
        len: usize,
    },
    /// A JWT must be signed with a key the driver was not given.
    #[error("no {what} to sign with: {hint}")]
    NoSigningKey {
        /// Which key (`DPoP key`, `client key`).
        what: &'static str,
        /// How to provide it.
        hint: &'static str,
    },
    /// A credential the login reads could not be read.
    #[error("cannot read the {what} from {source_}: {reason}")]
    CredentialUnavailable {
        /// What it is (`workload token`, `ID token`).
        what: &'static str,
        /// Where it was read from (a path or an environment variable's name; never a value).
        source_: String,
        /// What went wrong.
        reason: String,
    },
}

impl UsageError {
    /// A stable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            UsageError::InvalidUrl { .. } => codes::INVALID_URL,
            UsageError::MissingEndpoint { .. } => codes::MISSING_ENDPOINT,
            UsageError::NoClientIdentity { .. } => codes::NO_CLIENT_IDENTITY,
            UsageError::InvalidClientMetadata { .. } => codes::INVALID_CLIENT_METADATA,
            UsageError::InvalidState(_) => codes::INVALID_STATE,
            UsageError::NoRefreshToken => codes::NO_REFRESH_TOKEN,
            UsageError::InvalidParameter { .. } => codes::INVALID_PARAMETER,
            UsageError::InvalidProfile { .. } => codes::INVALID_PROFILE,
            UsageError::InvalidSignature { .. } => codes::INVALID_SIGNATURE,
            UsageError::NoSigningKey { .. } => codes::NO_SIGNING_KEY,
            UsageError::CredentialUnavailable { .. } => codes::CREDENTIAL_UNAVAILABLE,
        }
    }
}

/// Shorthand for results of the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_error_message_names_endpoint_and_code() {
        let e = Error::from(OAuthError {
            error: "invalid_grant".into(),
            error_description: Some("code expired".into()),
            error_uri: None,
            status: 400,
            where_: "https://as.example/token".into(),
        });
        assert_eq!(e.code(), "OAUTH_ERROR");
        assert_eq!(
            e.to_string(),
            "https://as.example/token returned OAuth error `invalid_grant`: code expired"
        );
        assert_eq!(e.oauth().map(|o| o.error.as_str()), Some("invalid_grant"));
    }

    #[test]
    fn codes_are_stable_per_kind() {
        let e = Error::from(SecurityError::StateMismatch);
        assert_eq!(e.code(), "STATE_MISMATCH");
        let e = Error::from(ProtocolError::MissingField {
            url: "u".into(),
            field: "issuer",
        });
        assert_eq!(e.code(), "MISSING_FIELD");
        assert_eq!(e.to_string(), "u: required field `issuer` is missing");
    }

    /// One error of each variant. The match in [`variant_name`] has no wildcard, so a new
    /// variant does not compile until it is added here too.
    use crate::flow::error::FlowError;

    fn one_of_each() -> Vec<Error> {
        let s = || String::from("x");
        let oauth = OAuthError {
            error: s(),
            error_description: None,
            error_uri: None,
            status: 400,
            where_: s(),
        };
        let protocol = [
            ProtocolError::UnexpectedStatus {
                url: s(),
                status: 500,
                expected: "2xx",
            },
            ProtocolError::UnexpectedRedirect {
                url: s(),
                status: 302,
            },
            ProtocolError::ResponseTooLarge { url: s(), limit: 1 },
            ProtocolError::InvalidJson {
                url: s(),
                reason: s(),
            },
            ProtocolError::MissingField {
                url: s(),
                field: "f",
            },
            ProtocolError::InvalidField {
                url: s(),
                field: "f",
                reason: s(),
            },
            ProtocolError::InvalidHeader {
                header: "h",
                reason: s(),
            },
            ProtocolError::TemporarilyUnavailable {
                url: s(),
                status: 503,
                retry_after: None,
            },
            ProtocolError::DiscoveryFailed {
                what: "w",
                tried: vec![],
            },
        ];
        let security = [
            SecurityError::InsecureUrl {
                what: "w",
                url: s(),
            },
            SecurityError::IssuerMismatch {
                url: s(),
                expected: s(),
                found: s(),
            },
            SecurityError::ResourceMismatch {
                url: s(),
                expected: s(),
                found: s(),
            },
            SecurityError::PkceNotSupported { issuer: s() },
            SecurityError::StateMissing,
            SecurityError::StateMismatch,
            SecurityError::IssMissing {
                expected: s(),
                oauth_error: Some(Box::new(oauth.clone())),
            },
            SecurityError::IssMismatch {
                expected: s(),
                found: s(),
            },
            SecurityError::CredentialsForOtherIssuer {
                registered_for: s(),
                issuer: s(),
            },
            SecurityError::StepUpLimit {
                resource: s(),
                attempts: 3,
            },
        ];
        let usage = [
            UsageError::InvalidUrl {
                what: "w",
                url: s(),
                reason: s(),
            },
            UsageError::MissingEndpoint {
                issuer: s(),
                endpoint: "e",
            },
            UsageError::NoClientIdentity { issuer: s() },
            UsageError::InvalidClientMetadata {
                field: "f",
                reason: s(),
            },
            UsageError::InvalidState("s"),
            UsageError::NoRefreshToken,
            UsageError::InvalidParameter {
                name: s(),
                reason: "r",
            },
            UsageError::InvalidSignature {
                alg: "ES256",
                len: 1,
            },
            UsageError::NoSigningKey {
                what: "w",
                hint: "h",
            },
            UsageError::CredentialUnavailable {
                what: "w",
                source_: s(),
                reason: s(),
            },
        ];
        let mut all = vec![Error::from(oauth), Error::Entropy { reason: s() }];
        all.extend(protocol.into_iter().map(Error::from));
        all.extend(security.into_iter().map(Error::from));
        all.extend(usage.into_iter().map(Error::from));
        let flow = [
            FlowError::Timeout {
                operation: "login",
                foreign_callbacks: 0,
            },
            FlowError::RequestTimeout { url: s() },
            FlowError::Transport {
                url: s(),
                reason: s(),
            },
            FlowError::Aborted,
            FlowError::LoginRequired {
                server: s(),
                reason: "r",
            },
            FlowError::PersistentUnauthorized { server: s() },
            FlowError::UnreadableRecord {
                key: s(),
                reason: s(),
            },
            FlowError::RefreshAnswerLost {
                cause: Box::new(FlowError::RequestTimeout { url: s() }.into()),
            },
        ];
        all.extend(flow.into_iter().map(Error::from));
        all
    }

    fn variant_name(e: &Error) -> String {
        let name = match e {
            Error::OAuth(_) => "OAuth",
            Error::Entropy { .. } => "Entropy",
            Error::Protocol(p) => match p {
                ProtocolError::UnexpectedStatus { .. } => "UnexpectedStatus",
                ProtocolError::UnexpectedRedirect { .. } => "UnexpectedRedirect",
                ProtocolError::ResponseTooLarge { .. } => "ResponseTooLarge",
                ProtocolError::InvalidJson { .. } => "InvalidJson",
                ProtocolError::MissingField { .. } => "MissingField",
                ProtocolError::InvalidField { .. } => "InvalidField",
                ProtocolError::InvalidHeader { .. } => "InvalidHeader",
                ProtocolError::TemporarilyUnavailable { .. } => "TemporarilyUnavailable",
                ProtocolError::DiscoveryFailed { .. } => "DiscoveryFailed",
            },
            Error::Security(p) => match p {
                SecurityError::InsecureUrl { .. } => "InsecureUrl",
                SecurityError::IssuerMismatch { .. } => "IssuerMismatch",
                SecurityError::ResourceMismatch { .. } => "ResourceMismatch",
                SecurityError::PkceNotSupported { .. } => "PkceNotSupported",
                SecurityError::StateMissing => "StateMissing",
                SecurityError::StateMismatch => "StateMismatch",
                SecurityError::IssMissing { .. } => "IssMissing",
                SecurityError::IssMismatch { .. } => "IssMismatch",
                SecurityError::CredentialsForOtherIssuer { .. } => "CredentialsForOtherIssuer",
                SecurityError::StepUpLimit { .. } => "StepUpLimit",
            },
            Error::Usage(u) => match u {
                UsageError::InvalidUrl { .. } => "InvalidUrl",
                UsageError::MissingEndpoint { .. } => "MissingEndpoint",
                UsageError::NoClientIdentity { .. } => "NoClientIdentity",
                UsageError::InvalidClientMetadata { .. } => "InvalidClientMetadata",
                UsageError::InvalidState(_) => "InvalidState",
                UsageError::NoRefreshToken => "NoRefreshToken",
                UsageError::InvalidParameter { .. } => "InvalidParameter",
                UsageError::InvalidProfile { .. } => "InvalidProfile",
                UsageError::InvalidSignature { .. } => "InvalidSignature",
                UsageError::NoSigningKey { .. } => "NoSigningKey",
                UsageError::CredentialUnavailable { .. } => "CredentialUnavailable",
            },
            Error::Flow(f) => match f {
                FlowError::Timeout { .. } => "Timeout",
                FlowError::RequestTimeout { .. } => "RequestTimeout",
                FlowError::Transport { .. } => "Transport",
                FlowError::Aborted => "Aborted",
                FlowError::LoginRequired { .. } => "LoginRequired",
                FlowError::PersistentUnauthorized { .. } => "PersistentUnauthorized",
                FlowError::UnreadableRecord { .. } => "UnreadableRecord",
                FlowError::RefreshAnswerLost { .. } => "RefreshAnswerLost",
            },
        };
        name.to_owned()
    }

    #[test]
    fn every_code_the_core_returns_is_in_the_catalogue() {
        let errors = one_of_each();
        let variants: std::collections::BTreeSet<_> = errors.iter().map(variant_name).collect();
        assert_eq!(variants.len(), errors.len(), "one error per variant");
        for e in &errors {
            assert!(
                codes::meaning(e.code()).is_some(),
                "{} returns `{}`, which codes::ALL lacks",
                variant_name(e),
                e.code()
            );
        }
    }

    #[test]
    fn catalogue_codes_are_unique_screaming_snake_case_and_explained() {
        let mut seen = std::collections::BTreeSet::new();
        for (code, meaning) in codes::ALL {
            assert!(seen.insert(*code), "`{code}` is listed twice");
            let screaming_snake = code.split('_').all(|word| {
                !word.is_empty()
                    && word
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            }) && code.starts_with(|c: char| c.is_ascii_uppercase());
            assert!(screaming_snake, "`{code}` is not SCREAMING_SNAKE_CASE");
            assert!(
                !meaning.is_empty() && !meaning.ends_with('.') && !meaning.contains('\n'),
                "`{code}`: the meaning is one line without a final period"
            );
        }
    }

    #[test]
    fn driver_synonyms_are_unified_under_one_name() {
        for old in [
            "NOT_LOGGED_IN",
            "CANCELLED",
            "LOGIN_TIMEOUT",
            "FETCH_FAILED",
        ] {
            assert_eq!(codes::meaning(old), None, "{old}");
        }
        for unified in [
            codes::LOGIN_REQUIRED,
            codes::ABORTED,
            codes::TIMEOUT,
            codes::TRANSPORT,
        ] {
            assert!(codes::meaning(unified).is_some(), "{unified}");
        }
        assert!(
            codes::meaning(codes::TIMEOUT).is_some_and(|m| m.contains("local deadline")),
            "TIMEOUT is about a local deadline, not the server's expired_token"
        );
    }
}
