//! What the fuzz targets share: responses decoded from fuzz bytes, the fixture documents, a
//! plausible server to answer the flow machines, and the driver that runs a machine on an
//! arbitrary script of answers, failures and time steps and checks that it always ends.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use mcpauth_core::flow::store::{GrantRecord, PendingLogin, RegistrationRecord};
use mcpauth_core::flow::{Event, Failure, Login, LoginConfig, Machine, Redirect, RequestId};
use mcpauth_core::{Grant, HttpRequest, HttpResponse, Time};
use serde_json::{Value, json};

/// The MCP server every machine target talks to.
pub const MCP: &str = "https://mcp.example/mcp";
/// Its co-hosted authorization server.
pub const ISSUER: &str = "https://mcp.example";

/// The response bodies the machines are most often fed, taken from real servers and RFCs.
pub const FIXTURES: [&str; 10] = [
    include_str!("../fixtures/prm.json"),
    include_str!("../fixtures/as_metadata.json"),
    include_str!("../fixtures/oidc_provider_metadata.json"),
    include_str!("../fixtures/sdk_metadata.json"),
    include_str!("../fixtures/registration.json"),
    include_str!("../fixtures/token.json"),
    include_str!("../fixtures/device.json"),
    include_str!("../fixtures/exchange.json"),
    include_str!("../fixtures/oauth_error.json"),
    include_str!("../fixtures/userinfo.json"),
];

/// The statuses a server answers with; a fuzz byte picks one.
const STATUSES: [u16; 16] = [
    200, 201, 204, 400, 401, 403, 404, 429, 500, 503, 302, 301, 307, 100, 418, 999,
];

/// A response from the parser targets' byte layout: one byte for the status, one for the
/// headers (a bit per header of [`headers_from_bits`]), the rest the body. Seeds are real
/// bodies behind two such bytes.
#[must_use]
pub fn response_from_bytes(data: &[u8]) -> HttpResponse {
    let status = data.first().map_or(200, |b| status_from_byte(*b));
    let headers = data.get(1).map_or(1, |b| *b);
    let body = data.get(2..).unwrap_or_default();
    HttpResponse::new(status, headers_from_bits(headers), body.to_vec())
}

fn status_from_byte(b: u8) -> u16 {
    STATUSES[usize::from(b) % STATUSES.len()]
}

/// Headers a server may send, one bit each: JSON content type, an HTML one, `Retry-After`,
/// a redirect `Location`, a `WWW-Authenticate`, `Cache-Control`, a second content type, and
/// an odd-cased content type with parameters.
#[must_use]
pub fn headers_from_bits(bits: u8) -> Vec<(String, String)> {
    const ALL: [(&str, &str); 8] = [
        ("content-type", "application/json"),
        ("content-type", "text/html; charset=utf-8"),
        ("retry-after", "5"),
        ("location", "https://evil.example/"),
        (
            "www-authenticate",
            r#"Bearer error="invalid_token", resource_metadata="https://mcp.example/.well-known/oauth-protected-resource/mcp""#,
        ),
        ("cache-control", "no-store"),
        ("Content-Type", "application/json"),
        ("CONTENT-TYPE", "Application/JSON ; charset=UTF-8"),
    ];
    ALL.iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, (n, v))| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

/// A JSON value for a mutated field: the types a careless or hostile server sends.
#[derive(Arbitrary, Debug, Clone)]
pub enum FuzzValue {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float (NaN and infinities become `null` in JSON).
    Float(f64),
    /// A string.
    Str(String),
    /// An array of strings.
    Strings(Vec<String>),
    /// `{}`.
    Object,
    /// A very large number, written out.
    Huge,
}

impl FuzzValue {
    fn to_json(&self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Bool(b) => json!(b),
            Self::Int(i) => json!(i),
            Self::Float(f) => json!(f),
            Self::Str(s) => json!(s),
            Self::Strings(v) => json!(v),
            Self::Object => json!({}),
            Self::Huge => serde_json::from_str("1e400").unwrap_or(Value::Null),
        }
    }
}

/// Field names the parsers read, for mutations that add a field a fixture lacks.
const FIELDS: [&str; 24] = [
    "resource",
    "authorization_servers",
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "registration_endpoint",
    "code_challenge_methods_supported",
    "client_id",
    "client_secret",
    "client_secret_expires_at",
    "token_endpoint_auth_method",
    "access_token",
    "token_type",
    "expires_in",
    "refresh_token",
    "scope",
    "id_token",
    "device_code",
    "user_code",
    "verification_uri",
    "interval",
    "issued_token_type",
    "error",
    "sub",
];

/// One edit to a JSON object body.
#[derive(Arbitrary, Debug, Clone)]
pub enum Mutation {
    /// Drop the n-th field.
    Drop(u8),
    /// Give the n-th field (of the body, or of [`FIELDS`] when `known`) a new value.
    Set {
        /// Which field.
        field: u8,
        /// Pick from the parsers' field names rather than the body's.
        known: bool,
        /// Its new value.
        value: FuzzValue,
    },
    /// Cut the serialized body after this many bytes.
    Truncate(u16),
}

/// Applies `mutations` to the JSON text `body`.
#[must_use]
pub fn mutate(body: &str, mutations: &[Mutation]) -> Vec<u8> {
    let mut value: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let mut cut = None;
    for m in mutations {
        let Some(map) = value.as_object_mut() else {
            break;
        };
        match m {
            Mutation::Drop(i) => {
                if let Some(key) = nth_key(map, *i) {
                    map.remove(&key);
                }
            }
            Mutation::Set {
                field,
                known,
                value,
            } => {
                let key = if *known {
                    Some(FIELDS[usize::from(*field) % FIELDS.len()].to_owned())
                } else {
                    nth_key(map, *field)
                };
                if let Some(key) = key {
                    map.insert(key, value.to_json());
                }
            }
            Mutation::Truncate(n) => cut = Some(usize::from(*n)),
        }
    }
    let mut text = value.to_string().into_bytes();
    if let Some(n) = cut {
        text.truncate(n);
    }
    text
}

fn nth_key(map: &serde_json::Map<String, Value>, i: u8) -> Option<String> {
    let n = map.len();
    (n > 0).then(|| map.keys().nth(usize::from(i) % n).cloned())?
}

/// How the script answers one request.
#[derive(Arbitrary, Debug, Clone)]
pub enum Reply {
    /// What a conforming server answers ([`plausible`]).
    Plausible,
    /// The plausible answer with its JSON body edited.
    Mutated(Vec<Mutation>),
    /// A fixture body with a status and headers of the script's choosing.
    Fixture {
        /// Which of [`FIXTURES`].
        index: u8,
        /// A status byte, as in [`response_from_bytes`].
        status: u8,
        /// Header bits, as in [`headers_from_bits`].
        headers: u8,
        /// Edits to the body.
        mutations: Vec<Mutation>,
    },
    /// Anything at all.
    Raw {
        /// The status.
        status: u16,
        /// The headers.
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
    },
    /// No response: the transport failed, timed out or was aborted.
    Fail(FailureKind),
}

/// Why a request produced no response.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum FailureKind {
    /// A broken connection.
    Transport,
    /// The driver's deadline.
    Timeout,
    /// The caller cancelled.
    Aborted,
}

impl FailureKind {
    fn failure(self) -> Failure {
        match self {
            Self::Transport => Failure::Transport {
                reason: "connection reset".into(),
            },
            Self::Timeout => Failure::Timeout,
            Self::Aborted => Failure::Aborted,
        }
    }
}

/// One step of the script a machine is run on.
#[derive(Arbitrary, Debug, Clone)]
pub enum Step {
    /// Answer the n-th outstanding request.
    Answer {
        /// Which one (modulo how many are out).
        pick: u8,
        /// How.
        reply: Reply,
    },
    /// Answer a request that was already answered (a late or duplicated response).
    Late {
        /// Which one.
        pick: u8,
        /// How.
        reply: Reply,
    },
    /// Let time pass; fire the timeout if it is due.
    Advance(u16),
    /// Jump to the machine's timeout and fire it.
    Timeout,
    /// Hand the login a redirect (only a login that sent the user to authorize takes it).
    Callback(CallbackKind),
    /// The caller gives up.
    Abort,
}

/// The redirect a login gets back from the browser.
#[derive(Arbitrary, Debug, Clone)]
pub enum CallbackKind {
    /// What the authorization server sends: the code, the state and `iss`.
    Proper,
    /// The code without `iss`.
    NoIss,
    /// `iss` of another server.
    OtherIss,
    /// Another state (a forged request).
    WrongState,
    /// The user declined.
    Denied,
    /// Anything.
    Raw(String),
}

/// What the store answers to a load.
#[derive(Arbitrary, Debug, Clone)]
pub enum Stored {
    /// What is really stored.
    Actual,
    /// Nothing.
    Missing,
    /// The stored record, edited.
    Mutated(Vec<Mutation>),
    /// Anything.
    Raw(String),
}

/// What a conforming server (an MCP server with a co-hosted authorization server) answers to
/// `req`, so that the script reaches the later steps of a flow.
#[must_use]
pub fn plausible(req: &HttpRequest, serial: u32) -> HttpResponse {
    let path = req.url.path();
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&req.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let ok = |body: Value| HttpResponse::json(200, body.to_string());
    let fixture = |i: usize| serde_json::from_str::<Value>(FIXTURES[i]).unwrap_or(Value::Null);
    if path == "/mcp" {
        return HttpResponse::new(
            401,
            vec![(
                "www-authenticate".into(),
                format!(
                    r#"Bearer resource_metadata="{ISSUER}/.well-known/oauth-protected-resource/mcp", scope="mcp:read""#
                ),
            )],
            Vec::new(),
        );
    }
    if path.starts_with("/.well-known/oauth-protected-resource") {
        return ok(fixture(0));
    }
    if path.starts_with("/.well-known/") {
        return ok(fixture(1));
    }
    match path {
        "/register" => {
            let mut body: Value = serde_json::from_slice(&req.body).unwrap_or(json!({}));
            body["client_id"] = json!(format!("client-{serial}"));
            HttpResponse::json(201, body.to_string())
        }
        "/device" => ok(fixture(6)),
        "/token" => match form.get("grant_type").map(String::as_str) {
            Some("urn:ietf:params:oauth:grant-type:token-exchange") => ok(fixture(7)),
            _ => {
                let mut body = fixture(5);
                body["access_token"] = json!(format!("at-{serial}"));
                body["refresh_token"] = json!(format!("rt-{serial}"));
                ok(body)
            }
        },
        "/revoke" => HttpResponse::new(200, Vec::new(), Vec::new()),
        "/userinfo" => ok(fixture(9)),
        _ => HttpResponse::json(404, r#"{"error":"not_found"}"#),
    }
}

/// The machine-specific inputs of the driver: a login takes a redirect URI and callbacks.
pub trait Extra: Machine {
    /// The driver bound the loopback listener at `uri`.
    fn listened(&mut self, _now: Time, _uri: &str) {}
    /// A redirect arrived.
    fn callback(&mut self, _now: Time, _callback: &str) {}
}

impl Extra for Login {
    fn listened(&mut self, now: Time, uri: &str) {
        self.set_redirect_uri(now, uri);
    }
    fn callback(&mut self, now: Time, callback: &str) {
        let _ = self.handle_callback(now, callback);
    }
}

impl Extra for mcpauth_core::flow::Access {}
impl Extra for mcpauth_core::flow::Logout {}

/// How many script steps a run takes at most; the wind-down after it is bounded too.
const MAX_STEPS: usize = 512;
/// How many wind-down rounds a machine may take to end once the script is over: failing
/// every request and firing every timeout must end any flow well within it.
const MAX_WIND_DOWN: usize = 4096;
/// How many requests or events one drain may yield before it counts as a runaway.
const MAX_DRAIN: usize = 64;

/// The driver's side of a run: clock, store, requests out, and what the machine asked for.
pub struct Driver {
    /// The clock.
    pub now: Time,
    /// The store.
    pub store: BTreeMap<String, String>,
    out: Vec<(RequestId, HttpRequest)>,
    answered: Vec<(RequestId, HttpRequest)>,
    authorize: Option<String>,
    serial: u32,
}

impl Driver {
    /// A driver at `now` over `store`.
    #[must_use]
    pub fn new(now: Time, store: BTreeMap<String, String>) -> Self {
        Self {
            now,
            store,
            out: Vec::new(),
            answered: Vec::new(),
            authorize: None,
            serial: 0,
        }
    }

    /// Runs `m` on the script in `u`, then winds it down (every request fails, every timeout
    /// fires). Panics, and so fails the target, when the machine panics, yields a runaway
    /// number of requests or events, is left with nothing to wait for and no `Done`, does not
    /// end within the bound, or saves a record it could not read back.
    pub fn run<M: Extra>(
        &mut self,
        m: &mut M,
        u: &mut Unstructured<'_>,
    ) -> mcpauth_core::Result<M::Output> {
        for _ in 0..MAX_STEPS {
            if let Some(done) = self.drain(m, u) {
                return done;
            }
            self.assert_waiting(m);
            if u.is_empty() {
                break;
            }
            let Ok(step) = u.arbitrary::<Step>() else {
                break;
            };
            self.step(m, step);
        }
        for _ in 0..MAX_WIND_DOWN {
            if let Some(done) = self.drain(m, &mut Unstructured::new(&[])) {
                return done;
            }
            self.assert_waiting(m);
            if self.out.is_empty() {
                let at = m.poll_timeout().unwrap_or(self.now);
                self.now = self.now.max(at);
                m.handle_timeout(self.now);
            } else {
                for (id, _) in std::mem::take(&mut self.out) {
                    m.handle_failure(self.now, id, Failure::Timeout);
                }
            }
        }
        panic!("the machine did not end within {MAX_WIND_DOWN} rounds once every request failed");
    }

    /// A machine that is not done must wait for something: a request's outcome or a time.
    fn assert_waiting<M: Machine>(&self, m: &M) {
        assert!(
            !self.out.is_empty() || m.poll_timeout().is_some(),
            "the machine waits for nothing and has not ended"
        );
    }

    fn step<M: Extra>(&mut self, m: &mut M, step: Step) {
        match step {
            Step::Answer { pick, reply } => {
                if self.out.is_empty() {
                    return;
                }
                let i = usize::from(pick) % self.out.len();
                let (id, req) = self.out.remove(i);
                self.reply(m, id, &req, reply);
                self.answered.push((id, req));
            }
            Step::Late { pick, reply } => {
                if self.answered.is_empty() {
                    return;
                }
                let i = usize::from(pick) % self.answered.len();
                let (id, req) = self.answered[i].clone();
                self.reply(m, id, &req, reply);
            }
            Step::Advance(secs) => {
                self.now = self.now.add(Duration::from_secs(u64::from(secs)));
                if m.poll_timeout().is_some_and(|at| at <= self.now) {
                    m.handle_timeout(self.now);
                }
            }
            Step::Timeout => {
                if let Some(at) = m.poll_timeout() {
                    self.now = self.now.max(at);
                    m.handle_timeout(self.now);
                }
            }
            Step::Callback(kind) => {
                if let Some(url) = self.authorize.clone() {
                    m.callback(self.now, &callback_for(&url, &kind));
                }
            }
            Step::Abort => m.abort(),
        }
    }

    fn reply<M: Machine>(&mut self, m: &mut M, id: RequestId, req: &HttpRequest, reply: Reply) {
        self.serial += 1;
        let resp = match reply {
            Reply::Plausible => plausible(req, self.serial),
            Reply::Mutated(mutations) => {
                let mut resp = plausible(req, self.serial);
                resp.body = mutate(&String::from_utf8_lossy(&resp.body), &mutations);
                resp
            }
            Reply::Fixture {
                index,
                status,
                headers,
                mutations,
            } => HttpResponse::new(
                status_from_byte(status),
                headers_from_bits(headers),
                mutate(FIXTURES[usize::from(index) % FIXTURES.len()], &mutations),
            ),
            Reply::Raw {
                status,
                headers,
                body,
            } => HttpResponse::new(status, headers, body),
            Reply::Fail(kind) => {
                m.handle_failure(self.now, id, kind.failure());
                return;
            }
        };
        m.handle_response(self.now, id, resp);
    }

    /// Drains requests and events; answers loads, locks and listens at once. `Some` with the
    /// result once the machine is done.
    fn drain<M: Extra>(
        &mut self,
        m: &mut M,
        u: &mut Unstructured<'_>,
    ) -> Option<mcpauth_core::Result<M::Output>> {
        let mut n = 0;
        loop {
            n += 1;
            assert!(
                n <= MAX_DRAIN,
                "the machine yields requests or events without end"
            );
            if let Some(sent) = m.poll_transmit() {
                self.out.push(sent);
                continue;
            }
            let event = m.poll_event()?;
            match event {
                Event::Load { key } => {
                    let stored = u.arbitrary::<Stored>().unwrap_or(Stored::Actual);
                    let record = self.load(&key, stored);
                    m.handle_loaded(self.now, &key, record);
                }
                Event::Save { key, record } => {
                    assert_readable(&key, &record);
                    self.store.insert(key, record);
                }
                Event::Delete { key } => {
                    self.store.remove(&key);
                }
                Event::Lock { .. } => m.handle_locked(self.now),
                Event::Listen { port, path, .. } => {
                    let port = port.unwrap_or(50000);
                    m.listened(self.now, &format!("http://127.0.0.1:{port}{path}"));
                }
                Event::Authorize { url } => self.authorize = Some(url),
                Event::Done(result) => {
                    assert!(m.poll_event().is_none(), "an event after Done");
                    return Some(result);
                }
                _ => {}
            }
        }
    }

    fn load(&self, key: &str, stored: Stored) -> Option<String> {
        let actual = self.store.get(key).cloned();
        match stored {
            Stored::Actual => actual,
            Stored::Missing => None,
            Stored::Mutated(mutations) => {
                actual.map(|r| String::from_utf8_lossy(&mutate(&r, &mutations)).into_owned())
            }
            Stored::Raw(s) => Some(s),
        }
    }
}

/// What the machine saves must read back: a record it cannot read would be lost.
fn assert_readable(key: &str, record: &str) {
    if key.starts_with("grant#") {
        assert!(
            GrantRecord::parse(key, record).is_ok(),
            "unreadable grant saved: {record}"
        );
    } else if key.starts_with("pending#") {
        assert!(
            PendingLogin::parse(key, record).is_ok(),
            "unreadable pending login saved"
        );
    } else if key.starts_with("client#") {
        assert!(
            serde_json::from_str::<RegistrationRecord>(record).is_ok(),
            "unreadable registration saved: {record}"
        );
    }
}

/// The redirect of `kind` for the authorization URL `url`.
#[must_use]
pub fn callback_for(url: &str, kind: &CallbackKind) -> String {
    let Ok(url) = url::Url::parse(url) else {
        return String::new();
    };
    let query: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
    let redirect = query.get("redirect_uri").cloned().unwrap_or_default();
    let state = query.get("state").cloned().unwrap_or_default();
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let state = enc(&state);
    let iss = enc(ISSUER);
    match kind {
        CallbackKind::Proper => format!("{redirect}?code=c0de&state={state}&iss={iss}"),
        CallbackKind::NoIss => format!("{redirect}?code=c0de&state={state}"),
        CallbackKind::OtherIss => {
            format!("{redirect}?code=c0de&state={state}&iss=https%3A%2F%2Fevil.example")
        }
        CallbackKind::WrongState => format!("{redirect}?code=c0de&state=forged&iss={iss}"),
        CallbackKind::Denied => format!("{redirect}?error=access_denied&state={state}&iss={iss}"),
        CallbackKind::Raw(s) => s.clone(),
    }
}

/// The login configuration of the machine targets: a browser login (loopback redirect) or
/// a device login, to [`MCP`].
#[must_use]
pub fn login_config(device: bool) -> LoginConfig {
    let mut config = LoginConfig::new(MCP);
    config.redirect = if device {
        Redirect::Device
    } else {
        Redirect::Loopback { port: None }
    };
    config
}

/// When the machine targets start.
pub const START: Time = Time::from_unix_secs(1_000_000);

/// The store a plausible browser login leaves (its grant and registration), computed once:
/// the access, logout and protected-request targets start from a real grant.
pub fn logged_in() -> &'static (BTreeMap<String, String>, Grant) {
    static STORE: OnceLock<(BTreeMap<String, String>, Grant)> = OnceLock::new();
    STORE.get_or_init(|| {
        let mut entropy = |b: &mut [u8]| b.fill(7);
        let mut login =
            Login::new(login_config(false), START, &mut entropy).expect("the login starts");
        let mut driver = Driver::new(START, BTreeMap::new());
        let outcome = driver
            .run_plausibly(&mut login)
            .expect("a plausible login succeeds");
        (driver.store, outcome.grant)
    })
}

impl Driver {
    /// Runs `m` with every request answered plausibly and the redirect proper.
    ///
    /// # Errors
    /// The machine's.
    pub fn run_plausibly<M: Extra>(&mut self, m: &mut M) -> mcpauth_core::Result<M::Output> {
        for _ in 0..MAX_STEPS {
            if let Some(done) = self.drain(m, &mut Unstructured::new(&[])) {
                return done;
            }
            if let Some((id, req)) = self.out.pop() {
                self.reply(m, id, &req, Reply::Plausible);
            } else if let Some(url) = self.authorize.take() {
                m.callback(self.now, &callback_for(&url, &CallbackKind::Proper));
            } else if let Some(at) = m.poll_timeout() {
                self.now = self.now.max(at);
                m.handle_timeout(self.now);
            }
        }
        panic!("a plausible run did not end");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plausible_login_stores_a_grant() {
        let (store, grant) = logged_in();
        assert_eq!(grant.issuer, ISSUER);
        assert!(store.keys().any(|k| k.starts_with("grant#")), "{store:?}");
        assert!(store.keys().any(|k| k.starts_with("client#")), "{store:?}");
    }

    #[test]
    fn a_plausible_device_login_succeeds() {
        let mut entropy = |b: &mut [u8]| b.fill(7);
        let mut login = Login::new(login_config(true), START, &mut entropy).unwrap();
        let mut driver = Driver::new(START, BTreeMap::new());
        driver.run_plausibly(&mut login).unwrap();
    }

    #[test]
    fn an_empty_script_winds_every_machine_down() {
        let mut entropy = |b: &mut [u8]| b.fill(7);
        let mut login = Login::new(login_config(false), START, &mut entropy).unwrap();
        let err = Driver::new(START, BTreeMap::new())
            .run(&mut login, &mut Unstructured::new(&[]))
            .unwrap_err();
        assert!(!err.code().is_empty());
    }
}
