//! The device authorization grant for JavaScript (RFC 8628): the device authorization pair and
//! the `DevicePoll` machine (the async driver is [`crate::flows::device_login`]).

use mcpauth_core::device::{device_authorization_request, process_device_authorization_response};
use mcpauth_core::{
    AuthorizationServerMetadata, ClientCredentials, DeviceAuthorization, DevicePoll, DeviceStatus,
    Policy, ResourceUri, Time,
};
use wasm_bindgen::prelude::*;

use crate::convert::{
    from_js, now_or, object, read_policy, request_to_js, response_from_js, to_js,
};
use crate::discovery::parse_url;
use crate::error::Failure;

/// The device authorization request (RFC 8628 §3.1) with `scope` and `resource` as given.
///
/// # Errors
/// `MISSING_ENDPOINT` (no `device_authorization_endpoint`), `CREDENTIALS_FOR_OTHER_ISSUER`,
/// `INSECURE_URL`, `INVALID_URL` for a bad resource.
#[wasm_bindgen(js_name = deviceAuthorizationRequest)]
pub fn device_authorization_request_js(
    metadata: JsValue,
    client: JsValue,
    scope: Option<String>,
    resource: Option<String>,
    policy: JsValue,
) -> Result<JsValue, JsValue> {
    let policy = read_policy(policy)?;
    let metadata: AuthorizationServerMetadata = from_js("metadata", metadata)?;
    let client: ClientCredentials = from_js("client", client)?;
    let resource = resource
        .map(|r| ResourceUri::parse(&r))
        .transpose()
        .map_err(Failure::from)?;
    let request = device_authorization_request(
        &metadata,
        &client,
        scope.as_deref(),
        resource.as_ref(),
        &policy,
    )
    .map_err(Failure::from)?;
    Ok(request_to_js(&request))
}

/// Validates the device authorization response (RFC 8628 §3.2) into a `DeviceAuthorization`.
/// `now` defaults to `Date.now()`.
///
/// # Errors
/// `OAUTH_ERROR`, the core's protocol errors, `INSECURE_URL` for the verification URI.
#[wasm_bindgen(js_name = processDeviceAuthorizationResponse)]
pub fn process_device_authorization_response_js(
    url: &str,
    response: JsValue,
    policy: JsValue,
    now: Option<f64>,
) -> Result<JsValue, JsValue> {
    let policy = read_policy(policy)?;
    let response = response_from_js("response", &response)?;
    let url = parse_url("url", url)?;
    let authorization =
        process_device_authorization_response(now_or(now)?, &url, &response, &policy)
            .map_err(Failure::from)?;
    Ok(to_js(&authorization)?)
}

/// Polls the token endpoint for a device authorization (RFC 8628 §3.4, §3.5): waits out the
/// interval, slows down on `slow_down`, backs off on failures, stops at the deadline.
#[wasm_bindgen(js_name = DevicePoll)]
#[derive(Debug)]
pub struct DevicePollJs {
    inner: DevicePoll,
    policy: Policy,
}

#[wasm_bindgen(js_class = DevicePoll)]
impl DevicePollJs {
    /// Starts polling for `authorization` at `metadata`'s token endpoint. `resource` is the
    /// RFC 8707 resource to send with each poll, if any.
    ///
    /// # Errors
    /// `MISSING_ENDPOINT`, `CREDENTIALS_FOR_OTHER_ISSUER`, `INSECURE_URL`, `INVALID_URL`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        authorization: JsValue,
        metadata: JsValue,
        client: JsValue,
        resource: Option<String>,
        policy: JsValue,
        now: Option<f64>,
    ) -> Result<DevicePollJs, JsValue> {
        let policy = read_policy(policy)?;
        let authorization: DeviceAuthorization = from_js("authorization", authorization)?;
        let metadata: AuthorizationServerMetadata = from_js("metadata", metadata)?;
        let client: ClientCredentials = from_js("client", client)?;
        let resource = resource
            .map(|r| ResourceUri::parse(&r))
            .transpose()
            .map_err(Failure::from)?;
        let inner = DevicePoll::from_metadata(
            now_or(now)?,
            authorization,
            &metadata,
            client,
            resource,
            &policy,
        )
        .map_err(Failure::from)?;
        Ok(Self { inner, policy })
    }

    /// Restores a machine saved with `toJSON` (for example across a page reload).
    ///
    /// # Errors
    /// `INVALID_ARGUMENT` for a malformed value.
    #[wasm_bindgen(js_name = fromJSON)]
    pub fn from_json(value: JsValue, policy: JsValue) -> Result<DevicePollJs, JsValue> {
        Ok(Self {
            inner: from_js("poll", value)?,
            policy: read_policy(policy)?,
        })
    }

    /// The machine as a plain value, for storage. It holds the device code: store it like a
    /// secret.
    ///
    /// # Errors
    /// Never in practice.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> Result<JsValue, JsValue> {
        Ok(to_js(&self.inner)?)
    }

    /// When to call `pollTransmit` next (milliseconds since the epoch), or `undefined` while a
    /// poll is in flight or after the end.
    #[wasm_bindgen(js_name = pollTimeout)]
    #[must_use]
    pub fn poll_timeout(&self) -> Option<f64> {
        self.inner.poll_timeout().map(millis)
    }

    /// The token request to send now, or `undefined` (too early, in flight, or finished; past
    /// the deadline this marks the flow expired).
    ///
    /// # Errors
    /// `INVALID_ARGUMENT` for a bad `now`.
    #[wasm_bindgen(js_name = pollTransmit)]
    pub fn poll_transmit(&mut self, now: Option<f64>) -> Result<JsValue, JsValue> {
        let now = now_or(now)?;
        Ok(self
            .inner
            .poll_transmit(now)
            .as_ref()
            .map_or(JsValue::UNDEFINED, request_to_js))
    }

    /// Feeds the response to the poll in flight: `{ status: "pending" | "slow_down" |
    /// "expired" | "denied" }` or `{ status: "tokens", tokens }`.
    ///
    /// # Errors
    /// `TEMPORARILY_UNAVAILABLE`, `UNEXPECTED_STATUS`, `OAUTH_ERROR` and protocol errors. After
    /// an error, `isFinished` says whether polling may go on (the machine backed off) or not.
    #[wasm_bindgen(js_name = handleResponse)]
    pub fn handle_response(
        &mut self,
        response: JsValue,
        now: Option<f64>,
    ) -> Result<JsValue, JsValue> {
        let now = now_or(now)?;
        let response = response_from_js("response", &response)?;
        let status = self
            .inner
            .handle_response(now, &response, &self.policy)
            .map_err(Failure::from)?;
        Ok(status_to_js(&status)?)
    }

    /// Reports that the poll in flight got no response; the machine backs off.
    ///
    /// # Errors
    /// `INVALID_STATE` when no poll is in flight.
    #[wasm_bindgen(js_name = handleFailure)]
    pub fn handle_failure(&mut self, now: Option<f64>) -> Result<(), JsValue> {
        let now = now_or(now)?;
        self.inner.handle_failure(now).map_err(Failure::from)?;
        Ok(())
    }

    /// When the device code expires (milliseconds since the epoch).
    #[wasm_bindgen(getter)]
    #[must_use]
    pub fn deadline(&self) -> f64 {
        millis(self.inner.deadline())
    }

    /// The current polling interval in milliseconds.
    #[wasm_bindgen(getter)]
    #[must_use]
    pub fn interval(&self) -> f64 {
        duration_millis(self.inner.interval())
    }

    /// What to show the user: `{ user_code, verification_uri, verification_uri_complete?,
    /// expires_at }` (no device code).
    ///
    /// # Errors
    /// Never in practice.
    #[wasm_bindgen(getter)]
    pub fn prompt(&self) -> Result<JsValue, JsValue> {
        Ok(prompt(self.inner.authorization())?)
    }

    /// Whether the flow is over (tokens, denial, expiry or a fatal error).
    #[wasm_bindgen(getter, js_name = isFinished)]
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }

    /// Whether the flow ended because the device code expired.
    #[wasm_bindgen(getter, js_name = isExpired)]
    #[must_use]
    pub fn is_expired(&self) -> bool {
        self.inner.is_expired()
    }
}

/// What the user needs to see, without the device code.
pub(crate) fn prompt(authorization: &DeviceAuthorization) -> Result<JsValue, Failure> {
    Ok(object(&[
        ("user_code", authorization.user_code.as_str().into()),
        (
            "verification_uri",
            authorization.verification_uri.as_str().into(),
        ),
        (
            "verification_uri_complete",
            authorization
                .verification_uri_complete
                .as_ref()
                .map_or(JsValue::UNDEFINED, |u| u.as_str().into()),
        ),
        ("expires_at", millis(authorization.expires_at).into()),
        ("interval", duration_millis(authorization.interval).into()),
    ]))
}

/// A poll's outcome as `{ status, ... }`.
pub(crate) fn status_to_js(status: &DeviceStatus) -> Result<JsValue, Failure> {
    Ok(match status {
        DeviceStatus::Pending => object(&[("status", "pending".into())]),
        DeviceStatus::SlowDown { interval } => object(&[
            ("status", "slow_down".into()),
            ("interval", duration_millis(*interval).into()),
        ]),
        DeviceStatus::Expired => object(&[("status", "expired".into())]),
        DeviceStatus::Denied => object(&[("status", "denied".into())]),
        DeviceStatus::Tokens(tokens) => {
            object(&[("status", "tokens".into()), ("tokens", to_js(tokens)?)])
        }
    })
}

/// A time as JavaScript milliseconds.
pub(crate) fn millis(time: Time) -> f64 {
    // Times from Date.now() and server lifetimes stay far below 2^53 ms.
    #[allow(clippy::cast_precision_loss)]
    let ms = time.unix_millis() as f64;
    ms
}

/// A duration as JavaScript milliseconds.
pub(crate) fn duration_millis(duration: std::time::Duration) -> f64 {
    // Polling intervals are seconds to minutes.
    #[allow(clippy::cast_precision_loss)]
    let ms = duration.as_millis() as f64;
    ms
}
