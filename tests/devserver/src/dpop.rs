//! DPoP proofs (RFC 9449 §4.3): checking the `DPoP` header of token and MCP requests, and the
//! `use_dpop_nonce` answers of the nonce faults.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::jws::{self, PublicJwk};
use crate::state::App;

/// The request header that carries the proof, and the response header that carries a nonce.
pub(crate) const DPOP: &str = "dpop";
pub(crate) const DPOP_NONCE: &str = "dpop-nonce";

/// How far a proof's `iat` may lie from now, either way (RFC 9449 §11.1 leaves it to the
/// server; five minutes forgives clock skew).
const IAT_WINDOW_SECS: u64 = 300;

/// A proof that passed every check.
#[derive(Debug)]
pub(crate) struct Proof {
    /// The RFC 7638 thumbprint of the proof's key.
    pub jkt: String,
}

/// Why a proof was not accepted.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Malformed, badly signed, for another request, stale or replayed; the text says which.
    Invalid(String),
    /// Valid, but without the nonce the server requires; the nonce to send.
    NeedsNonce(String),
}

/// What a proof must match: the request it came with.
pub(crate) struct Expected<'a> {
    /// `htm`: the request's method.
    pub method: &'a str,
    /// `htu`: the URL requested, without query and fragment.
    pub url: &'a str,
    /// The access token sent with it, whose hash `ath` must be (resource requests only).
    pub access_token: Option<&'a str>,
    /// The thumbprint of the key that token is bound to, which must be the proof's.
    pub jkt: Option<&'a str>,
    /// Whether the server's nonce is required.
    pub nonce: bool,
}

/// Check the request's DPoP proof, if it carries one, and count the outcome. `Ok(None)`
/// when there is no `DPoP` header.
pub(crate) fn check(
    app: &App,
    headers: &HeaderMap,
    expected: &Expected<'_>,
) -> Result<Option<Proof>, Refusal> {
    let mut proofs = headers.get_all(DPOP).iter();
    let Some(first) = proofs.next() else {
        return Ok(None);
    };
    let outcome = if proofs.next().is_some() {
        Err(Refusal::Invalid("more than one DPoP header".into()))
    } else {
        match first.to_str() {
            Ok(proof) => validate(app, proof, expected),
            Err(_) => Err(Refusal::Invalid("the DPoP header is not ASCII".into())),
        }
    };
    app.record(|s| match &outcome {
        Ok(_) => s.dpop_proofs_accepted += 1,
        Err(Refusal::Invalid(_)) => s.dpop_proofs_refused += 1,
        Err(Refusal::NeedsNonce(_)) => s.dpop_nonce_challenges += 1,
    });
    outcome.map(Some)
}

/// RFC 9449 §4.3's checks, in its order, then the replay and nonce checks.
fn validate(app: &App, proof: &str, expected: &Expected<'_>) -> Result<Proof, Refusal> {
    let invalid = Refusal::Invalid;
    let parsed = jws::parse(proof).map_err(invalid)?;
    if parsed.header.get("typ").and_then(|t| t.as_str()) != Some("dpop+jwt") {
        return Err(invalid("typ is not dpop+jwt".into()));
    }
    let jwk = parsed
        .header
        .get("jwk")
        .ok_or_else(|| invalid("the header has no jwk".into()))
        .and_then(|jwk| PublicJwk::from_json(jwk).map_err(invalid))?;
    let proof = parsed.verify(&jwk).map_err(invalid)?;
    let jkt = jwk.thumbprint();
    if expected.jkt.is_some_and(|bound| bound != jkt) {
        return Err(invalid("the proof is not made with the token's key".into()));
    }
    if proof.str_claim("htm") != Some(expected.method) {
        return Err(invalid(format!("htm is not {}", expected.method)));
    }
    let htu = proof.str_claim("htu").map(without_query);
    if htu != Some(without_query(expected.url)) {
        return Err(invalid(format!("htu is not {}", expected.url)));
    }
    let iat = proof
        .time_claim("iat")
        .ok_or_else(|| invalid("iat is missing".into()))?;
    let fresh = app
        .clock
        .unix_secs_both()
        .iter()
        .any(|now| now.abs_diff(iat) <= IAT_WINDOW_SECS);
    if !fresh {
        return Err(invalid("iat is not within 5 minutes of now".into()));
    }
    if let Some(token) = expected.access_token {
        let ath = URL_SAFE_NO_PAD.encode(Sha256::digest(token));
        if proof.str_claim("ath") != Some(ath.as_str()) {
            return Err(invalid("ath is not the hash of the access token".into()));
        }
    }
    let jti = proof
        .str_claim("jti")
        .filter(|j| !j.is_empty())
        .ok_or_else(|| invalid("jti is missing".into()))?;
    let mut db = app.db();
    if !db.dpop_jtis.insert(jti.to_owned()) {
        app.record(|s| s.dpop_replays_refused += 1);
        return Err(invalid("the proof was used before (jti replayed)".into()));
    }
    if expected.nonce {
        let nonce = db.dpop_nonce();
        if proof.str_claim("nonce") != Some(nonce.as_str()) {
            return Err(Refusal::NeedsNonce(nonce));
        }
    }
    Ok(Proof { jkt })
}

/// `url` without its query and fragment, as `htu` is compared (RFC 9449 §4.3 point 9).
fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// The token endpoint's `400 use_dpop_nonce` with the nonce to use (RFC 9449 §8).
pub(crate) fn token_nonce_challenge(nonce: &str) -> Response {
    let body = json!({
        "error": "use_dpop_nonce",
        "error_description": "DPoP proofs must carry the server's nonce",
    });
    let mut response = (
        StatusCode::BAD_REQUEST,
        [(header::CACHE_CONTROL, "no-store")],
        Json(body),
    )
        .into_response();
    add_nonce(&mut response, nonce);
    response
}

/// Add the `DPoP-Nonce` header.
pub(crate) fn add_nonce(response: &mut Response, nonce: &str) {
    // The nonce is base64url with an ASCII prefix, always a valid header value.
    if let Ok(value) = HeaderValue::from_str(nonce) {
        response.headers_mut().insert(DPOP_NONCE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::without_query;

    #[test]
    fn htu_is_compared_without_query_and_fragment() {
        assert_eq!(without_query("http://a/token?x=1#f"), "http://a/token");
        assert_eq!(without_query("http://a/mcp"), "http://a/mcp");
    }
}
