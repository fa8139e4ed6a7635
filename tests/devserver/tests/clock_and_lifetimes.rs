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

async fn refresh(
    server: &mcpauth_devserver::DevServerHandle,
    http: &reqwest::Client,
    client_id: &str,
    refresh_token: &Value,
) -> (StatusCode, Value) {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.as_str().unwrap()),
        ("client_id", client_id),
    ];
    token(server, http, &form).await
}

#[tokio::test]
async fn access_token_ttl_ms_shortens_access_tokens_at_run_time() {
    let (server, http) = auto_approving().await;
    let client_id = register_public(&server, &http).await;
    let response = http
        .post(format!("{}/_dev/faults", server.base_url))
        .json(&json!({ "access_token_ttl_ms": 2000 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let tokens = code_flow(&server, &http, &client_id, "mcp:read").await;
    assert_eq!(tokens["expires_in"], 2);
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        mcp(&server, &http, Some(access), ping()).await.status(),
        StatusCode::OK
    );
    server.advance_clock(Duration::from_secs(2));
    assert_eq!(
        mcp(&server, &http, Some(access), ping()).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let (status, refreshed) = refresh(&server, &http, &client_id, &tokens["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_eq!(
        refreshed["expires_in"], 2,
        "refreshes get the short lifetime too"
    );

    server.reset();
    let tokens = code_flow(&server, &http, &client_id, "mcp:read").await;
    assert_eq!(
        tokens["expires_in"], 3600,
        "reset restores the configured lifetime"
    );
}

#[tokio::test]
async fn refresh_token_ttl_ms_expires_refresh_tokens_on_the_clock() {
    let (server, http) = auto_approving().await;
    server.set_faults(mcpauth_devserver::Faults {
        refresh_token_ttl_ms: Some(60_000),
        ..Default::default()
    });
    let client_id = register_public(&server, &http).await;
    let tokens = code_flow(&server, &http, &client_id, "mcp:read").await;
    server.advance_clock(Duration::from_secs(59));
    let (status, rotated) = refresh(&server, &http, &client_id, &tokens["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    server.advance_clock(Duration::from_secs(59));
    let (status, again) = refresh(&server, &http, &client_id, &rotated["refresh_token"]).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "each rotation starts a new lifetime: {again}"
    );
    server.advance_clock(Duration::from_secs(60));
    let (status, expired) = refresh(&server, &http, &client_id, &again["refresh_token"]).await;
    assert_eq!(
        (status, &expired["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    assert_eq!(expired["error_description"], "refresh token expired");
}

#[tokio::test]
async fn revoke_access_token_on_refresh_ends_the_previous_access_tokens_at_once() {
    let (server, http) = auto_approving().await;
    let client_id = register_public(&server, &http).await;
    let first = code_flow(&server, &http, &client_id, "mcp:read").await;
    let (_, second) = refresh(&server, &http, &client_id, &first["refresh_token"]).await;
    let status = |token: &Value| {
        let token = token.as_str().unwrap().to_owned();
        let (server, http) = (&server, &http);
        async move { mcp(server, http, Some(&token), ping()).await.status() }
    };
    assert_eq!(
        status(&first["access_token"]).await,
        StatusCode::OK,
        "off: the old access token lives on"
    );

    server.set_faults(mcpauth_devserver::Faults {
        revoke_access_token_on_refresh: true,
        ..Default::default()
    });
    let (code, third) = refresh(&server, &http, &client_id, &second["refresh_token"]).await;
    assert_eq!(code, StatusCode::OK, "{third}");
    assert_eq!(
        status(&first["access_token"]).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(&second["access_token"]).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(status(&third["access_token"]).await, StatusCode::OK);

    let other = code_flow(&server, &http, &client_id, "mcp:read").await;
    refresh(&server, &http, &client_id, &third["refresh_token"]).await;
    assert_eq!(
        status(&other["access_token"]).await,
        StatusCode::OK,
        "other grant families are untouched"
    );
    assert_eq!(
        server.stats().access_tokens_revoked_on_refresh,
        3,
        "the first and second, then the third"
    );
}
