//! The injected clock, and the lifetimes that run on it: access tokens, refresh tokens,
//! device codes and the device poll interval. No test here sleeps.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // tests

mod common;

use std::time::{Duration, UNIX_EPOCH};

use common::*;
use mcpauth_devserver::Config;
use reqwest::StatusCode;
use serde_json::{Value, json};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn ping() -> Value {
    json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" })
}

#[tokio::test]
async fn advancing_the_clock_over_http_expires_a_one_hour_token_at_once() {
    let (server, http) = auto_approving().await;
    let client_id = register_public(&server, &http).await;
    let tokens = code_flow(&server, &http, &client_id, "mcp:read").await;
    assert_eq!(tokens["expires_in"], 3600);
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        mcp(&server, &http, Some(access), ping()).await.status(),
        StatusCode::OK
    );

    let clock_url = format!("{}/_dev/clock", server.base_url);
    let before: Value = http
        .get(&clock_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let before = before["now_ms"].as_u64().unwrap();
    let system_ms = |t: std::time::SystemTime| {
        u64::try_from(t.duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
    };
    assert!(
        before.abs_diff(system_ms(std::time::SystemTime::now())) < 60_000,
        "an unadvanced clock is the system clock"
    );

    let almost = http
        .post(&clock_url)
        .json(&json!({ "advance_ms": 3_590_000 }))
        .send()
        .await
        .unwrap();
    assert_eq!(almost.status(), StatusCode::OK);
    let after: Value = almost.json().await.unwrap();
    assert!(after["now_ms"].as_u64().unwrap() >= before + 3_590_000);
    assert_eq!(
        mcp(&server, &http, Some(access), ping()).await.status(),
        StatusCode::OK,
        "ten seconds left"
    );

    server.advance_clock(Duration::from_secs(10));
    assert_eq!(
        mcp(&server, &http, Some(access), ping()).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(system_ms(server.server_time()) >= before + 3_600_000);

    let bad = http
        .post(&clock_url)
        .json(&json!({ "advance_ms": -5 }))
        .send()
        .await
        .unwrap();
    assert!(bad.status().is_client_error(), "the clock never goes back");
}

#[tokio::test]
async fn advancing_the_clock_lets_the_device_interval_pass_and_the_code_expire() {
    // The default 5 s interval and 600 s device code lifetime.
    let (server, http) = start(Config::default()).await;
    let client_id = register_public(&server, &http).await;
    let start_device = || async {
        let form = [("client_id", client_id.as_str()), ("scope", "mcp:read")];
        let response = http
            .post(format!("{}/device_authorization", server.issuer))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()
    };
    let poll = |device_code: String| {
        let form = [
            ("grant_type", DEVICE_GRANT.to_owned()),
            ("device_code", device_code),
            ("client_id", client_id.clone()),
        ];
        let (server, http) = (&server, &http);
        async move {
            let response = http
                .post(format!("{}/token", server.issuer))
                .form(&form)
                .send()
                .await
                .unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };

    let started = start_device().await;
    let device_code = started["device_code"].as_str().unwrap().to_owned();
    let (_, body) = poll(device_code.clone()).await;
    assert_eq!(body["error"], "authorization_pending");
    assert!(server.decide_device(started["user_code"].as_str().unwrap(), true));
    server.advance_clock(Duration::from_secs(5));
    let (status, tokens) = poll(device_code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");

    let eager = start_device().await;
    let device_code = eager["device_code"].as_str().unwrap().to_owned();
    poll(device_code.clone()).await;
    server.advance_clock(Duration::from_secs(2));
    let (_, body) = poll(device_code.clone()).await;
    assert_eq!(body["error"], "slow_down", "2 s of a 5 s interval");
    server.advance_clock(Duration::from_secs(10));
    let (_, body) = poll(device_code.clone()).await;
    assert_eq!(
        body["error"], "authorization_pending",
        "slow_down raised the interval to 10 s, and 10 s passed"
    );

    let late = start_device().await;
    server.advance_clock(Duration::from_secs(600));
    assert!(
        !server.decide_device(late["user_code"].as_str().unwrap(), true),
        "an expired user code cannot be approved"
    );
    let (_, body) = poll(late["device_code"].as_str().unwrap().to_owned()).await;
    assert_eq!(body["error"], "expired_token");
}
