//! Clients: dynamic registration (RFC 7591), redirect URI rules, registered grant types, and
//! client authentication at the token, revocation and device authorization endpoints.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use url::{Host, Url};

use crate::assertion::{CLIENT_ASSERTION_TYPE, check_client_assertion};
use crate::jws::PublicJwk;
use crate::metadata::{CLIENT_CREDENTIALS_GRANT, DEVICE_CODE_GRANT};
use crate::state::{App, Db, OAuthError, Params, random_token};
use crate::token::overwrite_members;

/// The grant types whose registration the token and device authorization endpoints check.
/// `refresh_token` is left out because it only continues a grant one of these started, token
/// exchange because it trades a token the client already holds, and jwt-bearer because its
/// assertion, not the client, is what is trusted.
const CHECKED_GRANTS: [&str; 3] = [
    "authorization_code",
    DEVICE_CODE_GRANT,
    CLIENT_CREDENTIALS_GRANT,
];

/// A client the server knows: registered through `/register`, or given in
/// [`crate::Config::static_clients`] (pre-registration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredClient {
    /// The `client_id`.
    pub client_id: String,
    /// How the client must authenticate at the token endpoint.
    pub auth: ClientAuth,
    /// Allowed redirect URIs. Loopback ones match any port (RFC 8252 §7.3).
    pub redirect_uris: Vec<String>,
}

/// A client's registered `token_endpoint_auth_method`, with its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// `none`: a public client, identified by `client_id` in the form.
    None,
    /// `client_secret_basic`: HTTP Basic with this secret (RFC 6749 §2.3.1).
    ClientSecretBasic(String),
    /// `client_secret_post`: `client_secret` in the form body.
    ClientSecretPost(String),
    /// `private_key_jwt` (RFC 7523 §2.2): an ES256 `client_assertion` signed with the private
    /// half of this public key, with `iss` = `sub` = the client id, `aud` the issuer (or the
    /// token endpoint), an `exp`, and a `jti` never used before.
    PrivateKeyJwt(PublicJwk),
}

/// `POST /register` (RFC 7591 §3).
pub(crate) async fn register(State(app): State<App>, body: Bytes) -> Response {
    register_at(app, body, "/register").await
}

/// `POST /register/v2`: registration where [`crate::Faults::registration_moved`] puts it.
pub(crate) async fn register_moved(State(app): State<App>, body: Bytes) -> Response {
    register_at(app, body, "/register/v2").await
}

/// Registration at `path`, which answers 404 unless the faults put it there.
async fn register_at(app: App, body: Bytes, path: &str) -> Response {
    if crate::metadata::registration_path(&app.faults()) != path {
        return StatusCode::NOT_FOUND.into_response();
    }
    let faults = app.faults();
    if let Some(refusal) = faults.refuse_registration {
        app.record(|s| s.registrations_refused += 1);
        let mut body = json!({ "error": refusal.error });
        if let (Some(object), Some(description)) = (body.as_object_mut(), refusal.error_description)
        {
            object.insert("error_description".into(), json!(description));
        }
        return (
            StatusCode::BAD_REQUEST,
            [(header::CACHE_CONTROL, "no-store")],
            Json(body),
        )
            .into_response();
    }
    match registration(&app, &body) {
        Ok(metadata) => {
            app.record(|s| s.registrations += 1);
            let mut body = Value::Object(metadata);
            overwrite_members(&mut body, &faults.registration_response_fields);
            (
                StatusCode::CREATED,
                [(header::CACHE_CONTROL, "no-store")],
                Json(body),
            )
                .into_response()
        }
        Err(error) => {
            app.record(|s| s.registrations_refused += 1);
            error.into_response()
        }
    }
}

/// Check the client metadata, store the client, and return the registered metadata
/// (RFC 7591 §3.2.1: what was sent, plus what the server filled in).
fn registration(app: &App, body: &[u8]) -> Result<serde_json::Map<String, Value>, OAuthError> {
    let metadata_error = |d: String| OAuthError::new("invalid_client_metadata", d);
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| metadata_error(format!("body is not JSON: {e}")))?;
    let Value::Object(mut metadata) = value else {
        return Err(metadata_error("body is not a JSON object".into()));
    };
    match metadata.get("application_type").and_then(Value::as_str) {
        Some("native" | "web") => {}
        Some(other) => {
            return Err(metadata_error(format!(
                "application_type {other:?} is not native or web"
            )));
        }
        None => return Err(metadata_error("application_type is missing".into())),
    }
    let grant_types = grant_types(app, &metadata)?;
    let redirect_uris = redirect_uris(&metadata, &grant_types)?;
    let method = metadata
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str);
    // RFC 7591 §2: an omitted method means client_secret_basic.
    let method = method.unwrap_or("client_secret_basic").to_owned();
    let secret = random_token("cs_");
    let auth = match method.as_str() {
        "none" => ClientAuth::None,
        "client_secret_basic" => ClientAuth::ClientSecretBasic(secret.clone()),
        "client_secret_post" => ClientAuth::ClientSecretPost(secret.clone()),
        other => {
            return Err(metadata_error(format!(
                "token_endpoint_auth_method {other:?} is not supported"
            )));
        }
    };
    let client_id = random_token("client_");
    let issued_at = app.clock.unix_secs();
    metadata.insert("client_id".into(), json!(client_id));
    metadata.insert("client_id_issued_at".into(), json!(issued_at));
    metadata.insert("token_endpoint_auth_method".into(), json!(method));
    metadata.insert("grant_types".into(), json!(grant_types));
    if auth != ClientAuth::None {
        metadata.insert("client_secret".into(), json!(secret));
        metadata.insert("client_secret_expires_at".into(), json!(0));
    }
    let client = RegisteredClient {
        client_id: client_id.clone(),
        auth,
        redirect_uris,
    };
    let mut db = app.db();
    db.client_grants.insert(client_id.clone(), grant_types);
    db.clients.insert(client_id, client);
    Ok(metadata)
}

/// The client's `grant_types`, or RFC 7591 §2's default `["authorization_code"]` when it
/// sent none. With [`crate::Faults::one_grant_type_per_client`], more than one grant type
/// besides `refresh_token` is refused, as some production servers do.
fn grant_types(
    app: &App,
    metadata: &serde_json::Map<String, Value>,
) -> Result<Vec<String>, OAuthError> {
    let metadata_error = |d: &str| OAuthError::new("invalid_client_metadata", d);
    let grants = match metadata.get("grant_types") {
        None => return Ok(vec!["authorization_code".to_owned()]),
        Some(Value::Array(grants)) => grants
            .iter()
            .map(|g| g.as_str().map(str::to_owned))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| metadata_error("grant_types holds a non-string"))?,
        Some(_) => return Err(metadata_error("grant_types must be an array")),
    };
    if app.faults().one_grant_type_per_client {
        let mut flows: Vec<&str> = grants
            .iter()
            .map(String::as_str)
            .filter(|g| *g != "refresh_token")
            .collect();
        flows.sort_unstable();
        flows.dedup();
        if flows.len() > 1 {
            return Err(metadata_error(&format!(
                "this server allows one grant type per client besides refresh_token, not {}",
                flows.join(" and ")
            )));
        }
    }
    Ok(grants)
}

/// Refuse `grant_type` with `unauthorized_client` (RFC 6749 §5.2) when it is one of
/// [`CHECKED_GRANTS`] and the client did not register it. Dynamically registered clients
/// have the grant types they listed, or RFC 7591's default `authorization_code` alone when
/// they listed none; clients given in [`crate::Config::static_clients`] or added with
/// [`crate::DevServerHandle::register_client`] may use every grant.
pub(crate) fn require_registered_grant(
    app: &App,
    db: &Db,
    client: &RegisteredClient,
    grant_type: &str,
) -> Result<(), OAuthError> {
    let registered = db
        .client_grants
        .get(&client.client_id)
        .is_none_or(|grants| grants.iter().any(|g| g == grant_type));
    if registered || !CHECKED_GRANTS.contains(&grant_type) {
        return Ok(());
    }
    app.record(|s| s.unauthorized_client += 1);
    Err(OAuthError::new(
        "unauthorized_client",
        format!("the client did not register the grant type {grant_type}"),
    ))
}

/// Check `redirect_uris`: required for the code grant, each loopback `http` or `https`.
fn redirect_uris(
    metadata: &serde_json::Map<String, Value>,
    grant_types: &[String],
) -> Result<Vec<String>, OAuthError> {
    let invalid = |d: String| OAuthError::new("invalid_redirect_uri", d);
    let uses_code = grant_types.iter().any(|g| g == "authorization_code");
    let uris = match metadata.get("redirect_uris") {
        None if !uses_code => return Ok(Vec::new()),
        None => return Err(invalid("redirect_uris is missing".into())),
        Some(Value::Array(uris)) if !uris.is_empty() || !uses_code => uris,
        Some(_) => return Err(invalid("redirect_uris must be a non-empty array".into())),
    };
    uris.iter()
        .map(|uri| {
            let uri = uri
                .as_str()
                .ok_or_else(|| invalid("redirect_uris holds a non-string".into()))?;
            let url = Url::parse(uri).map_err(|e| invalid(format!("{uri:?} is not a URL: {e}")))?;
            if url.fragment().is_some() {
                return Err(invalid(format!("{uri} has a fragment")));
            }
            if url.scheme() != "https" && !is_loopback(&url) {
                return Err(invalid(format!(
                    "{uri} is neither https nor a loopback http URL"
                )));
            }
            Ok(uri.to_owned())
        })
        .collect()
}

/// An `http` URL on 127.0.0.0/8, `[::1]` or `localhost`.
pub(crate) fn is_loopback(url: &Url) -> bool {
    url.scheme() == "http"
        && match url.host() {
            Some(Host::Ipv4(ip)) => ip.is_loopback(),
            Some(Host::Ipv6(ip)) => ip.is_loopback(),
            Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            None => false,
        }
}

/// Does `sent` match the registered URI? Exact match, except that the port of a loopback
/// URI is ignored (RFC 8252 §7.3).
pub(crate) fn redirect_matches(registered: &str, sent: &str) -> bool {
    if registered == sent {
        return true;
    }
    let (Ok(mut registered), Ok(mut sent)) = (Url::parse(registered), Url::parse(sent)) else {
        return false;
    };
    if !is_loopback(&registered) || !is_loopback(&sent) {
        return false;
    }
    // Cannot fail for http URLs.
    let _ = registered.set_port(None);
    let _ = sent.set_port(None);
    registered == sent
}

/// Authenticate the client of a token, revocation or device authorization request with its
/// registered method; any other method, a wrong secret or a bad assertion is
/// `invalid_client`.
pub(crate) fn authenticate(
    app: &App,
    db: &mut Db,
    headers: &HeaderMap,
    params: &Params,
) -> Result<RegisteredClient, OAuthError> {
    let basic = basic_credentials(headers)?;
    let assertion = client_assertion(params)?;
    if let Some(assertion) = assertion {
        db.client_secrets_seen.insert(assertion.to_owned());
    }
    let asserted_id;
    let (client_id, used) = match (&basic, params.get("client_secret"), assertion) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request("client authenticated twice"));
        }
        (Some((id, _)), None, None) => (id.as_str(), "client_secret_basic"),
        (None, Some(_), None) => (params.require("client_id")?, "client_secret_post"),
        (None, None, Some(assertion)) => {
            // RFC 7523 §3: the client is the assertion's issuer; client_id may be left out.
            asserted_id = crate::assertion::unverified_issuer(assertion).map_err(|why| {
                app.record(|s| s.assertions_refused += 1);
                OAuthError::invalid_client(format!("client_assertion: {why}"), false)
            })?;
            (asserted_id.as_str(), "private_key_jwt")
        }
        (None, None, None) => (params.require("client_id")?, "none"),
    };
    if params.get("client_id").is_some_and(|id| id != client_id) {
        return Err(OAuthError::invalid_request(
            "client_id differs from the authenticated client",
        ));
    }
    let is_basic = basic.is_some();
    let unknown = || OAuthError::invalid_client(format!("unknown client {client_id}"), is_basic);
    let client = db.clients.get(client_id).cloned().ok_or_else(unknown)?;
    let ok = match (&client.auth, used) {
        (ClientAuth::None, "none") => true,
        (ClientAuth::ClientSecretBasic(secret), "client_secret_basic") => {
            basic.as_ref().is_some_and(|(_, sent)| sent == secret)
        }
        (ClientAuth::ClientSecretPost(secret), "client_secret_post") => {
            params.get("client_secret") == Some(secret)
        }
        (ClientAuth::PrivateKeyJwt(key), "private_key_jwt") => {
            let assertion = assertion.unwrap_or_default();
            if let Err(why) = check_client_assertion(app, db, assertion, client_id, key) {
                app.record(|s| s.assertions_refused += 1);
                return Err(OAuthError::invalid_client(
                    format!("client_assertion: {why}"),
                    false,
                ));
            }
            true
        }
        _ => {
            return Err(OAuthError::invalid_client(
                format!("client must not use {used}"),
                is_basic,
            ));
        }
    };
    if !ok {
        return Err(OAuthError::invalid_client("wrong client secret", is_basic));
    }
    Ok(client)
}

/// The JWT `client_assertion` of RFC 7523 §2.2, if the request carries one; its type must be
/// the jwt-bearer client assertion type.
fn client_assertion(params: &Params) -> Result<Option<&str>, OAuthError> {
    match (
        params.get("client_assertion_type"),
        params.get("client_assertion"),
    ) {
        (None, None) => Ok(None),
        (Some(CLIENT_ASSERTION_TYPE), Some(assertion)) => Ok(Some(assertion)),
        (Some(_), Some(_)) => Err(OAuthError::invalid_request(format!(
            "client_assertion_type must be {CLIENT_ASSERTION_TYPE}"
        ))),
        _ => Err(OAuthError::invalid_request(
            "client_assertion and client_assertion_type go together",
        )),
    }
}

/// `Authorization: Basic` credentials, each part form-decoded (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || OAuthError::invalid_client("malformed Basic credentials", true);
    let value = value.to_str().map_err(|_| bad())?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Err(bad());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    Ok(Some((form_decode(id), form_decode(secret))))
}

fn form_decode(part: &str) -> String {
    // Escape '=' so the whole part decodes as one name.
    let escaped = part.replace('=', "%3D");
    url::form_urlencoded::parse(escaped.as_bytes())
        .next()
        .map(|(name, _)| name.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirect_ignores_port_only() {
        assert!(redirect_matches(
            "http://127.0.0.1/callback",
            "http://127.0.0.1:53121/callback"
        ));
        assert!(redirect_matches(
            "http://localhost:1/cb",
            "http://localhost:2/cb"
        ));
        assert!(!redirect_matches(
            "http://127.0.0.1/callback",
            "http://127.0.0.1:5/other"
        ));
        assert!(!redirect_matches(
            "https://app.example/cb",
            "https://app.example:444/cb"
        ));
    }

    #[test]
    fn basic_parts_are_form_decoded() {
        assert_eq!(form_decode("a%3Ab+c"), "a:b c");
        assert_eq!(form_decode("x=="), "x==");
    }
}
