//! Errors as JavaScript sees them: one class, `McpAuthError`, with the core's stable `code`.
//!
//! Every failure of the binding becomes a [`Failure`] inside Rust and a `McpAuthError` (an
//! `Error` subclass defined in a small JS snippet, so `instanceof` and stack traces work) when it
//! crosses into JavaScript. The fields follow the core's three kinds of error: the server's
//! OAuth error (`error`, `errorDescription`, `errorUri`, `status`), the server breaking the
//! protocol, and the caller misusing the API; the binding adds transport failures (fetch
//! rejected), a missing host API, and invalid arguments. Messages never carry a secret: the
//! core's never do, and the binding scrubs quoted values out of argument-parsing messages.

use js_sys::{Object, Reflect};
use mcpauth_core::{Error, ProtocolError};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
export class McpAuthError extends Error {
  constructor(code, message, fields) {
    super(message, fields && fields.cause !== undefined ? { cause: fields.cause } : undefined);
    this.name = 'McpAuthError';
    this.code = code;
    if (fields) {
      for (const key of Object.keys(fields)) {
        if (key !== 'cause' && fields[key] !== undefined) this[key] = fields[key];
      }
    }
  }
}
export function mcpAuthErrorClass() { return McpAuthError; }
"#)]
extern "C" {
    /// The snippet's class, for constructing errors.
    #[wasm_bindgen(js_name = McpAuthError)]
    type McpAuthErrorJs;

    #[wasm_bindgen(constructor, js_class = "McpAuthError")]
    fn new(code: &str, message: &str, fields: &Object) -> McpAuthErrorJs;

    /// The class itself, handed to the TypeScript layer.
    #[wasm_bindgen(js_name = mcpAuthErrorClass)]
    fn class() -> JsValue;
}

/// The `McpAuthError` class, so that TypeScript can re-export it and `instanceof` works for
/// errors thrown by every export of this module.
#[wasm_bindgen(js_name = mcpAuthErrorClass)]
#[must_use]
pub fn error_class() -> JsValue {
    class()
}

/// Whether `error` (thrown by this module) is the server's `invalid_grant`: the grant is dead,
/// drop it and log in again (RFC 6749 §5.2).
#[wasm_bindgen(js_name = isInvalidGrant)]
#[must_use]
pub fn is_invalid_grant(error: &JsValue) -> bool {
    oauth_error(error).is_some_and(|e| mcpauth_core::token::is_invalid_grant(&e))
}

/// Whether `error` (thrown by this module) is the server's `invalid_client`: the client
/// registration is unknown or expired, drop it and plan the identity again.
#[wasm_bindgen(js_name = isInvalidClient)]
#[must_use]
pub fn is_invalid_client(error: &JsValue) -> bool {
    oauth_error(error).is_some_and(|e| mcpauth_core::is_invalid_client(&e))
}

/// The core's OAuth error back from the JS error made of it, so the predicates above stay the
/// core's.
fn oauth_error(error: &JsValue) -> Option<Error> {
    let text = |key: &str| {
        Reflect::get(error, &key.into())
            .ok()
            .and_then(|v| v.as_string())
    };
    if !error.is_object() || text("code").as_deref() != Some("OAUTH_ERROR") {
        return None;
    }
    Some(Error::OAuth(mcpauth_core::OAuthError {
        error: text("error")?,
        error_description: text("errorDescription"),
        error_uri: text("errorUri"),
        status: 0,
        where_: String::new(),
    }))
}

/// Why a call into the binding failed, before it becomes a JavaScript value.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The core refused (OAuth error, protocol violation, security check, misuse).
    Core(Error),
    /// A JavaScript argument does not have the documented shape.
    InvalidArgument {
        /// The parameter's name in the JS API.
        name: &'static str,
        /// What is wrong, already scrubbed of quoted values.
        reason: String,
    },
    /// `fetch` rejected (network error, DNS, TLS, CORS, abort by a custom fetch).
    Fetch {
        /// The request URL.
        url: String,
        /// The rejection's message.
        reason: String,
        /// The rejection itself, kept as `cause`.
        cause: JsValue,
    },
    /// A browser answered a `redirect: "manual"` request with an opaque redirect, whose
    /// status it hides; redirects are never followed for OAuth endpoints.
    OpaqueRedirect {
        /// The request URL.
        url: String,
    },
    /// The host has no `fetch` (or no `setTimeout`) and none was passed.
    MissingHostApi(&'static str),
    /// The caller's `AbortSignal` fired.
    Aborted {
        /// The signal's reason.
        cause: JsValue,
    },
    /// A value the core produced could not be converted to JavaScript (a number past 2^53).
    Conversion(String),
    /// An exception thrown by a caller's callback, passed through untouched.
    Thrown(JsValue),
    /// A driver loop found a machine in a state the core promises never to reach.
    Internal(&'static str),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure::Core(error)
    }
}

impl Failure {
    /// An argument that does not deserialize; the serde message is scrubbed of values.
    pub(crate) fn argument(name: &'static str, reason: &str) -> Self {
        Failure::InvalidArgument {
            name,
            reason: scrub_quoted(reason),
        }
    }

    /// The stable code, as `err.code`.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Failure::Core(e) => e.code(),
            Failure::InvalidArgument { .. } => "INVALID_ARGUMENT",
            Failure::Fetch { .. } => "FETCH_FAILED",
            Failure::OpaqueRedirect { .. } => "UNEXPECTED_REDIRECT",
            Failure::MissingHostApi(_) => "HOST_API_MISSING",
            Failure::Aborted { .. } => "ABORTED",
            Failure::Conversion(_) => "CONVERSION_FAILED",
            Failure::Thrown(_) => "THROWN",
            Failure::Internal(_) => "INTERNAL",
        }
    }

    /// The message, as `err.message`.
    fn message(&self) -> String {
        match self {
            Failure::Core(e) => e.to_string(),
            Failure::InvalidArgument { name, reason } => format!("invalid `{name}`: {reason}"),
            Failure::Fetch { url, reason, .. } => format!("fetch of {url} failed: {reason}"),
            Failure::OpaqueRedirect { url } => {
                format!("{url} answered with a redirect, which is not followed for OAuth endpoints")
            }
            Failure::MissingHostApi(api) => format!(
                "globalThis.{api} is not a function; pass one explicitly or use a host that has it"
            ),
            Failure::Aborted { .. } => "the operation was aborted".to_owned(),
            Failure::Conversion(reason) => format!("could not convert a result: {reason}"),
            Failure::Thrown(_) => "a callback threw".to_owned(),
            Failure::Internal(what) => format!("internal error: {what}"),
        }
    }

    /// Why a request got no response, for a machine's `handle_failure` (which records the URL
    /// itself).
    pub(crate) fn reason(&self) -> String {
        match self {
            Failure::Fetch { reason, .. } => reason.clone(),
            Failure::OpaqueRedirect { .. } => {
                "redirected; redirects are not followed for OAuth endpoints".to_owned()
            }
            other => other.message(),
        }
    }
}

/// The `kind` field: which party is at fault, so callers can branch without listing codes.
fn kind(failure: &Failure) -> &'static str {
    match failure {
        Failure::Core(Error::OAuth(_)) => "oauth",
        Failure::Core(Error::Protocol(_)) | Failure::OpaqueRedirect { .. } => "protocol",
        Failure::Core(Error::Security(_)) => "security",
        Failure::Core(Error::Usage(_))
        | Failure::InvalidArgument { .. }
        | Failure::Aborted { .. } => "usage",
        Failure::Fetch { .. } => "transport",
        Failure::Core(_)
        | Failure::MissingHostApi(_)
        | Failure::Conversion(_)
        | Failure::Internal(_) => "environment",
        Failure::Thrown(_) => "usage",
    }
}

impl From<Failure> for JsValue {
    fn from(failure: Failure) -> JsValue {
        let failure = match failure {
            Failure::Thrown(value) => return value,
            other => other,
        };
        let fields = Object::new();
        set(&fields, "kind", &kind(&failure).into());
        match &failure {
            Failure::Core(Error::OAuth(e)) => {
                set(&fields, "error", &e.error.as_str().into());
                set_opt(&fields, "errorDescription", e.error_description.as_deref());
                set_opt(&fields, "errorUri", e.error_uri.as_deref());
                if e.status != 0 {
                    set(&fields, "status", &e.status.into());
                }
            }
            Failure::Core(Error::Protocol(e)) => protocol_fields(&fields, e),
            Failure::Fetch { cause, .. } | Failure::Aborted { cause } => {
                set(&fields, "cause", cause);
            }
            _ => {}
        }
        McpAuthErrorJs::new(failure.code(), &failure.message(), &fields).into()
    }
}

fn protocol_fields(fields: &Object, error: &ProtocolError) {
    match error {
        ProtocolError::UnexpectedStatus { status, .. }
        | ProtocolError::UnexpectedRedirect { status, .. } => {
            set(fields, "status", &(*status).into());
        }
        ProtocolError::TemporarilyUnavailable {
            status,
            retry_after,
            ..
        } => {
            set(fields, "status", &(*status).into());
            if let Some(after) = retry_after {
                // Seconds, as the header gave them; f64 because u64 has no From for JsValue
                // that yields a number (it yields a BigInt).
                #[allow(clippy::cast_precision_loss)]
                set(fields, "retryAfter", &(after.as_secs() as f64).into());
            }
        }
        _ => {}
    }
}

fn set(target: &Object, key: &str, value: &JsValue) {
    // Reflect.set on a fresh plain object cannot throw; nothing to report if it did.
    let _ = Reflect::set(target, &key.into(), value);
}

fn set_opt(target: &Object, key: &str, value: Option<&str>) {
    if let Some(v) = value {
        set(target, key, &v.into());
    }
}

/// Replaces every double-quoted span with `"…"`.
///
/// serde's messages quote the offending value (`invalid type: string "eyJ…", expected u64`),
/// and that value may be a token a caller put in the wrong place. Field names are in
/// backticks and stay.
pub(crate) fn scrub_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        match (c, quoted) {
            ('"', false) => {
                out.push_str("\"…");
                quoted = true;
            }
            ('"', true) => {
                out.push('"');
                quoted = false;
            }
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    if quoted {
        out.push('"');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_are_scrubbed_but_field_names_stay() {
        assert_eq!(
            scrub_quoted(r#"invalid type: string "secret-token", expected u64 at `expires_at`"#),
            r#"invalid type: string "…", expected u64 at `expires_at`"#
        );
    }

    #[test]
    fn an_unterminated_quote_is_closed_without_leaking_the_tail() {
        assert_eq!(scrub_quoted(r#"bad "abc"#), r#"bad "…""#);
    }

    #[test]
    fn codes_are_stable() {
        assert_eq!(Failure::argument("policy", "x").code(), "INVALID_ARGUMENT");
        assert_eq!(
            Failure::OpaqueRedirect { url: "u".into() }.code(),
            "UNEXPECTED_REDIRECT"
        );
        assert_eq!(Failure::MissingHostApi("fetch").code(), "HOST_API_MISSING");
    }
}
