//! Reading a [`ClientKey`] from PEM or a JWK. Every failure is a reason for a message, naming
//! what was wrong with the key and never its content.

use base64::Engine as _;
use p256::pkcs8::DecodePrivateKey as _;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use serde_json::{Map, Value};

use super::ClientKey;
use crate::error::Error;

/// The error for a key read `from` somewhere (a path, "the JWK").
pub(super) fn invalid(from: &str, reason: String) -> Error {
    Error::InvalidKey {
        from: from.to_owned(),
        reason,
    }
}

/// A JWK when `text` is a JSON object, else PEM.
pub(super) fn any(text: &str) -> Result<ClientKey, String> {
    if text.trim_start().starts_with('{') {
        jwk(text)
    } else {
        pem(text)
    }
}

/// A PKCS#8, SEC1 or PKCS#1 private key in PEM.
pub(super) fn pem(text: &str) -> Result<ClientKey, String> {
    let text = text.trim();
    let label = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("-----BEGIN "))
        .and_then(|l| l.strip_suffix("-----"))
        .ok_or("is neither PEM (-----BEGIN ...-----) nor a JWK")?;
    match label {
        "PRIVATE KEY" => {
            if let Ok(key) = p256::ecdsa::SigningKey::from_pkcs8_pem(text) {
                return Ok(ClientKey::ec(key, None));
            }
            rsa::RsaPrivateKey::from_pkcs8_pem(text)
                .map(|key| ClientKey::rsa(key, None))
                .map_err(|_| {
                    "is a PKCS#8 key that is neither P-256 nor RSA (or is damaged)".to_owned()
                })
        }
        "EC PRIVATE KEY" => p256::SecretKey::from_sec1_pem(text)
            .map(|key| ClientKey::ec(key.into(), None))
            .map_err(|_| "is a SEC1 EC key that is not on P-256 (or is damaged)".to_owned()),
        "RSA PRIVATE KEY" => rsa::RsaPrivateKey::from_pkcs1_pem(text)
            .map(|key| ClientKey::rsa(key, None))
            .map_err(|_| "is a damaged PKCS#1 RSA key".to_owned()),
        "ENCRYPTED PRIVATE KEY" => {
            Err("is encrypted; decrypt it first (openssl pkcs8 -in KEY -out PLAIN)".to_owned())
        }
        "PUBLIC KEY" | "RSA PUBLIC KEY" | "CERTIFICATE" => {
            Err(format!("is a {label}, not a private key"))
        }
        _ => Err(format!(
            "is a PEM `{label}`; expected PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY"
        )),
    }
}

/// A private JWK: EC P-256 or RSA.
pub(super) fn jwk(text: &str) -> Result<ClientKey, String> {
    let value: Value = serde_json::from_str(text).map_err(|_| "is not valid JSON".to_owned())?;
    let jwk = value.as_object().ok_or("is not a JSON object")?;
    let member = |name: &str| jwk.get(name).and_then(Value::as_str);
    let kid = member("kid").map(str::to_owned);
    match member("kty") {
        Some("EC") => {
            if member("crv") != Some("P-256") {
                return Err("is an EC key that is not on P-256 (crv)".to_owned());
            }
            if member("d").is_none() {
                return Err("is a public key (no `d`)".to_owned());
            }
            let secret = p256::SecretKey::from_jwk_str(text)
                .map_err(|_| "has EC members that do not form a P-256 key".to_owned())?;
            Ok(ClientKey::ec(secret.into(), kid))
        }
        Some("RSA") => rsa_jwk(jwk).map(|key| ClientKey::rsa(key, kid)),
        Some(other) => Err(format!("has kty `{other}`; expected EC or RSA")),
        None => Err("has no kty".to_owned()),
    }
}

/// An RSA private key from its JWK members (RFC 7518 §6.3).
fn rsa_jwk(jwk: &Map<String, Value>) -> Result<rsa::RsaPrivateKey, String> {
    let number = |name: &str| -> Result<Option<rsa::BigUint>, String> {
        let Some(text) = jwk.get(name).and_then(Value::as_str) else {
            return Ok(None);
        };
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(|_| format!("has a `{name}` that is not base64url"))?;
        Ok(Some(rsa::BigUint::from_bytes_be(&bytes)))
    };
    let required = |name: &str| {
        number(name)?.ok_or_else(|| match name {
            "d" => "is a public key (no `d`)".to_owned(),
            _ => format!("has no `{name}`"),
        })
    };
    let (n, e, d) = (required("n")?, required("e")?, required("d")?);
    let primes: Vec<rsa::BigUint> = [number("p")?, number("q")?].into_iter().flatten().collect();
    let key = rsa::RsaPrivateKey::from_components(n, e, d, primes)
        .map_err(|_| "has RSA members that do not form a key".to_owned())?;
    key.validate()
        .map_err(|_| "has RSA members that do not form a valid key".to_owned())?;
    Ok(key)
}
