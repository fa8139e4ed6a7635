//! A development OAuth 2.1 authorization server with a protected MCP endpoint, for mcpauth's
//! integration tests and README demo. Not for production: it keeps everything in memory,
//! speaks plain http on 127.0.0.1, knows one user, and signs nothing (it only verifies the
//! ES256 signatures of DPoP proofs and client and grant assertions).
//!
//! On one origin it serves `/mcp` (401/403 challenges, `initialize`, `tools/list`,
//! `tools/call`, `ping`; `POST`, plus `DELETE` for sessions), the RFC 9728 resource metadata, and an AS: RFC 8414 metadata, RFC 7591
//! registration, `/authorize` with PKCE S256 and RFC 9207 `iss`, `/token` (code, refresh with
//! rotation and reuse detection, RFC 8628 device code, RFC 8693 token exchange, RFC 6749 §4.4
//! client credentials, RFC 7523 jwt-bearer), RFC 7009 revocation and `/userinfo`. The AS can
//! also live on a second port or under a path issuer. [`Faults`] make it misbehave; [`Stats`]
//! count what clients did.
//!
//! Some rules hold without any fault, because clients meet them on real servers: a
//! dynamically registered client may only use the code and device code grants it registered
//! (`400 unauthorized_client` otherwise, and no `grant_types` means RFC 7591's default,
//! `authorization_code` alone), codes are single use, and refresh tokens rotate with reuse
//! detection.
//!
//! # DPoP
//!
//! DPoP (RFC 9449) is on whenever a client uses it, so clients that do not are served as
//! before. A token request with a `DPoP` header must carry a valid proof (`typ` `dpop+jwt`,
//! `alg` ES256, a public `jwk` in the header, `htm`/`htu` of the request, `iat` within five
//! minutes of the client's or the server's clock, a `jti` never seen before), else
//! `400 invalid_dpop_proof`; its tokens are then `token_type: DPoP`, bound to the key's RFC 7638
//! thumbprint, and a bound refresh token only refreshes with a proof by the same key. `/mcp`
//! takes a bound token only as `Authorization: DPoP <token>` with a proof by that key for the
//! request (with `ath`), else `401` with `WWW-Authenticate: DPoP error="invalid_token",
//! error_description="…", algs="ES256", resource_metadata="…"`; a bearer token must stay
//! `Bearer`. The AS metadata states `dpop_signing_alg_values_supported: ["ES256"]`. Counted in
//! [`Stats::dpop_proofs_accepted`] and the counters after it.
//!
//! # Logins without a user
//!
//! The client credentials grant (RFC 6749 §4.4) is for confidential clients: pre-registered
//! ones with a secret (`client_secret_basic` or `client_secret_post`) or a public key
//! (`private_key_jwt`: an ES256 `client_assertion` with `iss` = `sub` = the client id, `aud`
//! the issuer or the token endpoint, `exp`, and a `jti` never used before), and dynamically
//! registered ones that listed `client_credentials` in `grant_types`. The jwt-bearer grant
//! (RFC 7523 §2.1, for workload identity) takes an ES256 `assertion` from a trusted issuer
//! ([`Config::trusted_issuers`], [`DevServerHandle::trust_issuer`], `POST /_dev/issuers`) with
//! `sub`, `aud` the issuer or the token endpoint, `exp`, and a `jti` if any not seen before;
//! the client may stay anonymous. Neither grant issues a refresh token. Both take `scope`
//! (`mcp:read` when left out) and `resource` (the token works at `/mcp` only when it names
//! it, as with the other grants), and both bind to a DPoP key as above. From another process:
//!
//! ```text
//! POST /_dev/clients {"client_id":"svc","token_endpoint_auth_method":"client_secret_basic","client_secret":"s3cret"}
//! POST /_dev/clients {"client_id":"svc-post","token_endpoint_auth_method":"client_secret_post","client_secret":"s3cret"}
//! POST /_dev/clients {"client_id":"svc-jwt","token_endpoint_auth_method":"private_key_jwt",
//!                     "jwk":{"kty":"EC","crv":"P-256","x":"…","y":"…"}}
//! POST /_dev/issuers {"issuer":"https://idp.workload.example","jwk":{"kty":"EC","crv":"P-256","x":"…","y":"…"}}
//! ```
//!
//! # Faults
//!
//! All off by default; set them in [`Config::faults`], with [`DevServerHandle::set_faults`],
//! or with `POST /_dev/faults` and a JSON object holding only the fields to change:
//!
//! - transport, each aimed at a list of [`Endpoint`]s: [`Faults::latency_ms`] (every
//!   endpoint), [`Faults::stall`], [`Faults::trickle`], [`Faults::server_error`],
//!   [`Faults::malformed_json`], [`Faults::oversized`], [`Faults::redirect`],
//!   [`Faults::huge_body`], [`Faults::endless_body`], [`Faults::status_error`] (any status
//!   per endpoint), [`Faults::html_body`], [`Faults::wrong_types`];
//! - discovery: [`Faults::wrong_issuer`], [`Faults::wrong_resource`],
//!   [`Faults::omit_code_challenge_methods`], [`Faults::empty_authorization_servers`],
//!   [`Faults::plain_code_challenge_only`], [`Faults::cleartext_endpoints`],
//!   [`Faults::as_metadata_only_at`], [`Faults::issuer_trailing_slash`],
//!   [`Faults::prm_issuer_trailing_slash`];
//! - registration: [`Faults::one_grant_type_per_client`], [`Faults::refuse_registration`],
//!   [`Faults::registration_response_fields`];
//! - authorization: [`Faults::omit_iss`], [`Faults::wrong_iss`],
//!   [`Faults::error_redirect_without_iss`], [`Faults::deny_authorization`],
//!   [`Faults::iss_trailing_slash`], [`Faults::wrong_state`];
//! - tokens: [`Faults::access_token_ttl_ms`], [`Faults::refresh_token_ttl_ms`],
//!   [`Faults::revoke_access_token_on_refresh`], [`Faults::lose_refresh_response`] (the
//!   refresh is carried out, its answer lost), [`Faults::refresh_without_rotation`],
//!   [`Faults::token_response_fields`];
//! - the MCP endpoint: [`Faults::persistent_401`], [`Faults::oversized_www_authenticate`],
//!   [`Faults::www_authenticate`], [`Faults::endless_step_up`];
//! - the MCP transport: [`Faults::sse_responses`] (answers as event streams, each with a log
//!   notification before the response), [`Faults::sessions`] (`Mcp-Session-Id` from
//!   `initialize` on, `DELETE /mcp` ends it);
//! - the device flow (RFC 8628): [`Faults::device_slow_down`], [`Faults::device_interval`],
//!   [`Faults::device_omit_interval`], [`Faults::device_expires_in`], [`Faults::device_deny`],
//!   [`Faults::device_expire`];
//! - DPoP (RFC 9449): [`Faults::dpop_nonce_token`] (the token endpoint wants a server
//!   nonce: `400 use_dpop_nonce` with `DPoP-Nonce`), [`Faults::dpop_nonce_resource`] (`/mcp`
//!   wants one: `401 DPoP error="use_dpop_nonce"` with `DPoP-Nonce`),
//!   [`Faults::dpop_downgrade`] (`token_type: Bearer`, unbound, though a proof was sent).
//!
//! # Time
//!
//! Time is an input here too: every lifetime the server enforces (codes, access and refresh
//! tokens, device codes, the device poll interval) runs on one injected clock, the system
//! clock plus an offset that only moves forward. A test advances it with
//! [`DevServerHandle::advance_clock`] instead of sleeping until a token expires or a device
//! poll interval passes.
//!
//! # Dev endpoints
//!
//! On every listener, for tests that drive the server from another process or language
//! (none of them is counted in [`Stats`]):
//!
//! | request | body | answer |
//! |---|---|---|
//! | `GET /_dev/stats` | | [`Stats`] as JSON |
//! | `POST /_dev/reset` | | zero the stats and restore [`Config::faults`] |
//! | `GET /_dev/faults` | | [`Faults`] as JSON |
//! | `POST /_dev/faults` | [`Faults`] as JSON, missing fields off | |
//! | `GET /_dev/clock` | | `{"now_ms": N}`, Unix milliseconds on the server's clock |
//! | `POST /_dev/clock` | `{"advance_ms": N}` | `{"now_ms": N}` after the advance |
//! | `GET /_dev/secrets` | | every secret value issued or received, as a JSON array ([`DevServerHandle::secrets`]) |
//! | `POST /_dev/clients` | [`DevClient`] as JSON | `204`, or `400 {"error": why}`: pre-register (or replace) a client, as [`DevServerHandle::register_client`] |
//! | `POST /_dev/issuers` | `{"issuer": ISS, "jwk": {…}}` (a P-256 public JWK) | `204`, or `400 {"error": why}`: trust that issuer's jwt-bearer assertions ([`DevServerHandle::trust_issuer`]) |
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use mcpauth_devserver::{Config, DevServer};
//!
//! let server = DevServer::start(Config { auto_approve: true, ..Config::default() }).await?;
//! println!("MCP endpoint: {}", server.mcp_url);
//! // ... drive a client against it ...
//! assert_eq!(server.stats().refresh_reuse_detected, 0);
//! server.shutdown().await;
//! # Ok(()) }
//! ```

mod assertion;
mod authorize;
mod clock;
mod dev_clients;
mod device;
mod dpop;
mod faults;
mod jws;
mod mcp;
mod metadata;
mod register;
mod sessions;
mod state;
mod token;

use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use assertion::TrustedIssuer;
pub use clock::MAX_CLOCK_ADVANCE;
pub use dev_clients::DevClient;
pub use faults::{
    Endpoint, Faults, GROWING_SCOPE_PREFIX, HUGE_BODY_BYTES, InjectedError, OVERSIZED_BYTES,
    OVERSIZED_CHALLENGE_BYTES, REDIRECTED_MARKER, StepUpLoop, TRICKLE_INTERVAL,
};
pub use jws::PublicJwk;
pub use register::{ClientAuth, RegisteredClient};
pub use state::Stats;

use state::{App, Shared, Urls};

/// How to run the server. `Config::default()` is an ephemeral port, manual consent, 1 h
/// access tokens, a 5 s device interval, and no faults.
#[derive(Debug, Clone)]
pub struct Config {
    /// Port of the MCP origin on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Serve the AS from its own listener on this port (0 picks a free one). `None` serves it
    /// from the MCP origin.
    pub as_port: Option<u16>,
    /// Path of the issuer, such as `/tenant1` for issuer `http://127.0.0.1:P/tenant1`. Empty
    /// for an issuer without a path. The AS metadata is then only at the path-aware
    /// well-known URLs, so a client that tries the root form hits a 404 (see
    /// [`Stats::not_found`]).
    pub issuer_path: String,
    /// Approve authorization requests without a consent page, and device grants on their
    /// first poll.
    pub auto_approve: bool,
    /// Lifetime of access tokens.
    pub access_token_ttl: Duration,
    /// Issue refresh tokens only when `offline_access` was granted. Off: always issue one.
    pub refresh_requires_offline_access: bool,
    /// The `interval` of device authorization responses, and the poll rate enforced with
    /// `slow_down`.
    pub device_interval: Duration,
    /// Lifetime of device codes.
    pub device_code_ttl: Duration,
    /// The `scope` of the plain 401 challenge; `None` leaves it out.
    pub challenge_scope: Option<String>,
    /// Pre-registered clients.
    pub static_clients: Vec<RegisteredClient>,
    /// Issuers whose signed assertions the jwt-bearer grant (RFC 7523 §2.1) accepts.
    pub trusted_issuers: Vec<TrustedIssuer>,
    /// Faults in force from the start (and after a reset).
    pub faults: Faults,
    /// Print one line per request to stderr.
    pub log_requests: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            port: 0,
            as_port: None,
            issuer_path: String::new(),
            auto_approve: false,
            access_token_ttl: Duration::from_secs(3600),
            refresh_requires_offline_access: false,
            device_interval: Duration::from_secs(5),
            device_code_ttl: Duration::from_secs(600),
            challenge_scope: Some("mcp:read".into()),
            static_clients: Vec::new(),
            trusted_issuers: Vec::new(),
            faults: Faults::default(),
            log_requests: false,
        }
    }
}

/// Starts dev servers; see [`DevServer::start`].
#[derive(Debug)]
pub struct DevServer;

impl DevServer {
    /// Bind the listener(s) on 127.0.0.1 and serve in the background on the current tokio
    /// runtime until the handle is dropped or shut down.
    ///
    /// # Errors
    /// When a port cannot be bound.
    pub async fn start(config: Config) -> io::Result<DevServerHandle> {
        let listener = TcpListener::bind(("127.0.0.1", config.port)).await?;
        let base = format!("http://{}", listener.local_addr()?);
        let as_listener = match config.as_port {
            Some(port) => Some(TcpListener::bind(("127.0.0.1", port)).await?),
            None => None,
        };
        let as_base = match &as_listener {
            Some(l) => format!("http://{}", l.local_addr()?),
            None => base.clone(),
        };
        let issuer_path = config.issuer_path.trim_end_matches('/');
        let issuer_path = match issuer_path {
            "" => String::new(),
            p if p.starts_with('/') => p.to_owned(),
            p => format!("/{p}"),
        };
        let urls = Urls {
            mcp: format!("{base}/mcp"),
            resource_metadata: format!("{base}/.well-known/oauth-protected-resource/mcp"),
            issuer: format!("{as_base}{issuer_path}"),
            base,
        };
        let (stop, stopped) = watch::channel(false);
        let app: App = Arc::new(Shared::new(config, urls.clone(), stopped.clone()));

        let mut tasks = Vec::new();
        let mcp_routes = mcp_router(&app);
        let as_routes = as_router(&app, &issuer_path);
        match as_listener {
            Some(as_listener) => {
                tasks.push(serve(listener, finish(&app, mcp_routes), stopped.clone()));
                tasks.push(serve(as_listener, finish(&app, as_routes), stopped));
            }
            None => tasks.push(serve(
                listener,
                finish(&app, mcp_routes.merge(as_routes)),
                stopped,
            )),
        }
        Ok(DevServerHandle {
            base_url: urls.base,
            mcp_url: urls.mcp,
            resource_metadata_url: urls.resource_metadata,
            issuer: urls.issuer,
            app,
            stop,
            tasks,
        })
    }
}

/// A running dev server. Dropping it stops the server; [`DevServerHandle::shutdown`] also
/// waits for it.
pub struct DevServerHandle {
    /// Origin of the MCP endpoint, such as `http://127.0.0.1:8400` (no trailing slash).
    pub base_url: String,
    /// The protected MCP endpoint, `<base_url>/mcp`; also the resource the tokens are for.
    pub mcp_url: String,
    /// `<base_url>/.well-known/oauth-protected-resource/mcp`.
    pub resource_metadata_url: String,
    /// The AS issuer (no trailing slash); its endpoints are `<issuer>/authorize` and so on.
    pub issuer: String,
    app: App,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl DevServerHandle {
    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.app.stats()
    }

    /// Zero the counters and restore the configured faults. Clients and tokens stay.
    pub fn reset(&self) {
        self.app.reset();
    }

    /// The faults in force.
    pub fn faults(&self) -> Faults {
        self.app.faults()
    }

    /// Replace the faults in force, from the next request on.
    pub fn set_faults(&self, faults: Faults) {
        self.app.set_faults(faults);
    }

    /// Add (or replace) a client, as pre-registration would. Such a client may use every
    /// grant type.
    pub fn register_client(&self, client: RegisteredClient) {
        let mut db = self.app.db();
        db.client_grants.remove(&client.client_id);
        db.clients.insert(client.client_id.clone(), client);
    }

    /// Trust `issuer`'s assertions for the jwt-bearer grant (or replace its key), as
    /// `POST /_dev/issuers` does.
    pub fn trust_issuer(&self, issuer: TrustedIssuer) {
        self.app
            .db()
            .trusted_issuers
            .insert(issuer.issuer, issuer.jwk);
    }

    /// Approve (or deny) the pending device grant with `user_code`, as the user would on the
    /// `/device` page. False if no such grant is pending.
    pub fn decide_device(&self, user_code: &str, approve: bool) -> bool {
        device::decide(&self.app, user_code, approve)
    }

    /// Every secret value this server has issued or been sent: access and refresh tokens,
    /// authorization and device codes, client secrets, and the clients' `state` and PKCE
    /// `code_verifier` values; for tests that prove none of them reaches a log or a message.
    /// Also `GET /_dev/secrets`.
    pub fn secrets(&self) -> Vec<String> {
        self.app.secrets()
    }

    /// Make every access token issued so far expire now (refresh tokens stay valid).
    pub fn expire_access_tokens(&self) {
        self.app.db().access.clear();
    }

    /// Move the server's clock forward by `by` (in total at most [`MAX_CLOCK_ADVANCE`]), as
    /// `POST /_dev/clock` does. Everything with a lifetime ages by `by` at once, so a test
    /// can expire a one-hour token or let a device poll interval pass without sleeping.
    /// The clock never goes back, not even on [`DevServerHandle::reset`].
    pub fn advance_clock(&self, by: Duration) {
        self.app.clock.advance(by);
    }

    /// The server's wall-clock time: the system time plus every advance so far.
    pub fn server_time(&self) -> SystemTime {
        self.app.clock.system_now()
    }

    /// Stop accepting requests, end stalled ones, and wait (up to 2 s) for the server tasks.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl std::fmt::Debug for DevServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevServerHandle")
            .field("mcp_url", &self.mcp_url)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl Drop for DevServerHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn serve(
    listener: TcpListener,
    router: Router,
    mut stopped: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let signal = async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    tokio::spawn(async move {
        let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        let _ = axum::serve(listener, service)
            .with_graceful_shutdown(signal)
            .await;
    })
}

/// Wrap a route in the counting and fault middleware for `endpoint`.
fn endpoint(app: &App, endpoint: Endpoint, route: MethodRouter<App>) -> MethodRouter<App> {
    route.layer(middleware::from_fn_with_state(
        (app.clone(), endpoint),
        faults::middleware,
    ))
}

fn mcp_router(app: &App) -> Router<App> {
    Router::new()
        .route(
            "/mcp",
            endpoint(app, Endpoint::Mcp, post(mcp::mcp).delete(sessions::end)),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            endpoint(
                app,
                Endpoint::ResourceMetadata,
                get(metadata::protected_resource),
            ),
        )
}

/// The AS routes, under `prefix` (the issuer path), with the metadata at each well-known URL
/// RFC 8414 §3.1 and OpenID Discovery imply for that issuer.
fn as_router(app: &App, prefix: &str) -> Router<App> {
    let metadata_urls = if prefix.is_empty() {
        vec![
            "/.well-known/oauth-authorization-server".to_owned(),
            "/.well-known/openid-configuration".to_owned(),
        ]
    } else {
        vec![
            format!("/.well-known/oauth-authorization-server{prefix}"),
            format!("/.well-known/openid-configuration{prefix}"),
            format!("{prefix}/.well-known/openid-configuration"),
        ]
    };
    let mut router = Router::new();
    for url in metadata_urls {
        let route = get(metadata::authorization_server);
        router = router.route(
            &url,
            endpoint(app, Endpoint::AuthorizationServerMetadata, route),
        );
    }
    use Endpoint as E;
    let routes = [
        ("/authorize", E::Authorize, get(authorize::authorize)),
        ("/authorize/approve", E::Authorize, post(authorize::decide)),
        ("/token", E::Token, post(token::token)),
        ("/register", E::Register, post(register::register)),
        ("/register/v2", E::Register, post(register::register_moved)),
        ("/revoke", E::Revoke, post(token::revoke)),
        (
            "/device_authorization",
            E::DeviceAuthorization,
            post(device::device_authorization),
        ),
        ("/device", E::Device, get(device::device_page)),
        ("/device/approve", E::Device, post(device::device_decide)),
        (
            "/userinfo",
            E::Userinfo,
            get(token::userinfo).post(token::userinfo),
        ),
    ];
    for (path, which, route) in routes {
        router = router.route(&format!("{prefix}{path}"), endpoint(app, which, route));
    }
    router
}

/// Add the `/_dev` routes, the counting 404, permissive CORS, and the state.
fn finish(app: &App, router: Router<App>) -> Router {
    router
        .route("/_dev/stats", get(dev_stats))
        .route("/_dev/reset", post(dev_reset))
        .route("/_dev/faults", get(dev_faults).post(dev_set_faults))
        .route("/_dev/clock", get(dev_clock).post(dev_advance_clock))
        .route("/_dev/secrets", get(dev_secrets))
        .route("/_dev/clients", post(dev_clients::register))
        .route("/_dev/issuers", post(dev_clients::trust))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), cors_and_log))
        .with_state(app.clone())
}

async fn dev_stats(State(app): State<App>) -> Json<Stats> {
    Json(app.stats())
}

async fn dev_secrets(State(app): State<App>) -> Json<Vec<String>> {
    Json(app.secrets())
}

async fn dev_reset(State(app): State<App>) {
    app.reset();
}

async fn dev_faults(State(app): State<App>) -> Json<Faults> {
    Json(app.faults())
}

async fn dev_set_faults(State(app): State<App>, Json(faults): Json<Faults>) {
    app.set_faults(faults);
}

/// The body of `GET /_dev/clock` and of the answer to `POST /_dev/clock`.
#[derive(Debug, Serialize)]
struct ClockReading {
    /// Milliseconds since the Unix epoch on the server's clock.
    now_ms: u64,
}

/// The body of `POST /_dev/clock`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockAdvance {
    /// How far to move the clock forward.
    advance_ms: u64,
}

async fn dev_clock(State(app): State<App>) -> Json<ClockReading> {
    Json(ClockReading {
        now_ms: app.clock.unix_millis(),
    })
}

async fn dev_advance_clock(
    State(app): State<App>,
    Json(advance): Json<ClockAdvance>,
) -> Json<ClockReading> {
    app.clock.advance(Duration::from_millis(advance.advance_ms));
    dev_clock(State(app)).await
}

async fn not_found(State(app): State<App>, request: Request) -> StatusCode {
    app.record(|s| {
        s.total_requests += 1;
        s.not_found.push(request.uri().path().to_owned());
    });
    StatusCode::NOT_FOUND
}

/// Answer CORS preflights and allow any origin, so browser (wasm) clients can use the
/// server; log the request if configured.
async fn cors_and_log(State(app): State<App>, request: Request, next: Next) -> Response {
    if let Some(ConnectInfo(peer)) = request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
    {
        let agent = request.headers().get(header::USER_AGENT);
        app.connection(
            *peer,
            &String::from_utf8_lossy(agent.map_or(&b""[..], |a| a.as_bytes())),
        );
    }
    let line = format!("{} {}", request.method(), request.uri());
    // `Access-Control-Allow-Headers: *` does not cover Authorization, so echo the request.
    let asked_headers = request
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned();
    let mut response = if request.method() == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    let any = HeaderValue::from_static("*");
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, any.clone());
    if let Some(asked) = asked_headers {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked);
    }
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, any);
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("www-authenticate, mcp-session-id, dpop-nonce"),
    );
    if app.config.log_requests {
        eprintln!("{line} -> {}", response.status().as_u16());
    }
    response
}
