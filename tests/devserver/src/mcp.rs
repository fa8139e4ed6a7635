//! The protected MCP endpoint: bearer checks with RFC 6750 / RFC 9728 challenges (and DPoP
//! checks with RFC 9449 §7 challenges for DPoP-bound tokens), and a tiny
//! JSON-RPC server with two tools, answering in JSON or (under [`Faults::sse_responses`]) as
//! an event stream, with or without [sessions](crate::sessions).
//!
//! [`Faults::sse_responses`]: crate::Faults::sse_responses

use std::convert::Infallible;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::dpop::{self, Refusal};
use crate::faults::{GROWING_SCOPE_PREFIX, OVERSIZED_CHALLENGE_BYTES, StepUpLoop};
use crate::sessions;
use crate::state::App;

/// An HTTP answer given instead of a JSON-RPC response (a challenge, a session refusal).
/// Boxed: a `Response` is large, and these are the rare path.
pub(crate) type Refused = Box<Response>;

/// Why a token that is not live was refused.
const NOT_LIVE: &str = "the token is unknown, expired or revoked";

/// `POST /mcp`.
pub(crate) async fn mcp(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let scope = match authorized(&app, &Method::POST, &headers) {
        Ok(scope) => scope,
        Err(challenge) => return *challenge,
    };
    if let Some(step_up) = app.faults().endless_step_up {
        return endless_step_up(&app, step_up, &scope);
    }
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            rpc_error(&Value::Null, -32700, "parse error"),
        )
            .into_response();
    };
    let method = message
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let initialize = method == "initialize";
    if let Err(refused) = sessions::check(&app, &headers, initialize) {
        return *refused;
    }
    let Some(id) = message.get("id") else {
        // A notification, such as notifications/initialized, or a response.
        return StatusCode::ACCEPTED.into_response();
    };
    let answer = match answer(&app, id, &message, &scope) {
        Ok(answer) => answer,
        Err(refused) => return *refused,
    };
    let mut response = if app.faults().sse_responses {
        app.record(|s| s.mcp_sse_responses += 1);
        event_stream(method, &answer)
    } else {
        Json(answer).into_response()
    };
    if initialize && let Some(session) = sessions::start(&app) {
        response.headers_mut().insert(sessions::HEADER, session);
    }
    response
}

/// The granted scope of the request's access token, or the 401 challenge to answer with.
/// `method` is the request's, which a DPoP proof must name.
pub(crate) fn authorized(
    app: &App,
    method: &Method,
    headers: &HeaderMap,
) -> Result<String, Refused> {
    granted_scope(app, method, headers).map_err(|refusal| {
        app.record(|s| s.mcp_unauthorized += 1);
        let response = match refusal {
            Unauthorized::NoToken => challenge(
                app,
                StatusCode::UNAUTHORIZED,
                None,
                app.config.challenge_scope.as_deref(),
            ),
            Unauthorized::Bearer(why) => challenge(
                app,
                StatusCode::UNAUTHORIZED,
                Some(("invalid_token", Some(why))),
                None,
            ),
            Unauthorized::Dpop(why) => dpop_challenge(app, "invalid_token", &why),
            Unauthorized::DpopNonce(nonce) => {
                let why = "DPoP proofs must carry the server's nonce";
                let mut response = dpop_challenge(app, "use_dpop_nonce", why);
                dpop::add_nonce(&mut response, &nonce);
                response
            }
        };
        Box::new(response)
    })
}

/// Why a request to `/mcp` gets a 401.
enum Unauthorized {
    /// No access token: the plain challenge.
    NoToken,
    /// A bearer token that is not live, or not for this resource.
    Bearer(&'static str),
    /// A DPoP-bound token without its proof, or a token in the wrong scheme; the reason.
    Dpop(String),
    /// A valid proof without the nonce [`crate::Faults::dpop_nonce_resource`] asks for.
    DpopNonce(String),
}

/// How the request presents its access token (RFC 6750 §2.1, RFC 9449 §7.1).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Bearer,
    Dpop,
}

/// The scheme and token of the `Authorization` header; never the query string.
fn access_token(headers: &HeaderMap) -> Option<(Scheme, &str)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        return None;
    };
    Some((scheme, token.trim())).filter(|(_, t)| !t.is_empty())
}

/// The granted scope of a live token meant for this resource, presented as its binding
/// requires: a bearer token as `Bearer`, a DPoP-bound one as `DPoP` with a proof made with
/// its key for this request (RFC 9449 §7.1).
fn granted_scope(app: &App, method: &Method, headers: &HeaderMap) -> Result<String, Unauthorized> {
    let (scheme, token) = access_token(headers).ok_or(Unauthorized::NoToken)?;
    let invalid = |why: &'static str| match scheme {
        Scheme::Bearer => Unauthorized::Bearer(why),
        Scheme::Dpop => Unauthorized::Dpop(why.to_owned()),
    };
    let faults = app.faults();
    if faults.persistent_401 {
        // Look like an ordinary refusal: the client must not learn it is a fault.
        return Err(invalid(NOT_LIVE));
    }
    let (scope, jkt) = match app.db().access_token(token, app.now()) {
        Some(t) if t.grant.resource.as_deref() == Some(app.urls.mcp.as_str()) => {
            (t.grant.scope.clone(), t.jkt.clone())
        }
        Some(_) => return Err(invalid("the token's audience is not this resource")),
        None => return Err(invalid(NOT_LIVE)),
    };
    let Some(jkt) = jkt else {
        return match scheme {
            Scheme::Bearer => Ok(scope),
            Scheme::Dpop => Err(Unauthorized::Dpop(
                "the token is not DPoP-bound; send it as Bearer".into(),
            )),
        };
    };
    if scheme == Scheme::Bearer {
        return Err(Unauthorized::Dpop(
            "the token is DPoP-bound; send it with the DPoP scheme and a proof".into(),
        ));
    }
    let expected = dpop::Expected {
        method: method.as_str(),
        url: &app.urls.mcp,
        access_token: Some(token),
        jkt: Some(&jkt),
        nonce: faults.dpop_nonce_resource,
    };
    match dpop::check(app, headers, &expected) {
        Ok(Some(_)) => Ok(scope),
        Ok(None) => Err(Unauthorized::Dpop("the DPoP proof is missing".into())),
        Err(Refusal::Invalid(why)) => Err(Unauthorized::Dpop(why)),
        Err(Refusal::NeedsNonce(nonce)) => Err(Unauthorized::DpopNonce(nonce)),
    }
}

/// A 401 with `WWW-Authenticate: DPoP` (RFC 9449 §7.1) naming the error, the algorithms
/// accepted, and the resource metadata, or what [`crate::Faults::www_authenticate`] and
/// [`crate::Faults::oversized_www_authenticate`] make of it. The description loses characters
/// a quoted string cannot hold.
fn dpop_challenge(app: &App, error: &str, description: &str) -> Response {
    let description: String = description
        .chars()
        .filter(|c| *c != '"' && *c != '\\' && (' '..='~').contains(c))
        .collect();
    let mut value = format!(
        r#"DPoP error="{error}", error_description="{description}", algs="ES256", resource_metadata="{}""#,
        app.urls.resource_metadata
    );
    let faults = app.faults();
    if let Some(replacement) = faults.www_authenticate {
        value = replacement;
    } else if faults.oversized_www_authenticate {
        pad_challenge(&mut value);
    }
    let body = json!({ "error": error });
    match HeaderValue::try_from(value) {
        Ok(value) => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, value)],
            Json(body),
        )
            .into_response(),
        // Only a fault's value can fail here: the rest is printable ASCII.
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The JSON-RPC response to the request `message` with `id`, or an HTTP answer instead of
/// one (the 403 of a tool that needs more scope).
fn answer(app: &App, id: &Value, message: &Value, scope: &str) -> Result<Value, Refused> {
    let method = message
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let result = match method {
        "initialize" => {
            let version = message
                .pointer("/params/protocolVersion")
                .cloned()
                .unwrap_or(json!("2025-11-25"));
            json!({
                "protocolVersion": version,
                // `logging`: the event streams of `sse_responses` carry log notifications.
                "capabilities": { "tools": {}, "logging": {} },
                "serverInfo": { "name": "mcpauth-devserver", "version": env!("CARGO_PKG_VERSION") },
            })
        }
        "ping" | "logging/setLevel" => json!({}),
        "tools/list" => json!({ "tools": [
            tool("echo", "Echo `text` back. Needs scope mcp:read."),
            tool("admin-tool", "Needs scope mcp:admin."),
        ]}),
        "tools/call" => return call_tool(app, id, message, scope),
        _ => return Ok(rpc_error_message(id, -32601, "method not found")),
    };
    Ok(json!({ "jsonrpc": "2.0", "id": id, "result": result }))
}

/// `answer` as a `text/event-stream` of two events: a `notifications/message` log entry about
/// `method`, then the response; the stream ends after it. Sent in two chunks, as a server
/// that streams would.
fn event_stream(method: &str, answer: &Value) -> Response {
    let log = json!({
        "jsonrpc": "2.0",
        "method": "notifications/message",
        "params": { "level": "info", "logger": "mcpauth-devserver", "data": format!("answering {method}") },
    });
    let events = [log, answer.clone()]
        .map(|message| Ok::<_, Infallible>(format!("event: message\ndata: {message}\n\n")));
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    let body = Body::from_stream(futures_util::stream::iter(events));
    (headers, body).into_response()
}

/// The response to `tools/call`, or the 403 for a tool that needs more scope than `scope`.
fn call_tool(app: &App, id: &Value, message: &Value, scope: &str) -> Result<Value, Refused> {
    let name = message
        .pointer("/params/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (needed, text) = match name {
        "echo" => {
            let text = message
                .pointer("/params/arguments/text")
                .and_then(Value::as_str)
                .unwrap_or_default();
            (["mcp:read"].as_slice(), text.to_owned())
        }
        "admin-tool" => (["mcp:read", "mcp:admin"].as_slice(), "admin ok".to_owned()),
        _ => {
            return Ok(rpc_error_message(
                id,
                -32602,
                &format!("unknown tool {name:?}"),
            ));
        }
    };
    if !needed.iter().all(|n| scope.split(' ').any(|s| s == *n)) {
        let error = Some(("insufficient_scope", None));
        let scope = needed.join(" ");
        return Err(Box::new(challenge(
            app,
            StatusCode::FORBIDDEN,
            error,
            Some(&scope),
        )));
    }
    let result = json!({ "content": [{ "type": "text", "text": text }], "isError": false });
    Ok(json!({ "jsonrpc": "2.0", "id": id, "result": result }))
}

/// The 403 of [`crate::Faults::endless_step_up`] to a token granted `scope`.
fn endless_step_up(app: &App, step_up: StepUpLoop, scope: &str) -> Response {
    let mut asked = scope.to_owned();
    app.record(|s| {
        s.step_up_challenges += 1;
        if step_up == StepUpLoop::Growing {
            asked = format!("{GROWING_SCOPE_PREFIX}{}", s.step_up_challenges);
        }
    });
    let error = Some(("insufficient_scope", None));
    challenge(app, StatusCode::FORBIDDEN, error, Some(&asked))
}

/// A `WWW-Authenticate: Bearer` challenge (RFC 6750 §3) pointing at the PRM (RFC 9728 §5.1).
/// `error` is the error code and an optional description.
fn challenge(
    app: &App,
    status: StatusCode,
    error: Option<(&str, Option<&str>)>,
    scope: Option<&str>,
) -> Response {
    let resource_metadata = Some(format!(
        r#"resource_metadata="{}""#,
        app.urls.resource_metadata
    ));
    let scope = scope.map(|s| format!(r#"scope="{s}""#));
    let params: Vec<String> = match error {
        // The plain 401 reads like the MCP spec's example: resource_metadata first.
        None => [resource_metadata, scope].into_iter().flatten().collect(),
        Some((code, description)) => {
            let description = description.map(|d| format!(r#"error_description="{d}""#));
            [
                Some(format!(r#"error="{code}""#)),
                description,
                scope,
                resource_metadata,
            ]
            .into_iter()
            .flatten()
            .collect()
        }
    };
    let mut value = format!("Bearer {}", params.join(", "));
    let faults = app.faults();
    if let Some(replacement) = faults.www_authenticate {
        value = replacement;
    } else if status == StatusCode::UNAUTHORIZED && faults.oversized_www_authenticate {
        pad_challenge(&mut value);
    }
    let body = json!({ "error": error.map_or("unauthorized", |(code, _)| code) });
    let Ok(value) = HeaderValue::try_from(value) else {
        // Only a fault's value can fail here: a character no header may hold.
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    (status, [(header::WWW_AUTHENTICATE, value)], Json(body)).into_response()
}

/// Append an `x_padding` auth-param (RFC 9110 §11.2) that brings `challenge` to
/// [`OVERSIZED_CHALLENGE_BYTES`].
fn pad_challenge(challenge: &mut String) {
    challenge.push_str(r#", x_padding=""#);
    let padding = OVERSIZED_CHALLENGE_BYTES.saturating_sub(challenge.len() + 1);
    challenge.extend(std::iter::repeat_n('x', padding));
    challenge.push('"');
}

fn tool(name: &str, description: &str) -> Value {
    let schema = json!({ "type": "object", "properties": { "text": { "type": "string" } } });
    json!({ "name": name, "description": description, "inputSchema": schema })
}

pub(crate) fn rpc_error(id: &Value, code: i64, message: &str) -> Json<Value> {
    Json(rpc_error_message(id, code, message))
}

fn rpc_error_message(id: &Value, code: i64, message: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
}
