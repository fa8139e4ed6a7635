//! Grants for JavaScript: the persisted login record, its refresh (RFC 6749 §6, rotation per
//! RFC 9700 §4.14) and revocation (RFC 7009) pairs, token exchange (RFC 8693), storage keys and
//! step-up bookkeeping.

use mcpauth_core::exchange::{process_token_exchange_response, token_exchange_request};
use mcpauth_core::grant::{grant_key, registration_key};
use mcpauth_core::login::login_resource;
use mcpauth_core::revocation::process_revocation_response;
use mcpauth_core::scope::union_scopes;
use mcpauth_core::{
    ActorToken, ClientCredentials, Discovered, Grant, ResourceUri, SecurityToken, StepUpTracker,
    TokenExchangeParams, TokenSet,
};
use serde::Deserialize;
use wasm_bindgen::prelude::*;

use crate::authorize::login_options;
use crate::convert::{
    from_js, now_or, object, read_policy, request_to_js, response_from_js, to_js,
};
use crate::discovery::parse_url;
use crate::error::Failure;

/// The grant record for tokens obtained after `discovered`: server, resource, issuer, client,
/// endpoints and tokens in one persistable value. `loginOptions` must be the ones the login
/// used (they decide whether `resource` is sent on refresh).
///
/// # Errors
/// `CREDENTIALS_FOR_OTHER_ISSUER`, `MISSING_ENDPOINT` (no `token_endpoint`).
#[wasm_bindgen(js_name = newGrant)]
pub fn new_grant(
    discovered: JsValue,
    client: JsValue,
    tokens: JsValue,
    options: JsValue,
    now: Option<f64>,
) -> Result<JsValue, JsValue> {
    let discovered: Discovered = from_js("discovered", discovered)?;
    let client: ClientCredentials = from_js("client", client)?;
    let tokens: TokenSet = from_js("tokens", tokens)?;
    let options = login_options("loginOptions", options)?;
    let grant = Grant::new(
        discovered.server.clone(),
        login_resource(&discovered, &options),
        &discovered.metadata,
        client,
        tokens,
        now_or(now)?,
    )
    .map_err(Failure::from)?;
    Ok(to_js(&grant)?)
}

/// The storage key of the grant for `serverUrl` at `issuer` (canonical server URI `#` issuer).
///
/// # Errors
/// `INVALID_URL` for a bad server URL.
#[wasm_bindgen(js_name = grantKey)]
pub fn grant_key_js(server_url: &str, issuer: &str) -> Result<String, JsValue> {
    let server = ResourceUri::parse(server_url).map_err(Failure::from)?;
    Ok(grant_key(&server, issuer))
}

/// The storage key of the client registration at `issuer`.
#[wasm_bindgen(js_name = registrationKey)]
#[must_use]
pub fn registration_key_js(issuer: &str) -> String {
    registration_key(issuer)
}

/// Whether the access token expires within the refresh margin (30 s) and a refresh token
/// exists. `now` defaults to `Date.now()`.
///
/// # Errors
/// `INVALID_ARGUMENT` for a malformed grant.
#[wasm_bindgen(js_name = grantNeedsRefresh)]
pub fn grant_needs_refresh(grant: JsValue, now: Option<f64>) -> Result<bool, JsValue> {
    let grant: Grant = from_js("grant", grant)?;
    Ok(grant.needs_refresh(now_or(now)?))
}

/// Whether the access token has expired. `now` defaults to `Date.now()`.
///
/// # Errors
/// `INVALID_ARGUMENT` for a malformed grant.
#[wasm_bindgen(js_name = grantIsExpired)]
pub fn grant_is_expired(grant: JsValue, now: Option<f64>) -> Result<bool, JsValue> {
    let grant: Grant = from_js("grant", grant)?;
    Ok(grant.is_expired(now_or(now)?))
}

/// Who is logged in, for display only, from the ID token's claims (`{ sub, email, name }`), or
/// `undefined`. The ID token is not verified: never use this for authorization.
///
/// # Errors
/// `INVALID_ARGUMENT` for a malformed grant.
#[wasm_bindgen(js_name = grantDisplayIdentity)]
pub fn grant_display_identity(grant: JsValue) -> Result<JsValue, JsValue> {
    let grant: Grant = from_js("grant", grant)?;
    Ok(to_js(&grant.display_identity())?)
}

/// The refresh request for `grant` (with `resource` when the login sent one).
///
/// # Errors
/// `NO_REFRESH_TOKEN`, `INSECURE_URL`.
#[wasm_bindgen(js_name = grantRefreshRequest)]
pub fn grant_refresh_request(grant: JsValue, policy: JsValue) -> Result<JsValue, JsValue> {
    let policy = read_policy(policy)?;
    let grant: Grant = from_js("grant", grant)?;
    let request = grant.refresh_request(&policy).map_err(Failure::from)?;
    Ok(request_to_js(&request))
}

/// Applies a refresh response: `{ grant, rotated }`, the grant carrying the new tokens (the
/// old refresh token kept when the server did not rotate). Persist `grant` before using it.
///
/// # Errors
/// `OAUTH_ERROR` (`invalid_grant`: the login is over, drop the grant), protocol errors.
#[wasm_bindgen(js_name = processGrantRefreshResponse)]
pub fn process_grant_refresh_response(
    grant: JsValue,
    response: JsValue,
    policy: JsValue,
    now: Option<f64>,
) -> Result<JsValue, JsValue> {
    let policy = read_policy(policy)?;
    let mut grant: Grant = from_js("grant", grant)?;
    let response = response_from_js("response", &response)?;
    let rotated = grant
        .process_refresh_response(now_or(now)?, &response, &policy)
        .map_err(Failure::from)?;
    Ok(refreshed(&grant, rotated)?)
}

/// `{ grant, rotated }`.
pub(crate) fn refreshed(grant: &Grant, rotated: bool) -> Result<JsValue, Failure> {
    Ok(object(&[
        ("grant", to_js(grant)?),
        ("rotated", rotated.into()),
    ]))
}

/// The revocation request for logging out of `grant` (the refresh token if any, else the
/// access token), or `undefined` when the server has no `revocation_endpoint`.
///
/// # Errors
/// `CREDENTIALS_FOR_OTHER_ISSUER`, `INSECURE_URL`.
#[wasm_bindgen(js_name = grantRevocationRequest)]
pub fn grant_revocation_request(grant: JsValue, policy: JsValue) -> Result<JsValue, JsValue> {
    let policy = read_policy(policy)?;
    let grant: Grant = from_js("grant", grant)?;
    let request = grant.revocation_request(&policy).map_err(Failure::from)?;
    Ok(request.as_ref().map_or(JsValue::UNDEFINED, request_to_js))
}

/// Validates a revocation response (RFC 7009 §2.2).
///
/// # Errors
/// `TEMPORARILY_UNAVAILABLE` (retry later), `OAUTH_ERROR`, `UNEXPECTED_STATUS`.
#[wasm_bindgen(js_name = processRevocationResponse)]
pub fn process_revocation_response_js(
    url: &str,
    response: JsValue,
    policy: JsValue,
) -> Result<(), JsValue> {
    let policy = read_policy(policy)?;
    let response = response_from_js("response", &response)?;
    let url = parse_url("url", url)?;
    process_revocation_response(&url, &response, &policy).map_err(Failure::from)?;
    Ok(())
}

/// `TokenExchangeParams` as JavaScript passes them (RFC 8693 §2.1 parameters, camelCase).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenExchangeParamsJs {
    subject_token: String,
    subject_token_type: String,
    #[serde(default)]
    actor_token: Option<String>,
    #[serde(default)]
    actor_token_type: Option<String>,
    #[serde(default)]
    requested_token_type: Option<String>,
    #[serde(default)]
    resource: Option<ResourceUri>,
    #[serde(default)]
    audience: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

/// Reads the `params` argument of token exchange.
pub(crate) fn exchange_params(value: JsValue) -> Result<TokenExchangeParams, Failure> {
    let js: TokenExchangeParamsJs = from_js("params", value)?;
    // TokenExchangeParams is #[non_exhaustive]: build from `new` and set the rest.
    let mut params =
        TokenExchangeParams::new(SecurityToken::new(js.subject_token), js.subject_token_type);
    params.actor = match (js.actor_token, js.actor_token_type) {
        (Some(token), Some(kind)) => Some(ActorToken::new(SecurityToken::new(token), kind)),
        (None, None) => None,
        _ => {
            return Err(Failure::argument(
                "params",
                "`actorToken` and `actorTokenType` go together",
            ));
        }
    };
    params.requested_token_type = js.requested_token_type;
    params.resource = js.resource;
    params.audience = js.audience;
    params.scope = js.scope;
    Ok(params)
}

/// The token exchange request at `tokenEndpoint` (RFC 8693 §2.1).
///
/// # Errors
/// `INSECURE_URL`, `INVALID_ARGUMENT`.
#[wasm_bindgen(js_name = tokenExchangeRequest)]
pub fn token_exchange_request_js(
    token_endpoint: &str,
    params: JsValue,
    client: JsValue,
    policy: JsValue,
) -> Result<JsValue, JsValue> {
    let policy = read_policy(policy)?;
    let endpoint = parse_url("tokenEndpoint", token_endpoint)?;
    let params = exchange_params(params)?;
    let client: ClientCredentials = from_js("client", client)?;
    let request =
        token_exchange_request(endpoint, &params, &client, &policy).map_err(Failure::from)?;
    Ok(request_to_js(&request))
}

/// Validates a token exchange response into `{ tokens, issued_token_type }` (RFC 8693 §2.2).
///
/// # Errors
/// `OAUTH_ERROR`, the core's protocol errors.
#[wasm_bindgen(js_name = processTokenExchangeResponse)]
pub fn process_token_exchange_response_js(
    url: &str,
    response: JsValue,
    policy: JsValue,
    now: Option<f64>,
) -> Result<JsValue, JsValue> {
    let policy = read_policy(policy)?;
    let response = response_from_js("response", &response)?;
    let url = parse_url("url", url)?;
    let exchanged = process_token_exchange_response(now_or(now)?, &url, &response, &policy)
        .map_err(Failure::from)?;
    Ok(to_js(&exchanged)?)
}

/// The union of two space-separated scope lists, first-seen order, no duplicates (step-up).
#[wasm_bindgen(js_name = unionScopes)]
#[must_use]
pub fn union_scopes_js(granted: &str, challenged: &str) -> String {
    union_scopes(granted, challenged)
}

/// Counts step-up authorization attempts per resource (and operation) and refuses past the
/// limit, so a server that keeps answering `insufficient_scope` cannot loop a client forever.
#[wasm_bindgen(js_name = StepUpTracker)]
#[derive(Debug, Default)]
pub struct StepUpTrackerJs {
    inner: StepUpTracker,
}

#[wasm_bindgen(js_class = StepUpTracker)]
impl StepUpTrackerJs {
    /// An empty tracker.
    #[wasm_bindgen(constructor)]
    #[must_use]
    pub fn new() -> StepUpTrackerJs {
        Self::default()
    }

    /// Restores a tracker saved with `toJSON`.
    ///
    /// # Errors
    /// `INVALID_ARGUMENT` for a malformed value.
    #[wasm_bindgen(js_name = fromJSON)]
    pub fn from_json(value: JsValue) -> Result<StepUpTrackerJs, JsValue> {
        Ok(Self {
            inner: from_js("tracker", value)?,
        })
    }

    /// The tracker as a plain value, for storage.
    ///
    /// # Errors
    /// Never in practice.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> Result<JsValue, JsValue> {
        Ok(to_js(&self.inner)?)
    }

    /// Records an attempt for `resource` (a server URL) and `operation`; returns the attempt
    /// number (1 for the first).
    ///
    /// # Errors
    /// `STEP_UP_LIMIT` past the limit; `INVALID_URL` for a bad resource.
    #[wasm_bindgen(js_name = beginAttempt)]
    pub fn begin_attempt(
        &mut self,
        resource: &str,
        operation: Option<String>,
    ) -> Result<u32, JsValue> {
        let resource = ResourceUri::parse(resource).map_err(Failure::from)?;
        Ok(self
            .inner
            .begin_attempt(&resource, operation.as_deref())
            .map_err(Failure::from)?)
    }

    /// Forgets the attempts for `resource` and `operation` after a success.
    ///
    /// # Errors
    /// `INVALID_URL` for a bad resource.
    pub fn succeeded(&mut self, resource: &str, operation: Option<String>) -> Result<(), JsValue> {
        let resource = ResourceUri::parse(resource).map_err(Failure::from)?;
        self.inner.succeeded(&resource, operation.as_deref());
        Ok(())
    }

    /// Attempts made so far for `resource` and `operation`.
    ///
    /// # Errors
    /// `INVALID_URL` for a bad resource.
    pub fn attempts(&self, resource: &str, operation: Option<String>) -> Result<u32, JsValue> {
        let resource = ResourceUri::parse(resource).map_err(Failure::from)?;
        Ok(self.inner.attempts(&resource, operation.as_deref()))
    }
}
