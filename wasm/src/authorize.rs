//! The authorization code flow for JavaScript: PKCE, the authorization URL (MCP scope
//! selection and `resource`), the callback check (`state`, RFC 9207 `iss`) and the code
//! exchange pair.

use mcpauth_core::authorize::validate_authorization_response;
use mcpauth_core::login::login_scope;
use mcpauth_core::token::{authorization_code_grant_request, process_authorization_code_response};
use mcpauth_core::{
    ClientCredentials, Discovered, LoginOptions, OsEntropy, PendingAuthorization, Pkce,
    start_authorization,
};
use serde::Deserialize;
use wasm_bindgen::prelude::*;

use crate::convert::{
    from_js, now_or, object, opt_from_js, read_policy, request_to_js, response_from_js, to_js,
};
use crate::discovery::parse_url;
use crate::error::Failure;

/// `LoginOptions` as JavaScript passes them.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct LoginOptionsJs {
    scope: Option<String>,
    challenge_scope: Option<String>,
    previous_scope: Option<String>,
    extra_params: Vec<(String, String)>,
    dangerously_omit_resource: bool,
}

/// Reads an optional `loginOptions` argument.
pub(crate) fn login_options(name: &'static str, value: JsValue) -> Result<LoginOptions, Failure> {
    let js: LoginOptionsJs = opt_from_js(name, value)?.unwrap_or_default();
    // LoginOptions is #[non_exhaustive]: start from the default and set what JS can set.
    let mut options = LoginOptions::default();
    options.scope = js.scope;
    options.challenge_scope = js.challenge_scope;
    options.previous_scope = js.previous_scope;
    options.extra_params = js.extra_params;
    options.dangerously_omit_resource = js.dangerously_omit_resource;
    Ok(options)
}

/// `BASE64URL(SHA256(verifier))` (RFC 7636 §4.2).
#[wasm_bindgen(js_name = pkceChallenge)]
#[must_use]
pub fn pkce_challenge(verifier: &str) -> String {
    mcpauth_core::pkce::s256_challenge(verifier)
}

/// A fresh `{ verifier, challenge }` from `crypto.getRandomValues` (RFC 7636 §4.1).
///
/// # Errors
/// `ENTROPY_UNAVAILABLE` when the host has no `crypto.getRandomValues`.
#[wasm_bindgen(js_name = generatePkce)]
pub fn generate_pkce() -> Result<JsValue, JsValue> {
    let pkce = Pkce::generate(&mut OsEntropy).map_err(Failure::from)?;
    Ok(object(&[
        ("verifier", pkce.verifier.secret().into()),
        ("challenge", pkce.challenge.into()),
    ]))
}

/// The scope a login asks for: the explicit scope, else the challenge's, else the resource's
/// `scopes_supported`, plus `offline_access` when the server offers it, united with
/// `previousScope` on step-up. `undefined` when there is nothing to ask for.
///
/// # Errors
/// `INVALID_ARGUMENT` for malformed arguments.
#[wasm_bindgen(js_name = loginScope)]
pub fn login_scope_js(discovered: JsValue, options: JsValue) -> Result<Option<String>, JsValue> {
    let discovered: Discovered = from_js("discovered", discovered)?;
    let options = login_options("loginOptions", options)?;
    Ok(login_scope(&discovered, &options))
}

/// Builds the authorization URL: `{ url, pending }`. Keep `pending` (it holds the verifier and
/// `state`; store it like a secret) until the callback.
///
/// # Errors
/// `CREDENTIALS_FOR_OTHER_ISSUER`, `PKCE_NOT_SUPPORTED`, `MISSING_ENDPOINT`, `INSECURE_URL`,
/// `INVALID_URL`, `INVALID_PARAMETER`, `ENTROPY_UNAVAILABLE`.
#[wasm_bindgen(js_name = startAuthorization)]
pub fn start_authorization_js(
    discovered: JsValue,
    client: JsValue,
    redirect_uri: &str,
    options: JsValue,
    policy: JsValue,
) -> Result<JsValue, JsValue> {
    let policy = read_policy(policy)?;
    let discovered: Discovered = from_js("discovered", discovered)?;
    let client: ClientCredentials = from_js("client", client)?;
    let options = login_options("loginOptions", options)?;
    let (url, pending) = start_authorization(
        &discovered,
        &client,
        redirect_uri,
        &options,
        &mut OsEntropy,
        &policy,
    )
    .map_err(Failure::from)?;
    Ok(object(&[
        ("url", url.as_str().into()),
        ("pending", to_js(&pending)?),
    ]))
}

/// A validated authorization response: it holds the code, can be produced only by
/// `validateAuthorizationResponse`, and is spent by the code exchange.
#[wasm_bindgen(js_name = AuthorizationResponse)]
#[derive(Debug)]
pub struct AuthorizationResponseJs {
    inner: Option<mcpauth_core::AuthorizationResponse>,
}

#[wasm_bindgen(js_class = AuthorizationResponse)]
impl AuthorizationResponseJs {
    /// Whether the code was already exchanged (it can be used once).
    #[wasm_bindgen(getter)]
    #[must_use]
    pub fn spent(&self) -> bool {
        self.inner.is_none()
    }
}

impl AuthorizationResponseJs {
    /// Takes the code out, once.
    pub(crate) fn take(&mut self) -> Result<mcpauth_core::AuthorizationResponse, Failure> {
        self.inner.take().ok_or_else(|| {
            Failure::Core(
                mcpauth_core::UsageError::InvalidState(
                    "this authorization response was already exchanged; a code is used once",
                )
                .into(),
            )
        })
    }
}

/// Checks the callback (a full URL, a path with query, or the query) against `pending`:
/// `state`, then RFC 9207 `iss`, then an OAuth error, then the code.
///
/// # Errors
/// `STATE_MISSING`, `STATE_MISMATCH`, `ISS_MISSING`, `ISS_MISMATCH`, `OAUTH_ERROR` (the user
/// denied, ...), `MISSING_FIELD`, `INVALID_FIELD`.
#[wasm_bindgen(js_name = validateAuthorizationResponse)]
pub fn validate_authorization_response_js(
    pending: JsValue,
    callback: &str,
) -> Result<AuthorizationResponseJs, JsValue> {
    let pending: PendingAuthorization = from_js("pending", pending)?;
    let response = validate_authorization_response(&pending, callback).map_err(Failure::from)?;
    Ok(AuthorizationResponseJs {
        inner: Some(response),
    })
}

/// Whether `callback` carries the state of the login `pending` (compared in constant time):
/// a listener for the redirect ignores, and keeps waiting after, a callback that does not.
///
/// # Errors
/// `INVALID_ARGUMENT` for a malformed `pending`.
#[wasm_bindgen(js_name = callbackBelongsTo)]
pub fn callback_belongs_to_js(pending: JsValue, callback: &str) -> Result<bool, JsValue> {
    let pending: PendingAuthorization = from_js("pending", pending)?;
    Ok(mcpauth_core::authorize::callback_belongs_to(
        &pending, callback,
    ))
}

/// The token request exchanging the code (RFC 6749 §4.1.3, RFC 7636 §4.5). Spends `response`.
///
/// # Errors
/// `CREDENTIALS_FOR_OTHER_ISSUER`, `INVALID_STATE` (another client, or a spent response).
#[wasm_bindgen(js_name = authorizationCodeGrantRequest)]
pub fn authorization_code_grant_request_js(
    pending: JsValue,
    response: &mut AuthorizationResponseJs,
    client: JsValue,
    policy: JsValue,
) -> Result<JsValue, JsValue> {
    let policy = read_policy(policy)?;
    let pending: PendingAuthorization = from_js("pending", pending)?;
    let client: ClientCredentials = from_js("client", client)?;
    let request = code_request(&pending, response, &client, &policy)?;
    Ok(request_to_js(&request))
}

/// The shared part of the pair and of `exchangeCode`. The response is spent even when the
/// core refuses the request: a code is worth one attempt.
pub(crate) fn code_request(
    pending: &PendingAuthorization,
    response: &mut AuthorizationResponseJs,
    client: &ClientCredentials,
    policy: &mcpauth_core::Policy,
) -> Result<mcpauth_core::HttpRequest, Failure> {
    Ok(authorization_code_grant_request(
        pending,
        response.take()?,
        client,
        policy,
    )?)
}

/// Validates the token response to the code exchange into a `TokenSet` (the requested scope
/// fills in when the server omits `scope`). `now` defaults to `Date.now()`.
///
/// # Errors
/// `OAUTH_ERROR` (`invalid_grant`, ...), the core's protocol errors.
#[wasm_bindgen(js_name = processAuthorizationCodeResponse)]
pub fn process_authorization_code_response_js(
    pending: JsValue,
    url: &str,
    response: JsValue,
    policy: JsValue,
    now: Option<f64>,
) -> Result<JsValue, JsValue> {
    let policy = read_policy(policy)?;
    let pending: PendingAuthorization = from_js("pending", pending)?;
    let response = response_from_js("response", &response)?;
    let url = parse_url("url", url)?;
    let tokens =
        process_authorization_code_response(now_or(now)?, &pending, &url, &response, &policy)
            .map_err(Failure::from)?;
    Ok(to_js(&tokens)?)
}
