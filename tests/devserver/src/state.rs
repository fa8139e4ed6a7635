//! Shared server state: clients, grants and tokens, counters, and small helpers used by every
//! endpoint (form parsing, OAuth error bodies, random values).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::watch;

use crate::Config;
use crate::clock::{Clock, deadline};
use crate::faults::{Endpoint, Faults};
use crate::jws::PublicJwk;
use crate::register::{ClientAuth, RegisteredClient};

/// Request counters, as served by `GET /_dev/stats` and [`crate::DevServerHandle::stats`].
///
/// The JSON object has one member per field, under the field's name, and every member is
/// always there (zero or empty when nothing happened), so a test in any language can read a
/// counter without checking that it exists. Counters are only ever added, never renamed.
/// `requests` is keyed by the snake_case [`Endpoint`] names and `token_grants` by
/// `grant_type` as sent; `not_found` lists paths in arrival order. For example:
///
/// ```json
/// { "total_requests": 9,
///   "requests": { "authorization_server_metadata": 1, "register": 1, "token": 2, ... },
///   "token_grants": { "authorization_code": 1, "refresh_token": 1 },
///   "refreshes": 1, "refresh_reuse_detected": 0, "revocations": 0, "registrations": 1,
///   ..., "not_found": [] }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    /// Every request, including unknown paths (but not `/_dev/*`).
    pub total_requests: u64,
    /// Requests per endpoint, counted before any fault is applied.
    pub requests: BTreeMap<Endpoint, u64>,
    /// `/token` requests per `grant_type` value, as sent.
    pub token_grants: BTreeMap<String, u64>,
    /// `/token` requests with `grant_type=refresh_token`, successful or not.
    pub refreshes: u64,
    /// Refresh tokens presented a second time; each one revoked a whole grant family.
    pub refresh_reuse_detected: u64,
    /// `/revoke` requests that revoked one of the client's tokens: a refresh token (with
    /// its whole grant family) or an access token. Unknown tokens, which RFC 7009 §2.2 also
    /// answers with 200, do not count.
    pub revocations: u64,
    /// Access tokens revoked by successful refreshes under
    /// [`Faults::revoke_access_token_on_refresh`].
    pub access_tokens_revoked_on_refresh: u64,
    /// Successful dynamic client registrations.
    pub registrations: u64,
    /// Dynamic client registrations answered with an error (such as the
    /// `invalid_client_metadata` of [`Faults::one_grant_type_per_client`]).
    pub registrations_refused: u64,
    /// Token and device authorization requests refused with `unauthorized_client`, because
    /// the client did not register that grant type.
    pub unauthorized_client: u64,
    /// Fetches of the AS metadata, under any of its well-known URLs.
    pub metadata_fetches: u64,
    /// Fetches of the protected resource metadata.
    pub resource_metadata_fetches: u64,
    /// Authorization requests answered by an error redirect (`access_denied`,
    /// `invalid_scope`, an injected [`Faults::deny_authorization`], ...).
    pub authorization_error_redirects: u64,
    /// `/mcp` requests answered 401.
    pub mcp_unauthorized: u64,
    /// Access tokens issued, by any grant.
    pub tokens_issued: u64,
    /// `/mcp` answers sent as `text/event-stream`, under [`Faults::sse_responses`].
    pub mcp_sse_responses: u64,
    /// Sessions begun: `initialize` answers carrying a new `Mcp-Session-Id`, under
    /// [`Faults::sessions`].
    pub sessions_started: u64,
    /// Sessions ended by a `DELETE /mcp` that named a live one.
    pub sessions_ended: u64,
    /// `POST /mcp` requests (other than `initialize`) that carried a live session id.
    pub session_requests: u64,
    /// `/mcp` requests refused for their session id: missing (`400`), or unknown or ended
    /// (`404`).
    pub sessions_refused: u64,
    /// Paths that matched no route (a client probing the wrong well-known URL shows up here).
    pub not_found: Vec<String>,
    /// Secrets sent where they must not go, one line each, naming the endpoint and what
    /// leaked but never the value: an `Authorization` header on a metadata, registration or
    /// authorization request, an access token (`Bearer` or `DPoP` scheme) on a token, device or
    /// revocation request, and any token, code or device code this server issued appearing in
    /// a request's URL. A `DPoP`
    /// proof header is no leak anywhere: it holds a public key and at most a token's hash.
    /// Empty for a client that keeps its secrets; the parity runners assert that for every
    /// scenario.
    pub leaks: Vec<String>,
    /// Device polls that came before the device code's interval (10% leeway) had passed,
    /// each answered `slow_down`. Zero for a client that keeps RFC 8628's pace, `slow_down`
    /// raises included.
    pub device_polls_too_fast: u64,
    /// Refreshes carried out whose answer was lost under [`Faults::lose_refresh_response`].
    pub refresh_responses_lost: u64,
    /// `403 insufficient_scope` answers sent under [`crate::Faults::endless_step_up`].
    pub step_up_challenges: u64,
    /// DPoP proofs (RFC 9449) the token and MCP endpoints accepted: well formed, signed by
    /// the key in their header, for this request, fresh, not replayed, with the nonce when
    /// one is required.
    pub dpop_proofs_accepted: u64,
    /// DPoP proofs refused as invalid (answered `invalid_dpop_proof` at the token endpoint,
    /// `DPoP error="invalid_token"` at the MCP endpoint), replays included; a proof that
    /// lacked a required nonce counts in [`Stats::dpop_nonce_challenges`] instead.
    pub dpop_proofs_refused: u64,
    /// DPoP proofs refused because their `jti` was seen before (RFC 9449 §11.1).
    pub dpop_replays_refused: u64,
    /// `use_dpop_nonce` answers sent under [`crate::Faults::dpop_nonce_token`] and
    /// [`crate::Faults::dpop_nonce_resource`].
    pub dpop_nonce_challenges: u64,
    /// Client assertions (`private_key_jwt`) and jwt-bearer grant assertions refused: a bad
    /// signature, an unknown issuer, a wrong audience, expired, or replayed.
    pub assertions_refused: u64,
    /// TCP connections that carried a request, by the `User-Agent` of their first request
    /// (`""` without one): a client that shares one connection pool between its logins and
    /// its MCP requests opens no new connection for them.
    pub connections: BTreeMap<String, u64>,
}

impl Stats {
    /// Requests counted for `endpoint`.
    pub fn requests_to(&self, endpoint: Endpoint) -> u64 {
        self.requests.get(&endpoint).copied().unwrap_or(0)
    }

    /// `/token` requests counted for `grant_type`.
    pub fn token_requests(&self, grant_type: &str) -> u64 {
        self.token_grants.get(grant_type).copied().unwrap_or(0)
    }
}

/// URLs derived from the bound ports and the configured issuer path. None ends with `/`.
#[derive(Debug, Clone)]
pub(crate) struct Urls {
    /// Origin of the MCP endpoint, e.g. `http://127.0.0.1:8400`.
    pub base: String,
    /// The protected MCP endpoint and the canonical resource, `<base>/mcp`.
    pub mcp: String,
    /// RFC 9728 metadata URL for `/mcp`.
    pub resource_metadata: String,
    /// The AS issuer; its endpoints are `<issuer>/token` and so on.
    pub issuer: String,
}

pub(crate) type App = Arc<Shared>;

/// Everything the handlers share.
pub(crate) struct Shared {
    pub config: Config,
    pub urls: Urls,
    /// The one source of time for every lifetime and timestamp; see [`Clock`].
    pub clock: Clock,
    faults: Mutex<Faults>,
    stats: Mutex<Stats>,
    db: Mutex<Db>,
    shutdown: watch::Receiver<bool>,
    /// The peers (client address and port) that have sent a request: a new one is a new
    /// connection, counted in [`Stats::connections`].
    peers: Mutex<std::collections::HashSet<std::net::SocketAddr>>,
}

impl Shared {
    pub fn new(config: Config, urls: Urls, shutdown: watch::Receiver<bool>) -> Self {
        let mut db = Db::default();
        for client in &config.static_clients {
            db.clients.insert(client.client_id.clone(), client.clone());
        }
        for trusted in &config.trusted_issuers {
            db.trusted_issuers
                .insert(trusted.issuer.clone(), trusted.jwk.clone());
        }
        Self {
            faults: Mutex::new(config.faults.clone()),
            config,
            urls,
            clock: Clock::default(),
            stats: Mutex::default(),
            db: Mutex::new(db),
            shutdown,
            peers: Mutex::default(),
        }
    }

    pub fn db(&self) -> MutexGuard<'_, Db> {
        lock(&self.db)
    }

    /// The server's now, from [`Shared::clock`].
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// When tokens issued now expire: [`Config::access_token_ttl`] unless
    /// [`Faults::access_token_ttl_ms`] overrides it, and [`Faults::refresh_token_ttl_ms`].
    pub fn lifetimes(&self) -> Lifetimes {
        let faults = self.faults();
        Lifetimes {
            now: self.now(),
            access: faults
                .access_token_ttl_ms
                .map_or(self.config.access_token_ttl, Duration::from_millis),
            refresh: faults.refresh_token_ttl_ms.map(Duration::from_millis),
        }
    }

    pub fn faults(&self) -> Faults {
        lock(&self.faults).clone()
    }

    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.faults) = faults;
    }

    /// Every secret issued or received: see [`crate::DevServerHandle::secrets`].
    pub fn secrets(&self) -> Vec<String> {
        let db = self.db();
        let client_secrets = db.clients.values().filter_map(|c| match &c.auth {
            ClientAuth::ClientSecretBasic(secret) | ClientAuth::ClientSecretPost(secret) => {
                Some(secret.clone())
            }
            ClientAuth::None | ClientAuth::PrivateKeyJwt(_) => None,
        });
        let mut all: Vec<String> = db
            .issued_secrets
            .iter()
            .chain(&db.client_secrets_seen)
            .cloned()
            .chain(client_secrets)
            .collect();
        all.sort();
        all.dedup();
        all
    }

    pub fn stats(&self) -> Stats {
        lock(&self.stats).clone()
    }

    pub fn record(&self, update: impl FnOnce(&mut Stats)) {
        update(&mut lock(&self.stats));
    }

    /// Counts the connection from `peer` in [`Stats::connections`] under `agent`, unless it
    /// has carried a request before.
    pub fn connection(&self, peer: std::net::SocketAddr, agent: &str) {
        if lock(&self.peers).insert(peer) {
            self.record(|s| *s.connections.entry(agent.to_owned()).or_default() += 1);
        }
    }

    /// Zero the counters and restore the configured faults; clients, grants and the clock
    /// stay.
    pub fn reset(&self) {
        *lock(&self.stats) = Stats::default();
        self.set_faults(self.config.faults.clone());
    }

    /// Resolves when the server is shutting down (or its handle was dropped).
    pub async fn shutting_down(&self) {
        let mut rx = self.shutdown.clone();
        let _ = rx.wait_for(|stop| *stop).await;
    }

    /// Whether the server is shutting down (or its handle was dropped), without waiting.
    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow() || self.shutdown.has_changed().is_err()
    }
}

/// A std mutex that shrugs off poisoning: a panicking handler must not wedge the test server.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a user approved: the basis of codes, device grants and tokens.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub client_id: String,
    /// Space-separated granted scope.
    pub scope: String,
    /// RFC 8707 resource: the audience of the tokens. `None` if the client sent none.
    pub resource: Option<String>,
}

impl Grant {
    pub fn has_scope(&self, wanted: &str) -> bool {
        self.scope.split(' ').any(|s| s == wanted)
    }
}

pub(crate) struct Code {
    pub grant: Grant,
    /// `redirect_uri` exactly as sent to `/authorize`, if it was sent.
    pub redirect_uri: Option<String>,
    pub challenge: String,
    pub expires: Instant,
    /// Set once redeemed: a second redemption revokes this family.
    pub family: Option<u64>,
}

pub(crate) struct AccessToken {
    pub grant: Grant,
    pub expires: Instant,
    pub family: u64,
    /// The RFC 7638 thumbprint of the DPoP key the token is bound to (`cnf.jkt`, RFC 9449
    /// §6); `None` for a bearer token.
    pub jkt: Option<String>,
}

pub(crate) struct RefreshToken {
    pub grant: Grant,
    pub family: u64,
    /// Already exchanged for a new refresh token; presenting it again is reuse.
    pub rotated: bool,
    /// `None`: never expires.
    pub expires: Option<Instant>,
    /// The thumbprint of the DPoP key a refresh must prove (RFC 9449 §5); `None` if unbound.
    pub jkt: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeviceStatus {
    Pending,
    Approved,
    Denied,
}

pub(crate) struct DeviceGrant {
    pub grant: Grant,
    pub user_code: String,
    pub expires: Instant,
    pub interval: Duration,
    pub last_poll: Option<Instant>,
    pub status: DeviceStatus,
    /// `slow_down` answers sent under [`crate::Faults::device_slow_down`].
    pub forced_slow_downs: u32,
}

/// When tokens issued at `now` expire, decided once per token request so the access and
/// refresh token of one response agree.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lifetimes {
    pub now: Instant,
    /// Access token lifetime.
    pub access: Duration,
    /// Refresh token lifetime; `None` lives until revoked or rotated.
    pub refresh: Option<Duration>,
}

/// Tokens just issued, ready to be written as a token response.
pub(crate) struct Issued {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub grant: Grant,
    pub ttl: Duration,
}

/// The server's records. One mutex guards all of it, so every grant step is atomic.
#[derive(Default)]
pub(crate) struct Db {
    pub clients: HashMap<String, RegisteredClient>,
    /// The grant types each dynamically registered client registered, for
    /// [`crate::register::require_registered_grant`]. Pre-registered clients have no entry.
    pub client_grants: HashMap<String, Vec<String>>,
    pub codes: HashMap<String, Code>,
    pub access: HashMap<String, AccessToken>,
    pub refresh: HashMap<String, RefreshToken>,
    /// Keyed by device_code.
    pub devices: HashMap<String, DeviceGrant>,
    pub revoked_families: HashSet<u64>,
    /// Live `Mcp-Session-Id`s under [`Faults::sessions`]; an ended one is removed.
    pub sessions: HashSet<String>,
    /// Every access token, refresh token, authorization code and device code issued, kept
    /// after it is used or revoked, so that a leak of any of them is recognised.
    pub issued_secrets: HashSet<String>,
    next_family: u64,
    /// Every secret a client sent that the server did not issue: the `state` of each
    /// authorization request and the PKCE `code_verifier` of each code exchange, for
    /// [`DevServerHandle::secrets`](crate::DevServerHandle::secrets).
    pub client_secrets_seen: HashSet<String>,
    /// The `jti` of every DPoP proof whose signature checked out, so a replay is refused.
    pub dpop_jtis: HashSet<String>,
    /// The `jti` of every client assertion and jwt-bearer assertion accepted.
    pub assertion_jtis: HashSet<String>,
    /// The nonce DPoP proofs must carry under the nonce faults, made on first use.
    pub dpop_nonce: Option<String>,
    /// Issuers whose signed assertions the jwt-bearer grant accepts, with their keys.
    pub trusted_issuers: HashMap<String, PublicJwk>,
}

impl Db {
    pub fn new_family(&mut self) -> u64 {
        self.next_family += 1;
        self.next_family
    }

    /// Issue an access token (and a refresh token if `with_refresh`) in `family`.
    pub fn issue(
        &mut self,
        grant: Grant,
        family: u64,
        with_refresh: bool,
        lifetimes: Lifetimes,
    ) -> Issued {
        let access_token = random_token("at_");
        self.issued_secrets.insert(access_token.clone());
        let ttl = lifetimes.access;
        let expires = deadline(lifetimes.now, ttl);
        self.access.insert(
            access_token.clone(),
            AccessToken {
                grant: grant.clone(),
                expires,
                family,
                jkt: None,
            },
        );
        let refresh_token = with_refresh.then(|| {
            let token = random_token("rt_");
            self.issued_secrets.insert(token.clone());
            let record = RefreshToken {
                grant: grant.clone(),
                family,
                rotated: false,
                expires: lifetimes.refresh.map(|ttl| deadline(lifetimes.now, ttl)),
                jkt: None,
            };
            self.refresh.insert(token.clone(), record);
            token
        });
        Issued {
            access_token,
            refresh_token,
            grant,
            ttl,
        }
    }

    /// Bind the tokens just issued to the DPoP key with thumbprint `jkt` (RFC 9449 §6).
    pub fn bind(&mut self, issued: &Issued, jkt: &str) {
        if let Some(token) = self.access.get_mut(&issued.access_token) {
            token.jkt = Some(jkt.to_owned());
        }
        if let Some(token) = issued
            .refresh_token
            .as_ref()
            .and_then(|t| self.refresh.get_mut(t))
        {
            token.jkt = Some(jkt.to_owned());
        }
    }

    /// The nonce DPoP proofs must carry when a nonce fault is on, the same for the server's
    /// life.
    pub fn dpop_nonce(&mut self) -> String {
        self.dpop_nonce
            .get_or_insert_with(|| random_token("nonce_"))
            .clone()
    }

    /// A live access token at `now`: known, unexpired, and its family not revoked.
    pub fn access_token(&self, token: &str, now: Instant) -> Option<&AccessToken> {
        self.access
            .get(token)
            .filter(|t| t.expires > now && !self.revoked_families.contains(&t.family))
    }

    /// Revoke every token of a grant family (refresh reuse, code reuse, refresh revocation).
    pub fn revoke_family(&mut self, family: u64) {
        self.revoked_families.insert(family);
        self.access.retain(|_, t| t.family != family);
        self.refresh.retain(|_, t| t.family != family);
    }
}

/// Request parameters from a query string or a form body.
///
/// Empty values count as absent and a repeated name is an error (RFC 6749 §3.1).
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    pub fn parse(input: &[u8]) -> Result<Self, OAuthError> {
        let mut map = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(input) {
            if !value.is_empty() && map.insert(name.to_string(), value.into_owned()).is_some() {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {name} is repeated"
                )));
            }
        }
        Ok(Self(map))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("{name} is missing")))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter()
    }
}

/// An OAuth error response body (RFC 6749 §5.2), with `Cache-Control: no-store`.
#[derive(Debug)]
pub(crate) struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
    /// Add `WWW-Authenticate: Basic` (a 401 `invalid_client` after Basic authentication).
    pub basic_challenge: bool,
}

impl OAuthError {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        let description = description.into();
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            description,
            basic_challenge: false,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new("invalid_grant", description)
    }

    pub fn invalid_client(description: impl Into<String>, basic_challenge: bool) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            basic_challenge,
            ..Self::new("invalid_client", description)
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": self.error, "error_description": self.description }));
        let mut response =
            (self.status, [(header::CACHE_CONTROL, "no-store")], body).into_response();
        if self.basic_challenge {
            let challenge = header::HeaderValue::from_static(r#"Basic realm="mcpauth-devserver""#);
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// `prefix` + 32 random bytes, base64url.
pub(crate) fn random_token(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
    )
}

/// Escape text for HTML element content and double-quoted attributes.
pub(crate) fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A minimal HTML page.
pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1>{body}</body></html>"
    )
}
