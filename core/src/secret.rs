//! Secret values as types, so that a token never reaches a log by accident.
//!
//! Each secret is a newtype whose `Debug` prints `Name([redacted])`, which has no `Display`,
//! and whose value is reached only through [`secret()`](AccessToken::secret). They serialize
//! transparently, because storage and the wasm boundary must carry them.

use subtle::ConstantTimeEq;

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a value.
            #[must_use]
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret value.
            ///
            /// # Security
            /// Do not log, display or persist it unencrypted; pass it only where it is sent.
            #[must_use]
            pub fn secret(&self) -> &str {
                &self.0
            }

            /// Compares with `other` in time independent of where they differ.
            #[must_use]
            pub fn ct_eq(&self, other: &str) -> bool {
                constant_time_eq(self.0.as_bytes(), other.as_bytes())
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret_type!(
    /// An OAuth access token (RFC 6749 §1.4).
    AccessToken
);
secret_type!(
    /// An OAuth refresh token (RFC 6749 §1.5).
    RefreshToken
);
secret_type!(
    /// An OpenID Connect ID token. Shown for display only, never trusted for authorization.
    IdToken
);
secret_type!(
    /// A client secret (RFC 6749 §2.3.1).
    ClientSecret
);
secret_type!(
    /// An authorization code (RFC 6749 §4.1.2).
    AuthorizationCode
);
secret_type!(
    /// A PKCE code verifier (RFC 7636 §4.1).
    PkceVerifier
);
secret_type!(
    /// The `state` value binding an authorization response to its request (RFC 6749 §10.12).
    State
);
secret_type!(
    /// A device code (RFC 8628 §3.2).
    DeviceCode
);
secret_type!(
    /// A registration access token (RFC 7592 §3).
    RegistrationAccessToken
);

secret_type!(
    /// A private key's value: the JWK `d` member (base64url) of a DPoP key kept in a grant's
    /// record; only a signer reads it.
    PrivateKeyValue
);

secret_type!(
    /// A security token presented in a token exchange (RFC 8693 §2.1): the subject or actor
    /// token, of the type its `*_token_type` names (access token, ID token, JWT, SAML, ...).
    SecurityToken
);

/// Constant-time equality of two byte strings; lengths are not secret.
#[must_use]
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let t = AccessToken::new("eyJhbGciOi.secret");
        assert_eq!(format!("{t:?}"), "AccessToken([redacted])");
        assert_eq!(
            format!("{:?}", Some(RefreshToken::new("rt"))),
            "Some(RefreshToken([redacted]))"
        );
    }

    #[test]
    fn serializes_transparently_for_storage() {
        let t = RefreshToken::new("rt-1");
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"rt-1\"");
        let back: RefreshToken = serde_json::from_str("\"rt-1\"").unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn constant_time_compare_matches_equality() {
        let s = State::new("abc");
        assert!(s.ct_eq("abc"));
        assert!(!s.ct_eq("abd"));
        assert!(!s.ct_eq("ab"));
        assert!(!s.ct_eq(""));
    }
}
