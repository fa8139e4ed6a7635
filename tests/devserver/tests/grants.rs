//! The devserver's grants: code with PKCE, refresh rotation, device code, token exchange,
//! revocation, and step-up on the MCP endpoint.
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml

mod common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use mcpauth_devserver::{Config, DevServerHandle, Faults};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

#[tokio::test]
async fn auto_approved_code_flow_redirects_with_code_state_and_iss_and_the_token_works() {
    let (server, http) = auto_approving().await;
    let client_id = register_public(&server, &http).await;
    let (verifier, challenge) = pkce();
    let redirect = authorize(&server, &http, &client_id, &challenge, "mcp:read openid").await;
    assert_eq!(
        redirect.port(),
        Some(49152),
        "loopback port is ignored when matching, kept when redirecting"
    );
    assert_eq!(query_param(&redirect, "state").as_deref(), Some("st4te"));
    assert_eq!(
        query_param(&redirect, "iss").as_deref(),
        Some(server.issuer.as_str())
    );
    let code = query_param(&redirect, "code").unwrap();

    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", "http://127.0.0.1:49152/callback"),
        (
            "code_verifier",
            "wrong-verifier-wrong-verifier-wrong-verifier-wrong",
        ),
        ("client_id", &client_id),
    ];
    let (status, body) = token(&server, &http, &form).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    form[3].1 = &verifier;
    let (status, body) = token(&server, &http, &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "mcp:read openid");
    assert!(body["refresh_token"].is_string());
    let claims = body["id_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
    assert_eq!(claims["sub"], "devuser");
    let (status, again) = token(&server, &http, &form).await;
    assert_eq!(
        (status, &again["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant")),
        "codes are single use"
    );

    let access = body["access_token"].as_str().unwrap();
    let list = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" });
    let response = mcp(&server, &http, Some(access), list).await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "code reuse revoked the tokens"
    );
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    let response = mcp(&server, &http, None, initialized).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn mcp_answers_tools_and_challenges_for_admin_scope() {
    let (server, http) = auto_approving().await;
    let client_id = register_public(&server, &http).await;
    let tokens = code_flow(&server, &http, &client_id, "mcp:read").await;
    let access = tokens["access_token"].as_str().unwrap();

    let init = json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": { "protocolVersion": "2025-11-25" } });
    let response = mcp(&server, &http, Some(access), init).await;
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["result"]["protocolVersion"], "2025-11-25");
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    assert_eq!(
        mcp(&server, &http, Some(access), initialized)
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    let list: Value = mcp(
        &server,
        &http,
        Some(access),
        json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }),
    )
    .await
    .json()
    .await
    .unwrap();
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo", "admin-tool"]);

    let call = |name: &str| json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": { "name": name, "arguments": { "text": "hi" } } });
    let echo: Value = mcp(&server, &http, Some(access), call("echo"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(echo["result"]["content"][0]["text"], "hi");
    let response = mcp(&server, &http, Some(access), call("admin-tool")).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let expected = format!(
        r#"Bearer error="insufficient_scope", scope="mcp:read mcp:admin", resource_metadata="{}""#,
        server.resource_metadata_url
    );
    assert_eq!(response.headers()["www-authenticate"], expected.as_str());

    let stepped_up = code_flow(&server, &http, &client_id, "mcp:read mcp:admin").await;
    let admin = stepped_up["access_token"].as_str().unwrap();
    assert_eq!(
        mcp(&server, &http, Some(admin), call("admin-tool"))
            .await
            .status(),
        StatusCode::OK
    );
}

async fn refresh(
    server: &DevServerHandle,
    http: &Client,
    client_id: &str,
    refresh_token: &str,
) -> (StatusCode, Value) {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", client_id),
    ];
    token(server, http, &form).await
}

#[tokio::test]
async fn refresh_rotates_and_reuse_of_an_old_refresh_token_revokes_the_grant() {
    let (server, http) = auto_approving().await;
    let client_id = register_public(&server, &http).await;
    let first = code_flow(&server, &http, &client_id, "mcp:read").await;
    let old = first["refresh_token"].as_str().unwrap();

    let (status, second) = refresh(&server, &http, &client_id, old).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let new = second["refresh_token"].as_str().unwrap();
    assert_ne!(new, old);
    let access = second["access_token"].as_str().unwrap();
    let ping = json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" });
    assert_eq!(
        mcp(&server, &http, Some(access), ping.clone())
            .await
            .status(),
        StatusCode::OK
    );

    let (status, reuse) = refresh(&server, &http, &client_id, old).await;
    assert_eq!(
        (status, &reuse["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    let (status, _) = refresh(&server, &http, &client_id, new).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the newest refresh token died with the family"
    );
    assert_eq!(
        mcp(&server, &http, Some(access), ping).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let stats = server.stats();
    assert_eq!((stats.refreshes, stats.refresh_reuse_detected), (3, 1));
    assert_eq!(stats.token_requests("authorization_code"), 1);
}

#[tokio::test]
async fn a_lost_refresh_response_still_rotates_and_the_old_token_then_trips_reuse_detection() {
    let (server, http) = auto_approving().await;
    let client_id = register_public(&server, &http).await;
    let first = code_flow(&server, &http, &client_id, "mcp:read").await;
    let old = first["refresh_token"].as_str().unwrap();
    let access = first["access_token"].as_str().unwrap();
    server.set_faults(Faults {
        lose_refresh_response: true,
        ..Faults::default()
    });

    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", old),
        ("client_id", client_id.as_str()),
    ];
    let lost = http
        .post(format!("{}/token", server.issuer))
        .form(&form)
        .send()
        .await;
    let body = match lost {
        Ok(response) => response.bytes().await.map(|b| b.to_vec()),
        Err(e) => Err(e),
    };
    assert!(body.is_err(), "the answer arrived: {body:?}");
    assert_eq!(server.stats().refresh_responses_lost, 1);

    // The server committed: the old refresh token is spent, and presenting it again (as a
    // client that never saw the answer would) revokes the grant, answered as usual.
    let (status, reuse) = refresh(&server, &http, &client_id, old).await;
    assert_eq!(
        (status, &reuse["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    let ping = json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" });
    assert_eq!(
        mcp(&server, &http, Some(access), ping).await.status(),
        StatusCode::UNAUTHORIZED,
        "reuse detection revoked the family's access tokens"
    );
    let stats = server.stats();
    assert_eq!(
        (
            stats.refreshes,
            stats.refresh_reuse_detected,
            stats.refresh_responses_lost
        ),
        (2, 1, 1)
    );
}

#[tokio::test]
async fn revoking_a_refresh_token_and_expiring_access_tokens_end_access() {
    let config = Config {
        auto_approve: true,
        access_token_ttl: Duration::from_millis(300),
        ..Config::default()
    };
    let (server, http) = start(config).await;
    let client_id = register_public(&server, &http).await;
    let tokens = code_flow(&server, &http, &client_id, "mcp:read").await;
    assert_eq!(tokens["expires_in"], 0);
    let ping = json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" });
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        mcp(&server, &http, Some(access), ping.clone())
            .await
            .status(),
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        mcp(&server, &http, Some(access), ping).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let form = [
        ("token", refresh_token),
        ("token_type_hint", "refresh_token"),
        ("client_id", &client_id),
    ];
    let response = http
        .post(format!("{}/revoke", server.issuer))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, _) = refresh(&server, &http, &client_id, refresh_token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn confidential_client_must_use_its_registered_authentication_method() {
    let (server, http) = auto_approving().await;
    let metadata = json!({ "application_type": "web", "redirect_uris": ["https://app.example/cb"], "grant_types": ["authorization_code"] });
    let registered: Value = http
        .post(format!("{}/register", server.issuer))
        .json(&metadata)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (id, secret) = (
        registered["client_id"].as_str().unwrap(),
        registered["client_secret"].as_str().unwrap(),
    );
    let form = [
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("client_id", id),
        ("client_secret", secret),
    ];
    let (status, body) = token(&server, &http, &form).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_client")),
        "post is not basic"
    );
    let response = http
        .post(format!("{}/token", server.issuer))
        .basic_auth(id, Some("nope"))
        .form(&form[..1])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let response = http
        .post(format!("{}/token", server.issuer))
        .basic_auth(id, Some(secret))
        .form(&form[..1])
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["error"], "invalid_request",
        "authenticated; now the exchange parameters are missing"
    );
}

#[tokio::test]
async fn token_exchange_issues_a_token_for_another_audience_that_mcp_rejects() {
    let (server, http) = auto_approving().await;
    let client_id = register_public(&server, &http).await;
    let tokens = code_flow(&server, &http, &client_id, "mcp:read").await;
    let form = [
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("subject_token", tokens["access_token"].as_str().unwrap()),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:access_token",
        ),
        ("resource", "https://downstream.example/api"),
        ("client_id", &client_id),
    ];
    let (status, exchanged) = token(&server, &http, &form).await;
    assert_eq!(status, StatusCode::OK, "{exchanged}");
    assert_eq!(
        exchanged["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert!(exchanged.get("refresh_token").is_none());
    let ping = json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" });
    let response = mcp(&server, &http, exchanged["access_token"].as_str(), ping).await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "wrong audience"
    );
}

async fn device_authorization(server: &DevServerHandle, http: &Client, client_id: &str) -> Value {
    let form = [
        ("client_id", client_id),
        ("scope", "mcp:read"),
        ("resource", &server.mcp_url),
    ];
    let response = http
        .post(format!("{}/device_authorization", server.issuer))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn poll(
    server: &DevServerHandle,
    http: &Client,
    client_id: &str,
    device_code: &str,
) -> (StatusCode, Value) {
    token(
        server,
        http,
        &[
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code),
            ("client_id", client_id),
        ],
    )
    .await
}

#[tokio::test]
async fn device_flow_is_pending_until_the_user_approves_and_enforces_the_interval() {
    let config = Config {
        device_interval: Duration::from_secs(1),
        ..Config::default()
    };
    let (server, http) = start(config).await;
    let client_id = register_public(&server, &http).await;
    let started = device_authorization(&server, &http, &client_id).await;
    assert_eq!(started["interval"], 1);
    assert_eq!(
        started["verification_uri"],
        json!(format!("{}/device", server.issuer))
    );
    let user_code = started["user_code"].as_str().unwrap();
    assert!(
        user_code.len() == 9 && user_code.as_bytes()[4] == b'-',
        "{user_code}"
    );
    let device_code = started["device_code"].as_str().unwrap();

    let (_, body) = poll(&server, &http, &client_id, device_code).await;
    assert_eq!(body["error"], "authorization_pending");
    let page = http
        .get(started["verification_uri_complete"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert!(page.text().await.unwrap().contains(user_code));
    let approve = [
        ("user_code", user_code.to_lowercase()),
        ("action", "approve".into()),
    ];
    let response = http
        .post(format!("{}/device/approve", server.issuer))
        .form(&approve)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (status, tokens) = poll(&server, &http, &client_id, device_code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert!(tokens["access_token"].is_string());

    let eager = device_authorization(&server, &http, &client_id).await;
    let device_code = eager["device_code"].as_str().unwrap();
    let (_, body) = poll(&server, &http, &client_id, device_code).await;
    assert_eq!(body["error"], "authorization_pending");
    let (_, body) = poll(&server, &http, &client_id, device_code).await;
    assert_eq!(
        body["error"], "slow_down",
        "polled before the interval passed"
    );

    let denied = device_authorization(&server, &http, &client_id).await;
    assert!(server.decide_device(denied["user_code"].as_str().unwrap(), false));
    let (_, body) = poll(
        &server,
        &http,
        &client_id,
        denied["device_code"].as_str().unwrap(),
    )
    .await;
    assert_eq!(body["error"], "access_denied");
}

#[tokio::test]
async fn auto_approve_completes_the_device_flow_on_the_second_poll() {
    let config = Config {
        auto_approve: true,
        device_interval: Duration::from_secs(1),
        ..Config::default()
    };
    let (server, http) = start(config).await;
    let client_id = register_public(&server, &http).await;
    let started = device_authorization(&server, &http, &client_id).await;
    let device_code = started["device_code"].as_str().unwrap();
    let (_, body) = poll(&server, &http, &client_id, device_code).await;
    assert_eq!(body["error"], "authorization_pending");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (status, tokens) = poll(&server, &http, &client_id, device_code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(server.stats().token_requests(DEVICE_GRANT), 2);
}
