//! OAuth 2.0 Device Authorization Grant (RFC 8628), for CLIs and devices without a browser.
//!
//! 1. [`device_authorization_request`] and [`process_device_authorization_response`]
//!    (RFC 8628 §3.1, §3.2) obtain a [`DeviceAuthorization`]: a user code and a verification
//!    URI to show the user.
//! 2. The user opens the URI on any device and enters the code (§3.3).
//! 3. Meanwhile [`DevicePoll`] polls the token endpoint (§3.4, §3.5) at the server's pace until
//!    it yields tokens, the user denies, or the code expires. Like every machine of the core it
//!    does no I/O and reads no clock: the driver sends what [`DevicePoll::poll_transmit`]
//!    yields, sleeps until [`DevicePoll::poll_timeout`], and feeds responses back.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::client::ClientCredentials;
use crate::error::{Error, OAuthError, ProtocolError, Result, UsageError};
use crate::http::{DEFAULT_MAX_RESPONSE_BYTES, HttpRequest, HttpResponse};
use crate::metadata::AuthorizationServerMetadata;
use crate::policy::{Policy, ResourceUri};
use crate::response::{
    Json, check_transport, oauth_error_json_or_form, retry_after, success_json_or_form,
    temporarily_unavailable,
};
use crate::secret::DeviceCode;
use crate::time::Time;
use crate::token::{TokenSet, process_token_response_with};

/// The `grant_type` of a device access token request (RFC 8628 §3.4).
pub const DEVICE_CODE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The polling interval when the server gives none (RFC 8628 §3.2).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// The shortest polling interval used, whatever the server says.
///
/// RFC 8628 puts no lower bound on `interval`, but `0` would make a client poll in a tight
/// loop; an interval below one second is raised to one second.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// How much each `slow_down` error adds to the interval (RFC 8628 §3.5).
pub const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// The interval past which back-off after failures stops doubling.
///
/// RFC 8628 §3.5 asks for exponential back-off when polling fails at the transport level;
/// doubling stops here so that a user who finishes after a network blip is not kept waiting
/// for minutes. An interval the server set above this is kept as is.
pub const MAX_BACKOFF_INTERVAL: Duration = Duration::from_secs(60);

/// A device authorization response: what to show the user, and what to poll with
/// (RFC 8628 §3.2).
///
/// It serializes so that a driver can persist a pending login; the device code inside is a
/// [`DeviceCode`], redacted in `Debug`. The interval serializes as milliseconds.
///
/// `expires_in` and `interval` are read by the same rule as a token response's `expires_in`
/// (see [`TokenSet`]): a whole number of seconds, as a JSON number (`600`) or a string of
/// ASCII digits (`"600"`), at most [`MAX_DURATION_SECS`](crate::token::MAX_DURATION_SECS);
/// `"600.5"`, `-1`, `"10m"` or a larger value is a [`ProtocolError::InvalidField`] naming the
/// field and the URL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(export, optional_fields = nullable)
)]
#[non_exhaustive]
pub struct DeviceAuthorization {
    /// The device verification code, sent with every poll. Never shown to the user.
    pub device_code: DeviceCode,
    /// The code the user enters at the verification URI. Not a secret: it is displayed.
    pub user_code: String,
    /// Where the user enters the code.
    pub verification_uri: Url,
    /// The verification URI with the user code already in it (for a link or QR code), if the
    /// server sent one.
    pub verification_uri_complete: Option<Url>,
    /// When the device code expires (`now + expires_in`).
    pub expires_at: Time,
    /// How long to wait between polls: the server's `interval`, [`DEFAULT_INTERVAL`] when it
    /// sent none, at least [`MIN_INTERVAL`].
    #[serde(with = "millis")]
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub interval: Duration,
}

/// Builds the device authorization request (RFC 8628 §3.1), with the client authenticated as
/// at the token endpoint, the RFC 8707 `resource` when given, and `audience` when given (for
/// authorization servers that take one, such as Auth0).
///
/// # Errors
/// [`UsageError::MissingEndpoint`] when the server has no `device_authorization_endpoint`;
/// [`SecurityError::CredentialsForOtherIssuer`](crate::SecurityError::CredentialsForOtherIssuer)
/// when `client` belongs to another issuer;
/// [`SecurityError::InsecureUrl`](crate::SecurityError::InsecureUrl) for a plain-http endpoint.
pub fn device_authorization_request(
    server: &AuthorizationServerMetadata,
    client: &ClientCredentials,
    scope: Option<&str>,
    resource: Option<&ResourceUri>,
    audience: Option<&str>,
    policy: &Policy,
) -> Result<HttpRequest> {
    let endpoint = server
        .device_authorization_endpoint
        .clone()
        .ok_or_else(|| UsageError::MissingEndpoint {
            issuer: server.issuer.clone(),
            endpoint: "device_authorization_endpoint",
        })?;
    client.ensure_issuer(&server.issuer)?;
    policy.check_endpoint("device_authorization_endpoint", &endpoint)?;
    let mut form = Vec::new();
    if let Some(scope) = scope.filter(|s| !s.is_empty()) {
        form.push(("scope", scope));
    }
    if let Some(resource) = resource {
        form.push(("resource", resource.as_str()));
    }
    if let Some(audience) = audience {
        form.push(("audience", audience));
    }
    let mut req = client.authenticated_post(endpoint, &form);
    req.max_response_bytes = policy.max_response_bytes;
    Ok(req)
}

/// Validates a device authorization response (RFC 8628 §3.2).
///
/// `now` is when the response arrived; `expires_at` is computed from it. Beyond the RFC:
///
/// - `verification_url` is accepted when `verification_uri` is absent: Google's device flow
///   (and Microsoft's, alongside the RFC name) still uses the pre-RFC draft's name.
/// - The verification URIs are shown to the user, who signs in there, so they must be
///   `https` (or `http` on a loopback host, per [`Policy::check_endpoint`]) and must not carry
///   `user@` credentials, which can disguise the real host. Other schemes (`javascript:`,
///   `data:`, `file:`) are refused.
/// - An `interval` below [`MIN_INTERVAL`] is raised to it.
/// - A form-encoded body (`Content-Type: application/x-www-form-urlencoded`, GitHub's default)
///   is read as the JSON object it stands for, every value a string.
/// - `expires_in` and `interval` are whole seconds, as JSON numbers or strings of digits, at
///   most [`MAX_DURATION_SECS`](crate::token::MAX_DURATION_SECS) (the rule is on
///   [`DeviceAuthorization`]).
///
/// # Errors
/// [`OAuthError`] for an error body; [`ProtocolError::MissingField`] or
/// [`ProtocolError::InvalidField`] naming the field (`device_code`, `user_code`,
/// `verification_uri`, `expires_in`, ...); [`SecurityError::InsecureUrl`](crate::SecurityError::InsecureUrl)
/// for a verification URI that is not https.
pub fn process_device_authorization_response(
    now: Time,
    url: &Url,
    resp: &HttpResponse,
    policy: &Policy,
) -> Result<DeviceAuthorization> {
    let json = success_json_or_form(url, resp, policy.max_response_bytes)?;
    let device_code = non_empty(&json, "device_code")?;
    let user_code = non_empty(&json, "user_code")?;
    let verification_uri = verification_uri(&json, policy)?;
    let verification_uri_complete = json
        .url_field("verification_uri_complete")?
        .map(|u| checked_verification_url(&json, "verification_uri_complete", u, policy))
        .transpose()?;
    let expires_in = json
        .seconds("expires_in")?
        .ok_or_else(|| missing(&json, "expires_in"))?;
    let interval = json
        .seconds("interval")?
        .map_or(DEFAULT_INTERVAL, |interval| interval.max(MIN_INTERVAL));
    Ok(DeviceAuthorization {
        device_code: DeviceCode::new(device_code),
        user_code,
        verification_uri,
        verification_uri_complete,
        expires_at: now.add(expires_in),
        interval,
    })
}

fn non_empty(json: &Json, field: &'static str) -> Result<String> {
    let value = json.req_str(field)?;
    if value.is_empty() {
        return Err(invalid(json, field, "must not be empty"));
    }
    Ok(value)
}

/// `verification_uri`, or Google's `verification_url` when that is absent.
fn verification_uri(json: &Json, policy: &Policy) -> Result<Url> {
    if let Some(url) = json.url_field("verification_uri")? {
        return checked_verification_url(json, "verification_uri", url, policy);
    }
    match json.url_field("verification_url")? {
        Some(url) => checked_verification_url(json, "verification_url", url, policy),
        None => Err(missing(json, "verification_uri")),
    }
}

fn checked_verification_url(
    json: &Json,
    field: &'static str,
    url: Url,
    policy: &Policy,
) -> Result<Url> {
    policy.check_endpoint(field, &url)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            json,
            field,
            "must not carry user@ credentials, which can disguise the host shown to the user",
        ));
    }
    Ok(url)
}

fn missing(json: &Json, field: &'static str) -> Error {
    ProtocolError::MissingField {
        url: json.url().to_owned(),
        field,
    }
    .into()
}

fn invalid(json: &Json, field: &'static str, reason: &str) -> Error {
    ProtocolError::InvalidField {
        url: json.url().to_owned(),
        field,
        reason: reason.to_owned(),
    }
    .into()
}

/// What one poll of the token endpoint established (RFC 8628 §3.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceStatus {
    /// `authorization_pending`: the user has not finished yet; poll again at the same pace.
    Pending,
    /// `slow_down`: poll again, at the new, longer interval (5 s more each time).
    SlowDown {
        /// The interval now in force.
        interval: Duration,
    },
    /// `expired_token`, or the deadline passed: the flow is over; start a new one.
    Expired,
    /// `access_denied`: the user refused. The flow is over.
    Denied,
    /// The user approved; these are the tokens. The flow is over.
    Tokens(TokenSet),
}

/// Where the poll machine stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
enum Phase {
    /// Waiting for `next_poll_at`.
    Waiting,
    /// A poll sent at `sent_at` awaits its response or failure.
    InFlight { sent_at: Time },
    /// Over; `expired` when by expiry (locally or `expired_token`).
    Finished { expired: bool },
}

/// The device access token polling machine (RFC 8628 §3.4, §3.5).
///
/// One poll is in flight at a time. After [`poll_transmit`](Self::poll_transmit) yields a
/// request, the driver must feed its outcome back: the response to
/// [`handle_response`](Self::handle_response), or a transport failure (timeout, connection
/// refused) to [`handle_failure`](Self::handle_failure). The machine serializes, so a driver
/// can persist it between polls; one restored with a poll in flight whose outcome is unknown
/// resumes with [`handle_failure`](Self::handle_failure).
///
/// ```
/// use mcpauth_core::device::*;
/// use mcpauth_core::{AuthorizationServerMetadata, ClientCredentials, HttpResponse, Policy, Time};
///
/// let policy = Policy::default();
/// let mut server = AuthorizationServerMetadata::with_default_endpoints("https://as.example");
/// server.device_authorization_endpoint = Some("https://as.example/device".parse().unwrap());
/// let client = ClientCredentials::public("https://as.example", "my-cli");
///
/// let req = device_authorization_request(&server, &client, Some("mcp"), None, None, &policy)?;
/// // The driver sends `req`; this example answers from canned responses.
/// let resp = HttpResponse::json(200, r#"{"device_code":"dc","user_code":"WDJB-MJHT",
///     "verification_uri":"https://as.example/device","expires_in":600}"#);
/// let mut now = Time::from_unix_secs(1_000);
/// let auth = process_device_authorization_response(now, &req.url, &resp, &policy)?;
/// println!("Open {} and enter {}", auth.verification_uri, auth.user_code);
///
/// let mut answers = vec![
///     HttpResponse::json(200, r#"{"access_token":"at","token_type":"Bearer"}"#),
///     HttpResponse::json(400, r#"{"error":"authorization_pending"}"#),
/// ];
/// let mut poll = DevicePoll::from_metadata(now, auth, &server, client, None, &policy)?;
/// let tokens = loop {
///     let Some(req) = poll.poll_transmit(now) else {
///         match poll.poll_timeout() {
///             Some(at) => now = at, // a real driver sleeps until `at`
///             None => break None,   // over: poll.is_expired() says whether by expiry
///         }
///         continue;
///     };
///     let resp = answers.pop().unwrap(); // a real driver sends `req`
///     match poll.handle_response(now, &resp, &policy)? {
///         DeviceStatus::Tokens(tokens) => break Some(tokens),
///         DeviceStatus::Expired | DeviceStatus::Denied => break None,
///         DeviceStatus::Pending | DeviceStatus::SlowDown { .. } => {}
///     }
/// };
/// assert_eq!(tokens.unwrap().access_token.secret(), "at");
/// assert_eq!(now, Time::from_unix_secs(1_010)); // two polls, 5 s apart
/// # Ok::<(), mcpauth_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicePoll {
    authorization: DeviceAuthorization,
    token_endpoint: Url,
    client: ClientCredentials,
    resource: Option<ResourceUri>,
    #[serde(with = "millis")]
    interval: Duration,
    next_poll_at: Time,
    phase: Phase,
    max_response_bytes: usize,
    /// Whether the polls carry DPoP proofs, so that a `DPoP` token type is accepted.
    #[serde(default)]
    dpop_proofs: bool,
}

impl DevicePoll {
    /// Starts polling `token_endpoint` for `authorization`; the first poll is due one interval
    /// after `now` (RFC 8628 §3.4).
    ///
    /// The caller vouches for `token_endpoint` and `client`; prefer
    /// [`from_metadata`](Self::from_metadata), which checks them.
    #[must_use]
    pub fn new(
        now: Time,
        authorization: DeviceAuthorization,
        token_endpoint: Url,
        client: ClientCredentials,
        resource: Option<ResourceUri>,
    ) -> Self {
        let interval = authorization.interval.max(MIN_INTERVAL);
        Self {
            authorization,
            token_endpoint,
            client,
            resource,
            interval,
            next_poll_at: now.add(interval),
            phase: Phase::Waiting,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            dpop_proofs: false,
        }
    }

    /// Says that the caller puts a DPoP proof on every poll (RFC 9449 §5), so that a `DPoP`
    /// token type is accepted; without one it is refused, since the token could not be used.
    #[must_use]
    pub fn with_dpop_proofs(mut self, proofs: bool) -> Self {
        self.dpop_proofs = proofs;
        self
    }

    /// Like [`new`](Self::new), with the token endpoint taken from `server`, the credentials
    /// checked against its issuer, and the response size cap taken from `policy`.
    ///
    /// # Errors
    /// [`UsageError::MissingEndpoint`] without a `token_endpoint`;
    /// [`SecurityError::CredentialsForOtherIssuer`](crate::SecurityError::CredentialsForOtherIssuer);
    /// [`SecurityError::InsecureUrl`](crate::SecurityError::InsecureUrl) for a plain-http
    /// token endpoint.
    pub fn from_metadata(
        now: Time,
        authorization: DeviceAuthorization,
        server: &AuthorizationServerMetadata,
        client: ClientCredentials,
        resource: Option<ResourceUri>,
        policy: &Policy,
    ) -> Result<Self> {
        let token_endpoint =
            server
                .token_endpoint
                .clone()
                .ok_or_else(|| UsageError::MissingEndpoint {
                    issuer: server.issuer.clone(),
                    endpoint: "token_endpoint",
                })?;
        client.ensure_issuer(&server.issuer)?;
        policy.check_endpoint("token_endpoint", &token_endpoint)?;
        let mut poll = Self::new(now, authorization, token_endpoint, client, resource);
        poll.max_response_bytes = policy.max_response_bytes;
        Ok(poll)
    }

    /// When [`poll_transmit`](Self::poll_transmit) should be called next: the next poll's due
    /// time, or the deadline if that comes first.
    ///
    /// `None` when there is nothing to wait for: the flow is over, or a poll is in flight
    /// (feed its response or failure first).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Time> {
        match self.phase {
            Phase::Waiting => Some(self.next_poll_at.min(self.deadline())),
            Phase::InFlight { .. } | Phase::Finished { .. } => None,
        }
    }

    /// The token request, if a poll is due at `now` (RFC 8628 §3.4).
    ///
    /// `None` before [`poll_timeout`](Self::poll_timeout) (call again then), while a poll is
    /// in flight, and once the flow is over. At or past the [`deadline`](Self::deadline) it
    /// sends nothing and ends the flow as expired ([`is_expired`](Self::is_expired)).
    #[must_use]
    pub fn poll_transmit(&mut self, now: Time) -> Option<HttpRequest> {
        if self.phase != Phase::Waiting {
            return None;
        }
        if now >= self.deadline() {
            self.phase = Phase::Finished { expired: true };
            return None;
        }
        if now < self.next_poll_at {
            return None;
        }
        self.phase = Phase::InFlight { sent_at: now };
        self.next_poll_at = now.add(self.interval);
        Some(self.token_request())
    }

    /// Feeds the token endpoint's response to the poll in flight (RFC 8628 §3.5).
    ///
    /// `authorization_pending` and `slow_down` keep the flow going; tokens, `expired_token`
    /// and `access_denied` end it. An OAuth `error` in the body is honoured even with a 2xx
    /// status, as GitHub sends its polling errors with HTTP 200; and a form-encoded body is read
    /// as a token response's is (GitHub's default, see
    /// [`process_token_response`](crate::token::process_token_response)).
    ///
    /// # Errors
    /// [`UsageError::InvalidState`] when no poll is in flight. Any other OAuth error
    /// ([`OAuthError`]) or a malformed response ([`ProtocolError`]) ends the flow, except an
    /// overloaded or failing server: HTTP 429, 503
    /// ([`ProtocolError::TemporarilyUnavailable`]) and other 5xx (the server's
    /// [`OAuthError`], or [`ProtocolError::UnexpectedStatus`]) count as a failed poll, back off
    /// as [`handle_failure`](Self::handle_failure) does (waiting at least the `Retry-After`),
    /// and leave the flow going: check [`is_finished`](Self::is_finished) to tell the cases
    /// apart.
    pub fn handle_response(
        &mut self,
        now: Time,
        resp: &HttpResponse,
        policy: &Policy,
    ) -> Result<DeviceStatus> {
        let Phase::InFlight { sent_at } = self.phase else {
            return Err(UsageError::InvalidState(
                "DevicePoll::handle_response called with no poll in flight; call poll_transmit first",
            )
            .into());
        };
        // Every way out below either reopens the flow or leaves it over.
        self.phase = Phase::Finished { expired: false };
        let url = self.token_endpoint.clone();
        check_transport(&url, resp, policy.max_response_bytes)?;
        let error = oauth_error_json_or_form(&url, resp);
        if let Some(status) = error.as_ref().and_then(|e| self.polling_error(sent_at, e)) {
            return Ok(status);
        }
        if resp.status == 429 || (500..600).contains(&resp.status) {
            return Err(self.transient_failure(now, &url, resp, error));
        }
        if let Some(error) = error {
            return Err(error.into());
        }
        if !resp.is_success() {
            return Err(ProtocolError::UnexpectedStatus {
                url: url.to_string(),
                status: resp.status,
                expected: "200 or an OAuth error",
            }
            .into());
        }
        let tokens = process_token_response_with(now, &url, resp, policy, self.dpop_proofs)?;
        Ok(DeviceStatus::Tokens(tokens))
    }

    /// Reports that the poll in flight failed without a response (timeout, connection
    /// refused, DNS failure).
    ///
    /// RFC 8628 §3.5 asks clients to back off exponentially on such failures: the interval
    /// doubles (up to [`MAX_BACKOFF_INTERVAL`], and never shrinks), and the next poll is due
    /// one new interval after `now`. The doubled interval stays in force for the rest of the
    /// flow.
    ///
    /// # Errors
    /// [`UsageError::InvalidState`] when no poll is in flight.
    pub fn handle_failure(&mut self, now: Time) -> Result<()> {
        if !matches!(self.phase, Phase::InFlight { .. }) {
            return Err(UsageError::InvalidState(
                "DevicePoll::handle_failure called with no poll in flight; call poll_transmit first",
            )
            .into());
        }
        self.back_off(now, None);
        Ok(())
    }

    /// When the device code expires (`expires_at` of the authorization). From then on
    /// [`poll_transmit`](Self::poll_transmit) sends nothing and the flow ends as expired.
    #[must_use]
    pub fn deadline(&self) -> Time {
        self.authorization.expires_at
    }

    /// The interval now in force, after any `slow_down` and back-off.
    #[must_use]
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The authorization being polled for, to show the user code again after a restart.
    #[must_use]
    pub fn authorization(&self) -> &DeviceAuthorization {
        &self.authorization
    }

    /// Whether the flow is over (tokens, denial, expiry or a fatal error).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Finished { .. })
    }

    /// Whether the flow ended by expiry: the deadline passed, or the server said
    /// `expired_token`.
    #[must_use]
    pub fn is_expired(&self) -> bool {
        self.phase == (Phase::Finished { expired: true })
    }

    fn token_request(&self) -> HttpRequest {
        let mut form = vec![
            ("grant_type", DEVICE_CODE_GRANT_TYPE),
            ("device_code", self.authorization.device_code.secret()),
        ];
        if let Some(resource) = &self.resource {
            form.push(("resource", resource.as_str()));
        }
        let mut req = self
            .client
            .authenticated_post(self.token_endpoint.clone(), &form);
        req.max_response_bytes = self.max_response_bytes;
        req
    }

    /// The four §3.5 error codes that are answers rather than failures.
    fn polling_error(&mut self, sent_at: Time, error: &OAuthError) -> Option<DeviceStatus> {
        match error.error.as_str() {
            "authorization_pending" => {
                self.phase = Phase::Waiting;
                Some(DeviceStatus::Pending)
            }
            "slow_down" => {
                self.interval = self.interval.saturating_add(SLOW_DOWN_STEP);
                self.next_poll_at = sent_at.add(self.interval);
                self.phase = Phase::Waiting;
                Some(DeviceStatus::SlowDown {
                    interval: self.interval,
                })
            }
            "expired_token" => {
                self.phase = Phase::Finished { expired: true };
                Some(DeviceStatus::Expired)
            }
            "access_denied" => Some(DeviceStatus::Denied),
            _ => None,
        }
    }

    /// HTTP 429 or 5xx: the server is overloaded or failing, which a later poll may not be.
    fn transient_failure(
        &mut self,
        now: Time,
        url: &Url,
        resp: &HttpResponse,
        error: Option<OAuthError>,
    ) -> Error {
        self.back_off(now, retry_after(resp));
        if let Some(unavailable) = temporarily_unavailable(url, resp) {
            return unavailable.into();
        }
        if let Some(error) = error {
            return error.into();
        }
        ProtocolError::UnexpectedStatus {
            url: url.to_string(),
            status: resp.status,
            expected: "200 or an OAuth error",
        }
        .into()
    }

    fn back_off(&mut self, now: Time, retry_after: Option<Duration>) {
        let doubled = self.interval.saturating_mul(2).min(MAX_BACKOFF_INTERVAL);
        self.interval = self.interval.max(doubled);
        let wait = retry_after.map_or(self.interval, |r| r.max(self.interval));
        self.next_poll_at = now.add(wait);
        self.phase = Phase::Waiting;
    }
}

/// `Duration` as whole milliseconds, like [`Time`]; JavaScript reads it as a plain number.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests;
