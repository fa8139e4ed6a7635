//! The one list of error codes: every `code()` of the core, and the conditions only a driver
//! can observe (the network, a local deadline, the store, the browser), under one name each.
//!
//! The core's [`Error::code`](super::Error::code) returns these constants. Drivers (the native
//! crate, the wasm binding, the npm package) return them too instead of inventing synonyms,
//! so `err.code` means the same thing in every runtime, and [`ALL`] is what documentation
//! and generated TypeScript types list.
//!
//! Codes are `SCREAMING_SNAKE_CASE` and stable: a code is never renamed or reused for another
//! meaning; one that is no longer produced stays in the list.

// ----- the server's OAuth error -----

/// The server answered with an OAuth error body or redirect (`error`, RFC 6749 §5.2, §4.1.2.1).
pub const OAUTH_ERROR: &str = "OAUTH_ERROR";

// ----- the server broke the protocol -----

/// An endpoint answered with a status the step does not allow.
pub const UNEXPECTED_STATUS: &str = "UNEXPECTED_STATUS";
/// An OAuth endpoint answered with a redirect, which is never followed.
pub const UNEXPECTED_REDIRECT: &str = "UNEXPECTED_REDIRECT";
/// A response body exceeded the size cap.
pub const RESPONSE_TOO_LARGE: &str = "RESPONSE_TOO_LARGE";
/// A response body is not a JSON object.
pub const INVALID_JSON: &str = "INVALID_JSON";
/// A required response field is absent.
pub const MISSING_FIELD: &str = "MISSING_FIELD";
/// A response field has the wrong type or an invalid value.
pub const INVALID_FIELD: &str = "INVALID_FIELD";
/// A response header could not be parsed.
pub const INVALID_HEADER: &str = "INVALID_HEADER";
/// The server is overloaded or down for now (HTTP 503 or 429); a later try may succeed.
pub const TEMPORARILY_UNAVAILABLE: &str = "TEMPORARILY_UNAVAILABLE";
/// Every candidate URL of a discovery step failed.
pub const DISCOVERY_FAILED: &str = "DISCOVERY_FAILED";

// ----- a security check refused to go on -----

/// An endpoint is plain http and not on a loopback host.
pub const INSECURE_URL: &str = "INSECURE_URL";
/// Authorization server metadata names another issuer than its URL (RFC 8414 §3.3).
pub const ISSUER_MISMATCH: &str = "ISSUER_MISMATCH";
/// Protected resource metadata names another resource (RFC 9728 §3.3).
pub const RESOURCE_MISMATCH: &str = "RESOURCE_MISMATCH";
/// The authorization server does not advertise PKCE S256.
pub const PKCE_NOT_SUPPORTED: &str = "PKCE_NOT_SUPPORTED";
/// The authorization response has no `state`.
pub const STATE_MISSING: &str = "STATE_MISSING";
/// The authorization response's `state` is not the one sent.
pub const STATE_MISMATCH: &str = "STATE_MISMATCH";
/// The server advertises RFC 9207 `iss` but the authorization response lacks it (an OAuth
/// error the response carried is reported along, unverified).
pub const ISS_MISSING: &str = "ISS_MISSING";
/// The authorization response's `iss` is not the expected issuer (RFC 9207).
pub const ISS_MISMATCH: &str = "ISS_MISMATCH";
/// Pre-registered client credentials belong to another authorization server.
pub const CREDENTIALS_FOR_OTHER_ISSUER: &str = "CREDENTIALS_FOR_OTHER_ISSUER";
/// Step-up authorization was tried too often for one resource.
pub const STEP_UP_LIMIT: &str = "STEP_UP_LIMIT";

// ----- the caller misused the API -----

/// A URL given by the caller is not valid for its purpose.
pub const INVALID_URL: &str = "INVALID_URL";
/// The authorization server lacks an endpoint the step needs.
pub const MISSING_ENDPOINT: &str = "MISSING_ENDPOINT";
/// No client identity: nothing pre-registered, no CIMD support, no dynamic registration.
pub const NO_CLIENT_IDENTITY: &str = "NO_CLIENT_IDENTITY";
/// Client metadata given by the caller cannot be registered or published as it is.
pub const INVALID_CLIENT_METADATA: &str = "INVALID_CLIENT_METADATA";
/// A state machine was driven out of order.
pub const INVALID_STATE: &str = "INVALID_STATE";
/// A refresh was asked for, but no refresh token is stored.
pub const NO_REFRESH_TOKEN: &str = "NO_REFRESH_TOKEN";
/// An extra authorization parameter overrides one the core sets, or repeats.
pub const INVALID_PARAMETER: &str = "INVALID_PARAMETER";
/// A signature handed back for a JWT the core wrote does not fit its algorithm.
pub const INVALID_SIGNATURE: &str = "INVALID_SIGNATURE";
/// A JWT must be signed with a key the driver was not given (a `private_key_jwt` client
/// without its key, a DPoP login without a key).
pub const NO_SIGNING_KEY: &str = "NO_SIGNING_KEY";
/// A credential the login reads (a workload token, an ID token) could not be read.
pub const CREDENTIAL_UNAVAILABLE: &str = "CREDENTIAL_UNAVAILABLE";
/// A profile name cannot be used in store keys.
pub const INVALID_PROFILE: &str = "INVALID_PROFILE";
/// An argument passed across the JavaScript boundary does not have the documented shape.
pub const INVALID_ARGUMENT: &str = "INVALID_ARGUMENT";
/// The operation needs a redirect URI and none was configured.
pub const NO_REDIRECT_URI: &str = "NO_REDIRECT_URI";
/// A callback arrived, but no pending authorization is stored for it (another tab, or used).
pub const NO_PENDING_AUTHORIZATION: &str = "NO_PENDING_AUTHORIZATION";

// ----- the login and its outcome, as a driver sees them -----

/// No usable login for the server: nothing stored, or it expired with no way to refresh.
pub const LOGIN_REQUIRED: &str = "LOGIN_REQUIRED";
/// A request was refused with 401 again after a refresh and after a fresh login.
pub const PERSISTENT_UNAUTHORIZED: &str = "PERSISTENT_UNAUTHORIZED";
/// The user or the caller stopped the operation (a cancel, an `AbortSignal`, Ctrl-C).
pub const ABORTED: &str = "ABORTED";
/// A local deadline passed (a request, or the wait for a login); not the server's
/// `expired_token`, which is an [`OAUTH_ERROR`].
pub const TIMEOUT: &str = "TIMEOUT";
/// The browser blocked the login popup.
pub const POPUP_BLOCKED: &str = "POPUP_BLOCKED";
/// The user closed the login popup before it finished.
pub const POPUP_CLOSED: &str = "POPUP_CLOSED";
/// The loopback listener could not deliver an authorization response.
pub const CALLBACK: &str = "CALLBACK";
/// The fixed loopback port asked for is taken by another program.
pub const PORT_IN_USE: &str = "PORT_IN_USE";

// ----- the environment -----

/// A request could not be sent or its response not read (DNS, connect, TLS, CORS, reset).
pub const TRANSPORT: &str = "TRANSPORT";
/// The entropy source failed, so no verifier or state could be drawn.
pub const ENTROPY_UNAVAILABLE: &str = "ENTROPY_UNAVAILABLE";
/// The token store failed: unreadable, undecryptable, tampered with, or unavailable.
pub const STORE: &str = "STORE";
/// A stored record is of another format version or shape; log in again.
pub const STORE_RECORD_UNREADABLE: &str = "STORE_RECORD_UNREADABLE";
/// The configuration file or a configured value is invalid.
pub const CONFIG: &str = "CONFIG";
/// A local I/O operation failed.
pub const IO: &str = "IO";
/// The host has no `fetch` (or no `setTimeout`) and none was passed.
pub const HOST_API_MISSING: &str = "HOST_API_MISSING";
/// A result could not be converted for JavaScript (a number past 2^53).
pub const CONVERSION_FAILED: &str = "CONVERSION_FAILED";
/// A caller's callback threw; its exception is passed on unchanged, so callers never see this.
pub const THROWN: &str = "THROWN";
/// A driver found a machine in a state the core promises never to reach.
pub const INTERNAL: &str = "INTERNAL";

/// Every code with its meaning in one line, in the order of the sections above.
pub static ALL: &[(&str, &str)] = &[
    (
        OAUTH_ERROR,
        "the server answered with an OAuth error (`error`, `error_description`)",
    ),
    (
        UNEXPECTED_STATUS,
        "an endpoint answered with a status the step does not allow",
    ),
    (
        UNEXPECTED_REDIRECT,
        "an OAuth endpoint answered with a redirect, which is never followed",
    ),
    (RESPONSE_TOO_LARGE, "a response body exceeded the size cap"),
    (INVALID_JSON, "a response body is not a JSON object"),
    (MISSING_FIELD, "a required response field is absent"),
    (
        INVALID_FIELD,
        "a response field has the wrong type or an invalid value",
    ),
    (INVALID_HEADER, "a response header could not be parsed"),
    (
        TEMPORARILY_UNAVAILABLE,
        "the server is overloaded or down for now (HTTP 503 or 429); try again later",
    ),
    (
        DISCOVERY_FAILED,
        "every candidate URL of a discovery step failed",
    ),
    (
        INSECURE_URL,
        "an endpoint is plain http and not on a loopback host",
    ),
    (
        ISSUER_MISMATCH,
        "authorization server metadata names another issuer than its URL",
    ),
    (
        RESOURCE_MISMATCH,
        "protected resource metadata names another resource",
    ),
    (
        PKCE_NOT_SUPPORTED,
        "the authorization server does not advertise PKCE S256",
    ),
    (STATE_MISSING, "the authorization response has no state"),
    (
        STATE_MISMATCH,
        "the authorization response's state is not the one sent",
    ),
    (
        ISS_MISSING,
        "the server advertises RFC 9207 iss but the authorization response lacks it (an error it carried is reported, unverified)",
    ),
    (
        ISS_MISMATCH,
        "the authorization response's iss is not the expected issuer",
    ),
    (
        CREDENTIALS_FOR_OTHER_ISSUER,
        "pre-registered client credentials belong to another authorization server",
    ),
    (
        STEP_UP_LIMIT,
        "step-up authorization was tried too often for one resource",
    ),
    (
        INVALID_URL,
        "a URL given by the caller is not valid for its purpose",
    ),
    (
        MISSING_ENDPOINT,
        "the authorization server lacks an endpoint the step needs",
    ),
    (
        NO_CLIENT_IDENTITY,
        "no pre-registered client, no CIMD support and no dynamic registration",
    ),
    (
        INVALID_CLIENT_METADATA,
        "client metadata given by the caller cannot be registered or published",
    ),
    (INVALID_STATE, "a state machine was driven out of order"),
    (
        NO_REFRESH_TOKEN,
        "a refresh was asked for, but no refresh token is stored",
    ),
    (
        INVALID_PARAMETER,
        "an extra authorization parameter overrides one the core sets, or repeats",
    ),
    (
        INVALID_SIGNATURE,
        "a signature for a JWT the core wrote does not fit its algorithm",
    ),
    (
        NO_SIGNING_KEY,
        "a JWT must be signed with a key the driver was not given",
    ),
    (
        CREDENTIAL_UNAVAILABLE,
        "a credential the login reads (a workload token, an ID token) could not be read",
    ),
    (
        INVALID_PROFILE,
        "a profile name is not 1 to 64 ASCII letters, digits, '.', '_' or '-'",
    ),
    (
        INVALID_ARGUMENT,
        "an argument passed from JavaScript does not have the documented shape",
    ),
    (
        NO_REDIRECT_URI,
        "the operation needs a redirect URI and none was configured",
    ),
    (
        NO_PENDING_AUTHORIZATION,
        "a callback arrived, but no pending authorization is stored for it",
    ),
    (
        LOGIN_REQUIRED,
        "no usable login for the server: nothing stored, or expired with no way to refresh",
    ),
    (
        PERSISTENT_UNAUTHORIZED,
        "a request was refused with 401 again after a refresh and after a fresh login",
    ),
    (
        ABORTED,
        "the user or the caller stopped the operation (cancel, AbortSignal, Ctrl-C)",
    ),
    (
        TIMEOUT,
        "a local deadline passed (a request, or the wait for a login); not the server's expired_token",
    ),
    (POPUP_BLOCKED, "the browser blocked the login popup"),
    (
        POPUP_CLOSED,
        "the user closed the login popup before it finished",
    ),
    (
        CALLBACK,
        "the loopback listener could not deliver an authorization response",
    ),
    (
        PORT_IN_USE,
        "the fixed loopback port asked for is taken by another program",
    ),
    (
        TRANSPORT,
        "a request could not be sent or its response not read (DNS, connect, TLS, CORS, reset)",
    ),
    (
        ENTROPY_UNAVAILABLE,
        "the entropy source failed, so no verifier or state could be drawn",
    ),
    (
        STORE,
        "the token store is unreadable, undecryptable, tampered with, or unavailable",
    ),
    (
        STORE_RECORD_UNREADABLE,
        "a stored record is of another format version or shape; log in again",
    ),
    (
        CONFIG,
        "the configuration file or a configured value is invalid",
    ),
    (IO, "a local I/O operation failed"),
    (
        HOST_API_MISSING,
        "the host has no fetch (or setTimeout) and none was passed",
    ),
    (
        CONVERSION_FAILED,
        "a result could not be converted for JavaScript (a number past 2^53)",
    ),
    (
        THROWN,
        "a caller's callback threw; its exception is passed on unchanged",
    ),
    (
        INTERNAL,
        "a driver found a machine in a state the core promises never to reach",
    ),
];

/// The one-line meaning of `code`, or `None` for a code not in [`ALL`].
///
/// ```
/// use mcpauth_core::error::codes;
/// assert_eq!(codes::meaning(codes::STATE_MISSING), Some("the authorization response has no state"));
/// assert_eq!(codes::meaning("NOT_LOGGED_IN"), None);
/// ```
#[must_use]
pub fn meaning(code: &str) -> Option<&'static str> {
    ALL.iter().find(|(c, _)| *c == code).map(|(_, m)| *m)
}
