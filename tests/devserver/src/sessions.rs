//! Sessions of the MCP endpoint under [`Faults::sessions`], the way a stateful Streamable HTTP
//! server keeps them: `initialize` starts one and names it in `Mcp-Session-Id`, every later
//! request names it, and `DELETE /mcp` ends it. The refusals copy the MCP TypeScript SDK's
//! server: `400` with JSON-RPC error `-32000` when the header is missing, `404` with `-32001`
//! when it names no live session (the status that tells a client to start a new one).
//!
//! [`Faults::sessions`]: crate::Faults::sessions

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::mcp::{Refused, authorized, rpc_error};
use crate::state::{App, random_token};

/// The session header of the Streamable HTTP transport.
pub(crate) const HEADER: HeaderName = HeaderName::from_static("mcp-session-id");

/// Whether `headers` may go on to the JSON-RPC server: always when sessions are off and for
/// `initialize`, else only with a live session id. Counts [`crate::Stats::session_requests`]
/// and [`crate::Stats::sessions_refused`].
pub(crate) fn check(app: &App, headers: &HeaderMap, initialize: bool) -> Result<(), Refused> {
    if !app.faults().sessions || initialize {
        return Ok(());
    }
    live_session(app, headers)?;
    app.record(|s| s.session_requests += 1);
    Ok(())
}

/// A new session id for an `initialize` answer, or `None` when sessions are off. Counts
/// [`crate::Stats::sessions_started`].
pub(crate) fn start(app: &App) -> Option<HeaderValue> {
    if !app.faults().sessions {
        return None;
    }
    let id = random_token("mcp_session_");
    app.db().sessions.insert(id.clone());
    app.record(|s| s.sessions_started += 1);
    // A base64url token with an ASCII prefix is always a valid header value.
    HeaderValue::from_str(&id).ok()
}

/// `DELETE /mcp`: end the named session (`204`), after the same bearer check as `POST`.
/// `405` when sessions are off, as a stateless server answers.
pub(crate) async fn end(State(app): State<App>, headers: HeaderMap) -> Response {
    if !app.faults().sessions {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST")],
            rpc_error(&Value::Null, -32000, "method not allowed: no sessions here"),
        )
            .into_response();
    }
    if let Err(challenge) = authorized(&app, &Method::DELETE, &headers) {
        return *challenge;
    }
    match live_session(&app, &headers) {
        Ok(id) => {
            app.db().sessions.remove(&id);
            app.record(|s| s.sessions_ended += 1);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(refused) => *refused,
    }
}

/// The live session `headers` name, or the `400`/`404` refusal (counted).
fn live_session(app: &App, headers: &HeaderMap) -> Result<String, Refused> {
    let refuse = |status, code, message| {
        app.record(|s| s.sessions_refused += 1);
        Box::new((status, rpc_error(&Value::Null, code, message)).into_response())
    };
    let Some(id) = headers.get(HEADER).and_then(|v| v.to_str().ok()) else {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            -32000,
            "bad request: the Mcp-Session-Id header is required after initialize",
        ));
    };
    if !app.db().sessions.contains(id) {
        return Err(refuse(
            StatusCode::NOT_FOUND,
            -32001,
            "session not found: it ended or never existed; initialize again",
        ));
    }
    Ok(id.to_owned())
}
