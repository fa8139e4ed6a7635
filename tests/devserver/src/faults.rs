//! Misbehaviour switches, and the per-route middleware that counts requests and applies them.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::str::FromStr;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::state::App;

/// An endpoint of the dev server, for counting requests and aiming faults.
///
/// Serialized in snake_case (`"token"`, `"authorization_server_metadata"`), which is also what
/// the binary's `--fail`, `--stall`, `--trickle`, `--malformed` and `--oversized` switches
/// take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `POST /mcp`, the protected MCP endpoint.
    Mcp,
    /// `/.well-known/oauth-protected-resource/mcp` (RFC 9728).
    ResourceMetadata,
    /// Every well-known URL of the AS metadata (RFC 8414 and OpenID Discovery).
    AuthorizationServerMetadata,
    /// `POST /register` (RFC 7591).
    Register,
    /// `GET /authorize` and `POST /authorize/approve`.
    Authorize,
    /// `POST /token`, all grant types.
    Token,
    /// `POST /device_authorization` (RFC 8628 §3.1).
    DeviceAuthorization,
    /// `GET /device` and `POST /device/approve`, the user's side of the device flow.
    Device,
    /// `POST /revoke` (RFC 7009).
    Revoke,
    /// `GET|POST /userinfo`.
    Userinfo,
}

impl FromStr for Endpoint {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        serde_json::from_value(Value::String(name.to_owned()))
            .map_err(|_| format!("unknown endpoint {name:?}"))
    }
}

/// Ways to make the server misbehave. All off by default.
///
/// Each one copies something a real server or network does, so that a client's handling of
/// it can be tested; the crate doc groups them. Set them at start in
/// [`crate::Config::faults`], or at run time with [`crate::DevServerHandle::set_faults`] or
/// `POST /_dev/faults`: a JSON object with any of these fields under their own names
/// (endpoints in snake_case, `null` for an `Option` that is off); missing fields are off.
/// They apply from the next request on, and a reset restores the configured ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Sleep this many milliseconds before answering each request.
    pub latency_ms: u64,
    /// Accept requests to these endpoints and never answer (until shutdown), for timeout tests.
    pub stall: Vec<Endpoint>,
    /// Answer these endpoints' requests with the status and headers (with `Content-Length`)
    /// at once, then the body one byte per [`TRICKLE_INTERVAL`], so a client that only
    /// bounds the wait for headers hangs, and one with a deadline for the whole request
    /// times out. Applied after the body faults; ends early at shutdown.
    pub trickle: Vec<Endpoint>,
    /// Answer `500 {"error":"server_error"}` on these endpoints without doing anything.
    pub server_error: Vec<Endpoint>,
    /// Cut these endpoints' response bodies in half (keeping `Content-Type`), so JSON breaks.
    pub malformed_json: Vec<Endpoint>,
    /// Pad these endpoints' JSON objects with a 5 MiB `x_padding` member (other bodies get
    /// 5 MiB of trailing spaces), for response size limits.
    pub oversized: Vec<Endpoint>,
    /// AS metadata states `<issuer>/not-this-issuer` as its `issuer` (RFC 8414 §3.3 check).
    pub wrong_issuer: bool,
    /// PRM states `<base>/other-mcp` as its `resource` (RFC 9728 §3.3 check).
    pub wrong_resource: bool,
    /// Leave `iss` out of authorization responses, though the metadata promises it (RFC 9207).
    pub omit_iss: bool,
    /// Send `iss=<issuer>/not-this-issuer` in authorization responses (RFC 9207 §2.4).
    pub wrong_iss: bool,
    /// Leave `code_challenge_methods_supported` out of the AS metadata; MCP clients must refuse.
    pub omit_code_challenge_methods: bool,
    /// Refuse a dynamic registration whose `grant_types` holds more than one grant type
    /// besides `refresh_token` (such as `authorization_code` with the device code grant)
    /// with `400 invalid_client_metadata`, as some production servers do. A client then has
    /// to register once per flow.
    ///
    /// Independently of this switch, the token and device authorization endpoints always
    /// answer `400 unauthorized_client` when a dynamically registered client uses the code
    /// or device code grant without having registered it; a registration without
    /// `grant_types` has RFC 7591's default, `authorization_code` alone.
    pub one_grant_type_per_client: bool,
    /// Answer every valid `/authorize` request at once with an error redirect carrying
    /// `error=<this value>` (such as `access_denied`, as if the user had clicked Deny),
    /// `error_description` and `state`. Requests whose client or redirect URI is unknown
    /// still get the error page, since there is nowhere safe to redirect them.
    pub deny_authorization: Option<String>,
    /// Leave `iss` out of error redirects (`access_denied`, `invalid_scope`, ...) while
    /// successful ones keep it and the metadata still advertises
    /// `authorization_response_iss_parameter_supported`, as some production servers do.
    /// RFC 9207 §2 asks for `iss` on both.
    pub error_redirect_without_iss: bool,
    /// Issue access tokens for this many milliseconds instead of
    /// [`crate::Config::access_token_ttl`], from the next token response on. `expires_in`
    /// states whole seconds, so under 1000 it says 0.
    pub access_token_ttl_ms: Option<u64>,
    /// Issue refresh tokens that expire this many milliseconds after they were issued
    /// (each rotation starts a new lifetime); an expired one gets `invalid_grant`. Off:
    /// refresh tokens live until rotated or revoked.
    pub refresh_token_ttl_ms: Option<u64>,
    /// When a refresh succeeds, revoke every access token issued before it in that grant
    /// family (including exchanged ones), so `/mcp` answers 401 to the old token at once.
    /// Off: old access tokens live until they expire, as with most servers.
    pub revoke_access_token_on_refresh: bool,
    /// Pad the `WWW-Authenticate` header of every 401 from `/mcp` to
    /// [`OVERSIZED_CHALLENGE_BYTES`] with a trailing `x_padding="xxx…"` parameter. The
    /// challenge stays valid, but it is larger than Node's default 16 KiB header limit, so
    /// a Node client fails before it can read it.
    pub oversized_www_authenticate: bool,
    /// `/mcp` answers 401 to every request, even with a valid token: the usual challenge
    /// with `resource_metadata` (and `error="invalid_token"` when a token was sent). A
    /// client must give up after a bounded number of new tokens instead of looping.
    pub persistent_401: bool,
    /// Answer JSON-RPC requests on `/mcp` as `text/event-stream` (the other answer the
    /// Streamable HTTP transport allows): one `event: message` carrying a
    /// `notifications/message` log entry about the request, then one carrying the response,
    /// then the stream ends. Notifications and responses from the client still get `202`, and
    /// 401/403 challenges stay plain HTTP answers. Counted in [`crate::Stats::mcp_sse_responses`].
    pub sse_responses: bool,
    /// Run `/mcp` with sessions, as a stateful Streamable HTTP server does: `initialize` is
    /// answered with a fresh `Mcp-Session-Id` header, and every later `POST` must carry a live
    /// one (`400` without it, `404` for an unknown or ended one). `DELETE /mcp` with it ends
    /// the session (`204`). The bearer check comes first, so a client whose token expired
    /// mid-session keeps its session after a refresh. `GET /mcp` stays `405`: there is no
    /// server-initiated stream. Counted in [`crate::Stats::sessions_started`] and the
    /// counters after it.
    pub sessions: bool,
    /// PRM lists no authorization server (`"authorization_servers": []`), as a resource
    /// server deployed before its authorization server was configured publishes. RFC 9728
    /// §2 makes the list optional, but an MCP server must name one.
    pub empty_authorization_servers: bool,
    /// AS metadata lists only `plain` in `code_challenge_methods_supported`, as servers that
    /// implemented just the simpler PKCE method do; MCP clients must refuse (S256 only).
    pub plain_code_challenge_only: bool,
    /// AS metadata advertises these endpoints at `http://mcpauth.invalid/<name>` (plain
    /// HTTP on a public host), as a server behind a TLS-terminating proxy does when it builds
    /// its URLs from the inner scheme. A client must refuse before sending anything there.
    /// Only the endpoints of the metadata count: `authorize`, `token`, `register`,
    /// `revoke`, `device_authorization` and `userinfo`.
    pub cleartext_endpoints: Vec<Endpoint>,
    /// Serve the AS metadata only at this path (such as
    /// `/.well-known/oauth-authorization-server/tenant1`); its other well-known URLs answer
    /// 404 (still counted as AS metadata requests). Real servers with a path issuer often
    /// publish just one form: RFC 8414's path-inserted URL, or OpenID's path-appended one.
    pub as_metadata_only_at: Option<String>,
    /// AS metadata states `<issuer>/` as its `issuer`, as URL-normalizing servers do (the
    /// Python SDK's `AnyHttpUrl` adds the slash). RFC 8414 §3.3 compares byte for byte, so
    /// the client must refuse the document.
    pub issuer_trailing_slash: bool,
    /// PRM lists `<issuer>/` in `authorization_servers` while the AS metadata states
    /// `<issuer>`, the same normalization on the resource server's side: the metadata then
    /// drops the slash the client was told, and must be refused.
    pub prm_issuer_trailing_slash: bool,
    /// Send `iss=<issuer>/` in authorization responses, the normalization of
    /// [`Faults::issuer_trailing_slash`] applied to RFC 9207's parameter; the client
    /// compares it byte for byte with the metadata's `issuer` and must refuse it.
    pub iss_trailing_slash: bool,
    /// Redirect authorization responses with another `state` (`not-<state>`) than the
    /// request's, as a server that mixes up concurrent authorization requests does. The
    /// client must ignore that callback (it is not its login's) and keep waiting.
    pub wrong_state: bool,
    /// Answer the first this-many polls of each device code with `slow_down` (RFC 8628
    /// §3.5), however late they come, raising that code's interval by 5 s each time as the
    /// RFC has it. A poll that then comes before the raised interval gets one more
    /// `slow_down` of its own, counted in [`crate::Stats::device_polls_too_fast`]. A count
    /// larger than the polls that fit in the code's lifetime is a storm only expiry ends.
    pub device_slow_down: Option<u32>,
    /// Send this value as the device authorization response's `interval`, as it is (a
    /// number, or a string such as `"2"`), instead of [`crate::Config::device_interval`].
    /// The server enforces it when it reads as whole seconds (a number or a string of
    /// digits; `0` enforces nothing), else the configured interval.
    pub device_interval: Option<Value>,
    /// Leave `interval` out of device authorization responses. The server then enforces
    /// RFC 8628 §3.2's default of 5 s.
    pub device_omit_interval: bool,
    /// Issue device codes that expire this many seconds after they were issued (the
    /// `expires_in` stated), instead of [`crate::Config::device_code_ttl`].
    pub device_expires_in: Option<u64>,
    /// The user denies every device authorization as soon as it is issued, so its first
    /// poll gets `access_denied`.
    pub device_deny: bool,
    /// Answer every device poll with `expired_token` and forget the code, as a server whose
    /// codes live shorter than the `expires_in` it stated does.
    pub device_expire: bool,
    /// Answer these endpoints' requests with `307 Temporary Redirect` to the same path on this
    /// server with [`REDIRECTED_MARKER`] added to the query, without doing anything, as a
    /// server that moved behind a load balancer or a login portal does. A `307` keeps the
    /// method and body, so a client that followed it would send a token request (its code
    /// and verifier) a second time to wherever `Location` points: the second request is
    /// recorded in [`crate::Stats::leaks`].
    pub redirect: Vec<Endpoint>,
    /// Answer these endpoints with `200`, `Content-Type: application/json` and a
    /// `Content-Length` of [`HUGE_BODY_BYTES`] (50 MiB), the body streamed in chunks from one
    /// small buffer so the server holds none of it, as a misconfigured server sending a log
    /// file or a database dump does. The request is not handled.
    pub huge_body: Vec<Endpoint>,
    /// Answer these endpoints with `200`, `Content-Type: application/json` and a chunked body
    /// that never ends (until the client goes away or the server shuts down), as a proxy that
    /// keeps a stream open or a server stuck in a loop writing does. The request is not handled.
    pub endless_body: Vec<Endpoint>,
    /// Answer each listed endpoint with the status given (such as `502` or `503`) and the HTML
    /// page a reverse proxy or load balancer shows, without doing anything. A generalisation
    /// of [`server_error`](Self::server_error), which stays as it is.
    pub status_error: BTreeMap<Endpoint, u16>,
    /// Answer these endpoints with `200` and an HTML page (`Content-Type: text/html`) instead
    /// of their JSON, as a login wall, a captive portal or a single-page app's catch-all route
    /// does. The request is not handled.
    pub html_body: Vec<Endpoint>,
    /// Give every member of these endpoints' JSON objects a value of the wrong type (numbers
    /// for strings, strings for numbers and booleans, objects for arrays, arrays for
    /// objects), as a server whose serializer or hand-written JSON got its types wrong does.
    /// Applied with the other body faults, before [`trickle`](Self::trickle).
    pub wrong_types: Vec<Endpoint>,
    /// Carry out every successful refresh (the presented refresh token is rotated out and the
    /// new tokens are issued) but lose its answer: the connection is closed before a complete
    /// response is sent, as when a network or proxy fails after the server committed. A
    /// client that sends the old refresh token again trips reuse detection, which revokes the
    /// grant family. Refused refreshes are answered as usual. Counted in
    /// [`crate::Stats::refresh_responses_lost`].
    pub lose_refresh_response: bool,
    /// Overwrite these members of every successful token response (`null` removes one), as
    /// servers do that send `expires_in` as a string (`"3600"`, as Azure AD v1 did) or an
    /// absurd lifetime (a negative one, or a timestamp in milliseconds), `token_type` in
    /// lowercase (`bearer`, as GitHub does) or a type other than Bearer (`mac`, `DPoP`). Only
    /// the body changes: the tokens the server keeps live as long as they would have.
    pub token_response_fields: BTreeMap<String, Value>,
    /// Overwrite these members of every successful registration response (`null` removes
    /// one), as servers do that leave out `client_id` or answer with fields of the wrong type.
    /// The client is still registered under the `client_id` it was given.
    pub registration_response_fields: BTreeMap<String, Value>,
    /// Refuse every dynamic registration with `400` and this error body (RFC 7591 §3.2.2),
    /// registering nothing, as servers do that allow no loopback redirect URIs
    /// (`invalid_redirect_uri`) or refuse metadata they do not support
    /// (`invalid_client_metadata`, with a description of what).
    pub refuse_registration: Option<InjectedError>,
    /// Refresh without rotation: a successful refresh response carries no `refresh_token`,
    /// and the one presented stays valid for the next refresh, as Google's and many other
    /// servers do (RFC 6749 §6 allows it). Off: every refresh rotates.
    pub refresh_without_rotation: bool,
    /// Send this `WWW-Authenticate` value instead of the challenge on every 401 and 403 from
    /// `/mcp`, as servers and proxies do whose challenges are broken: garbage, unterminated
    /// quotes, a parameter given twice, parameters without an auth-scheme. Takes precedence
    /// over [`Faults::oversized_www_authenticate`].
    pub www_authenticate: Option<String>,
    /// `/mcp` answers every request that carries a live token with `403` and an
    /// `error="insufficient_scope"` challenge that no token satisfies, as a server does whose
    /// scope check is broken or whose policy keeps asking for more. A client must give up
    /// after a bounded number of step-ups. Counted in [`crate::Stats::step_up_challenges`].
    pub endless_step_up: Option<StepUpLoop>,
    /// The token endpoint requires a server nonce in DPoP proofs (RFC 9449 §8), as servers
    /// do that limit how long a pre-made proof is good for: a request whose proof lacks the
    /// current nonce gets `400 {"error":"use_dpop_nonce"}` with a `DPoP-Nonce` header, and the
    /// client must send a fresh proof carrying it. Counted in
    /// [`crate::Stats::dpop_nonce_challenges`].
    pub dpop_nonce_token: bool,
    /// The MCP endpoint requires a server nonce in DPoP proofs (RFC 9449 §9): a request whose
    /// proof lacks it gets `401` with `WWW-Authenticate: DPoP error="use_dpop_nonce"` and a
    /// `DPoP-Nonce` header. Counted in [`crate::Stats::dpop_nonce_challenges`].
    pub dpop_nonce_resource: bool,
    /// Issue `token_type: Bearer` tokens, bound to no key, even when the token request
    /// carried a valid DPoP proof, as servers do that do not support DPoP and ignore the
    /// header (RFC 9449 §5 allows it). The proof is still checked; the resource then wants
    /// the token as `Bearer`.
    pub dpop_downgrade: bool,
    /// Send this `Cache-Control` value with the protected resource metadata and the
    /// authorization server metadata (such as `max-age=600` or `no-store`), as servers do that
    /// let clients keep their discovery documents. Off: no caching headers at all.
    pub metadata_cache_control: Option<String>,
    /// The registration endpoint moved: the metadata names `/register/v2`, and `/register`
    /// answers 404, as a server does whose endpoints changed while a client still holds its
    /// old metadata.
    pub registration_moved: bool,
}

/// An OAuth error body a fault answers with (RFC 6749 §5.2, RFC 7591 §3.2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InjectedError {
    /// The `error` code, such as `invalid_redirect_uri`.
    pub error: String,
    /// The `error_description`, if any.
    #[serde(default)]
    pub error_description: Option<String>,
}

/// Which scope the challenges of [`Faults::endless_step_up`] ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepUpLoop {
    /// The scope the token already has: the server compares against the wrong claim, so a
    /// new token for the same scope fails the same way.
    Granted,
    /// A scope the token lacks, new each time (`mcp:extra-1`, `mcp:extra-2`, …, see
    /// [`GROWING_SCOPE_PREFIX`]), which `/authorize` grants while the switch is on: a
    /// policy that asks for one more scope with every token.
    Growing,
}

/// The prefix of the scopes [`StepUpLoop::Growing`] asks for, followed by a counter.
pub const GROWING_SCOPE_PREFIX: &str = "mcp:extra-";

impl Faults {
    /// Whether `scope` is one that [`StepUpLoop::Growing`] may have asked for, so that
    /// `/authorize` grants it while that loop is on.
    pub(crate) fn grants_growing_scope(&self, scope: &str) -> bool {
        self.endless_step_up == Some(StepUpLoop::Growing)
            && scope
                .strip_prefix(GROWING_SCOPE_PREFIX)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    }
}

/// The query parameter [`Faults::redirect`] adds to `Location`; a request carrying it followed
/// the redirect.
pub const REDIRECTED_MARKER: &str = "dev_redirected=1";

/// The announced body size under [`Faults::huge_body`].
pub const HUGE_BODY_BYTES: usize = 50 * 1024 * 1024;

/// The size of each chunk of [`Faults::huge_body`] and [`Faults::endless_body`].
const STREAM_CHUNK_BYTES: usize = 64 * 1024;

/// The body size used by [`Faults::oversized`].
pub const OVERSIZED_BYTES: usize = 5 * 1024 * 1024;

/// The length of the `WWW-Authenticate` value under [`Faults::oversized_www_authenticate`]:
/// 24 KiB, half as much again as Node's default limit for all headers together.
pub const OVERSIZED_CHALLENGE_BYTES: usize = 24 * 1024;

/// The pause between two body bytes under [`Faults::trickle`].
pub const TRICKLE_INTERVAL: Duration = Duration::from_secs(1);

/// Per-route middleware: count the request, then apply latency, stall, 5xx and body faults.
pub(crate) async fn middleware(
    State((app, endpoint)): State<(App, Endpoint)>,
    request: Request,
    next: Next,
) -> Response {
    let leaks = audit(&app, endpoint, &request);
    app.record(|s| {
        s.total_requests += 1;
        *s.requests.entry(endpoint).or_default() += 1;
        s.leaks.extend(leaks);
    });
    let faults = app.faults();
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    if faults.stall.contains(&endpoint) {
        app.shutting_down().await;
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if faults.server_error.contains(&endpoint) {
        let body = json!({ "error": "server_error", "error_description": "injected fault" });
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response();
    }
    if let Some(response) = answer_instead(&app, &faults, endpoint, &request) {
        return response;
    }
    let mut response = next.run(request).await;
    let malformed = faults.malformed_json.contains(&endpoint);
    let oversized = faults.oversized.contains(&endpoint);
    let wrong_types = faults.wrong_types.contains(&endpoint);
    if malformed || oversized || wrong_types {
        response = rewrite_body(response, malformed, oversized, wrong_types).await;
    }
    if faults.trickle.contains(&endpoint) {
        response = trickle(app, response).await;
    }
    response
}

/// Where `request` sends a secret where it must not go, in [`crate::Stats::leaks`]' words.
fn audit(app: &App, endpoint: Endpoint, request: &Request) -> Vec<String> {
    let mut leaks = Vec::new();
    let name = serde_json::to_value(endpoint)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    if let Some(value) = request.headers().get(header::AUTHORIZATION) {
        // An access token, whether sent as `Bearer` (RFC 6750) or as `DPoP` (RFC 9449 §7.1).
        let bearer = ["bearer ", "dpop "].iter().any(|scheme| {
            value
                .as_bytes()
                .get(..scheme.len())
                .is_some_and(|s| s.eq_ignore_ascii_case(scheme.as_bytes()))
        });
        let forbidden = match endpoint {
            // Nothing of the user's belongs on discovery, registration or the user agent's
            // visit to the authorization endpoint.
            Endpoint::ResourceMetadata
            | Endpoint::AuthorizationServerMetadata
            | Endpoint::Register
            | Endpoint::Authorize
            | Endpoint::Device => true,
            // Client authentication (Basic) may go here; an access token may not.
            Endpoint::Token | Endpoint::DeviceAuthorization | Endpoint::Revoke => bearer,
            Endpoint::Mcp | Endpoint::Userinfo => false,
        };
        if forbidden {
            leaks.push(format!("an Authorization header on a {name} request"));
        }
    }
    let uri = request.uri().to_string();
    if request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == REDIRECTED_MARKER))
    {
        leaks.push(format!(
            "a {name} request sent again to where a redirect pointed"
        ));
    }
    if app
        .db()
        .issued_secrets
        .iter()
        .any(|s| uri.contains(s.as_str()))
    {
        leaks.push(format!(
            "an issued token or code in the URL of a {name} request"
        ));
    }
    leaks
}

/// The same response, its body sent one byte per [`TRICKLE_INTERVAL`] after the first.
async fn trickle(app: App, response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    let drip = futures_util::stream::unfold((app, bytes, 0), |(app, bytes, sent)| async move {
        if sent >= bytes.len() {
            return None;
        }
        if sent > 0 {
            tokio::select! {
                () = tokio::time::sleep(TRICKLE_INTERVAL) => {}
                () = app.shutting_down() => return None,
            }
        }
        // In range: sent < bytes.len() was checked above.
        let byte: Bytes = bytes.slice(sent..=sent);
        Some((Ok::<_, Infallible>(byte), (app, bytes, sent + 1)))
    });
    Response::from_parts(parts, Body::from_stream(drip))
}

/// The answer a fault gives instead of the endpoint's own, if one does: a redirect, a 5xx,
/// an HTML page, or a huge or endless body.
fn answer_instead(
    app: &App,
    faults: &Faults,
    endpoint: Endpoint,
    request: &Request,
) -> Option<Response> {
    if faults.redirect.contains(&endpoint) {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        let path = request.uri().path();
        let query = match request.uri().query() {
            Some(q) => format!("?{q}&{REDIRECTED_MARKER}"),
            None => format!("?{REDIRECTED_MARKER}"),
        };
        let location = format!("http://{host}{path}{query}");
        return Some(
            (
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, location)],
            )
                .into_response(),
        );
    }
    if let Some(&status) = faults.status_error.get(&endpoint) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
        let page = format!(
            "<html><head><title>{status}</title></head><body><h1>{status}</h1><hr>proxy</body></html>"
        );
        return Some(html(status, page));
    }
    if faults.html_body.contains(&endpoint) {
        let page = "<!doctype html><html><body><h1>Sign in</h1><form></form></body></html>";
        return Some(html(StatusCode::OK, page.to_owned()));
    }
    if faults.huge_body.contains(&endpoint) {
        let mut response = json_stream(app.clone(), Some(HUGE_BODY_BYTES));
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(HUGE_BODY_BYTES));
        return Some(response);
    }
    if faults.endless_body.contains(&endpoint) {
        return Some(json_stream(app.clone(), None));
    }
    None
}

fn html(status: StatusCode, page: String) -> Response {
    let content_type = HeaderValue::from_static("text/html; charset=utf-8");
    (status, [(header::CONTENT_TYPE, content_type)], page).into_response()
}

/// A `200` JSON answer whose body is `{"x_padding":"xxx…`, `total` bytes long or endless, made
/// of one shared chunk so that nothing of it is held; it ends early at shutdown.
fn json_stream(app: App, total: Option<usize>) -> Response {
    let chunk = Bytes::from(vec![b'x'; STREAM_CHUNK_BYTES]);
    let head = Bytes::from_static(b"{\"x_padding\":\"");
    let drip = futures_util::stream::unfold(
        (app, chunk, Some(head), 0usize),
        move |(app, chunk, head, sent)| async move {
            let left = total.map_or(usize::MAX, |t| t.saturating_sub(sent));
            if left == 0 || app.is_shutting_down() {
                return None;
            }
            let next = head.unwrap_or_else(|| chunk.clone());
            let next = next.slice(..next.len().min(left));
            let sent = sent.saturating_add(next.len());
            // Yield so that a shutdown or a client going away is noticed between chunks.
            tokio::task::yield_now().await;
            Some((Ok::<_, Infallible>(next), (app, chunk, None, sent)))
        },
    );
    let content_type = HeaderValue::from_static("application/json");
    let mut response = Response::new(Body::from_stream(drip));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    response
}

/// `value` with every member of every object given a value of another type (see
/// [`Faults::wrong_types`]).
fn wrong_types(value: Value) -> Value {
    match value {
        Value::Object(object) => Value::Object(
            object
                .into_iter()
                .map(|(k, v)| {
                    let wrong = match v {
                        Value::String(_) => json!(42),
                        Value::Number(_) | Value::Bool(_) => json!("not-a-number"),
                        Value::Array(_) => json!({ "not": "an array" }),
                        Value::Object(_) => json!(["not", "an", "object"]),
                        Value::Null => json!(true),
                    };
                    (k, wrong)
                })
                .collect(),
        ),
        other => other,
    }
}

async fn rewrite_body(
    response: Response,
    malformed: bool,
    oversized: bool,
    wrong: bool,
) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut bytes = bytes.to_vec();
    if wrong && let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
        bytes = wrong_types(value).to_string().into_bytes();
    }
    if oversized {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(mut object)) => {
                object.insert(
                    "x_padding".into(),
                    Value::String("x".repeat(OVERSIZED_BYTES)),
                );
                bytes = Value::Object(object).to_string().into_bytes();
            }
            _ => bytes.resize(bytes.len() + OVERSIZED_BYTES, b' '),
        }
    }
    if malformed {
        bytes.truncate(bytes.len() / 2);
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}
