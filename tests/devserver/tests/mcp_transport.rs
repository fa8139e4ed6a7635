//! The MCP endpoint's transport switches: answers as event streams (`sse_responses`) and
//! sessions with `Mcp-Session-Id` (`sessions`), each switched on over `POST /_dev/faults` the
//! way a test in another language does.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // tests

mod common;

use std::time::Duration;

use common::*;
use mcpauth_devserver::{Config, DevServerHandle};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const SESSION: &str = "mcp-session-id";

fn request(id: u64, method: &str, params: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
}

fn initialize() -> Value {
    let params = json!({
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": { "name": "devserver-test", "version": "0" },
    });
    request(1, "initialize", params)
}

fn echo(text: &str) -> Value {
    request(
        2,
        "tools/call",
        json!({ "name": "echo", "arguments": { "text": text } }),
    )
}

async fn set_faults(server: &DevServerHandle, http: &Client, faults: Value) {
    let response = http
        .post(format!("{}/_dev/faults", server.base_url))
        .json(&faults)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// A logged-in client: its access token and the token response.
async fn logged_in(server: &DevServerHandle, http: &Client, scope: &str) -> (String, Value) {
    let client_id = register_public(server, http).await;
    let tokens = code_flow(server, http, &client_id, scope).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let mut tokens = tokens;
    tokens["client_id"] = json!(client_id);
    (access, tokens)
}

/// POST `body` to /mcp with a bearer token and, if given, a session id.
async fn post(
    server: &DevServerHandle,
    http: &Client,
    token: &str,
    session: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut request = http
        .post(&server.mcp_url)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(body);
    if let Some(session) = session {
        request = request.header(SESSION, session);
    }
    request.send().await.unwrap()
}

/// The `data:` payloads of an event stream, each parsed as JSON, with their event names.
fn events(stream: &str) -> Vec<(String, Value)> {
    stream
        .split("\n\n")
        .filter(|event| !event.trim().is_empty())
        .map(|event| {
            let field = |name: &str| {
                event
                    .lines()
                    .find_map(|line| line.strip_prefix(name))
                    .map(|v| v.trim().to_owned())
                    .unwrap_or_else(|| panic!("no {name} line in {event:?}"))
            };
            let data = serde_json::from_str(&field("data:")).unwrap();
            (field("event:"), data)
        })
        .collect()
}

#[tokio::test]
async fn sse_responses_answer_each_request_with_a_log_notification_then_the_response() {
    let (server, http) = auto_approving().await;
    let (access, _) = logged_in(&server, &http, "mcp:read").await;
    set_faults(&server, &http, json!({ "sse_responses": true })).await;
    assert!(server.faults().sse_responses);

    let response = post(&server, &http, &access, None, &initialize()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events = events(&response.text().await.unwrap());
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].0, "message");
    assert_eq!(events[0].1["method"], "notifications/message");
    assert_eq!(events[0].1["params"]["data"], "answering initialize");
    assert!(events[0].1.get("id").is_none(), "a notification has no id");
    assert_eq!(events[1].0, "message");
    assert_eq!(events[1].1["id"], 1);
    assert_eq!(
        events[1].1["result"]["capabilities"]["logging"],
        json!({}),
        "the server declares the logging it sends"
    );

    let response = post(&server, &http, &access, None, &echo("over sse")).await;
    let events = self::events(&response.text().await.unwrap());
    assert_eq!(
        events[1].1["result"]["content"][0]["text"], "over sse",
        "{events:?}"
    );

    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    let response = post(&server, &http, &access, None, &initialized).await;
    assert_eq!(
        response.status(),
        StatusCode::ACCEPTED,
        "notifications: 202"
    );

    let admin = request(3, "tools/call", json!({ "name": "admin-tool" }));
    let response = post(&server, &http, &access, None, &admin).await;
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "the step-up challenge stays an HTTP answer"
    );
    assert!(response.headers().contains_key("www-authenticate"));

    assert_eq!(server.stats().mcp_sse_responses, 2);
    set_faults(&server, &http, json!({})).await;
    let response = post(&server, &http, &access, None, &echo("json again")).await;
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["result"]["content"][0]["text"], "json again");
}

#[tokio::test]
async fn sessions_start_at_initialize_are_required_after_it_and_end_with_delete() {
    let (server, http) = auto_approving().await;
    let (access, _) = logged_in(&server, &http, "mcp:read").await;
    set_faults(&server, &http, json!({ "sessions": true })).await;

    let response = post(&server, &http, &access, None, &initialize()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let session = response.headers()[SESSION].to_str().unwrap().to_owned();
    let again = post(&server, &http, &access, None, &initialize()).await;
    let other = again.headers()[SESSION].to_str().unwrap().to_owned();
    assert_ne!(session, other, "each initialize starts a fresh session");

    let missing = post(&server, &http, &access, None, &echo("x")).await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32000, "{body}");
    let unknown = post(
        &server,
        &http,
        &access,
        Some("mcp_session_nope"),
        &echo("x"),
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    let bare_notification = post(&server, &http, &access, None, &initialized).await;
    assert_eq!(bare_notification.status(), StatusCode::BAD_REQUEST);

    let notified = post(&server, &http, &access, Some(&session), &initialized).await;
    assert_eq!(notified.status(), StatusCode::ACCEPTED);
    let called = post(&server, &http, &access, Some(&session), &echo("in session")).await;
    assert_eq!(called.status(), StatusCode::OK);
    assert!(
        called.headers().get(SESSION).is_none(),
        "only initialize names a session"
    );
    let body: Value = called.json().await.unwrap();
    assert_eq!(body["result"]["content"][0]["text"], "in session");

    let get = http
        .get(&server.mcp_url)
        .bearer_auth(&access)
        .header(SESSION, &session)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(
        get.status(),
        StatusCode::METHOD_NOT_ALLOWED,
        "no server-initiated stream"
    );

    let delete = |session: String, token: Option<String>| {
        let (server, http) = (&server, &http);
        async move {
            let mut request = http.delete(&server.mcp_url).header(SESSION, session);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request.send().await.unwrap().status()
        }
    };
    assert_eq!(
        delete(session.clone(), None).await,
        StatusCode::UNAUTHORIZED,
        "ending a session needs the bearer token too"
    );
    assert_eq!(
        delete(session.clone(), Some(access.clone())).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        delete(session.clone(), Some(access.clone())).await,
        StatusCode::NOT_FOUND
    );
    let ended = post(&server, &http, &access, Some(&session), &echo("x")).await;
    assert_eq!(ended.status(), StatusCode::NOT_FOUND, "an ended session");
    let body: Value = ended.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32001, "{body}");
    let still = post(&server, &http, &access, Some(&other), &echo("y")).await;
    assert_eq!(still.status(), StatusCode::OK, "the other session lives on");

    let stats = server.stats();
    assert_eq!((stats.sessions_started, stats.sessions_ended), (2, 1));
    assert_eq!(stats.session_requests, 3, "notification, call, other call");
    assert_eq!(
        stats.sessions_refused, 5,
        "missing x2, unknown, deleted twice (DELETE and POST)"
    );
}

#[tokio::test]
async fn a_session_outlives_its_access_token() {
    let (server, http) = start(Config {
        auto_approve: true,
        access_token_ttl: Duration::from_secs(60),
        ..Config::default()
    })
    .await;
    let (access, tokens) = logged_in(&server, &http, "mcp:read").await;
    set_faults(
        &server,
        &http,
        json!({ "sessions": true, "sse_responses": true }),
    )
    .await;
    let response = post(&server, &http, &access, None, &initialize()).await;
    let session = response.headers()[SESSION].to_str().unwrap().to_owned();

    server.advance_clock(Duration::from_secs(61));
    let expired = post(&server, &http, &access, Some(&session), &echo("x")).await;
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);

    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ("client_id", tokens["client_id"].as_str().unwrap()),
    ];
    let (status, fresh) = token(&server, &http, &refresh).await;
    assert_eq!(status, StatusCode::OK, "{fresh}");
    let fresh = fresh["access_token"].as_str().unwrap();
    let called = post(&server, &http, fresh, Some(&session), &echo("still here")).await;
    assert_eq!(called.status(), StatusCode::OK);
    let events = events(&called.text().await.unwrap());
    assert_eq!(events[1].1["result"]["content"][0]["text"], "still here");
    let stats = server.stats();
    assert_eq!(
        (stats.sessions_started, stats.session_requests),
        (1, 1),
        "the refused call did not reach the session check"
    );
    assert_eq!(stats.sessions_refused, 0);
}

#[tokio::test]
async fn delete_is_not_allowed_without_sessions() {
    let (server, http) = auto_approving().await;
    let (access, _) = logged_in(&server, &http, "mcp:read").await;
    let response = post(&server, &http, &access, None, &initialize()).await;
    assert!(
        response.headers().get(SESSION).is_none(),
        "sessions are off"
    );
    let delete = http
        .delete(&server.mcp_url)
        .bearer_auth(&access)
        .header(SESSION, "anything")
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(delete.headers()["allow"], "POST");
    let called = post(&server, &http, &access, None, &echo("stateless")).await;
    assert_eq!(called.status(), StatusCode::OK);
}
