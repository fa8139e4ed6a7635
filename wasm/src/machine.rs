//! The machine exports: `machine_new`, `machine_response`, `machine_input`, `machine_drain`,
//! `machine_free`.
//!
//! Machines live in a table (one per module instance) and are named by handle. Each entry keeps
//! the ids of the requests it has out (the core's [`RequestId`]s, which only the machine makes)
//! and, once drained, the outcome of its `done` (a grant, or an error), so that
//! `protected_step` can take it without a round trip through JSON.

use std::cell::RefCell;
use std::time::Duration;

use mcpauth_core::flow::logout::LogoutOutcome;
use mcpauth_core::flow::store::PendingLogin;
use mcpauth_core::flow::{
    Access, Event, Failure, Login, LoginConfig, LoginOutcome, Logout, Machine, RequestId,
};
use mcpauth_core::jws::Signing;
use mcpauth_core::{
    AccessToken, Discovered, Discovery, Entropy, Error, Grant, HttpRequest, HttpResponse,
    OsEntropy, ResourceUri, Time,
};
use wasm_bindgen::prelude::*;

use crate::error::{ErrorJson, bad_json};
use crate::table::Table;
use crate::wire::{
    AccessConfig, DiscoverConfig, Drained, EventJson, Input, LoginOutcomeJson, LogoutConfig,
    ResumeConfig, TransmitJson, request_timeout, to_text,
};

thread_local! {
    static MACHINES: RefCell<Table<Entry>> = const { RefCell::new(Table::new()) };
}

/// One machine of the table.
struct Entry {
    flow: Flow,
    /// Requests out, by the number JavaScript knows them by.
    sent: Vec<RequestId>,
    /// The deadline each transmit is given.
    request_timeout_ms: u64,
    /// The outcome of `done`, once drained.
    outcome: Option<Outcome>,
}

/// How a machine ended, as `protected_step` takes it.
#[derive(Clone, Debug)]
pub(crate) enum Outcome {
    /// With a grant (an `access` or `login` machine).
    Grant(Box<Grant>),
    /// With something else (a `logout` or `discover` machine).
    Other,
    /// With an error of the core.
    Error(Error),
    /// With an error of this boundary (a config that does not parse), as JSON text.
    Invalid(String),
}

/// Why a machine could not be made.
enum Refused {
    Core(Error),
    /// An `ErrorJson` object, as JSON text.
    Argument(String),
}

impl From<Error> for Refused {
    fn from(error: Error) -> Self {
        Refused::Core(error)
    }
}

/// The machines, behind one type.
enum Flow {
    Login(Box<Login>),
    Access(Box<Access>),
    Logout(Box<Logout>),
    /// Discovery is a machine of its own shape ([`Discovery`]); `true` once its `done` is out.
    Discover(Box<Discovery>, bool),
    /// The machine could not be made; the error is its `done` on the first drain.
    Failed(Option<Refused>),
}

/// Starts a machine and returns its handle. `kind` is `login` (config: the core's
/// `LoginConfig`, camelCase), `resume` (`{key, record}`: a web login saved at the callback
/// boundary), `access` (`{server, rejected?, policy?, requestTimeoutMs?}`), `logout`
/// (`{server, revoke?, policy?, requestTimeoutMs?}`) or `discover` (`{server,
/// resourceMetadata?, issuer?, policy?, requestTimeoutMs?}`). `seed` is at least 64 random
/// bytes for a login (its PKCE verifier and `state`), empty otherwise.
///
/// Never fails: a bad kind or config, or a server URL that is not valid, gives a machine that
/// ends with the error on its first drain.
#[wasm_bindgen]
#[must_use]
pub fn machine_new(kind: &str, config: &str, now_ms: f64, seed: &[u8]) -> u32 {
    let now = time(now_ms);
    let (flow, request_timeout_ms) = match start(kind, config, now, seed) {
        Ok(started) => started,
        Err(refused) => (Flow::Failed(Some(refused)), request_timeout()),
    };
    let entry = Entry {
        flow,
        sent: Vec::new(),
        request_timeout_ms,
        outcome: None,
    };
    MACHINES.with(|t| t.borrow_mut().insert(entry))
}

fn start(kind: &str, config: &str, now: Time, seed: &[u8]) -> Result<(Flow, u64), Refused> {
    let bad = |e: serde_json::Error| Refused::Argument(to_text(&bad_json("config", &e)));
    match kind {
        "login" => {
            let config: LoginConfig = serde_json::from_slice(config.as_bytes()).map_err(bad)?;
            let timeout = config.request_timeout_ms;
            let login = Login::new(config, now, &mut Seed(seed))?;
            Ok((Flow::Login(Box::new(login)), timeout))
        }
        "resume" => {
            let config: ResumeConfig = serde_json::from_slice(config.as_bytes()).map_err(bad)?;
            let timeout = PendingLogin::parse(&config.key, &config.record)?.request_timeout_ms;
            let login = Login::resume(&config.key, &config.record)?;
            Ok((Flow::Login(Box::new(login)), timeout))
        }
        "access" => {
            let config: AccessConfig = serde_json::from_slice(config.as_bytes()).map_err(bad)?;
            let server = ResourceUri::parse(&config.server)?;
            let rejected = config.rejected.map(AccessToken::new);
            let access = Access::new(server, rejected, config.policy)
                .with_profile(config.profile)
                .with_request_timeout(Duration::from_millis(config.request_timeout_ms));
            Ok((Flow::Access(Box::new(access)), config.request_timeout_ms))
        }
        "logout" => {
            let config: LogoutConfig = serde_json::from_slice(config.as_bytes()).map_err(bad)?;
            let server = ResourceUri::parse(&config.server)?;
            let logout = Logout::new(server, config.revoke, config.policy)
                .with_profile(config.profile)
                .with_request_timeout(Duration::from_millis(config.request_timeout_ms));
            Ok((Flow::Logout(Box::new(logout)), config.request_timeout_ms))
        }
        "discover" => {
            let config: DiscoverConfig = serde_json::from_slice(config.as_bytes()).map_err(bad)?;
            let discovery = match &config.issuer {
                Some(issuer) => Discovery::with_issuer(&config.server, issuer, config.policy)?,
                None => Discovery::new(
                    &config.server,
                    config.resource_metadata.as_deref(),
                    config.policy,
                )?,
            };
            let flow = Flow::Discover(Box::new(discovery), false);
            Ok((flow, config.request_timeout_ms))
        }
        _ => Err(Refused::Argument(to_text(&ErrorJson::argument(
            "kind",
            "expected login, resume, access, logout or discover",
        )))),
    }
}

/// Feeds the response to transmit `id`: its status, its headers as JSON pairs
/// (`[["www-authenticate", "..."]]`) and its body (at most `maxResponseBytes + 1` bytes).
/// Returns `{}`, or `{"error": ...}` for an unknown handle or headers that do not parse. A late
/// or unknown `id` is ignored.
#[wasm_bindgen]
#[must_use]
pub fn machine_response(
    handle: u32,
    id: u32,
    status: u16,
    headers: &str,
    body: &[u8],
    now_ms: f64,
) -> String {
    let headers: Vec<(String, String)> = match serde_json::from_slice(headers.as_bytes()) {
        Ok(h) => h,
        Err(e) => return bad_json("headers", &e).to_text(),
    };
    let response = HttpResponse::new(status, headers, body.to_vec());
    with_entry(handle, |entry| {
        let Some(id) = entry.take(id) else {
            return "{}".to_owned();
        };
        let now = time(now_ms);
        match &mut entry.flow {
            Flow::Login(m) => m.handle_response(now, id, response),
            Flow::Access(m) => m.handle_response(now, id, response),
            Flow::Logout(m) => m.handle_response(now, id, response),
            Flow::Discover(d, _) => d.handle_response(id, response),
            Flow::Failed(_) => {}
        }
        "{}".to_owned()
    })
}

/// Feeds everything but a response ([`Input`](crate::wire::Input), tagged by `kind`):
/// `failure`, `timeout`, `loaded`, `locked`, `callback`, `redirect_uri`, `abort`,
/// `credential`. Returns
/// `{"belongs": bool}` for a callback (`false`: it carries another login's `state`; answer the
/// browser with an error page, the login goes on), `{}` otherwise, or `{"error": ...}`.
#[wasm_bindgen]
#[must_use]
pub fn machine_input(handle: u32, input: &str, now_ms: f64) -> String {
    let input = match Input::from_json(input) {
        Ok(i) => i,
        Err(e) => return bad_json("input", &e).to_text(),
    };
    let now = time(now_ms);
    with_entry(handle, |entry| match input {
        Input::Callback { url } => {
            let belongs = match &mut entry.flow {
                Flow::Login(m) => m.handle_callback(now, &url),
                _ => false,
            };
            format!(r#"{{"belongs":{belongs}}}"#)
        }
        Input::Failure { id, failure } => {
            if let Some(id) = entry.take(id) {
                entry.failure(now, id, failure);
            }
            "{}".to_owned()
        }
        other => {
            entry.input(now, other);
            "{}".to_owned()
        }
    })
}

/// Everything the machine asks for now: `{"transmits": [...], "events": [...], "timeout": ms |
/// null}` (see the [crate docs](crate)). Call it after `machine_new` and after every feed. The
/// JWTs a transmit carries are dated `now_ms` (with a fresh `jti` from `crypto.getRandomValues`).
/// An unknown handle gives `{"error": ...}`.
#[wasm_bindgen]
#[must_use]
pub fn machine_drain(handle: u32, now_ms: f64) -> String {
    let now = time(now_ms);
    with_entry(handle, |entry| {
        let mut out = Drained::default();
        let Entry {
            flow,
            sent,
            request_timeout_ms,
            outcome,
        } = entry;
        let mut book = Book {
            now,
            sent,
            timeout_ms: *request_timeout_ms,
            outcome,
            out: &mut out,
        };
        match flow {
            Flow::Login(m) => book.pump(m.as_mut()),
            Flow::Access(m) => book.pump(m.as_mut()),
            Flow::Logout(m) => book.pump(m.as_mut()),
            Flow::Discover(d, finished) => book.discovery(d, finished),
            Flow::Failed(refused) => match refused.take() {
                Some(Refused::Core(e)) => book.done::<Grant>(Err(e)),
                Some(Refused::Argument(e)) => book.invalid(&e),
                None => {}
            },
        }
        out.text()
    })
}

/// Forgets the machine and its outcome. Requests still out are abandoned: their answers, if
/// fed, find nothing.
#[wasm_bindgen]
pub fn machine_free(handle: u32) {
    MACHINES.with(|t| t.borrow_mut().remove(handle));
}

/// The outcome of a drained machine's `done`, for `protected_step`.
pub(crate) fn outcome(handle: u32) -> Option<Outcome> {
    MACHINES.with(|t| t.borrow().get(handle).and_then(|e| e.outcome.clone()))
}

fn with_entry(handle: u32, f: impl FnOnce(&mut Entry) -> String) -> String {
    MACHINES.with(|t| match t.borrow_mut().get_mut(handle) {
        Some(entry) => f(entry),
        None => unknown(handle).to_text(),
    })
}

pub(crate) fn unknown(handle: u32) -> ErrorJson {
    ErrorJson::argument("handle", &format!("{handle} names no machine (freed?)"))
}

impl Entry {
    /// The request `id` stands for, which is no longer out.
    fn take(&mut self, id: u32) -> Option<RequestId> {
        let at = self.sent.iter().position(|r| r.index() == id)?;
        Some(self.sent.swap_remove(at))
    }

    fn failure(&mut self, now: Time, id: RequestId, failure: Failure) {
        match &mut self.flow {
            Flow::Login(m) => m.handle_failure(now, id, failure),
            Flow::Access(m) => m.handle_failure(now, id, failure),
            Flow::Logout(m) => m.handle_failure(now, id, failure),
            Flow::Discover(d, _) => d.handle_failure(id, &reason(&failure)),
            Flow::Failed(_) => {}
        }
    }

    fn input(&mut self, now: Time, input: Input) {
        match &mut self.flow {
            Flow::Login(m) => {
                if let Input::RedirectUri { uri } = &input {
                    m.set_redirect_uri(now, uri);
                }
                feed(m.as_mut(), now, input);
            }
            Flow::Access(m) => feed(m.as_mut(), now, input),
            Flow::Logout(m) => feed(m.as_mut(), now, input),
            Flow::Discover(_, finished) => {
                // Discovery waits on nothing but its requests, so only `abort` means anything.
                if matches!(input, Input::Abort) && !*finished {
                    let aborted = mcpauth_core::flow::error::FlowError::Aborted;
                    self.flow = Flow::Failed(Some(Refused::Core(aborted.into())));
                }
            }
            Flow::Failed(_) => {}
        }
    }
}

/// The inputs every [`Machine`] takes.
fn feed<M: Machine>(machine: &mut M, now: Time, input: Input) {
    match input {
        Input::Timeout => machine.handle_timeout(now),
        Input::Loaded { key, record } => machine.handle_loaded(now, &key, record),
        Input::Locked => machine.handle_locked(now),
        Input::Abort => machine.abort(),
        Input::Credential { value, error } => {
            let read = match value {
                Some(value) => Ok(value.secret().to_owned()),
                None => Err(error.unwrap_or_else(|| "the driver read nothing".to_owned())),
            };
            machine.handle_credential(now, read);
        }
        Input::Failure { .. } | Input::Callback { .. } | Input::RedirectUri { .. } => {}
    }
}

fn reason(failure: &Failure) -> String {
    match failure {
        Failure::Transport { reason } => reason.clone(),
        Failure::Timeout => "no answer in time".to_owned(),
        Failure::Aborted => "cancelled".to_owned(),
    }
}

/// Dates every JWT `request` carries, for the driver to sign.
///
/// # Errors
/// [`Error::Entropy`] when `crypto.getRandomValues` is missing.
pub(crate) fn stamp(request: &HttpRequest, now: Time) -> Result<Vec<Signing>, Error> {
    request
        .signatures
        .iter()
        .map(|template| template.stamp(now, &mut OsEntropy))
        .collect()
}

/// What a drain writes to.
struct Book<'a> {
    now: Time,
    sent: &'a mut Vec<RequestId>,
    timeout_ms: u64,
    outcome: &'a mut Option<Outcome>,
    out: &'a mut Drained,
}

impl Book<'_> {
    fn transmit(&mut self, id: RequestId, request: &HttpRequest, signings: Vec<Signing>) {
        let json = TransmitJson::new(id.index(), request, self.timeout_ms, signings);
        self.out.transmits.push(json);
        self.sent.push(id);
    }

    fn pump<M: Machine>(&mut self, machine: &mut M)
    where
        M::Output: Output,
    {
        while let Some((id, request)) = machine.poll_transmit() {
            match stamp(&request, self.now) {
                Ok(signings) => self.transmit(id, &request, signings),
                // Not sent: the machine hears why, as from a request that failed.
                Err(e) => machine.handle_failure(
                    self.now,
                    id,
                    Failure::Transport {
                        reason: e.to_string(),
                    },
                ),
            }
        }
        while let Some(event) = machine.poll_event() {
            self.event(event);
        }
        self.out.timeout = machine.poll_timeout().map(Time::unix_millis);
    }

    fn discovery(&mut self, discovery: &mut Discovery, finished: &mut bool) {
        while let Some((id, request)) = discovery.poll_transmit() {
            // Discovery requests are never signed.
            self.transmit(id, &request, Vec::new());
        }
        if !*finished && let Some(result) = discovery.poll_result() {
            *finished = true;
            self.done(result);
        }
    }

    fn event<T: Output>(&mut self, event: Event<T>) {
        let json = match &event {
            Event::Load { key } => EventJson::Load { key },
            Event::Save { key, record } => EventJson::Save { key, record },
            Event::Delete { key } => EventJson::Delete { key },
            Event::Lock { key } => EventJson::Lock { key },
            Event::Listen {
                port,
                required,
                path,
            } => EventJson::Listen {
                port: *port,
                required: *required,
                path,
            },
            Event::Authorize { url } => EventJson::Authorize { url },
            Event::ForeignCallback => EventJson::ForeignCallback,
            Event::Credential { source } => EventJson::Credential { source },
            Event::DeviceCode(authorization) => EventJson::device_code(authorization),
            Event::Warning(e) => EventJson::Warning {
                error: ErrorJson::from(e),
            },
            Event::Done(_) => {
                if let Event::Done(result) = event {
                    self.done(result);
                }
                return;
            }
            // A new event of the core, which this driver cannot act on; the machine still ends
            // with `done`.
            _ => return,
        };
        self.out.events.push(to_text(&json));
    }

    fn done<T: Output>(&mut self, result: Result<T, Error>) {
        let text = match &result {
            Ok(value) => format!(r#"{{"kind":"done","ok":{}}}"#, value.json()),
            Err(e) => format!(
                r#"{{"kind":"done","error":{}}}"#,
                to_text(&ErrorJson::from(e))
            ),
        };
        self.out.events.push(text);
        *self.outcome = Some(match result {
            Ok(value) => value
                .grant()
                .map_or(Outcome::Other, |g| Outcome::Grant(Box::new(g.clone()))),
            Err(e) => Outcome::Error(e),
        });
    }

    fn invalid(&mut self, error: &str) {
        self.out
            .events
            .push(format!(r#"{{"kind":"done","error":{error}}}"#));
        *self.outcome = Some(Outcome::Invalid(format!(r#"{{"error":{error}}}"#)));
    }
}

/// What a `done` carries on success, as JSON, and the grant in it if any.
trait Output {
    fn json(&self) -> String;
    fn grant(&self) -> Option<&Grant> {
        None
    }
}

impl Output for LoginOutcome {
    fn json(&self) -> String {
        to_text(&LoginOutcomeJson {
            grant: &self.grant,
            identity: self.identity.as_deref(),
        })
    }
    fn grant(&self) -> Option<&Grant> {
        Some(&self.grant)
    }
}

impl Output for Grant {
    fn json(&self) -> String {
        to_text(self)
    }
    fn grant(&self) -> Option<&Grant> {
        Some(self)
    }
}

impl Output for LogoutOutcome {
    fn json(&self) -> String {
        format!(r#"{{"revoked":{}}}"#, self.revoked)
    }
}

impl Output for Discovered {
    fn json(&self) -> String {
        to_text(self)
    }
}

/// The caller's random bytes, handed out in order.
struct Seed<'a>(&'a [u8]);

impl Entropy for Seed<'_> {
    fn fill(&mut self, buf: &mut [u8]) -> mcpauth_core::Result<()> {
        let Some((head, tail)) = self.0.split_at_checked(buf.len()) else {
            return Err(Error::Entropy {
                reason: format!(
                    "the driver passed {} random bytes, {} are needed",
                    self.0.len(),
                    buf.len()
                ),
            });
        };
        buf.copy_from_slice(head);
        self.0 = tail;
        Ok(())
    }
}

/// `now` from JavaScript: milliseconds since the epoch; anything else reads as the epoch.
pub(crate) fn time(now_ms: f64) -> Time {
    if now_ms.is_finite() && now_ms >= 0.0 {
        // Checked: finite and non-negative; `as` truncates the fraction and saturates.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Time::from_unix_millis(now_ms as u64)
    } else {
        Time::from_unix_millis(0)
    }
}
