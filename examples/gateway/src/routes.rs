//! The gateway's routes: `POST /mcp`, `GET /callback`, `GET /healthz`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use mcpauth::session::LoginOptions;
use mcpauth::{AuthClient, Error, Session};
use serde_json::json;

use crate::user::profile_for;

/// The header that names the user. NOT authentication: see the crate docs.
pub const USER_HEADER: &str = "x-gateway-user";
/// Request headers passed on to the upstream (the bearer token is the gateway's to set).
const FORWARDED_REQUEST: [HeaderName; 2] = [header::ACCEPT, header::CONTENT_TYPE];
/// MCP's own headers, passed on both ways.
const MCP_HEADERS: [&str; 2] = ["mcp-session-id", "mcp-protocol-version"];
/// How long a user has to finish a login they were sent to.
const LOGIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// What every request shares. Cheap to clone.
#[derive(Clone)]
pub struct Gateway(Arc<Inner>);

struct Inner {
    /// One session over the Redis store; each request takes it on its user's profile.
    session: Session,
    /// Sends the MCP requests (the session's own client sends the OAuth ones).
    http: reqwest::Client,
    upstream: String,
    redirect_uri: String,
}

impl Gateway {
    /// A gateway to `upstream` reached at `public_url`.
    ///
    /// # Errors
    /// [`Error::Transport`] when the HTTP client cannot be built.
    pub fn new(session: Session, upstream: String, public_url: &str) -> mcpauth::Result<Self> {
        let http = mcpauth::http::client_builder()?
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Transport {
                url: upstream.clone(),
                reason: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Self(Arc::new(Inner {
            session,
            http,
            redirect_uri: format!("{}/callback", public_url.trim_end_matches('/')),
            upstream,
        })))
    }
}

/// The routes.
pub fn router(gateway: Gateway) -> Router {
    Router::new()
        .route("/mcp", post(mcp))
        .route("/callback", get(callback))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(gateway)
}

/// Forwards one MCP request with the user's token.
async fn mcp(State(gw): State<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(user) = headers.get(USER_HEADER).and_then(|v| v.to_str().ok()) else {
        let error = json!({"error": "user_required", "message": "no X-Gateway-User header"});
        return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
    };
    let session = gw.0.session.with_profile(Some(profile_for(user)));
    let client = AuthClient::new(session.clone(), gw.0.http.clone());
    let sent = client
        .execute(&gw.0.upstream, |http| {
            let mut request = http.post(&gw.0.upstream).body(body.clone());
            for name in FORWARDED_REQUEST
                .iter()
                .chain(&MCP_HEADERS.map(HeaderName::from_static))
            {
                for value in headers.get_all(name) {
                    request = request.header(name, value);
                }
            }
            request
        })
        .await;
    match sent {
        Ok(response) => relay(response).await,
        Err(e) if e.code() == "LOGIN_REQUIRED" => login_required(&gw, &session).await,
        Err(e) => failure(StatusCode::BAD_GATEWAY, &e),
    }
}

/// The upstream's answer: status, content type, MCP headers and body.
async fn relay(response: reqwest::Response) -> Response {
    let status =
        StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut headers = HeaderMap::new();
    for name in [header::CONTENT_TYPE]
        .into_iter()
        .chain(MCP_HEADERS.map(HeaderName::from_static))
    {
        if let Some(value) = response.headers().get(&name) {
            if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
                headers.insert(name, value);
            }
        }
    }
    match response.bytes().await {
        Ok(body) => (status, headers, body).into_response(),
        Err(e) => {
            let e = Error::Transport {
                url: String::new(),
                reason: format!("reading the upstream's answer: {e}"),
            };
            failure(StatusCode::BAD_GATEWAY, &e)
        }
    }
}

/// 401 with the URL that logs the user in.
async fn login_required(gw: &Gateway, session: &Session) -> Response {
    let mut options = LoginOptions::default();
    options.timeout = LOGIN_TIMEOUT;
    match session
        .begin_login(&gw.0.upstream, &gw.0.redirect_uri, &options)
        .await
    {
        Ok(url) => {
            let body = json!({"error": "login_required", "login_url": url});
            (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()
        }
        Err(e) => failure(StatusCode::BAD_GATEWAY, &e),
    }
}

/// The authorization server sent the user back: finish the login.
async fn callback(State(gw): State<Gateway>, uri: Uri) -> Response {
    let query = uri.query().unwrap_or_default();
    let callback = format!("{}?{query}", gw.0.redirect_uri);
    match gw.0.session.complete_login(&callback).await {
        Ok(_) => Html(
            "<!doctype html><title>Logged in</title><p>Logged in. You can close this page.</p>",
        )
        .into_response(),
        Err(e) => {
            let page = format!(
                "<!doctype html><title>Login failed</title><p>Login failed: {} [{}]</p>",
                escape(&e.to_string()),
                e.code()
            );
            (StatusCode::BAD_REQUEST, Html(page)).into_response()
        }
    }
}

/// An error as JSON: its stable code and message (never a secret: see [`mcpauth::Error`]).
fn failure(status: StatusCode, e: &Error) -> Response {
    let body = json!({"error": e.code(), "message": e.to_string()});
    (status, axum::Json(body)).into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
