//! A user without a grant gets `401 login_required` with a login URL; following it (the dev
//! server approves at once and redirects to the gateway's `/callback`) completes the login on
//! the gateway, and the user's next request is forwarded and answered. Another user still
//! needs their own login, a request without the user header is refused, and a callback that
//! no login waits for gets an error page.
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml

mod common;

use std::time::Duration;

use common::redis_server::RedisServer;
use common::{Gateway, http_client, login, mcp, rpc, within};
use mcpauth_devserver::{Config, DevServer};
use serde_json::Value;

#[tokio::test]
async fn a_user_logs_in_through_the_gateway_and_their_requests_are_forwarded() {
    let redis = RedisServer::start();
    let server = DevServer::start(Config {
        auto_approve: true,
        ..Config::default()
    })
    .await
    .unwrap();
    let gateway = Gateway::start(&redis.url(), &server.mcp_url, "tenant-a").await;
    let http = http_client();
    let health = http
        .get(format!("{}/healthz", gateway.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");

    let user = "alice@example.com"; // not a profile name: the gateway hashes it
    within(
        Duration::from_secs(30),
        "the login",
        login(&http, &gateway.url, user),
    )
    .await;
    server.reset(); // the login's own probe met a 401
    let (status, body) = mcp(&http, &gateway.url, user, rpc("tools/list", Value::Null)).await;
    assert_eq!(status, 200, "{body}\n{}", gateway.stderr());
    let tools = body["result"]["tools"].as_array().expect("a tools list");
    assert!(tools.iter().any(|t| t["name"] == "echo"), "{body}");
    assert_eq!(
        server.stats().mcp_unauthorized,
        0,
        "the stored token was sent"
    );

    let (status, body) = mcp(&http, &gateway.url, "bob", common::echo("hi")).await;
    assert_eq!(
        (status, &body["error"]),
        (401, &Value::from("login_required"))
    );

    let resp = http
        .post(format!("{}/mcp", gateway.url))
        .body(rpc("tools/list", Value::Null))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);

    let resp = http
        .get(format!(
            "{}/callback?code=x&state=no-such-login",
            gateway.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("NO_PENDING_AUTHORIZATION")
    );

    let keys = redis.cli_text(&["KEYS", "mcpauth:tenant-a:grant#*"]);
    assert_eq!(keys.lines().count(), 1, "{keys}");
    assert!(!keys.contains("alice@"), "the user id is hashed: {keys}");
}
