//! JWTs the client signs (DPoP proofs, RFC 9449; client assertions, RFC 7523), written here
//! and signed by the driver.
//!
//! # Why the core never signs
//! Signing needs a private key and, for a fresh `jti`, randomness; the core touches neither
//! (it is sans-IO). So the core writes *everything* about a JWT — its header, its claims, how
//! long it lives, where it goes in the request — as a [`JwsTemplate`], and the driver does only
//! what needs a key or the outside world:
//!
//! 1. [`JwsTemplate::stamp`] with its clock and entropy (the core adds `iat`, `jti`, `exp`),
//!    giving a [`Signing`] with the exact bytes to sign;
//! 2. sign those bytes with the key [`SigningKey`] names ([`JwsAlg`] says how: ES256 is the
//!    raw 64-byte `r || s` that WebCrypto produces, RS256 is RSASSA-PKCS1-v1_5 with SHA-256);
//! 3. [`Signing::attach`] the signature: the core puts the compact JWS where the template says
//!    (a header such as `DPoP`, or a form field such as `client_assertion`).
//!
//! Requests the machines send carry their templates in
//! [`HttpRequest::signatures`](crate::HttpRequest::signatures); [`HttpRequest::sign_with`]
//! does the three steps for a synchronous signer. A browser keeps its DPoP key
//! non-extractable in IndexedDB and signs with WebCrypto; a native driver keeps it, encrypted
//! like the grant, in the grant's record ([`KeyHandle`]).

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::entropy::Entropy;
use crate::error::{Result, UsageError};
use crate::http::HttpRequest;
use crate::time::Time;

/// base64url without padding, as JOSE writes every part.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A JWS algorithm the client signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[non_exhaustive]
pub enum JwsAlg {
    /// ECDSA P-256 with SHA-256; the signature is the raw 64-byte `r || s` (RFC 7518 §3.4).
    #[default]
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3).
    RS256,
}

impl JwsAlg {
    /// The `alg` header value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
        }
    }

    /// Parses an `alg` value the client can sign with.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "ES256" => Some(Self::ES256),
            "RS256" => Some(Self::RS256),
            _ => None,
        }
    }
}

pub use crate::secret::PrivateKeyValue;

/// Where the private half of a DPoP key is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    try_from = "crate::tagged::FlatKeyHandle"
)]
#[non_exhaustive]
pub enum KeyHandle {
    /// In the record itself: the P-256 private scalar (JWK `d`). Native and Node stores keep
    /// it so, encrypted like the tokens beside it.
    Jwk {
        /// The JWK `d` member.
        d: PrivateKeyValue,
    },
    /// Kept by the platform under `id`, where it cannot be read back (a non-extractable
    /// WebCrypto key in IndexedDB).
    Stored {
        /// The platform's name for the key.
        id: String,
    },
}

/// A P-256 public key as a JWK (RFC 7517, RFC 7518 §6.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct EcPublicJwk {
    /// The curve: `P-256`.
    pub crv: String,
    /// The x coordinate, base64url.
    pub x: String,
    /// The y coordinate, base64url.
    pub y: String,
}

impl EcPublicJwk {
    /// A P-256 key from its coordinates (base64url, as a JWK has them).
    #[must_use]
    pub fn p256(x: impl Into<String>, y: impl Into<String>) -> Self {
        Self {
            crv: "P-256".into(),
            x: x.into(),
            y: y.into(),
        }
    }

    /// The JWK, as a proof's `jwk` header carries it.
    #[must_use]
    pub fn to_json(&self) -> Value {
        serde_json::json!({ "kty": "EC", "crv": self.crv, "x": self.x, "y": self.y })
    }

    /// The RFC 7638 SHA-256 thumbprint, base64url: the `jkt` a DPoP-bound token names.
    #[must_use]
    pub fn thumbprint(&self) -> String {
        use sha2::Digest as _;
        // RFC 7638 §3.2: the required members in lexicographic order, no whitespace.
        let canonical = format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            self.crv, self.x, self.y
        );
        b64url(&sha2::Sha256::digest(canonical.as_bytes()))
    }
}

/// A DPoP key pair: the public JWK the proofs carry, and where the private half is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[non_exhaustive]
pub struct DpopKey {
    /// The public key.
    pub jwk: EcPublicJwk,
    /// The private key.
    pub private: KeyHandle,
}

impl DpopKey {
    /// A key from its public JWK and private handle.
    #[must_use]
    pub fn new(jwk: EcPublicJwk, private: KeyHandle) -> Self {
        Self { jwk, private }
    }
}

/// Which key signs a JWT.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SigningKey {
    /// The DPoP key with this private half.
    Dpop {
        /// Where the private key is.
        key: KeyHandle,
    },
    /// The client's own key for `private_key_jwt` (RFC 7523 §2.2), which the driver was
    /// configured with (a PEM file or a JWK) and never hands to the core.
    Client,
}

/// Where the compact JWS goes in the request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
#[non_exhaustive]
pub enum JwsPlace {
    /// A request header of this (lowercase) name, such as `dpop`.
    Header(String),
    /// A form field of this name appended to the body, such as `client_assertion`.
    Form(String),
}

/// A JWT the core has written but not yet dated or signed (see the [module docs](self)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "camelCase")]
pub struct JwsTemplate {
    /// The key that signs it.
    pub key: SigningKey,
    /// How.
    pub alg: JwsAlg,
    /// The protected header, without `alg` (added from [`alg`](Self::alg)).
    #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown>"))]
    pub header: Map<String, Value>,
    /// The claims, without `iat`, `jti` and `exp` (added when stamped).
    #[cfg_attr(feature = "ts", ts(type = "Record<string, unknown>"))]
    pub claims: Map<String, Value>,
    /// `exp` is `iat` plus this many seconds; `None`: no `exp` (DPoP proofs).
    pub lifetime_secs: Option<u64>,
    /// Where the JWS goes.
    pub place: JwsPlace,
}

/// A dated JWT: sign [`input`](Self::input) and [`attach`](Self::attach) the signature.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Signing {
    /// The key that signs it.
    pub key: SigningKey,
    /// How.
    pub alg: JwsAlg,
    /// The JWS signing input, `base64url(header) "." base64url(claims)`: the bytes to sign.
    pub input: String,
    /// Where the JWS goes.
    pub place: JwsPlace,
}

/// The input carries an access token's hash and a nonce, not secrets, but a log has no use
/// for it.
impl std::fmt::Debug for Signing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signing")
            .field("alg", &self.alg)
            .field("place", &self.place)
            .finish_non_exhaustive()
    }
}

impl JwsTemplate {
    /// Dates the JWT at `now` with a fresh `jti` (16 bytes of `entropy`), giving the bytes to
    /// sign.
    ///
    /// # Errors
    /// [`Error::Entropy`](crate::Error::Entropy).
    pub fn stamp(&self, now: Time, entropy: &mut dyn Entropy) -> Result<Signing> {
        let mut jti = [0u8; 16];
        entropy.fill(&mut jti)?;
        Ok(self.stamp_with(now, &b64url(&jti)))
    }

    /// [`stamp`](Self::stamp) with a given `jti` (tests, and the RFC examples).
    #[must_use]
    pub fn stamp_with(&self, now: Time, jti: &str) -> Signing {
        let mut header = Map::new();
        header.insert("alg".into(), self.alg.as_str().into());
        header.extend(self.header.clone());
        // The `alg` the driver signs with, whatever the header held: a JWT naming another
        // algorithm than its signature's would be refused, or worse, trusted as that one.
        header.insert("alg".into(), self.alg.as_str().into());
        let mut claims = self.claims.clone();
        let iat = now.unix_secs();
        claims.insert("iat".into(), iat.into());
        claims.insert("jti".into(), jti.into());
        if let Some(lifetime) = self.lifetime_secs {
            claims.insert("exp".into(), iat.saturating_add(lifetime).into());
        }
        let part = |map: Map<String, Value>| {
            b64url(
                serde_json::to_string(&Value::Object(map))
                    .unwrap_or_default()
                    .as_bytes(),
            )
        };
        Signing {
            key: self.key.clone(),
            alg: self.alg,
            input: format!("{}.{}", part(header), part(claims)),
            place: self.place.clone(),
        }
    }
}

impl Signing {
    /// The compact JWS with `signature`.
    ///
    /// # Errors
    /// [`UsageError::InvalidSignature`] for an ES256 signature that is not 64 bytes (a DER
    /// encoding, say) or an empty one.
    pub fn compact(&self, signature: &[u8]) -> Result<String> {
        let valid = match self.alg {
            JwsAlg::ES256 => signature.len() == 64,
            JwsAlg::RS256 => !signature.is_empty(),
        };
        if !valid {
            return Err(UsageError::InvalidSignature {
                alg: self.alg.as_str(),
                len: signature.len(),
            }
            .into());
        }
        Ok(format!("{}.{}", self.input, b64url(signature)))
    }

    /// Puts the signed JWT where it belongs in `request`.
    ///
    /// # Errors
    /// As [`compact`](Self::compact).
    pub fn attach(&self, request: &mut HttpRequest, signature: &[u8]) -> Result<()> {
        let jws = self.compact(signature)?;
        match &self.place {
            JwsPlace::Header(name) => request.push_header(name, jws),
            // A compact JWS is base64url and dots, which form encoding leaves as they are.
            JwsPlace::Form(name) => request.append_form_pair(name, &jws),
        }
        Ok(())
    }
}

/// A synchronous signer: the signature of `input` by `key` with `alg`.
pub type SignFn<'a> = dyn FnMut(&SigningKey, JwsAlg, &[u8]) -> Result<Vec<u8>> + 'a;

impl HttpRequest {
    /// Dates, signs and attaches every JWT the request carries ([`signatures`](Self::signatures)),
    /// for a driver whose signer is synchronous: `sign(key, alg, input)` returns the signature.
    ///
    /// # Errors
    /// The signer's error; [`Error::Entropy`](crate::Error::Entropy); as [`Signing::compact`].
    pub fn sign_with(
        &mut self,
        now: Time,
        entropy: &mut dyn Entropy,
        sign: &mut SignFn<'_>,
    ) -> Result<()> {
        for template in std::mem::take(&mut self.signatures) {
            let signing = template.stamp(now, entropy)?;
            let signature = sign(&signing.key, signing.alg, signing.input.as_bytes())?;
            signing.attach(self, &signature)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;

    fn decode(part: &str) -> Value {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn template(place: JwsPlace, lifetime: Option<u64>) -> JwsTemplate {
        let mut claims = Map::new();
        claims.insert("iss".into(), "client".into());
        let mut header = Map::new();
        header.insert("typ".into(), "JWT".into());
        JwsTemplate {
            key: SigningKey::Client,
            alg: JwsAlg::RS256,
            header,
            claims,
            lifetime_secs: lifetime,
            place,
        }
    }

    #[test]
    fn stamping_adds_alg_iat_jti_and_exp() {
        let t = template(JwsPlace::Form("client_assertion".into()), Some(60));
        let s = t.stamp_with(Time::from_unix_secs(1_000), "j1");
        let (h, c) = s.input.split_once('.').unwrap();
        assert_eq!(decode(h), serde_json::json!({"alg": "RS256", "typ": "JWT"}));
        assert_eq!(
            decode(c),
            serde_json::json!({"iss": "client", "iat": 1000, "jti": "j1", "exp": 1060})
        );
    }

    #[test]
    fn two_stamps_draw_two_jtis() {
        let t = template(JwsPlace::Header("dpop".into()), None);
        let mut n = 0u8;
        let mut counter = |b: &mut [u8]| {
            n += 1;
            b.fill(n);
        };
        let a = t.stamp(Time::from_unix_secs(5), &mut counter).unwrap();
        let b = t.stamp(Time::from_unix_secs(5), &mut counter).unwrap();
        assert_ne!(a.input, b.input);
        assert!(
            !decode(a.input.split_once('.').unwrap().1)
                .as_object()
                .unwrap()
                .contains_key("exp")
        );
    }

    #[test]
    fn attaching_puts_the_jws_in_a_header_or_the_form() {
        let url = Url::parse("https://as.example/token").unwrap();
        let mut req = HttpRequest::post_form(url, &[("grant_type", "client_credentials")]);
        let s = template(JwsPlace::Form("client_assertion".into()), Some(60))
            .stamp_with(Time::from_unix_secs(1), "j");
        s.attach(&mut req, &[1, 2, 3]).unwrap();
        let body = String::from_utf8(req.body.clone()).unwrap();
        assert_eq!(
            body,
            format!(
                "grant_type=client_credentials&client_assertion={}.AQID",
                s.input
            )
        );
        let d = template(JwsPlace::Header("dpop".into()), None)
            .stamp_with(Time::from_unix_secs(1), "j");
        let mut es = d.clone();
        es.alg = JwsAlg::ES256;
        assert_eq!(
            es.attach(&mut req, &[0; 70]).unwrap_err().code(),
            "INVALID_SIGNATURE"
        );
        es.attach(&mut req, &[0; 64]).unwrap();
        assert!(req.header("dpop").unwrap().starts_with(&d.input));
    }

    /// JSON values as templates hold them (no floats, whose text form may not read back
    /// to the same bits).
    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(2, 8, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::btree_map(".{0,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn json_map() -> impl proptest::strategy::Strategy<Value = Map<String, Value>> {
        use proptest::prelude::*;
        proptest::collection::btree_map(
            prop_oneof![
                prop::sample::select(vec!["alg", "iat", "jti", "exp"]).prop_map(str::to_owned),
                ".{0,8}",
            ],
            json_value(),
            0..6,
        )
        .prop_map(|m| m.into_iter().collect())
    }

    #[test]
    fn a_header_naming_another_alg_is_stamped_with_the_signing_one() {
        let mut t = template(JwsPlace::Header("dpop".into()), None);
        t.header.insert("alg".into(), "none".into());
        let s = t.stamp_with(Time::from_unix_secs(1), "j");
        assert_eq!(decode(s.input.split_once('.').unwrap().0)["alg"], "RS256");
    }

    proptest::proptest! {
        #[test]
        fn stamped_header_and_claims_decode_to_the_template_plus_alg_iat_jti_and_exp(
            header in json_map(),
            claims in json_map(),
            lifetime in proptest::option::of(proptest::prelude::any::<u64>()),
            now_ms in proptest::prelude::any::<u64>(),
            jti in "[A-Za-z0-9_-]{0,22}",
            es256 in proptest::prelude::any::<bool>(),
        ) {
            let alg = if es256 { JwsAlg::ES256 } else { JwsAlg::RS256 };
            let t = JwsTemplate {
                key: SigningKey::Client,
                alg,
                header: header.clone(),
                claims: claims.clone(),
                lifetime_secs: lifetime,
                place: JwsPlace::Header("dpop".into()),
            };
            let now = Time::from_unix_millis(now_ms);
            let s = t.stamp_with(now, &jti);
            let (h, c) = s.input.split_once('.').unwrap();
            proptest::prop_assert!(!c.contains('.'), "two parts");
            let mut want_header = header;
            want_header.insert("alg".into(), alg.as_str().into());
            proptest::prop_assert_eq!(decode(h), Value::Object(want_header));
            let iat = now.unix_secs();
            let mut want_claims = claims;
            want_claims.insert("iat".into(), iat.into());
            want_claims.insert("jti".into(), jti.into());
            if let Some(secs) = lifetime {
                want_claims.insert("exp".into(), iat.saturating_add(secs).into());
            }
            proptest::prop_assert_eq!(decode(c), Value::Object(want_claims));
            proptest::prop_assert_eq!(s.alg, alg);
        }

        #[test]
        fn a_form_placed_jws_keeps_the_body_and_adds_exactly_one_field(
            pairs in proptest::collection::vec((".{0,8}", ".{0,12}"), 0..6),
            name in ".{1,16}",
            signature in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..80),
        ) {
            let url = Url::parse("https://as.example/token").unwrap();
            let borrowed: Vec<(&str, &str)> =
                pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let mut req = HttpRequest::post_form(url, &borrowed);
            let s = template(JwsPlace::Form(name.clone()), Some(60))
                .stamp_with(Time::from_unix_secs(1), "j");
            s.attach(&mut req, &signature).unwrap();
            let got: Vec<(String, String)> =
                url::form_urlencoded::parse(&req.body).into_owned().collect();
            let mut want = pairs.clone();
            want.push((name, format!("{}.{}", s.input, b64url(&signature))));
            proptest::prop_assert_eq!(got, want);
            proptest::prop_assert!(req.header("dpop").is_none());
        }
    }

    #[test]
    fn the_thumbprint_is_rfc_7638_over_the_required_members() {
        // RFC 7638 §3.1 computes over {"crv","kty","x","y"} for EC keys; this key's value was
        // computed independently with `jose.calculateJwkThumbprint`.
        let jwk = EcPublicJwk::p256(
            "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
            "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
        );
        assert_eq!(
            jwk.thumbprint(),
            "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
        );
    }

    #[test]
    fn debug_shows_no_key_material() {
        let key = KeyHandle::Jwk {
            d: PrivateKeyValue::new("TOPSECRET"),
        };
        assert!(!format!("{key:?}").contains("TOPSECRET"));
    }
}
