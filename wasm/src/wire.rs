//! The JSON shapes of the boundary, as serde structs.
//!
//! Outputs ([`Drained`], [`TransmitJson`], [`EventJson`], [`ActionJson`], the outcomes of
//! `done`) are built from the core's values and serialized once; inputs ([`Input`],
//! [`StepInput`] and the `*Config` structs) are parsed from the driver's JSON.
//!
//! With the `ts` feature, each shape also derives its TypeScript declaration (ts-rs), which
//! `scripts/gen-types` writes into `npm/src/generated/` under the name in `ts(rename)`; the npm
//! package imports them from there. The declarations say what serde really does: an output's
//! `None` is `T | null` (serde_json writes `null`) unless it is skipped (`name?: T`); an
//! input's defaulted field is optional, and an input's `Option` also takes `null`. The few
//! shapes written by hand as text ([`Drained::text`], the `done` event) are described by types
//! that exist for the declarations only (`DoneEvent`, `MachineEvent`, `LogoutOutcomeJson`).

use mcpauth_core::flow::{CredentialSource, Failure, McpAction, Profile};
use mcpauth_core::jws::Signing;
use mcpauth_core::secret::SecurityToken;
use mcpauth_core::{
    BearerChallenge, DeviceAuthorization, Grant, HttpRequest, OsEntropy, Policy, Time,
};
use serde::{Deserialize, Serialize};

use crate::error::ErrorJson;

/// Serializes a value built here. Every output is plain data (strings, numbers, the core's
/// serde records), for which serde_json cannot fail; an empty object stands in if it ever did.
pub(crate) fn to_text<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned())
}

/// What `machine_drain` returns: `{"transmits": [...], "events": [...], "timeout": ms | null}`.
#[derive(Debug, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Drained {
    /// Requests to send now, concurrently.
    pub transmits: Vec<TransmitJson>,
    /// What to do, in order, each already serialized ([`EventJson`], or a `done`).
    #[cfg_attr(feature = "ts", ts(as = "Vec<MachineEvent>"))]
    pub events: Vec<String>,
    /// When to send a `timeout` input, in milliseconds since the epoch; `None`: nothing waits
    /// on time.
    pub timeout: Option<u64>,
}

impl Drained {
    /// The JSON text.
    pub(crate) fn text(&self) -> String {
        let timeout = self
            .timeout
            .map_or_else(|| "null".to_owned(), |t| t.to_string());
        format!(
            r#"{{"transmits":{},"events":[{}],"timeout":{timeout}}}"#,
            to_text(&self.transmits),
            self.events.join(",")
        )
    }
}

/// One request to send: exactly as given, without following redirects (unless
/// `followRedirects`), reading at most `maxResponseBytes + 1` bytes of the body, and giving up
/// after `timeoutMs` (then report a `failure` with `{"kind": "timeout"}`). Before sending,
/// sign each of `signings` (already dated by the boundary) and put the compact JWS
/// (`input "." base64url(signature)`) where its `place` says: a header of that name, or a form
/// field of that name appended to the body.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, rename = "Transmit"))]
#[serde(rename_all = "camelCase")]
pub struct TransmitJson {
    /// The id to report the outcome under.
    pub id: u32,
    /// `GET` or `POST`.
    #[cfg_attr(feature = "ts", ts(as = "mcpauth_core::Method"))]
    pub method: &'static str,
    /// The URL.
    pub url: String,
    /// Header pairs, names lowercase, in order.
    pub headers: Vec<(String, String)>,
    /// The body (form or JSON text), or `null`.
    pub body: Option<String>,
    /// The body cap.
    pub max_response_bytes: usize,
    /// The request's deadline, from sending.
    pub timeout_ms: u64,
    /// Whether redirects may be followed (never, for the requests the core builds today).
    pub follow_redirects: bool,
    /// JWTs to sign and place before sending (DPoP proofs, client assertions), in order.
    pub signings: Vec<Signing>,
}

impl TransmitJson {
    pub(crate) fn new(
        id: u32,
        request: &HttpRequest,
        timeout_ms: u64,
        signings: Vec<Signing>,
    ) -> Self {
        Self {
            id,
            method: request.method.as_str(),
            url: request.url.to_string(),
            headers: request.headers.clone(),
            body: (!request.body.is_empty())
                .then(|| String::from_utf8_lossy(&request.body).into_owned()),
            max_response_bytes: request.max_response_bytes,
            timeout_ms,
            follow_redirects: request.follow_redirects,
            signings,
        }
    }
}

/// One event of a machine ([`mcpauth_core::flow::Event`]), tagged by `kind`. `done` is written
/// by hand (its `ok` is the machine's own output): `{"kind": "done", "ok": ...}` or
/// `{"kind": "done", "error": ErrorJson}` (`DoneEvent`, with the `ts` feature).
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventJson<'a> {
    /// Read `key`; answer with a `loaded` input.
    Load {
        /// The store key.
        key: &'a str,
    },
    /// Store `record` under `key`.
    Save {
        /// The store key.
        key: &'a str,
        /// The versioned record (JSON text).
        record: &'a str,
    },
    /// Delete `key`.
    Delete {
        /// The store key.
        key: &'a str,
    },
    /// Take the lock `key`; answer with `locked`; hold it until `done`.
    Lock {
        /// The lock name.
        key: &'a str,
    },
    /// Listen on a loopback port; answer with `redirect_uri`.
    Listen {
        /// The port to bind first.
        port: Option<u16>,
        /// Only that port.
        required: bool,
        /// The callback path.
        path: &'a str,
    },
    /// Send the user agent here; hand the redirect back with `callback`.
    Authorize {
        /// The authorization URL.
        url: &'a str,
    },
    /// A callback for another login arrived and was ignored.
    ForeignCallback,
    /// Read the credential `source` names (a file, an environment variable); answer with a
    /// `credential` input.
    Credential {
        /// Where it is.
        source: &'a CredentialSource,
    },
    /// Show the user where to go and which code to enter: the [`DevicePrompt`]'s fields next
    /// to `kind`.
    DeviceCode(DevicePrompt<'a>),
    /// Something failed that does not fail the operation.
    Warning {
        /// What.
        error: ErrorJson,
    },
}

impl<'a> EventJson<'a> {
    pub(crate) fn device_code(authorization: &'a DeviceAuthorization) -> Self {
        EventJson::DeviceCode(DevicePrompt {
            user_code: &authorization.user_code,
            verification_uri: authorization.verification_uri.as_str(),
            verification_uri_complete: authorization
                .verification_uri_complete
                .as_ref()
                .map(url::Url::as_str),
            expires_at: authorization.expires_at.unix_millis(),
            interval: u64::try_from(authorization.interval.as_millis()).unwrap_or(u64::MAX),
        })
    }
}

/// What the user is shown in a device login (RFC 8628 §3.3, wire names). The device code
/// itself stays inside.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct DevicePrompt<'a> {
    /// The code to enter.
    pub user_code: &'a str,
    /// Where to enter it.
    pub verification_uri: &'a str,
    /// The URI with the code in it, if the server gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub verification_uri_complete: Option<&'a str>,
    /// When the code expires, in milliseconds since the epoch.
    pub expires_at: u64,
    /// The polling interval in milliseconds.
    pub interval: u64,
}

/// The last event of every machine, which the drain writes by hand around the machine's own
/// output: `{"kind": "done", "ok": ...}` or `{"kind": "done", "error": ErrorJson}`. `ok` is
/// the machine's outcome: a [`LoginOutcomeJson`] (`login`, `resume`), the core's `Grant`
/// (`access`), a [`LogoutOutcomeJson`] (`logout`) or the core's `Discovered` (`discover`).
///
/// This type only describes that shape for the TypeScript declaration (`ts` feature); nothing
/// is serialized through it.
#[cfg(feature = "ts")]
#[derive(ts_rs::TS)]
#[ts(export, tag = "kind")]
pub enum DoneEvent {
    /// The machine succeeded.
    #[ts(rename = "done")]
    Ok {
        /// What it produced.
        ok: AnyJson,
    },
    /// The machine failed.
    #[ts(rename = "done")]
    Failed {
        /// Why.
        error: ErrorJson,
    },
}

/// One entry of [`Drained`]'s `events`: an [`EventJson`], or last a [`DoneEvent`].
///
/// This type only describes that shape for the TypeScript declaration (`ts` feature).
#[cfg(feature = "ts")]
#[derive(ts_rs::TS)]
#[ts(export, untagged)]
pub enum MachineEvent {
    /// Anything but `done`.
    Event(EventJson<'static>),
    /// The end.
    Done(DoneEvent),
}

/// Any JSON value, `unknown` in TypeScript: the `ok` of a [`DoneEvent`], whose type depends on
/// the machine. For the TypeScript declarations only (`ts` feature).
#[cfg(feature = "ts")]
pub struct AnyJson;

#[cfg(feature = "ts")]
impl ts_rs::TS for AnyJson {
    type WithoutGenerics = Self;
    type OptionInnerType = Self;

    fn name(_: &ts_rs::Config) -> String {
        "unknown".to_owned()
    }

    fn inline(cfg: &ts_rs::Config) -> String {
        Self::name(cfg)
    }
}

/// The `ok` of a `login` or `resume` machine's `done`: the grant, and who logged in (ID token
/// or userinfo), for display.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, rename = "LoginOutcome"))]
pub struct LoginOutcomeJson<'a> {
    /// The new grant.
    pub grant: &'a Grant,
    /// Who logged in, if known.
    pub identity: Option<&'a str>,
}

/// The `ok` of a `logout` machine's `done`: `{"revoked": bool}`, which the drain writes by hand.
///
/// This type only describes that shape for the TypeScript declaration (`ts` feature).
#[cfg(feature = "ts")]
#[derive(Debug, Serialize, ts_rs::TS)]
#[ts(export, rename = "LogoutOutcome")]
pub struct LogoutOutcomeJson {
    /// The server confirmed the revocation.
    pub revoked: bool,
}

/// What `stored_grant` returns: the grant in a stored record, and who logged in.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, rename = "StoredGrant"))]
pub struct StoredGrantJson<'a> {
    /// The grant.
    pub grant: &'a Grant,
    /// Who logged in, as the login showed it.
    pub identity: Option<&'a str>,
}

/// What `machine_input` takes, tagged by `kind`.
#[derive(Debug, Deserialize)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(export, rename = "MachineInput", optional_fields = nullable)
)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Input {
    /// Request `id` produced no response: `{"kind": "failure", "id": 3, "failure": {"kind":
    /// "transport", "reason": "..."}}` (or `{"kind": "timeout"}`, `{"kind": "aborted"}`).
    Failure {
        /// The transmit's id.
        id: u32,
        /// Why, in the core's shape.
        failure: Failure,
    },
    /// The time from the last drain's `timeout` has come.
    Timeout,
    /// The answer to `load`: the record, or `null`.
    Loaded {
        /// The key of the `load`.
        key: String,
        /// What is stored there.
        #[serde(default)]
        record: Option<String>,
    },
    /// The lock of the `lock` event is held.
    Locked,
    /// A request arrived at the redirect URI; `machine_input` returns `{"belongs": bool}`.
    Callback {
        /// The full callback URL.
        url: String,
    },
    /// The redirect URI the driver listens on, after `listen`.
    RedirectUri {
        /// The URI.
        uri: String,
    },
    /// The caller gave up; the machine ends with `ABORTED`.
    Abort,
    /// The answer to `credential`: the `value` read, or the `error` why it could not be (a
    /// message that must not contain the credential).
    Credential {
        /// The credential.
        #[serde(default)]
        value: Option<SecurityToken>,
        /// Why there is none.
        #[serde(default)]
        error: Option<String>,
    },
}

/// `machine_new("resume", ...)`: a web login saved at the callback boundary.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ResumeConfig {
    /// Where the record was (`pending_key_for_callback`).
    pub key: String,
    /// The record.
    pub record: String,
}

/// `machine_new("access", ...)`: a usable token for `server`.
#[derive(Debug, Deserialize)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(export, optional_fields = nullable)
)]
#[serde(rename_all = "camelCase")]
pub struct AccessConfig {
    /// The MCP server.
    pub server: String,
    /// The access token a server just refused, when that is why a token is wanted.
    #[serde(default)]
    pub rejected: Option<String>,
    /// The checks in force.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub policy: Policy,
    /// Each request's deadline (default 30 000).
    #[serde(default = "request_timeout")]
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub request_timeout_ms: u64,
    /// The profile whose grant it is (default: the server's default login).
    #[serde(default)]
    pub profile: Option<Profile>,
}

/// `machine_new("logout", ...)`.
#[derive(Debug, Deserialize)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(export, optional_fields = nullable)
)]
#[serde(rename_all = "camelCase")]
pub struct LogoutConfig {
    /// The MCP server.
    pub server: String,
    /// Revoke at the server too (default true).
    #[serde(default = "yes")]
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub revoke: bool,
    /// The checks in force.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub policy: Policy,
    /// Each request's deadline (default 30 000).
    #[serde(default = "request_timeout")]
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub request_timeout_ms: u64,
    /// The profile whose grant it is (default: the server's default login).
    #[serde(default)]
    pub profile: Option<Profile>,
}

/// `machine_new("discover", ...)`: the authorization server of `server`.
#[derive(Debug, Deserialize)]
#[cfg_attr(
    feature = "ts",
    derive(ts_rs::TS),
    ts(export, optional_fields = nullable)
)]
#[serde(rename_all = "camelCase")]
pub struct DiscoverConfig {
    /// The MCP server.
    pub server: String,
    /// The `resource_metadata` of the server's challenge.
    #[serde(default)]
    pub resource_metadata: Option<String>,
    /// A configured authorization server, skipping protected resource metadata.
    #[serde(default)]
    pub issuer: Option<String>,
    /// The checks in force.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub policy: Policy,
    /// Each request's deadline (default 30 000).
    #[serde(default = "request_timeout")]
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub request_timeout_ms: u64,
}

pub(crate) fn request_timeout() -> u64 {
    u64::try_from(mcpauth_core::flow::DEFAULT_REQUEST_TIMEOUT.as_millis()).unwrap_or(u64::MAX)
}

const fn yes() -> bool {
    true
}

/// What `protected_step` takes, tagged by `kind`. `machine` is the handle of a finished
/// `access` or `login` machine whose outcome (a grant, or why there is none) is the input.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepInput {
    /// The first step, with the outcome of an `access` machine.
    Start {
        /// The finished machine.
        machine: u32,
    },
    /// The server answered.
    Response {
        /// The HTTP status.
        status: u16,
        /// The `WWW-Authenticate` field values.
        #[serde(default, rename = "wwwAuthenticate")]
        #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
        www_authenticate: Vec<String>,
        /// The `DPoP-Nonce` header (RFC 9449 §9), if any.
        #[serde(default, rename = "dpopNonce")]
        #[cfg_attr(feature = "ts", ts(optional = nullable))]
        dpop_nonce: Option<String>,
    },
    /// The outcome of the refresh asked for (an `access` machine with `rejected`).
    Refreshed {
        /// The finished machine.
        machine: u32,
    },
    /// The outcome of the login asked for (a `login` machine, or an `access` machine run after
    /// the caller's own login).
    Login {
        /// The finished machine.
        machine: u32,
    },
}

/// What `protected_step` returns, tagged by `action`; `fail` is `{"error": ErrorJson}` like
/// every failure of the boundary.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, rename = "Action"))]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ActionJson {
    /// Send the request (again) with this `Authorization` value, or without one (`null`), and
    /// for a DPoP-bound token this proof, signed and put where its `place` says (the `dpop`
    /// header), as a transmit's `signings`.
    Send {
        /// `Bearer <token>`, `DPoP <token>`, or `null`.
        authorization: Option<String>,
        /// The DPoP proof to sign, or `null`.
        dpop: Option<Signing>,
    },
    /// Run an `access` machine with `rejected`, then step `refreshed`.
    Refresh {
        /// The token the server refused.
        rejected: String,
    },
    /// Log in (a `login` machine with this challenge and previous scope), then step `login`.
    #[serde(rename_all = "camelCase")]
    Login {
        /// The challenge to log in for.
        challenge: BearerChallenge,
        /// The scope held, for a step-up.
        previous_scope: Option<String>,
        /// The attempt for this server and operation, from 1.
        attempt: u32,
        /// A 403 `insufficient_scope` step-up (else a 401).
        step_up: bool,
    },
    /// Hand the last response to the caller.
    Return,
}

impl ActionJson {
    /// The action as JSON, its DPoP proof dated `now`; a failure is `{"error": ...}`.
    pub(crate) fn text(action: McpAction, now: Time) -> String {
        let json = match action {
            McpAction::Send {
                authorization,
                dpop,
            } => {
                let dpop = match dpop
                    .map(|proof| proof.stamp(now, &mut OsEntropy))
                    .transpose()
                {
                    Ok(dpop) => dpop,
                    Err(e) => return ErrorJson::from(&e).to_text(),
                };
                ActionJson::Send {
                    authorization,
                    dpop,
                }
            }
            McpAction::Refresh { rejected } => ActionJson::Refresh {
                rejected: rejected.secret().to_owned(),
            },
            McpAction::Login {
                challenge,
                previous_scope,
                attempt,
                step_up,
            } => ActionJson::Login {
                challenge,
                previous_scope,
                attempt,
                step_up,
            },
            McpAction::Return => ActionJson::Return,
            McpAction::Fail(e) => return ErrorJson::from(&e).to_text(),
            // A new action of the core: this driver cannot act on it.
            _ => {
                return ErrorJson::argument("action", "the core asked for an unknown action")
                    .to_text();
            }
        };
        to_text(&json)
    }
}
