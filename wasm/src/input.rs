//! Reading the two tagged inputs, [`Input`] (`machine_input`) and [`StepInput`]
//! (`protected_step`), through one flat struct each.
//!
//! Why not their derived `Deserialize`: serde reads an internally tagged enum (`{"kind": ...,
//! fields}`) by buffering the whole object in a `Content` tree first, then deserializing the
//! variant from that tree, so every variant gets a second deserializer, and the core's
//! [`Failure`] inside [`Input`] a third. For these two enums that was 27 KB of the module
//! before wasm-opt. Here each is one struct with every variant's fields as options, read in
//! one pass, and the variant is then built from the fields its `kind` needs. The accepted
//! shapes are those of the derived impls, which stay as the reference: the tests below read
//! every variant both ways and compare.
//!
//! One difference is deliberate and harmless: a field that belongs to another variant is
//! still read (and so must have its type), where the derived impl ignores it.

use mcpauth_core::flow::Failure;
use mcpauth_core::secret::SecurityToken;
use serde::Deserialize;
use serde::de::Error as _;

use crate::wire::{Input, StepInput};

/// `Input`'s tags.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum InputKind {
    Failure,
    Timeout,
    Loaded,
    Locked,
    Callback,
    RedirectUri,
    Abort,
    Credential,
}

/// Every field of every `Input` variant.
#[derive(Deserialize)]
struct FlatInput {
    kind: InputKind,
    id: Option<u32>,
    failure: Option<FlatFailure>,
    key: Option<String>,
    record: Option<String>,
    url: Option<String>,
    uri: Option<String>,
    value: Option<SecurityToken>,
    error: Option<String>,
}

/// [`Failure`]'s tags.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum FailureKind {
    Transport,
    Timeout,
    Aborted,
}

/// Every field of every [`Failure`] variant.
#[derive(Deserialize)]
struct FlatFailure {
    kind: FailureKind,
    reason: Option<String>,
}

/// `StepInput`'s tags.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum StepKind {
    Start,
    Response,
    Refreshed,
    Login,
}

/// Every field of every `StepInput` variant.
#[derive(Deserialize)]
struct FlatStep {
    kind: StepKind,
    machine: Option<u32>,
    status: Option<u16>,
    #[serde(default, rename = "wwwAuthenticate")]
    www_authenticate: Vec<String>,
    #[serde(rename = "dpopNonce")]
    dpop_nonce: Option<String>,
}

/// A field the variant needs, or serde's own "missing field" error.
fn required<T>(value: Option<T>, field: &'static str) -> serde_json::Result<T> {
    value.ok_or_else(|| serde_json::Error::missing_field(field))
}

impl Input {
    /// Reads `machine_input`'s JSON (see the module's documentation for why not serde's
    /// tagged-enum impl).
    ///
    /// # Errors
    /// The text is not JSON of this shape.
    pub fn from_json(text: &str) -> serde_json::Result<Self> {
        let flat: FlatInput = serde_json::from_slice(text.as_bytes())?;
        Ok(match flat.kind {
            InputKind::Failure => {
                let failure = required(flat.failure, "failure")?;
                Self::Failure {
                    id: required(flat.id, "id")?,
                    failure: match failure.kind {
                        FailureKind::Transport => Failure::Transport {
                            reason: required(failure.reason, "reason")?,
                        },
                        FailureKind::Timeout => Failure::Timeout,
                        FailureKind::Aborted => Failure::Aborted,
                    },
                }
            }
            InputKind::Timeout => Self::Timeout,
            InputKind::Loaded => Self::Loaded {
                key: required(flat.key, "key")?,
                record: flat.record,
            },
            InputKind::Locked => Self::Locked,
            InputKind::Callback => Self::Callback {
                url: required(flat.url, "url")?,
            },
            InputKind::RedirectUri => Self::RedirectUri {
                uri: required(flat.uri, "uri")?,
            },
            InputKind::Abort => Self::Abort,
            InputKind::Credential => Self::Credential {
                value: flat.value,
                error: flat.error,
            },
        })
    }
}

impl StepInput {
    /// Reads `protected_step`'s JSON (see the module's documentation for why not serde's
    /// tagged-enum impl).
    ///
    /// # Errors
    /// The text is not JSON of this shape.
    pub fn from_json(text: &str) -> serde_json::Result<Self> {
        let flat: FlatStep = serde_json::from_slice(text.as_bytes())?;
        Ok(match flat.kind {
            StepKind::Start => Self::Start {
                machine: required(flat.machine, "machine")?,
            },
            StepKind::Response => Self::Response {
                status: required(flat.status, "status")?,
                www_authenticate: flat.www_authenticate,
                dpop_nonce: flat.dpop_nonce,
            },
            StepKind::Refreshed => Self::Refreshed {
                machine: required(flat.machine, "machine")?,
            },
            StepKind::Login => Self::Login {
                machine: required(flat.machine, "machine")?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both readings of `text`: this module's and the derived one, as Debug text (or the
    /// fact that it failed).
    fn both<T: std::fmt::Debug + for<'de> Deserialize<'de>>(
        text: &str,
        flat: fn(&str) -> serde_json::Result<T>,
    ) -> (Option<String>, Option<String>) {
        (
            flat(text).ok().map(|v| format!("{v:?}")),
            serde_json::from_str::<T>(text)
                .ok()
                .map(|v| format!("{v:?}")),
        )
    }

    #[test]
    fn every_input_reads_as_the_derived_impl_reads_it() {
        for text in [
            r#"{"kind":"failure","id":3,"failure":{"kind":"transport","reason":"reset"}}"#,
            r#"{"kind":"failure","id":3,"failure":{"kind":"timeout"}}"#,
            r#"{"kind":"failure","id":4,"failure":{"kind":"aborted"}}"#,
            r#"{"kind":"timeout"}"#,
            r#"{"kind":"loaded","key":"grant#x","record":"{}"}"#,
            r#"{"kind":"loaded","key":"grant#x","record":null}"#,
            r#"{"kind":"loaded","key":"grant#x"}"#,
            r#"{"kind":"locked"}"#,
            r#"{"kind":"callback","url":"http://127.0.0.1/cb?code=1"}"#,
            r#"{"kind":"redirect_uri","uri":"http://127.0.0.1:1234/cb"}"#,
            r#"{"kind":"abort"}"#,
            r#"{"kind":"credential","value":"tok"}"#,
            r#"{"kind":"credential","error":"no such file"}"#,
            r#"{"kind":"credential"}"#,
            r#"{"id":1,"kind":"failure","failure":{"reason":"r","kind":"transport"}}"#,
        ] {
            let (flat, derived) = both(text, Input::from_json);
            assert!(flat.is_some(), "{text}");
            assert_eq!(flat, derived, "{text}");
        }
    }

    #[test]
    fn every_bad_input_is_refused_as_the_derived_impl_refuses_it() {
        for text in [
            "",
            "[]",
            r#"{"kind":"nope"}"#,
            r#"{"id":3}"#,
            r#"{"kind":"failure","failure":{"kind":"timeout"}}"#,
            r#"{"kind":"failure","id":3}"#,
            r#"{"kind":"failure","id":3,"failure":{"kind":"transport"}}"#,
            r#"{"kind":"failure","id":-1,"failure":{"kind":"timeout"}}"#,
            r#"{"kind":"loaded"}"#,
            r#"{"kind":"loaded","key":1}"#,
            r#"{"kind":"callback"}"#,
            r#"{"kind":"redirect_uri"}"#,
            r#"{"kind":"credential","value":5}"#,
        ] {
            assert_eq!(both(text, Input::from_json), (None, None), "{text}");
        }
    }

    #[test]
    fn a_missing_field_is_named_in_the_error() {
        let err = Input::from_json(r#"{"kind":"callback"}"#).unwrap_err();
        assert_eq!(err.to_string(), "missing field `url`");
        let err = StepInput::from_json(r#"{"kind":"response"}"#).unwrap_err();
        assert_eq!(err.to_string(), "missing field `status`");
    }

    #[test]
    fn every_step_input_reads_as_the_derived_impl_reads_it() {
        for text in [
            r#"{"kind":"start","machine":1}"#,
            r#"{"kind":"response","status":401,"wwwAuthenticate":["Bearer scope=\"a\""],"dpopNonce":"n"}"#,
            r#"{"kind":"response","status":200}"#,
            r#"{"kind":"response","status":200,"dpopNonce":null}"#,
            r#"{"kind":"refreshed","machine":2}"#,
            r#"{"kind":"login","machine":3}"#,
        ] {
            let (flat, derived) = both(text, StepInput::from_json);
            assert!(flat.is_some(), "{text}");
            assert_eq!(flat, derived, "{text}");
        }
        for text in [
            r#"{"kind":"start"}"#,
            r#"{"kind":"response"}"#,
            r#"{"kind":"response","status":70000}"#,
            r#"{"kind":"login","machine":"1"}"#,
            r#"{"kind":"stop","machine":1}"#,
        ] {
            assert_eq!(both(text, StepInput::from_json), (None, None), "{text}");
        }
    }
}
