//! Reading the ES256 JWTs clients send: DPoP proofs (RFC 9449), client assertions
//! (`private_key_jwt`, RFC 7523 §2.2) and jwt-bearer grant assertions (RFC 7523 §2.1).
//!
//! Only ES256 (ECDSA on P-256 with SHA-256, the signature as the raw 64-byte `r || s`,
//! RFC 7518 §3.4) is accepted, the one algorithm the server advertises.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// A P-256 public key as a JWK (RFC 7518 §6.2.1): `{"kty":"EC","crv":"P-256","x":…,"y":…}`.
///
/// Other members (`kid`, `use`, `alg`) are accepted and ignored; a private member (`d`) is
/// refused wherever a key is read, since a public key is all the server may hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    /// Always `EC`.
    pub kty: String,
    /// Always `P-256`.
    pub crv: String,
    /// The x coordinate, base64url without padding (32 bytes).
    pub x: String,
    /// The y coordinate, base64url without padding (32 bytes).
    pub y: String,
}

impl PublicJwk {
    /// Read a public JWK from a JSON object, refusing private keys and other key types.
    ///
    /// # Errors
    /// When `value` is not a P-256 public key whose point is on the curve.
    pub fn from_json(value: &Value) -> Result<Self, String> {
        let object = value.as_object().ok_or("the jwk is not a JSON object")?;
        if object.contains_key("d") {
            return Err("the jwk holds a private key (d)".into());
        }
        let jwk: Self = serde_json::from_value(value.clone())
            .map_err(|e| format!("the jwk is not an EC key: {e}"))?;
        jwk.verifying_key()?;
        Ok(jwk)
    }

    /// The key to verify signatures with.
    pub(crate) fn verifying_key(&self) -> Result<VerifyingKey, String> {
        if self.kty != "EC" || self.crv != "P-256" {
            return Err(format!(
                "the jwk is {} {}, not EC P-256",
                self.kty, self.crv
            ));
        }
        let coordinate = |c: &str| {
            URL_SAFE_NO_PAD
                .decode(c)
                .ok()
                .filter(|b| b.len() == 32)
                .ok_or_else(|| "a jwk coordinate is not 32 base64url bytes".to_owned())
        };
        let mut sec1 = vec![0x04];
        sec1.extend(coordinate(&self.x)?);
        sec1.extend(coordinate(&self.y)?);
        VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| "the jwk is not a P-256 point".into())
    }

    /// The RFC 7638 thumbprint: SHA-256 of the required members in lexicographic order,
    /// base64url. DPoP binds tokens to it (`cnf.jkt`, RFC 9449 §6.1).
    pub fn thumbprint(&self) -> String {
        let canonical = json!({ "crv": self.crv, "kty": self.kty, "x": self.x, "y": self.y });
        // serde_json's map keeps keys sorted, which is the order RFC 7638 §3.3 asks for.
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.to_string()))
    }
}

/// A compact JWS whose signature checked out, with its decoded claims.
#[derive(Debug)]
pub(crate) struct Verified {
    claims: Map<String, Value>,
}

/// A compact JWS taken apart, its signature not yet checked.
pub(crate) struct Parsed {
    pub header: Map<String, Value>,
    claims: Map<String, Value>,
    input: String,
    signature: Vec<u8>,
}

/// Split a compact JWS and decode its header and claims (both must be JSON objects); the
/// header's `alg` must be ES256.
pub(crate) fn parse(jws: &str) -> Result<Parsed, String> {
    let mut parts = jws.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a compact JWS of three parts".into());
    };
    let object = |part: &str, what: &str| -> Result<Map<String, Value>, String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| format!("the {what} is not base64url"))?;
        match serde_json::from_slice(&bytes) {
            Ok(Value::Object(object)) => Ok(object),
            _ => Err(format!("the {what} is not a JSON object")),
        }
    };
    let parsed = Parsed {
        header: object(header, "header")?,
        claims: object(claims, "claims")?,
        input: format!("{header}.{claims}"),
        signature: URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| "the signature is not base64url".to_owned())?,
    };
    match parsed.header.get("alg").and_then(Value::as_str) {
        Some("ES256") => Ok(parsed),
        Some(other) => Err(format!("alg {other} is not ES256")),
        None => Err("alg is missing".into()),
    }
}

impl Parsed {
    /// A string claim, not to be trusted before [`Parsed::verify`]: only to find the key.
    pub fn unverified_claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// Check the ES256 signature with `key`.
    pub fn verify(self, key: &PublicJwk) -> Result<Verified, String> {
        let key = key.verifying_key()?;
        let signature = Signature::from_slice(&self.signature)
            .map_err(|_| "the signature is not a 64-byte ES256 signature".to_owned())?;
        key.verify(self.input.as_bytes(), &signature)
            .map_err(|_| "the signature does not verify".to_owned())?;
        Ok(Verified {
            claims: self.claims,
        })
    }
}

impl Verified {
    /// A string claim.
    pub fn str_claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// A whole-seconds NumericDate claim (RFC 7519 §2).
    pub fn time_claim(&self, name: &str) -> Option<u64> {
        self.claims.get(name).and_then(Value::as_u64)
    }

    /// Whether `aud` (a string or an array of strings, RFC 7519 §4.1.3) names one of `wanted`.
    pub fn audience_is_one_of(&self, wanted: &[&str]) -> bool {
        match self.claims.get("aud") {
            Some(Value::String(aud)) => wanted.contains(&aud.as_str()),
            Some(Value::Array(auds)) => auds
                .iter()
                .filter_map(Value::as_str)
                .any(|aud| wanted.contains(&aud)),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc7638_example_shape() {
        // RFC 7638 §3.1 is an RSA key; this P-256 key's canonical form is checked instead.
        let jwk = PublicJwk {
            kty: "EC".into(),
            crv: "P-256".into(),
            x: "x".into(),
            y: "y".into(),
        };
        let canonical = r#"{"crv":"P-256","kty":"EC","x":"x","y":"y"}"#;
        assert_eq!(
            jwk.thumbprint(),
            URL_SAFE_NO_PAD.encode(Sha256::digest(canonical))
        );
    }

    #[test]
    fn private_keys_and_other_algorithms_are_refused() {
        let private = json!({ "kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "c" });
        assert!(PublicJwk::from_json(&private).is_err());
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
        let claims = URL_SAFE_NO_PAD.encode("{}");
        assert!(parse(&format!("{header}.{claims}.")).is_err());
    }
}
