//! Errors as JSON: `{code, message, oauth?}`, the one shape every failure crosses the
//! boundary in. The npm package turns it into an `McpAuthError` with the same `code`.
//!
//! `code` is the core's stable code ([`mcpauth_core::Error::code`]), or `INVALID_ARGUMENT`
//! when JavaScript passed JSON this module cannot read (a bug in the driver, not in the
//! flow). `oauth` is present for the server's OAuth error (RFC 6749 §5.2), with the wire names
//! of its fields. Messages never carry a secret: the core's never do, and argument errors have
//! quoted values scrubbed.

use mcpauth_core::Error;
use mcpauth_core::error::codes;
use serde::Serialize;

/// Every `code` of an [`ErrorJson`]: the core's one catalogue ([`codes::ALL`]) as a union of
/// string literals in TypeScript, `ErrorCode`. For the TypeScript declarations only (`ts`
/// feature).
#[cfg(feature = "ts")]
pub struct CoreErrorCode;

#[cfg(feature = "ts")]
impl ts_rs::TS for CoreErrorCode {
    type WithoutGenerics = Self;
    type OptionInnerType = Self;

    fn docs() -> Option<String> {
        Some(ts_rs::format_docs(&[
            " Every stable `code` of an error, in Rust and TypeScript alike: the core's catalogue",
            " (`mcpauth_core::error::codes::ALL`), which `constants().errorCodes` lists too.",
        ]))
    }

    fn name(_: &ts_rs::Config) -> String {
        "ErrorCode".to_owned()
    }

    fn inline(_: &ts_rs::Config) -> String {
        let codes: Vec<String> = codes::ALL.iter().map(|(c, _)| format!("\"{c}\"")).collect();
        codes.join(" | ")
    }

    fn decl(cfg: &ts_rs::Config) -> String {
        format!("type {} = {};", Self::name(cfg), Self::inline(cfg))
    }

    fn decl_concrete(cfg: &ts_rs::Config) -> String {
        Self::decl(cfg)
    }

    fn output_path() -> Option<std::path::PathBuf> {
        Some("ErrorCode.ts".into())
    }
}

/// One error, as JSON.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ErrorJson {
    /// The stable code, one of the core's catalogue ([`mcpauth_core::error::codes`]).
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
            code: codes::INVALID_ARGUMENT,
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

    /// The code this module adds is in the core's one catalogue, which the npm package reads.
    #[test]
    fn every_code_is_in_the_cores_catalogue() {
        assert!(codes::meaning(codes::INVALID_ARGUMENT).is_some());
        assert!(
            codes::ALL
                .iter()
                .any(|(c, _)| *c == "PERSISTENT_UNAUTHORIZED")
        );
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
