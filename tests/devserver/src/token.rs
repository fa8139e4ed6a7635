//! The token endpoint (authorization code with PKCE, refresh with rotation and reuse detection,
//! device code, token exchange, client credentials, jwt-bearer; DPoP-bound tokens when the
//! request carries a proof), revocation (RFC 7009) and userinfo.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::assertion::check_grant_assertion;
use crate::dpop::{self, Refusal};
use crate::metadata::{
    CLIENT_CREDENTIALS_GRANT, DEVICE_CODE_GRANT, JWT_BEARER_GRANT, TOKEN_EXCHANGE_GRANT,
    known_scope,
};
use crate::register::{ClientAuth, RegisteredClient, authenticate, require_registered_grant};
use crate::state::{App, Db, Grant, Issued, OAuthError, Params};

/// The one user this server knows.
const USER: (&str, &str, &str) = ("devuser", "dev@example.com", "Dev User");

const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// `POST /token`.
pub(crate) async fn token(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let params = Params::parse(&body)?;
    let grant_type = params.require("grant_type")?;
    app.record(|s| {
        *s.token_grants.entry(grant_type.to_owned()).or_default() += 1;
        if grant_type == "refresh_token" {
            s.refreshes += 1;
        }
    });
    let faults = app.faults();
    let token_endpoint = format!("{}/token", app.urls.issuer);
    let expected = dpop::Expected {
        method: "POST",
        url: &token_endpoint,
        access_token: None,
        jkt: None,
        nonce: faults.dpop_nonce_token,
    };
    // Checked before the lock below is taken: the check records the proof's jti.
    let proof = match dpop::check(&app, &headers, &expected) {
        Ok(proof) => proof,
        Err(Refusal::Invalid(why)) => return Err(OAuthError::new("invalid_dpop_proof", why)),
        Err(Refusal::NeedsNonce(nonce)) => return Ok(dpop::token_nonce_challenge(&nonce)),
    };
    let proof_jkt = proof.map(|p| p.jkt);
    let mut db = app.db();
    let client = if grant_type == JWT_BEARER_GRANT && names_no_client(&headers, &params) {
        anonymous()
    } else {
        authenticate(&app, &mut db, &headers, &params)?
    };
    require_registered_grant(&app, &db, &client, grant_type)?;
    let issued = match grant_type {
        "authorization_code" => code_grant(&app, &mut db, &client, &params)?,
        "refresh_token" => refresh_grant(&app, &mut db, &client, &params, proof_jkt.as_deref())?,
        CLIENT_CREDENTIALS_GRANT => client_credentials(&app, &mut db, &client, &params)?,
        JWT_BEARER_GRANT => jwt_bearer(&app, &mut db, &client, &params)?,
        DEVICE_CODE_GRANT => {
            let grant = crate::device::poll(&app, &mut db, &client, &params)?;
            let family = db.new_family();
            db.issue(
                grant.clone(),
                family,
                with_refresh(&app, &grant),
                app.lifetimes(),
            )
        }
        TOKEN_EXCHANGE_GRANT => exchange(&app, &mut db, &client, &params)?,
        other => {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                format!("grant_type {other} is not supported"),
            ));
        }
    };
    // RFC 9449 §5: a proof binds the tokens to its key, unless the server ignores DPoP.
    let bound = proof_jkt.filter(|_| !faults.dpop_downgrade);
    if let Some(jkt) = &bound {
        db.bind(&issued, jkt);
    }
    drop(db);
    app.record(|s| s.tokens_issued += 1);
    if grant_type == "refresh_token" && app.faults().lose_refresh_response {
        app.record(|s| s.refresh_responses_lost += 1);
        return Ok(lost_response());
    }
    let id_token = (grant_type != TOKEN_EXCHANGE_GRANT && issued.grant.has_scope("openid"))
        .then(|| id_token(&app, &client));
    let token_type = if bound.is_some() { "DPoP" } else { "Bearer" };
    let mut body = token_body(
        issued,
        token_type,
        grant_type == TOKEN_EXCHANGE_GRANT,
        id_token,
    );
    overwrite_members(&mut body, &app.faults().token_response_fields);
    Ok((
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        Json(body),
    )
        .into_response())
}

/// Overwrite the members of `body` named in `fields`, removing those given as `null`
/// ([`crate::Faults::token_response_fields`] and
/// [`crate::Faults::registration_response_fields`]).
pub(crate) fn overwrite_members(
    body: &mut Value,
    fields: &std::collections::BTreeMap<String, Value>,
) {
    let Some(object) = body.as_object_mut() else {
        return;
    };
    for (name, value) in fields {
        if value.is_null() {
            object.remove(name);
        } else {
            object.insert(name.clone(), value.clone());
        }
    }
}

/// The successful token response's body (RFC 6749 §5.1; RFC 8693 §2.2.1 for an exchange).
fn token_body(issued: Issued, token_type: &str, exchange: bool, id_token: Option<String>) -> Value {
    let mut body = json!({
        "access_token": issued.access_token,
        "token_type": token_type,
        "expires_in": issued.ttl.as_secs(),
        "scope": issued.grant.scope,
    });
    if let Some(object) = body.as_object_mut() {
        if let Some(refresh) = issued.refresh_token {
            object.insert("refresh_token".into(), json!(refresh));
        }
        if exchange {
            object.insert("issued_token_type".into(), json!(ACCESS_TOKEN_TYPE));
        }
        if let Some(id_token) = id_token {
            object.insert("id_token".into(), json!(id_token));
        }
    }
    body
}

/// A token response that never arrives whole: the status line may go out, but the body
/// fails at once, so the server closes the connection mid-response
/// ([`crate::Faults::lose_refresh_response`]).
fn lost_response() -> Response {
    let broken = futures_util::stream::once(async {
        Err::<Bytes, _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "the token response is lost",
        ))
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from_stream(broken),
    )
        .into_response()
}

fn with_refresh(app: &App, grant: &Grant) -> bool {
    !app.config.refresh_requires_offline_access || grant.has_scope("offline_access")
}

/// RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.6) and RFC 8707 `resource`.
fn code_grant(
    app: &App,
    db: &mut Db,
    client: &RegisteredClient,
    params: &Params,
) -> Result<Issued, OAuthError> {
    let code = params.require("code")?;
    let verifier = params.require("code_verifier")?;
    db.client_secrets_seen.insert(verifier.to_owned());
    let record = db
        .codes
        .get(code)
        .ok_or_else(|| OAuthError::invalid_grant("unknown code"))?;
    if let Some(family) = record.family {
        db.revoke_family(family);
        return Err(OAuthError::invalid_grant(
            "code was already used; its tokens are revoked",
        ));
    }
    if record.expires <= app.now() {
        return Err(OAuthError::invalid_grant("code expired"));
    }
    if record.grant.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "code was issued to another client",
        ));
    }
    if params.get("redirect_uri") != record.redirect_uri.as_deref() {
        return Err(OAuthError::invalid_grant(
            "redirect_uri differs from the authorization request",
        ));
    }
    let valid_verifier = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !valid_verifier || URL_SAFE_NO_PAD.encode(Sha256::digest(verifier)) != record.challenge {
        return Err(OAuthError::invalid_grant(
            "code_verifier does not match code_challenge",
        ));
    }
    if params
        .get("resource")
        .is_some_and(|r| Some(r) != record.grant.resource.as_deref())
    {
        return Err(OAuthError::new(
            "invalid_target",
            "resource differs from the authorization request",
        ));
    }
    let grant = record.grant.clone();
    let family = db.new_family();
    if let Some(record) = db.codes.get_mut(code) {
        record.family = Some(family);
    }
    Ok(db.issue(
        grant.clone(),
        family,
        with_refresh(app, &grant),
        app.lifetimes(),
    ))
}

/// RFC 6749 §6 with rotation: the old refresh token dies, and presenting it again revokes
/// the whole family (OAuth 2.1 §4.3.1). Under [`crate::Faults::refresh_without_rotation`] the
/// old one lives on and no new one is issued. A refresh token bound to a DPoP key needs a
/// proof made with that key (`proof_jkt`, RFC 9449 §5).
fn refresh_grant(
    app: &App,
    db: &mut Db,
    client: &RegisteredClient,
    params: &Params,
    proof_jkt: Option<&str>,
) -> Result<Issued, OAuthError> {
    let token = params.require("refresh_token")?;
    let record = db
        .refresh
        .get_mut(token)
        .ok_or_else(|| OAuthError::invalid_grant("unknown refresh token"))?;
    if record.grant.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "refresh token was issued to another client",
        ));
    }
    if let Some(bound) = &record.jkt
        && proof_jkt != Some(bound.as_str())
    {
        return Err(OAuthError::new(
            "invalid_dpop_proof",
            "the refresh token is bound to a DPoP key; send a proof made with that key",
        ));
    }
    if record.rotated {
        let family = record.family;
        db.revoke_family(family);
        app.record(|s| s.refresh_reuse_detected += 1);
        return Err(OAuthError::invalid_grant(
            "refresh token reused; the grant is revoked",
        ));
    }
    let lifetimes = app.lifetimes();
    if record
        .expires
        .is_some_and(|expires| expires <= lifetimes.now)
    {
        return Err(OAuthError::invalid_grant("refresh token expired"));
    }
    let mut grant = record.grant.clone();
    if params
        .get("resource")
        .is_some_and(|r| Some(r) != grant.resource.as_deref())
    {
        return Err(OAuthError::new(
            "invalid_target",
            "resource differs from the original grant",
        ));
    }
    if let Some(scope) = params.get("scope") {
        if let Some(extra) = scope.split(' ').find(|s| !grant.has_scope(s)) {
            return Err(OAuthError::new(
                "invalid_scope",
                format!("scope {extra} was not granted"),
            ));
        }
        grant.scope = scope.to_owned();
    }
    let rotate = !app.faults().refresh_without_rotation;
    record.rotated = rotate;
    let family = record.family;
    if app.faults().revoke_access_token_on_refresh {
        let before = db.access.len();
        db.access.retain(|_, t| t.family != family);
        let revoked = u64::try_from(before - db.access.len()).unwrap_or(u64::MAX);
        app.record(|s| s.access_tokens_revoked_on_refresh += revoked);
    }
    Ok(db.issue(grant, family, rotate, lifetimes))
}

/// RFC 8693, minimal: a live access token in, a new one out for the requested audience.
fn exchange(
    app: &App,
    db: &mut Db,
    client: &RegisteredClient,
    params: &Params,
) -> Result<Issued, OAuthError> {
    let subject = params.require("subject_token")?;
    if params.require("subject_token_type")? != ACCESS_TOKEN_TYPE {
        return Err(OAuthError::invalid_request(format!(
            "subject_token_type must be {ACCESS_TOKEN_TYPE}"
        )));
    }
    let (mut grant, family) = match db.access_token(subject, app.now()) {
        Some(token) => (token.grant.clone(), token.family),
        None => {
            return Err(OAuthError::invalid_grant(
                "subject_token is not a live access token",
            ));
        }
    };
    if let Some(scope) = params.get("scope") {
        if let Some(extra) = scope.split(' ').find(|s| !grant.has_scope(s)) {
            return Err(OAuthError::new(
                "invalid_scope",
                format!("subject token lacks scope {extra}"),
            ));
        }
        grant.scope = scope.to_owned();
    }
    if let Some(audience) = params.get("resource").or_else(|| params.get("audience")) {
        grant.resource = Some(audience.to_owned());
    }
    grant.client_id = client.client_id.clone();
    Ok(db.issue(grant, family, false, app.lifetimes()))
}

/// RFC 6749 §4.4: a confidential client gets a token for itself. No refresh token
/// (§4.4.3): the client can always ask again.
fn client_credentials(
    app: &App,
    db: &mut Db,
    client: &RegisteredClient,
    params: &Params,
) -> Result<Issued, OAuthError> {
    if client.auth == ClientAuth::None {
        app.record(|s| s.unauthorized_client += 1);
        return Err(OAuthError::new(
            "unauthorized_client",
            "a public client cannot use client_credentials",
        ));
    }
    let grant = machine_grant(client.client_id.clone(), params)?;
    let family = db.new_family();
    Ok(db.issue(grant, family, false, app.lifetimes()))
}

/// RFC 7523 §2.1: an assertion signed by a trusted issuer (such as a workload identity
/// token) is the grant. The client is the one authenticated, or, when the request names
/// none, the assertion's `sub`. No refresh token: the workload presents a new assertion.
fn jwt_bearer(
    app: &App,
    db: &mut Db,
    client: &RegisteredClient,
    params: &Params,
) -> Result<Issued, OAuthError> {
    let assertion = params.require("assertion")?;
    db.client_secrets_seen.insert(assertion.to_owned());
    let subject = check_grant_assertion(app, db, assertion).map_err(|why| {
        app.record(|s| s.assertions_refused += 1);
        OAuthError::invalid_grant(format!("assertion: {why}"))
    })?;
    let client_id = if client.client_id.is_empty() {
        subject
    } else {
        client.client_id.clone()
    };
    let grant = machine_grant(client_id, params)?;
    let family = db.new_family();
    Ok(db.issue(grant, family, false, app.lifetimes()))
}

/// The grant of a token request without a user: the requested `scope` (`mcp:read` when
/// none; every one must be known) for the requested `resource`.
fn machine_grant(client_id: String, params: &Params) -> Result<Grant, OAuthError> {
    let scope = params.get("scope").unwrap_or("mcp:read");
    if let Some(unknown) = scope.split(' ').find(|s| !known_scope(s)) {
        return Err(OAuthError::new(
            "invalid_scope",
            format!("unknown scope {unknown:?}"),
        ));
    }
    Ok(Grant {
        client_id,
        scope: scope.to_owned(),
        resource: params.get("resource").map(str::to_owned),
    })
}

/// Whether a request names no client at all: no Basic credentials, `client_id` or client
/// assertion (RFC 7523 §3.1 makes client authentication optional for the jwt-bearer grant).
fn names_no_client(headers: &HeaderMap, params: &Params) -> bool {
    !headers.contains_key(header::AUTHORIZATION)
        && params.get("client_id").is_none()
        && params.get("client_assertion").is_none()
}

/// The client of a jwt-bearer request that named none: no id yet, no authentication.
fn anonymous() -> RegisteredClient {
    RegisteredClient {
        client_id: String::new(),
        auth: ClientAuth::None,
        redirect_uris: Vec::new(),
    }
}

/// An unsecured JWT (`alg: none`, empty signature, RFC 7519 §6) naming the dev user.
fn id_token(app: &App, client: &RegisteredClient) -> String {
    let now = app.clock.unix_secs();
    let header = json!({ "alg": "none", "typ": "JWT" });
    let (sub, email, name) = USER;
    let claims = json!({
        "iss": app.urls.issuer, "aud": client.client_id, "iat": now, "exp": now + 3600,
        "sub": sub, "email": email, "name": name,
    });
    let encode = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.", encode(&header), encode(&claims))
}

/// `POST /revoke` (RFC 7009 §2): unknown tokens are fine; a refresh token takes its family
/// with it.
pub(crate) async fn revoke(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, OAuthError> {
    let params = Params::parse(&body)?;
    let mut db = app.db();
    let client = authenticate(&app, &mut db, &headers, &params)?;
    let token = params.require("token")?;
    let owned = |grant: &Grant| grant.client_id == client.client_id;
    if let Some(family) = db
        .refresh
        .get(token)
        .filter(|t| owned(&t.grant))
        .map(|t| t.family)
    {
        db.revoke_family(family);
        app.record(|s| s.revocations += 1);
    } else if db.access.get(token).is_some_and(|t| owned(&t.grant)) {
        db.access.remove(token);
        app.record(|s| s.revocations += 1);
    }
    Ok(StatusCode::OK)
}

/// `GET|POST /userinfo` with a bearer token.
pub(crate) async fn userinfo(State(app): State<App>, headers: HeaderMap) -> Response {
    let live =
        bearer_token(&headers).is_some_and(|t| app.db().access_token(t, app.now()).is_some());
    if !live {
        let challenge = r#"Bearer error="invalid_token""#;
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, challenge)],
        )
            .into_response();
    }
    let (sub, email, name) = USER;
    Json(json!({ "sub": sub, "email": email, "name": name })).into_response()
}

/// The token of an `Authorization: Bearer` header (RFC 6750 §2.1); never the query string.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}
