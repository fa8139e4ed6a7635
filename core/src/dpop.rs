//! DPoP proofs (RFC 9449): what each proof says, and the server nonces that ask for another.
//!
//! A proof is a [`JwsTemplate`] signed by the DPoP key ([`SigningKey::Dpop`]); see
//! [`jws`](crate::jws) for why the driver signs it. Token requests (code exchange, refresh,
//! client credentials, jwt-bearer) carry one with `htm` and `htu`; requests to the MCP server
//! carry one with `ath` as well, and present the token as `Authorization: DPoP <token>`.

use serde_json::{Map, Value};
use url::Url;

use crate::http::HttpResponse;
use crate::jws::{DpopKey, JwsAlg, JwsPlace, JwsTemplate, SigningKey, b64url};
use crate::secret::AccessToken;

/// The `token_type` of a DPoP-bound token, and the `Authorization` scheme it is sent with.
pub const DPOP_TOKEN_TYPE: &str = "DPoP";

/// The header a proof goes in, and the one servers send nonces in (lowercase).
pub const DPOP_HEADER: &str = "dpop";

/// The header a server's nonce arrives in.
pub const DPOP_NONCE_HEADER: &str = "dpop-nonce";

/// The `htu` claim: the request URL without query and fragment (RFC 9449 §4.2).
#[must_use]
pub fn htu(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

/// The `ath` claim: base64url SHA-256 of the access token's ASCII value (RFC 9449 §4.2).
#[must_use]
pub fn ath(token: &AccessToken) -> String {
    use sha2::Digest as _;
    b64url(&sha2::Sha256::digest(token.secret().as_bytes()))
}

/// A proof for a `method` request to `url`, with the server's `nonce` if it gave one, and
/// `ath` for `access_token` on requests to a resource server.
#[must_use]
pub fn proof(
    key: &DpopKey,
    method: &str,
    url: &Url,
    nonce: Option<&str>,
    access_token: Option<&AccessToken>,
) -> JwsTemplate {
    let mut header = Map::new();
    header.insert("typ".into(), "dpop+jwt".into());
    header.insert("jwk".into(), key.jwk.to_json());
    let mut claims = Map::new();
    claims.insert("htm".into(), method.into());
    claims.insert("htu".into(), htu(url).into());
    if let Some(token) = access_token {
        claims.insert("ath".into(), ath(token).into());
    }
    if let Some(nonce) = nonce {
        claims.insert("nonce".into(), Value::from(nonce));
    }
    JwsTemplate {
        key: SigningKey::Dpop {
            key: key.private.clone(),
        },
        alg: JwsAlg::ES256,
        header,
        claims,
        lifetime_secs: None,
        place: JwsPlace::Header(DPOP_HEADER.into()),
    }
}

/// The nonce a server asks proofs to carry, when `resp` is its `use_dpop_nonce` error: an
/// authorization server's 400 with that `error` in the JSON body (RFC 9449 §8), or a resource
/// server's 401 with it in a `DPoP` challenge (§9). Either way the nonce is the `DPoP-Nonce`
/// header; without one (or with an empty or non-visible-ASCII one) there is nothing to retry
/// with, and `None` is returned.
#[must_use]
pub fn nonce_challenge(resp: &HttpResponse) -> Option<String> {
    let nonce = resp.header(DPOP_NONCE_HEADER)?.trim();
    if !valid_nonce(nonce) {
        return None;
    }
    let asked = match resp.status {
        400 => crate::response::oauth_error_code(resp).is_some_and(|e| e == "use_dpop_nonce"),
        401 => resp.header_all("www-authenticate").any(|v| {
            let lower = v.to_ascii_lowercase();
            lower.trim_start().starts_with("dpop") && lower.contains("use_dpop_nonce")
        }),
        _ => false,
    };
    asked.then(|| nonce.to_owned())
}

/// Whether `nonce` is a nonce a proof can carry: RFC 9449 §8.1's `1*NQCHAR`
/// (%x21 / %x23-5B / %x5D-7E), at most 1024 bytes.
pub(crate) fn valid_nonce(nonce: &str) -> bool {
    !nonce.is_empty()
        && nonce.len() <= 1024
        && nonce
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jws::{EcPublicJwk, KeyHandle};
    use crate::time::Time;
    use base64::Engine as _;

    fn key() -> DpopKey {
        // The public key of RFC 9449 §4.1's example proof.
        DpopKey::new(
            EcPublicJwk::p256(
                "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
                "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
            ),
            KeyHandle::Stored { id: "k".into() },
        )
    }

    fn part(input: &str, i: usize) -> Value {
        let p = input.split('.').nth(i).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn ath_matches_rfc_9449_section_7_1() {
        // RFC 9449 §7.1: the access token "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU" has
        // ath "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo".
        let token = AccessToken::new("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU");
        assert_eq!(ath(&token), "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo");
    }

    #[test]
    fn a_token_request_proof_has_the_rfc_9449_section_4_2_shape() {
        // RFC 9449 §4.1's example: POST https://server.example.com/token at iat 1562262616.
        let url = Url::parse("https://server.example.com/token?x=1#f").unwrap();
        let s = proof(&key(), "POST", &url, None, None)
            .stamp_with(Time::from_unix_secs(1_562_262_616), "-BwC3ESc6acc2lTc");
        assert_eq!(
            part(&s.input, 0),
            serde_json::json!({"alg": "ES256", "typ": "dpop+jwt", "jwk": {
                "kty": "EC", "crv": "P-256",
                "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
                "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"}})
        );
        assert_eq!(
            part(&s.input, 1),
            serde_json::json!({"jti": "-BwC3ESc6acc2lTc", "htm": "POST",
                "htu": "https://server.example.com/token", "iat": 1_562_262_616})
        );
        assert_eq!(s.place, JwsPlace::Header("dpop".into()));
    }

    #[test]
    fn a_resource_proof_carries_ath_and_the_nonce() {
        let url = Url::parse("https://resource.example.org/protectedresource").unwrap();
        let token = AccessToken::new("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU");
        let s = proof(
            &key(),
            "GET",
            &url,
            Some("eyJ7S_zG.eyJH0-Z.HX4w-7v"),
            Some(&token),
        )
        .stamp_with(Time::from_unix_secs(1_562_262_618), "e1j3V_bKic8-LAEB");
        let claims = part(&s.input, 1);
        assert_eq!(claims["ath"], "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo");
        assert_eq!(claims["nonce"], "eyJ7S_zG.eyJH0-Z.HX4w-7v");
        assert_eq!(claims["htm"], "GET");
    }

    #[test]
    fn nonce_challenges_from_the_authorization_and_the_resource_server() {
        let nonce = (
            "dpop-nonce".to_owned(),
            "eyJ7S_zG.eyJH0-Z.HX4w-7v".to_owned(),
        );
        let as_400 = HttpResponse::new(
            400,
            vec![nonce.clone()],
            br#"{"error":"use_dpop_nonce","error_description":"x"}"#.to_vec(),
        );
        assert_eq!(
            nonce_challenge(&as_400).as_deref(),
            Some("eyJ7S_zG.eyJH0-Z.HX4w-7v")
        );
        let rs_401 = HttpResponse::new(
            401,
            vec![
                (
                    "www-authenticate".into(),
                    r#"DPoP error="use_dpop_nonce", error_description="fresh""#.into(),
                ),
                nonce.clone(),
            ],
            Vec::new(),
        );
        assert!(nonce_challenge(&rs_401).is_some());
        let other = HttpResponse::new(
            400,
            vec![nonce.clone()],
            br#"{"error":"invalid_grant"}"#.to_vec(),
        );
        assert_eq!(nonce_challenge(&other), None);
        let no_nonce = HttpResponse::new(400, vec![], br#"{"error":"use_dpop_nonce"}"#.to_vec());
        assert_eq!(nonce_challenge(&no_nonce), None);
        let bad = HttpResponse::new(
            400,
            vec![("dpop-nonce".into(), "a\"b".into())],
            br#"{"error":"use_dpop_nonce"}"#.to_vec(),
        );
        assert_eq!(nonce_challenge(&bad), None);
    }

    #[test]
    fn a_form_encoded_use_dpop_nonce_error_is_a_challenge_too() {
        let resp = HttpResponse::new(
            400,
            vec![
                (
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                ),
                ("dpop-nonce".into(), "n-1".into()),
            ],
            b"error=use_dpop_nonce&error_description=Authorization+server+requires+nonce".to_vec(),
        );
        assert_eq!(nonce_challenge(&resp).as_deref(), Some("n-1"));
    }

    fn is_nqchar(b: u8) -> bool {
        b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b)
    }

    proptest::proptest! {
        #[test]
        fn nonce_challenges_never_panic_and_yield_only_nqchar_nonces(
            status in proptest::sample::select(vec![200u16, 400, 401, 403, 500]),
            nonce in proptest::option::of(".{0,40}"),
            challenge in proptest::option::of("(DPoP|Bearer|dpop)? ?.{0,40}"),
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            asked in proptest::prelude::any::<bool>(),
        ) {
            let mut headers = Vec::new();
            if let Some(n) = nonce {
                headers.push(("DPoP-Nonce".to_owned(), n));
            }
            if let Some(c) = challenge {
                headers.push(("WWW-Authenticate".to_owned(), c));
            }
            let body = if asked { br#"{"error":"use_dpop_nonce"}"#.to_vec() } else { body };
            if let Some(n) = nonce_challenge(&HttpResponse::new(status, headers, body)) {
                proptest::prop_assert!(!n.is_empty() && n.len() <= 1024);
                proptest::prop_assert!(n.bytes().all(is_nqchar), "{:?}", n);
                proptest::prop_assert!(status == 400 || status == 401);
            }
        }

        #[test]
        fn every_nqchar_nonce_of_a_challenge_is_taken_as_sent(
            nonce in "[!#-\\[\\]-~]{1,64}",
            padding in "[ \t]{0,2}",
            resource_server in proptest::prelude::any::<bool>(),
        ) {
            let sent = format!("{padding}{nonce}{padding}");
            let resp = if resource_server {
                HttpResponse::new(401, vec![
                    ("www-authenticate".into(), r#"DPoP error="use_dpop_nonce""#.into()),
                    ("dpop-nonce".into(), sent),
                ], Vec::new())
            } else {
                HttpResponse::new(400, vec![("dpop-nonce".into(), sent)],
                    br#"{"error":"use_dpop_nonce"}"#.to_vec())
            };
            proptest::prop_assert_eq!(nonce_challenge(&resp), Some(nonce));
        }

        #[test]
        fn a_nonce_with_any_other_byte_is_refused(
            head in "[!#-~]{0,8}",
            bad in proptest::sample::select(vec!['"', '\\', ' ', '\u{7f}', '\u{e9}', '\u{1}']),
            tail in "[!#-~]{0,8}",
        ) {
            let resp = HttpResponse::new(
                400,
                vec![("dpop-nonce".into(), format!("x{head}{bad}{tail}x"))],
                br#"{"error":"use_dpop_nonce"}"#.to_vec(),
            );
            proptest::prop_assert_eq!(nonce_challenge(&resp), None);
        }
    }
}
