//! Errors as JSON: `{code, message, oauth?}`, the one shape every failure crosses the
//! boundary in. The npm package turns it into an `McpAuthError` with the same `code`.
//!
//! `code` is the core's stable code ([`mcpauth_core::Error::code`]), or `INVALID_ARGUMENT`
//! when JavaScript passed JSON this module cannot read (a bug in the driver, not in the
//! flow). `oauth` is present for the server's OAuth error (RFC 6749 §5.2), with the wire names
//! of its fields. Messages never carry a secret: the core's never do, and argument errors have
//! quoted values scrubbed.

use mcpauth_core::Error;
use serde::Serialize;

/// Every code an `ErrorJson` can carry: the core's, then this module's one.
pub const ERROR_CODES: &[&str] = &[
    // the server's OAuth error body
    "OAUTH_ERROR",
    // the server broke the protocol
    "UNEXPECTED_STATUS",
    "UNEXPECTED_REDIRECT",
    "RESPONSE_TOO_LARGE",
    "INVALID_JSON",
    "MISSING_FIELD",
    "INVALID_FIELD",
    "INVALID_HEADER",
    "TEMPORARILY_UNAVAILABLE",
    "DISCOVERY_FAILED",
    // a security check
    "INSECURE_URL",
    "ISSUER_MISMATCH",
    "RESOURCE_MISMATCH",
    "PKCE_NOT_SUPPORTED",
    "STATE_MISSING",
    "STATE_MISMATCH",
    "ISS_MISSING",
    "ISS_MISMATCH",
    "CREDENTIALS_FOR_OTHER_ISSUER",
    "STEP_UP_LIMIT",
    // misuse
    "INVALID_URL",
    "MISSING_ENDPOINT",
    "NO_CLIENT_IDENTITY",
    "INVALID_CLIENT_METADATA",
    "INVALID_STATE",
    "NO_REFRESH_TOKEN",
    "INVALID_PARAMETER",
    // the flow
    "TIMEOUT",
    "TRANSPORT",
    "ABORTED",
    "LOGIN_REQUIRED",
    "PERSISTENT_UNAUTHORIZED",
    "STORE_RECORD_UNREADABLE",
    "ENTROPY_UNAVAILABLE",
    // this module: JSON from the driver that does not have the documented shape
    "INVALID_ARGUMENT",
];

/// Every `code` of an [`ErrorJson`]: [`ERROR_CODES`] as a union of string literals in
/// TypeScript. For the TypeScript declarations only (`ts` feature).
#[cfg(feature = "ts")]
pub struct CoreErrorCode;

#[cfg(feature = "ts")]
impl ts_rs::TS for CoreErrorCode {
    type WithoutGenerics = Self;
    type OptionInnerType = Self;

    fn docs() -> Option<String> {
        Some(ts_rs::format_docs(&[
            " Every code of the core, and `INVALID_ARGUMENT` of the boundary: the list",
            " `constants().errorCodes` returns (`ERROR_CODES` of mcpauth-wasm).",
        ]))
    }

    fn name(_: &ts_rs::Config) -> String {
        "CoreErrorCode".to_owned()
    }

    fn inline(_: &ts_rs::Config) -> String {
        let codes: Vec<String> = ERROR_CODES.iter().map(|c| format!("\"{c}\"")).collect();
        codes.join(" | ")
    }

    fn decl(cfg: &ts_rs::Config) -> String {
        format!("type {} = {};", Self::name(cfg), Self::inline(cfg))
    }

    fn decl_concrete(cfg: &ts_rs::Config) -> String {
        Self::decl(cfg)
    }

    fn output_path() -> Option<std::path::PathBuf> {
        Some("CoreErrorCode.ts".into())
    }
}

/// One error, as JSON.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ErrorJson {
    /// The stable code, one of [`ERROR_CODES`].
    #[cfg_attr(feature = "ts", ts(as = "CoreErrorCode"))]
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// The server's OAuth error, for `OAUTH_ERROR`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub oauth: Option<OAuthJson>,
}

/// The server's OAuth error response (RFC 6749 §5.2), with its wire names.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct OAuthJson {
    /// `error`, such as `invalid_grant`.
    pub error: String,
    /// `error_description`, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub error_description: Option<String>,
    /// `error_uri`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub error_uri: Option<String>,
    /// The HTTP status (0 for an error carried by the authorization redirect).
    pub status: u16,
    /// Which endpoint answered, or `authorization response`.
    #[serde(rename = "where")]
    pub where_: String,
}

impl From<&Error> for ErrorJson {
    fn from(error: &Error) -> Self {
        Self {
            code: error.code(),
            message: error.to_string(),
            oauth: error.oauth().map(|e| OAuthJson {
                error: e.error.clone(),
                error_description: e.error_description.clone(),
                error_uri: e.error_uri.clone(),
                status: e.status,
                where_: e.where_.clone(),
            }),
        }
    }
}

impl ErrorJson {
    /// JavaScript passed `what` in a shape this module cannot read.
    pub(crate) fn argument(what: &str, reason: &str) -> Self {
        Self {
            code: "INVALID_ARGUMENT",
            message: format!("invalid {what}: {}", scrub_quoted(reason)),
            oauth: None,
        }
    }

    /// `{"error": self}`.
    pub(crate) fn to_text(&self) -> String {
        #[derive(Serialize)]
        struct Failed<'a> {
            error: &'a ErrorJson,
        }
        crate::wire::to_text(&Failed { error: self })
    }
}

/// A JSON argument that does not parse, as an error.
pub(crate) fn bad_json(what: &str, error: &serde_json::Error) -> ErrorJson {
    ErrorJson::argument(what, &error.to_string())
}

/// Replaces every double-quoted span with `"…"`.
///
/// serde's messages quote the offending value (`invalid type: string "eyJ…", expected u64`),
/// and that value may be a token put in the wrong place. Field names are in backticks and stay.
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
        assert_eq!(scrub_quoted(r#"bad "abc"#), r#"bad "…""#);
    }

    /// Every `=> "CODE"` of the core's `code()` functions is in the list, and the list names
    /// nothing else, so the npm package's copy of the list can be checked against it.
    #[test]
    fn the_code_list_is_exactly_the_cores() {
        let sources = [
            include_str!("../../core/src/error.rs"),
            include_str!("../../core/src/flow/error.rs"),
        ];
        let mut found: Vec<&str> = sources
            .iter()
            .flat_map(|s| s.split("=> \"").skip(1))
            .filter_map(|rest| rest.split('"').next())
            .filter(|code| code.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
            .collect();
        found.push("INVALID_ARGUMENT");
        found.sort_unstable();
        found.dedup();
        let mut listed = ERROR_CODES.to_vec();
        listed.sort_unstable();
        assert_eq!(found, listed);
    }

    #[test]
    fn an_oauth_error_keeps_its_wire_names() {
        let error = Error::from(mcpauth_core::OAuthError {
            error: "invalid_grant".into(),
            error_description: Some("expired".into()),
            error_uri: None,
            status: 400,
            where_: "https://as.example/token".into(),
        });
        let text = ErrorJson::from(&error).to_text();
        assert_eq!(
            text,
            r#"{"error":{"code":"OAUTH_ERROR","message":"https://as.example/token returned OAuth error `invalid_grant`: expired","oauth":{"error":"invalid_grant","error_description":"expired","status":400,"where":"https://as.example/token"}}}"#
        );
    }
}
