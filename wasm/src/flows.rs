//! The async layer: each function drives the core's pairs or machines over `fetch` and resolves
//! to the core's result. No protocol decision is made here; the functions only send what the
//! core asks for, feed back what came, and wait when the core says to.
//!
//! Every function takes an optional `fetch` last (default: `globalThis.fetch`, looked up when the
//! call starts), so callers can add timeouts, logging or a test stub.

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use js_sys::{Function, Promise};
use mcpauth_core::device::{device_authorization_request, process_device_authorization_response};
use mcpauth_core::exchange::{process_token_exchange_response, token_exchange_request};
use mcpauth_core::login::{login_resource, login_scope};
use mcpauth_core::registration::process_registration_response;
use mcpauth_core::revocation::process_revocation_response;
use mcpauth_core::token::process_authorization_code_response;
use mcpauth_core::{
    ClientCredentials, DevicePoll, DeviceStatus, Discovered, Discovery, Grant, IdentityPlan,
    OAuthError, PendingAuthorization, Policy, plan_client_identity,
};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

use crate::authorize::{AuthorizationResponseJs, code_request, login_options};
use crate::client::identity_options;
use crate::convert::{
    from_js, get, now, object, read_policy, request_from_js, response_to_js, to_js,
};
use crate::device::{prompt, status_to_js};
use crate::discovery::{DiscoveryJs, parse_url};
use crate::error::Failure;
use crate::fetch::Fetch;
use crate::grant::{exchange_params, refreshed};

/// Sends one request exactly as the core built it (`redirect: "manual"`, body capped at
/// `maxResponseBytes + 1`) and resolves to `{ status, headers, body: Uint8Array }`; pass that to
/// the matching `process*Response`.
///
/// # Errors
/// Rejects with `FETCH_FAILED`, `UNEXPECTED_REDIRECT` (opaque redirect), `HOST_API_MISSING`.
#[wasm_bindgen(js_name = sendRequest)]
pub async fn send_request(request: JsValue, fetch: JsValue) -> Result<JsValue, JsValue> {
    let request = request_from_js(&request)?;
    let response = Fetch::resolve(&fetch)?.send(&request).await?;
    Ok(response_to_js(&response))
}

/// Discovers the authorization server of the MCP server at `serverUrl` (RFC 9728, then RFC
/// 8414 / OpenID metadata, in the MCP order with its fallbacks). `resourceMetadata` is the
/// `resource_metadata` of the server's 401 challenge, if it sent one. Independent requests are
/// sent concurrently.
///
/// # Errors
/// Rejects with `DISCOVERY_FAILED`, `ISSUER_MISMATCH`, `RESOURCE_MISMATCH`, `INSECURE_URL`,
/// `INVALID_URL`, `HOST_API_MISSING`.
#[wasm_bindgen]
pub async fn discover(
    server_url: String,
    resource_metadata: Option<String>,
    policy: JsValue,
    fetch: JsValue,
) -> Result<JsValue, JsValue> {
    let machine = DiscoveryJs::new(&server_url, resource_metadata, policy)?;
    let discovered = run_discovery(machine.into_inner(), Fetch::resolve(&fetch)?).await?;
    Ok(to_js(&discovered)?)
}

/// Like `discover`, for an authorization server that is configured rather than discovered.
///
/// # Errors
/// As `discover`.
#[wasm_bindgen(js_name = discoverWithIssuer)]
pub async fn discover_with_issuer(
    server_url: String,
    issuer: String,
    policy: JsValue,
    fetch: JsValue,
) -> Result<JsValue, JsValue> {
    let machine = DiscoveryJs::with_issuer(&server_url, &issuer, policy)?;
    let discovered = run_discovery(machine.into_inner(), Fetch::resolve(&fetch)?).await?;
    Ok(to_js(&discovered)?)
}

/// Runs the machine: sends everything it yields at once, feeds each response as it arrives.
async fn run_discovery(mut machine: Discovery, fetch: Fetch) -> Result<Discovered, Failure> {
    let mut in_flight = FuturesUnordered::new();
    loop {
        while let Some((id, request)) = machine.poll_transmit() {
            let fetch = fetch.clone();
            in_flight.push(async move { (id, fetch.send(&request).await) });
        }
        if let Some(result) = machine.poll_result() {
            return Ok(result?);
        }
        let Some((id, outcome)) = in_flight.next().await else {
            return Err(Failure::Internal(
                "discovery is waiting, but no request is in flight",
            ));
        };
        match outcome {
            Ok(response) => machine.handle_response(id, response),
            Err(failure @ Failure::Aborted { .. }) => return Err(failure),
            Err(failure) => machine.handle_failure(id, &failure.reason()),
        }
    }
}

/// A client identity for `discovered`'s server, in the MCP order (pre-registered, client ID
/// metadata document, cached registration, dynamic registration). Resolves to
/// `{ credentials, registered, registration? }`; when `registered` is true, persist
/// `registration` (under `registrationKey(issuer)`) and pass its credentials as
/// `cachedRegistration` next time.
///
/// # Errors
/// Rejects with `NO_CLIENT_IDENTITY`, `CREDENTIALS_FOR_OTHER_ISSUER`, `INVALID_CLIENT_METADATA`,
/// `OAUTH_ERROR` from the registration endpoint, protocol and transport errors.
#[wasm_bindgen(js_name = obtainClient)]
pub async fn obtain_client(
    discovered: JsValue,
    identity_options_js: JsValue,
    policy: JsValue,
    fetch: JsValue,
) -> Result<JsValue, JsValue> {
    let policy = read_policy(policy)?;
    let discovered: Discovered = from_js("discovered", discovered)?;
    let options = identity_options(identity_options_js)?;
    let plan =
        plan_client_identity(&discovered.metadata, &options, &policy).map_err(Failure::from)?;
    let request = match plan {
        IdentityPlan::Ready(credentials) => {
            return Ok(object(&[
                ("credentials", to_js(&credentials)?),
                ("registered", false.into()),
            ]));
        }
        IdentityPlan::Register(request) => request,
    };
    let response = Fetch::resolve(&fetch)?.send(&request).await?;
    let registration =
        process_registration_response(&discovered.metadata, &request.url, &response, &policy)
            .map_err(Failure::from)?;
    Ok(object(&[
        ("credentials", to_js(&registration.credentials)?),
        ("registered", true.into()),
        ("registration", to_js(&registration)?),
    ]))
}

/// Exchanges the code of a validated authorization response for tokens. Spends `response`.
/// Resolves to a `TokenSet`; build the grant with `newGrant`.
///
/// # Errors
/// Rejects with `OAUTH_ERROR` (`invalid_grant`, ...), `INVALID_STATE` (spent response, other
/// client), `CREDENTIALS_FOR_OTHER_ISSUER`, protocol and transport errors.
#[wasm_bindgen(js_name = exchangeCode, unchecked_return_type = "Promise<any>")]
pub fn exchange_code(
    pending: JsValue,
    response: &mut AuthorizationResponseJs,
    client: JsValue,
    policy: JsValue,
    fetch: JsValue,
) -> Promise {
    let prepared = (|| -> Result<_, Failure> {
        let policy = read_policy(policy)?;
        let pending: PendingAuthorization = from_js("pending", pending)?;
        let client: ClientCredentials = from_js("client", client)?;
        let fetch = Fetch::resolve(&fetch)?;
        let request = code_request(&pending, response, &client, &policy)?;
        Ok((policy, pending, fetch, request))
    })();
    future_to_promise(async move {
        let (policy, pending, fetch, request) = prepared?;
        let response = fetch.send(&request).await?;
        let tokens =
            process_authorization_code_response(now(), &pending, &request.url, &response, &policy)
                .map_err(Failure::from)?;
        Ok(to_js(&tokens)?)
    })
}

/// Refreshes `grant`: resolves to `{ grant, rotated }`. Callers must not refresh one grant
/// twice at once (rotating servers revoke the whole grant on reuse): share the promise.
///
/// # Errors
/// Rejects with `NO_REFRESH_TOKEN`, `OAUTH_ERROR` (`invalid_grant`: drop the grant), protocol
/// and transport errors.
#[wasm_bindgen(js_name = refreshGrant)]
pub async fn refresh_grant(
    grant: JsValue,
    policy: JsValue,
    fetch: JsValue,
) -> Result<JsValue, JsValue> {
    let policy = read_policy(policy)?;
    let mut grant: Grant = from_js("grant", grant)?;
    let request = grant.refresh_request(&policy).map_err(Failure::from)?;
    let response = Fetch::resolve(&fetch)?.send(&request).await?;
    let rotated = grant
        .process_refresh_response(now(), &response, &policy)
        .map_err(Failure::from)?;
    Ok(refreshed(&grant, rotated)?)
}

/// Revokes `grant` at the server (the refresh token if any, else the access token). Resolves
/// to `true`, or `false` when the server has no revocation endpoint (nothing was sent).
///
/// # Errors
/// Rejects with `TEMPORARILY_UNAVAILABLE`, `OAUTH_ERROR`, `UNEXPECTED_STATUS`, transport errors.
#[wasm_bindgen(js_name = revokeGrant)]
pub async fn revoke_grant(
    grant: JsValue,
    policy: JsValue,
    fetch: JsValue,
) -> Result<JsValue, JsValue> {
    let policy = read_policy(policy)?;
    let grant: Grant = from_js("grant", grant)?;
    let Some(request) = grant.revocation_request(&policy).map_err(Failure::from)? else {
        return Ok(false.into());
    };
    let response = Fetch::resolve(&fetch)?.send(&request).await?;
    process_revocation_response(&request.url, &response, &policy).map_err(Failure::from)?;
    Ok(true.into())
}

/// Exchanges a token at `tokenEndpoint` (RFC 8693): resolves to `{ tokens, issued_token_type }`.
///
/// # Errors
/// Rejects with `OAUTH_ERROR`, `INSECURE_URL`, protocol and transport errors.
#[wasm_bindgen(js_name = exchangeToken)]
pub async fn exchange_token(
    token_endpoint: String,
    params: JsValue,
    client: JsValue,
    policy: JsValue,
    fetch: JsValue,
) -> Result<JsValue, JsValue> {
    let policy = read_policy(policy)?;
    let endpoint = parse_url("tokenEndpoint", &token_endpoint)?;
    let params = exchange_params(params)?;
    let client: ClientCredentials = from_js("client", client)?;
    let request =
        token_exchange_request(endpoint, &params, &client, &policy).map_err(Failure::from)?;
    let response = Fetch::resolve(&fetch)?.send(&request).await?;
    let exchanged = process_token_exchange_response(now(), &request.url, &response, &policy)
        .map_err(Failure::from)?;
    Ok(to_js(&exchanged)?)
}

/// Logs in with the device authorization grant (RFC 8628): requests a user code, calls
/// `onPrompt({ user_code, verification_uri, verification_uri_complete?, expires_at, interval })`
/// (awaited if it returns a promise), then polls until the user approves. `onPoll`, if given,
/// hears every intermediate status: `{ status: "pending" | "slow_down", interval? }`, or
/// `{ status: "retrying", error }` after a transient failure. `options` are login options plus
/// `signal` (an `AbortSignal`). Resolves to the `TokenSet`; build the grant with `newGrant`
/// and the same options.
///
/// # Errors
/// Rejects with `OAUTH_ERROR` whose `error` is `access_denied` (the user refused) or
/// `expired_token` (the code expired first), `ABORTED`, `MISSING_ENDPOINT`, protocol and
/// transport errors; an exception thrown by `onPrompt`/`onPoll` rejects unchanged.
#[wasm_bindgen(js_name = deviceLogin)]
pub async fn device_login(
    discovered: JsValue,
    client: JsValue,
    options: JsValue,
    on_prompt: Function,
    on_poll: Option<Function>,
    policy: JsValue,
    fetch: JsValue,
) -> Result<JsValue, JsValue> {
    let policy = read_policy(policy)?;
    let discovered: Discovered = from_js("discovered", discovered)?;
    let client: ClientCredentials = from_js("client", client)?;
    let fetch = Fetch::resolve(&fetch)?.with_signal(get(&options, "signal"));
    let options = login_options("options", options)?;
    let resource = login_resource(&discovered, &options);
    let scope = login_scope(&discovered, &options);
    let request = device_authorization_request(
        &discovered.metadata,
        &client,
        scope.as_deref(),
        resource.as_ref(),
        &policy,
    )
    .map_err(Failure::from)?;
    let response = fetch.send(&request).await?;
    let authorization =
        process_device_authorization_response(now(), &request.url, &response, &policy)
            .map_err(Failure::from)?;
    call(&on_prompt, &prompt(&authorization)?).await?;
    let mut poll = DevicePoll::from_metadata(
        now(),
        authorization,
        &discovered.metadata,
        client,
        resource,
        &policy,
    )
    .map_err(Failure::from)?;
    let token_endpoint = discovered
        .metadata
        .token_endpoint
        .as_ref()
        .map_or_else(String::new, |u| u.to_string());
    let tokens = run_device_poll(
        &mut poll,
        &policy,
        &fetch,
        on_poll.as_ref(),
        &token_endpoint,
    )
    .await?;
    Ok(to_js(&tokens)?)
}

/// Polls until tokens, denial, expiry or a fatal error.
async fn run_device_poll(
    poll: &mut DevicePoll,
    policy: &Policy,
    fetch: &Fetch,
    on_poll: Option<&Function>,
    token_endpoint: &str,
) -> Result<mcpauth_core::TokenSet, Failure> {
    loop {
        fetch.check_aborted()?;
        let Some(request) = poll.poll_transmit(now()) else {
            match poll.poll_timeout() {
                Some(at) => {
                    fetch
                        .sleep(crate::device::millis(at) - crate::device::millis(now()))
                        .await?
                }
                None if poll.is_expired() => {
                    return Err(device_error("expired_token", token_endpoint));
                }
                None => {
                    return Err(Failure::Internal(
                        "device polling stopped without an outcome",
                    ));
                }
            }
            continue;
        };
        let response = match fetch.send(&request).await {
            Ok(response) => response,
            Err(failure @ Failure::Aborted { .. }) => return Err(failure),
            Err(failure) => {
                poll.handle_failure(now()).map_err(Failure::from)?;
                notify_retry(on_poll, failure).await?;
                continue;
            }
        };
        match poll.handle_response(now(), &response, policy) {
            Ok(DeviceStatus::Tokens(tokens)) => return Ok(tokens),
            Ok(DeviceStatus::Denied) => return Err(device_error("access_denied", token_endpoint)),
            Ok(DeviceStatus::Expired) => return Err(device_error("expired_token", token_endpoint)),
            Ok(status) => {
                if let Some(on_poll) = on_poll {
                    call(on_poll, &status_to_js(&status)?).await?;
                }
            }
            Err(error) if !poll.is_finished() => notify_retry(on_poll, error.into()).await?,
            Err(error) => return Err(error.into()),
        }
    }
}

/// Tells `onPoll` that a poll failed transiently and polling goes on.
async fn notify_retry(on_poll: Option<&Function>, failure: Failure) -> Result<(), Failure> {
    if let Some(on_poll) = on_poll {
        let status = object(&[("status", "retrying".into()), ("error", failure.into())]);
        call(on_poll, &status).await?;
    }
    Ok(())
}

/// The RFC 8628 §3.5 outcome `error` as an OAuth error, so callers branch on `err.error`.
fn device_error(error: &str, where_: &str) -> Failure {
    let description = match error {
        "access_denied" => "the user denied the authorization request",
        _ => "the device code expired before the user approved it",
    };
    Failure::Core(
        OAuthError {
            error: error.to_owned(),
            error_description: Some(description.to_owned()),
            error_uri: None,
            status: 400,
            where_: where_.to_owned(),
        }
        .into(),
    )
}

/// Calls a JS callback with one argument and awaits its result if it is a thenable; what it
/// throws or rejects with passes through unchanged.
async fn call(callback: &Function, argument: &JsValue) -> Result<(), Failure> {
    let returned = callback
        .call1(&JsValue::UNDEFINED, argument)
        .map_err(Failure::Thrown)?;
    if get(&returned, "then").is_function() {
        JsFuture::from(Promise::resolve(&returned))
            .await
            .map_err(Failure::Thrown)?;
    }
    Ok(())
}
