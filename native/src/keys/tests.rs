use base64::Engine as _;
use mcpauth_core::dpop::proof;
use mcpauth_core::jws::{JwsAlg, KeyHandle, PrivateKeyValue, SigningKey};
use mcpauth_core::{HttpRequest, Time};
use p256::ecdsa::signature::Verifier as _;
use p256::pkcs8::EncodePrivateKey as _;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::traits::{PrivateKeyParts as _, PublicKeyParts as _};
use url::Url;

use super::*;
use crate::Error;

/// A 2048-bit RSA key made for these tests with `openssl genrsa -traditional` (PKCS#1).
const RSA_PKCS1: &str = include_str!("testdata/rsa2048.pem");
/// A P-384 key in PKCS#8: a valid key that mcpauth does not sign with.
const P384_PKCS8: &str = include_str!("testdata/p384.pem");

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

fn ec_secret() -> p256::SecretKey {
    p256::SecretKey::from_slice(&[7u8; 32]).unwrap()
}

fn rsa_secret() -> rsa::RsaPrivateKey {
    rsa::RsaPrivateKey::from_pkcs1_pem(RSA_PKCS1).unwrap()
}

fn rsa_jwk(with_private: bool) -> String {
    let key = rsa_secret();
    let mut jwk = serde_json::json!({
        "kty": "RSA",
        "kid": "rsa-1",
        "n": b64(&key.n().to_bytes_be()),
        "e": b64(&key.e().to_bytes_be()),
    });
    if with_private {
        jwk["d"] = b64(&key.d().to_bytes_be()).into();
        jwk["p"] = b64(&key.primes()[0].to_bytes_be()).into();
        jwk["q"] = b64(&key.primes()[1].to_bytes_be()).into();
    }
    jwk.to_string()
}

fn verify_es256(public: &p256::PublicKey, input: &[u8], signature: &[u8]) {
    assert_eq!(signature.len(), 64, "ES256 is the raw r || s");
    let signature = p256::ecdsa::Signature::from_slice(signature).unwrap();
    p256::ecdsa::VerifyingKey::from(public)
        .verify(input, &signature)
        .unwrap();
}

fn verify_rs256(input: &[u8], signature: &[u8]) {
    let public = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(rsa_secret().to_public_key());
    let signature = rsa::pkcs1v15::Signature::try_from(signature).unwrap();
    public.verify(input, &signature).unwrap();
}

#[test]
fn es256_keys_load_from_pkcs8_sec1_and_jwk_and_their_signatures_verify() {
    let secret = ec_secret();
    let forms = [
        secret
            .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
            .unwrap()
            .to_string(),
        secret
            .to_sec1_pem(p256::pkcs8::LineEnding::LF)
            .unwrap()
            .to_string(),
        secret.to_jwk_string().to_string(),
    ];
    for text in forms {
        let key = ClientKey::parse(&text).unwrap();
        assert_eq!(key.alg(), JwsAlg::ES256);
        let signature = key.sign(b"header.claims").unwrap();
        verify_es256(&secret.public_key(), b"header.claims", &signature);
        // RFC 6979: the same input gives the same signature.
        assert_eq!(signature, key.sign(b"header.claims").unwrap());
    }
}

#[test]
fn rs256_keys_load_from_pkcs1_pkcs8_and_jwk_and_their_signatures_verify() {
    let pkcs8 = rsa_secret()
        .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
        .unwrap()
        .to_string();
    for text in [RSA_PKCS1.to_owned(), pkcs8, rsa_jwk(true)] {
        let key = ClientKey::parse(&text).unwrap();
        assert_eq!(key.alg(), JwsAlg::RS256);
        let signature = key.sign(b"header.claims").unwrap();
        assert_eq!(signature.len(), 256);
        verify_rs256(b"header.claims", &signature);
    }
    assert_eq!(
        ClientKey::from_jwk(&rsa_jwk(true)).unwrap().key_id(),
        Some("rsa-1")
    );
}

#[test]
fn keys_mcpauth_cannot_sign_with_are_typed_errors_that_show_no_key_material() {
    let public_pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n";
    let public_ec_jwk = {
        let mut jwk: serde_json::Value =
            serde_json::from_str(&ec_secret().to_jwk_string()).unwrap();
        jwk.as_object_mut().unwrap().remove("d");
        jwk.to_string()
    };
    let cases = [
        (P384_PKCS8.to_owned(), "neither P-256 nor RSA"),
        (public_pem.to_owned(), "not a private key"),
        (
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----"
                .to_owned(),
            "encrypted",
        ),
        ("not a key at all".to_owned(), "neither PEM"),
        (public_ec_jwk, "public key"),
        (rsa_jwk(false), "public key"),
        (r#"{"kty":"oct","k":"c2VjcmV0"}"#.to_owned(), "kty `oct`"),
        (r#"{"kty":"EC","crv":"P-384","d":"AA"}"#.to_owned(), "P-256"),
    ];
    for (text, why) in cases {
        let err = ClientKey::parse(&text).unwrap_err();
        assert!(matches!(err, Error::InvalidKey { .. }), "{err:?}");
        assert_eq!(err.code(), "CONFIG");
        let message = err.to_string();
        assert!(message.contains(why), "{why}: {message}");
        assert!(
            !message.contains("MFkw") && !message.contains("c2Vj"),
            "{message}"
        );
    }
}

#[test]
fn a_key_file_error_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let err = ClientKey::from_file(&missing).unwrap_err();
    assert!(err.to_string().contains("missing.pem"), "{err}");
    let wrong = dir.path().join("wrong.pem");
    std::fs::write(&wrong, P384_PKCS8).unwrap();
    let err = ClientKey::from_file(&wrong).unwrap_err();
    assert!(err.to_string().contains("wrong.pem"), "{err}");
    let good = dir.path().join("good.pem");
    std::fs::write(&good, RSA_PKCS1).unwrap();
    assert_eq!(ClientKey::from_file(&good).unwrap().alg(), JwsAlg::RS256);
}

#[test]
fn debug_output_of_client_keys_shows_no_key_material() {
    let key = ClientKey::parse(&ec_secret().to_jwk_string()).unwrap();
    let shown = format!("{key:?}");
    assert!(shown.contains("ES256"), "{shown}");
    let d = serde_json::from_str::<serde_json::Value>(&ec_secret().to_jwk_string()).unwrap()["d"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!shown.contains(&d), "{shown}");
}

#[test]
fn a_generated_dpop_key_is_p256_with_a_stable_thumbprint_and_a_redacted_private_half() {
    let mut n = 0u8;
    let mut entropy = |b: &mut [u8]| {
        n += 1;
        b.fill(n);
    };
    let key = generate_dpop_key(&mut entropy).unwrap();
    assert_eq!(key.jwk.crv, "P-256");
    assert_eq!(unb64(&key.jwk.x).len(), 32);
    assert_eq!(unb64(&key.jwk.y).len(), 32);
    // The thumbprint depends on the public key only, and a record read back keeps it.
    let stored: mcpauth_core::jws::DpopKey =
        serde_json::from_str(&serde_json::to_string(&key).unwrap()).unwrap();
    assert_eq!(stored.jwk.thumbprint(), key.jwk.thumbprint());
    let KeyHandle::Jwk { d } = &key.private else {
        panic!("a native DPoP key keeps its scalar");
    };
    assert_eq!(unb64(d.secret()), vec![1u8; 32]);
    assert!(!format!("{key:?}").contains(d.secret()));
    // Two logins get two keys.
    let other = generate_dpop_key(&mut mcpauth_core::OsEntropy).unwrap();
    assert_ne!(other.jwk.thumbprint(), key.jwk.thumbprint());
}

#[test]
fn a_dpop_proof_is_signed_with_the_grants_key_and_verifies_with_its_jwk() {
    let key = generate_dpop_key(&mut mcpauth_core::OsEntropy).unwrap();
    let url = Url::parse("https://as.example/token?x=1").unwrap();
    let mut request = HttpRequest::post_form(url.clone(), &[("grant_type", "client_credentials")]);
    request
        .signatures
        .push(proof(&key, "POST", &url, Some("n-1"), None));
    Signer::default()
        .sign_request(&mut request, Time::from_unix_secs(1_000))
        .unwrap();
    let jws = request.header("dpop").unwrap().to_owned();
    let [header, claims, signature] = jws.split('.').collect::<Vec<_>>()[..] else {
        panic!("a compact JWS: {jws}");
    };
    let header: serde_json::Value = serde_json::from_slice(&unb64(header)).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&unb64(claims)).unwrap();
    assert_eq!(header["typ"], "dpop+jwt");
    assert_eq!(claims["htu"], "https://as.example/token");
    assert_eq!(claims["nonce"], "n-1");
    let jwk = &header["jwk"];
    let point = p256::EncodedPoint::from_affine_coordinates(
        unb64(jwk["x"].as_str().unwrap())[..].into(),
        unb64(jwk["y"].as_str().unwrap())[..].into(),
        false,
    );
    let public = p256::PublicKey::from_sec1_bytes(point.as_bytes()).unwrap();
    let input = &jws[..jws.rfind('.').unwrap()];
    verify_es256(&public, input.as_bytes(), &unb64(signature));
}

#[test]
fn a_client_assertion_without_a_client_key_is_no_signing_key() {
    let err = Signer::default()
        .sign(&SigningKey::Client, JwsAlg::ES256, b"x")
        .unwrap_err();
    assert_eq!(err.code(), "NO_SIGNING_KEY");
    assert!(err.to_string().contains("--private-key"), "{err}");
    let stored = SigningKey::Dpop {
        key: KeyHandle::Stored { id: "k".into() },
    };
    let err = Signer::default()
        .sign(&stored, JwsAlg::ES256, b"x")
        .unwrap_err();
    assert_eq!(err.code(), "NO_SIGNING_KEY");
    let damaged = SigningKey::Dpop {
        key: KeyHandle::Jwk {
            d: PrivateKeyValue::new("not base64!"),
        },
    };
    let err = Signer::default()
        .sign(&damaged, JwsAlg::ES256, b"x")
        .unwrap_err();
    assert_eq!(err.code(), "NO_SIGNING_KEY");
}

#[test]
fn the_client_key_signs_assertions_of_its_own_algorithm_only() {
    let key = ClientKey::parse(RSA_PKCS1).unwrap();
    let signer = Signer::new(Some(Arc::new(key)));
    let signature = signer
        .sign(&SigningKey::Client, JwsAlg::RS256, b"in")
        .unwrap();
    verify_rs256(b"in", &signature);
    let err = signer
        .sign(&SigningKey::Client, JwsAlg::ES256, b"in")
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_PARAMETER");
}
