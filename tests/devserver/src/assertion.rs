//! Signed assertions at the token endpoint (RFC 7523): client authentication with
//! `private_key_jwt` (§2.2, §3) and the jwt-bearer authorization grant (§2.1, §3), each an
//! ES256 JWT checked against a key configured on the server.

use serde::{Deserialize, Serialize};

use crate::jws::{self, PublicJwk, Verified};
use crate::state::{App, Db};

/// The `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub(crate) const CLIENT_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How far past its `exp` an assertion is still accepted, for clock skew.
const EXP_LEEWAY_SECS: u64 = 30;

/// An issuer of workload (or other) identity tokens whose assertions the jwt-bearer grant
/// accepts, with the public key that signs them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedIssuer {
    /// The `iss` of its assertions, such as `https://idp.example`.
    pub issuer: String,
    /// Its ES256 public key.
    pub jwk: PublicJwk,
}

/// The `iss` of an assertion, read before its signature is checked, to find the key.
pub(crate) fn unverified_issuer(assertion: &str) -> Result<String, String> {
    jws::parse(assertion)?
        .unverified_claim("iss")
        .map(str::to_owned)
        .ok_or_else(|| "the assertion has no iss".to_owned())
}

/// Check a client assertion for `client_id` signed with `key` (RFC 7523 §3): `iss` and `sub`
/// are the client, `aud` the issuer or the token endpoint, unexpired, and its `jti` unseen.
pub(crate) fn check_client_assertion(
    app: &App,
    db: &mut Db,
    assertion: &str,
    client_id: &str,
    key: &PublicJwk,
) -> Result<(), String> {
    let verified = check_common(app, db, assertion, key, true)?;
    if verified.str_claim("iss") != Some(client_id) || verified.str_claim("sub") != Some(client_id)
    {
        return Err("iss and sub must both be the client_id".into());
    }
    Ok(())
}

/// Check a jwt-bearer grant assertion (RFC 7523 §3) from a trusted issuer; its `sub`.
pub(crate) fn check_grant_assertion(
    app: &App,
    db: &mut Db,
    assertion: &str,
) -> Result<String, String> {
    let issuer = unverified_issuer(assertion)?;
    let key = db
        .trusted_issuers
        .get(&issuer)
        .cloned()
        .ok_or_else(|| format!("the issuer {issuer} is not trusted"))?;
    let verified = check_common(app, db, assertion, &key, false)?;
    verified
        .str_claim("sub")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| "the assertion has no sub".into())
}

/// The checks both kinds share: the signature, `aud`, `exp`, and `jti` (required for client
/// assertions, checked for replay whenever present).
fn check_common(
    app: &App,
    db: &mut Db,
    assertion: &str,
    key: &PublicJwk,
    jti_required: bool,
) -> Result<Verified, String> {
    let verified = jws::parse(assertion)?.verify(key)?;
    let token_endpoint = format!("{}/token", app.urls.issuer);
    if !verified.audience_is_one_of(&[app.urls.issuer.as_str(), token_endpoint.as_str()]) {
        return Err(format!(
            "aud must be {} or {token_endpoint}",
            app.urls.issuer
        ));
    }
    let exp = verified.time_claim("exp").ok_or("exp is missing")?;
    let unexpired = app
        .clock
        .unix_secs_both()
        .iter()
        .any(|now| *now <= exp.saturating_add(EXP_LEEWAY_SECS));
    if !unexpired {
        return Err("the assertion expired".into());
    }
    match verified.str_claim("jti") {
        Some(jti) if !db.assertion_jtis.insert(jti.to_owned()) => {
            Err("the assertion was used before (jti replayed)".into())
        }
        None if jti_required => Err("jti is missing".into()),
        _ => Ok(verified),
    }
}
