//! PKCE with S256 (RFC 7636) and the `state` value.
//!
//! OAuth 2.1 and the MCP spec require PKCE; only S256 is produced (`plain` protects nothing
//! when the request leaks).

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::entropy::{Entropy, random_b64url};
use crate::error::{Result, SecurityError};
use crate::metadata::AuthorizationServerMetadata;
use crate::policy::Policy;
use crate::secret::{PkceVerifier, State};

/// A fresh verifier and its S256 challenge.
#[derive(Debug)]
pub struct Pkce {
    /// The verifier, kept by the client until the code exchange.
    pub verifier: PkceVerifier,
    /// `BASE64URL(SHA256(verifier))`, sent in the authorization request.
    pub challenge: String,
}

impl Pkce {
    /// Draws a 43-character verifier (32 random bytes, RFC 7636 §4.1) and derives its challenge.
    ///
    /// # Errors
    /// [`Error::Entropy`](crate::Error::Entropy) when the entropy source fails.
    pub fn generate(entropy: &mut dyn Entropy) -> Result<Self> {
        let verifier = PkceVerifier::new(random_b64url::<32>(entropy)?);
        let challenge = s256_challenge(verifier.secret());
        Ok(Self {
            verifier,
            challenge,
        })
    }

    /// The method sent as `code_challenge_method`.
    pub const METHOD: &'static str = "S256";
}

/// `BASE64URL-ENCODE(SHA256(ASCII(verifier)))` (RFC 7636 §4.2).
///
/// ```
/// // RFC 7636 Appendix B
/// let c = mcpauth_core::pkce::s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
/// assert_eq!(c, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
/// ```
#[must_use]
pub fn s256_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Draws a fresh `state` (32 random bytes, base64url).
///
/// # Errors
/// [`Error::Entropy`](crate::Error::Entropy) when the entropy source fails.
pub fn generate_state(entropy: &mut dyn Entropy) -> Result<State> {
    Ok(State::new(random_b64url::<32>(entropy)?))
}

/// Refuses an authorization server that does not advertise S256 (MCP: "MUST refuse to
/// proceed" when `code_challenge_methods_supported` is absent), unless the policy says to
/// assume it.
///
/// # Errors
/// [`SecurityError::PkceNotSupported`].
pub fn ensure_s256(metadata: &AuthorizationServerMetadata, policy: &Policy) -> Result<()> {
    match &metadata.code_challenge_methods_supported {
        Some(methods) if methods.iter().any(|m| m == Pkce::METHOD) => Ok(()),
        None if policy.dangerously_assume_pkce_s256 => Ok(()),
        _ => Err(SecurityError::PkceNotSupported {
            issuer: metadata.issuer.clone(),
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        // The verifier of Appendix B is the base64url of these 32 octets.
        let octets: [u8; 32] = [
            116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212,
            37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
        ];
        let mut source = |buf: &mut [u8]| buf.copy_from_slice(&octets);
        let pkce = Pkce::generate(&mut source).unwrap();
        assert_eq!(
            pkce.verifier.secret(),
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        );
        assert_eq!(
            pkce.challenge,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[cfg(feature = "getrandom")]
    #[test]
    fn verifier_meets_rfc7636_charset_and_length() {
        let pkce = Pkce::generate(&mut crate::OsEntropy).unwrap();
        let v = pkce.verifier.secret();
        assert!((43..=128).contains(&v.len()));
        assert!(
            v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        );
        assert_ne!(
            generate_state(&mut crate::OsEntropy).unwrap(),
            generate_state(&mut crate::OsEntropy).unwrap()
        );
    }

    fn meta(methods: Option<&[&str]>) -> AuthorizationServerMetadata {
        let mut m = AuthorizationServerMetadata::for_tests("https://as.example");
        m.code_challenge_methods_supported =
            methods.map(|m| m.iter().map(|s| s.to_string()).collect());
        m
    }

    #[test]
    fn refuses_servers_without_s256() {
        let strict = Policy::default();
        assert!(ensure_s256(&meta(Some(&["S256"])), &strict).is_ok());
        assert!(ensure_s256(&meta(Some(&["plain", "S256"])), &strict).is_ok());
        let err = ensure_s256(&meta(None), &strict).unwrap_err();
        assert_eq!(err.code(), "PKCE_NOT_SUPPORTED");
        assert!(ensure_s256(&meta(Some(&["plain"])), &strict).is_err());
        assert!(ensure_s256(&meta(Some(&[])), &strict).is_err());
    }

    #[test]
    fn legacy_switch_assumes_s256_only_when_field_is_absent() {
        let legacy = Policy {
            dangerously_assume_pkce_s256: true,
            ..Policy::default()
        };
        assert!(ensure_s256(&meta(None), &legacy).is_ok());
        assert!(ensure_s256(&meta(Some(&["plain"])), &legacy).is_err());
    }
}
