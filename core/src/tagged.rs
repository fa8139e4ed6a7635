//! Reading the internally tagged enums of configurations and records (`{"kind": ..., fields}`)
//! through one flat struct each.
//!
//! Why not serde's derive for them: serde reads an internally tagged enum by buffering the
//! whole object in a `Content` tree first, then deserializing the variant from that tree, so
//! every variant gets a second deserializer, and the `Content` machinery comes along. In the
//! wasm module that was 28 KB before wasm-opt for these four enums. Each enum here names its
//! flat struct with `#[serde(try_from = ...)]`: every variant's fields as options, read in one
//! pass, and the variant is then built from the fields its `kind` needs. Serialization is
//! still serde's own, so the shapes do not change; the tests write every variant with it and
//! read it back.
//!
//! One difference is deliberate and harmless: a field that belongs to another variant is
//! still read (and so must have its type), where serde's impl ignores it.

use serde::Deserialize;

use crate::flow::{CredentialSource, EnterpriseIdp, MachineGrant, Redirect};
use crate::jws::KeyHandle;
use crate::secret::{PrivateKeyValue, SecurityToken};

/// Why a flat struct is not a value of its enum: serde's own wording for a missing field.
#[derive(Debug)]
pub struct MissingField(&'static str);

impl std::fmt::Display for MissingField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "missing field `{}`", self.0)
    }
}

fn required<T>(value: Option<T>, field: &'static str) -> Result<T, MissingField> {
    value.ok_or(MissingField(field))
}

/// [`Redirect`]'s tags.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum RedirectKind {
    Loopback,
    Fixed,
    Device,
}

/// Every field of every [`Redirect`] variant.
#[derive(Deserialize)]
pub struct FlatRedirect {
    kind: RedirectKind,
    port: Option<u16>,
    uri: Option<String>,
}

impl TryFrom<FlatRedirect> for Redirect {
    type Error = MissingField;
    fn try_from(flat: FlatRedirect) -> Result<Self, MissingField> {
        Ok(match flat.kind {
            RedirectKind::Loopback => Self::Loopback { port: flat.port },
            RedirectKind::Fixed => Self::Fixed {
                uri: required(flat.uri, "uri")?,
            },
            RedirectKind::Device => Self::Device,
        })
    }
}

/// [`CredentialSource`]'s tags.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum CredentialKind {
    Value,
    File,
    Env,
}

/// Every field of every [`CredentialSource`] variant.
#[derive(Deserialize)]
pub struct FlatCredentialSource {
    kind: CredentialKind,
    value: Option<SecurityToken>,
    path: Option<String>,
    name: Option<String>,
}

impl TryFrom<FlatCredentialSource> for CredentialSource {
    type Error = MissingField;
    fn try_from(flat: FlatCredentialSource) -> Result<Self, MissingField> {
        Ok(match flat.kind {
            CredentialKind::Value => Self::Value {
                value: required(flat.value, "value")?,
            },
            CredentialKind::File => Self::File {
                path: required(flat.path, "path")?,
            },
            CredentialKind::Env => Self::Env {
                name: required(flat.name, "name")?,
            },
        })
    }
}

/// [`MachineGrant`]'s tags.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum MachineGrantKind {
    ClientCredentials,
    JwtBearer,
    EnterpriseManaged,
}

/// Every field of every [`MachineGrant`] variant.
#[derive(Deserialize)]
pub struct FlatMachineGrant {
    kind: MachineGrantKind,
    assertion: Option<CredentialSource>,
    id_token: Option<CredentialSource>,
    idp: Option<EnterpriseIdp>,
}

impl TryFrom<FlatMachineGrant> for MachineGrant {
    type Error = MissingField;
    fn try_from(flat: FlatMachineGrant) -> Result<Self, MissingField> {
        Ok(match flat.kind {
            MachineGrantKind::ClientCredentials => Self::ClientCredentials,
            MachineGrantKind::JwtBearer => Self::JwtBearer {
                assertion: required(flat.assertion, "assertion")?,
            },
            MachineGrantKind::EnterpriseManaged => Self::EnterpriseManaged {
                id_token: required(flat.id_token, "id_token")?,
                idp: required(flat.idp, "idp")?,
            },
        })
    }
}

/// [`KeyHandle`]'s tags.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum KeyHandleKind {
    Jwk,
    Stored,
}

/// Every field of every [`KeyHandle`] variant.
#[derive(Deserialize)]
pub struct FlatKeyHandle {
    kind: KeyHandleKind,
    d: Option<PrivateKeyValue>,
    id: Option<String>,
}

impl TryFrom<FlatKeyHandle> for KeyHandle {
    type Error = MissingField;
    fn try_from(flat: FlatKeyHandle) -> Result<Self, MissingField> {
        Ok(match flat.kind {
            KeyHandleKind::Jwk => Self::Jwk {
                d: required(flat.d, "d")?,
            },
            KeyHandleKind::Stored => Self::Stored {
                id: required(flat.id, "id")?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use std::fmt::Debug;

    /// Writes `value` with serde's tagged shape and reads it back.
    fn round_trip<T: Serialize + for<'de> Deserialize<'de> + PartialEq + Debug>(value: &T) {
        let text = serde_json::to_string(value).unwrap();
        assert_eq!(&serde_json::from_str::<T>(&text).unwrap(), value, "{text}");
    }

    fn refused<T: for<'de> Deserialize<'de> + Debug>(text: &str) -> String {
        serde_json::from_str::<T>(text).unwrap_err().to_string()
    }

    #[test]
    fn every_variant_reads_back_as_serde_wrote_it() {
        for redirect in [
            Redirect::Loopback { port: None },
            Redirect::Loopback { port: Some(8123) },
            Redirect::Fixed {
                uri: "https://app.example/cb".into(),
            },
            Redirect::Device,
        ] {
            round_trip(&redirect);
        }
        let sources = [
            CredentialSource::Value {
                value: SecurityToken::new("eyJ.x.y"),
            },
            CredentialSource::File {
                path: "/run/token".into(),
            },
            CredentialSource::Env {
                name: "TOKEN".into(),
            },
        ];
        for source in &sources {
            round_trip(source);
        }
        for grant in [
            MachineGrant::ClientCredentials,
            MachineGrant::JwtBearer {
                assertion: sources[1].clone(),
            },
            MachineGrant::EnterpriseManaged {
                id_token: sources[2].clone(),
                idp: EnterpriseIdp::new("https://idp.example/token", "app"),
            },
        ] {
            round_trip(&grant);
        }
        for key in [
            KeyHandle::Jwk {
                d: PrivateKeyValue::new("c2VjcmV0"),
            },
            KeyHandle::Stored { id: "k1".into() },
        ] {
            round_trip(&key);
        }
    }

    #[test]
    fn the_documented_shapes_read() {
        assert_eq!(
            serde_json::from_str::<Redirect>(r#"{"kind":"loopback"}"#).unwrap(),
            Redirect::Loopback { port: None }
        );
        assert_eq!(
            serde_json::from_str::<MachineGrant>(
                r#"{"assertion":{"name":"A","kind":"env"},"kind":"jwt_bearer"}"#
            )
            .unwrap(),
            MachineGrant::JwtBearer {
                assertion: CredentialSource::Env { name: "A".into() }
            }
        );
    }

    #[test]
    fn a_missing_field_or_an_unknown_kind_is_refused_by_name() {
        assert_eq!(
            refused::<Redirect>(r#"{"kind":"fixed"}"#),
            "missing field `uri`"
        );
        assert_eq!(
            refused::<CredentialSource>(r#"{"kind":"file"}"#),
            "missing field `path`"
        );
        assert_eq!(
            refused::<MachineGrant>(r#"{"kind":"enterprise_managed","idp":null}"#),
            "missing field `id_token`"
        );
        assert_eq!(
            refused::<KeyHandle>(r#"{"kind":"jwk"}"#),
            "missing field `d`"
        );
        assert!(refused::<KeyHandle>(r#"{"kind":"hsm","id":"k"}"#).contains("unknown variant"));
        assert!(refused::<Redirect>(r#"{"port":80}"#).contains("missing field `kind`"));
        assert!(refused::<Redirect>(r#"{"kind":"loopback","port":"80"}"#).contains("invalid type"));
    }
}
