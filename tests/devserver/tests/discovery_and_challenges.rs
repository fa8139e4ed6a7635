//! The devserver's discovery documents, registration rules, MCP challenges and faults.
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml

mod common;

use std::time::{Duration, Instant};

use common::*;
use mcpauth_devserver::{Config, Endpoint, Faults};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn get_json(http: &reqwest::Client, url: &str) -> (StatusCode, Value) {
    let response = http.get(url).send().await.expect("get");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn metadata_advertises_endpoints_pkce_and_iss_support() {
    let (server, http) = start(Config::default()).await;
    let (status, prm) = get_json(&http, &server.resource_metadata_url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(prm["resource"], json!(server.mcp_url));
    assert_eq!(prm["authorization_servers"], json!([server.issuer]));
    assert_eq!(prm["scopes_supported"], json!(["mcp:read", "mcp:admin"]));

    for suffix in ["oauth-authorization-server", "openid-configuration"] {
        let (status, meta) =
            get_json(&http, &format!("{}/.well-known/{suffix}", server.base_url)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(meta["issuer"], json!(server.issuer));
        assert!(!server.issuer.ends_with('/'));
        assert_eq!(
            meta["token_endpoint"],
            json!(format!("{}/token", server.issuer))
        );
        assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(
            meta["authorization_response_iss_parameter_supported"],
            json!(true)
        );
        assert_eq!(
            meta["scopes_supported"],
            json!(["mcp:read", "mcp:admin", "offline_access"])
        );
        let grants = meta["grant_types_supported"].as_array().unwrap();
        assert!(grants.contains(&json!("urn:ietf:params:oauth:grant-type:device_code")));
    }
    let stats = server.stats();
    assert_eq!(
        (stats.metadata_fetches, stats.resource_metadata_fetches),
        (2, 1)
    );
    assert_eq!(stats.requests_to(Endpoint::AuthorizationServerMetadata), 2);
}

#[tokio::test]
async fn path_issuer_on_second_port_serves_only_path_aware_metadata_urls() {
    let config = Config {
        as_port: Some(0),
        issuer_path: "/tenant1/".into(),
        ..Config::default()
    };
    let (server, http) = start(config).await;
    let origin = server
        .issuer
        .strip_suffix("/tenant1")
        .expect("issuer has the path");
    assert_ne!(origin, server.base_url);
    let (_, prm) = get_json(&http, &server.resource_metadata_url).await;
    assert_eq!(prm["authorization_servers"], json!([server.issuer]));
    for url in [
        format!("{origin}/.well-known/oauth-authorization-server/tenant1"),
        format!("{origin}/.well-known/openid-configuration/tenant1"),
        format!("{origin}/tenant1/.well-known/openid-configuration"),
    ] {
        let (status, meta) = get_json(&http, &url).await;
        assert_eq!(status, StatusCode::OK, "{url}");
        assert_eq!(meta["issuer"], json!(server.issuer));
        assert_eq!(
            meta["registration_endpoint"],
            json!(format!("{}/register", server.issuer))
        );
    }
    let (status, _) = get_json(
        &http,
        &format!("{origin}/.well-known/oauth-authorization-server"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        server.stats().not_found,
        ["/.well-known/oauth-authorization-server"]
    );
}

#[tokio::test]
async fn registration_requires_application_type_and_safe_redirect_uris() {
    let (server, http) = start(Config::default()).await;
    let register = |metadata: Value| {
        http.post(format!("{}/register", server.issuer))
            .json(&metadata)
            .send()
    };

    let response =
        register(json!({ "application_type": "native", "redirect_uris": [REDIRECT_URI] }))
            .await
            .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["token_endpoint_auth_method"], "client_secret_basic",
        "RFC 7591 default"
    );
    assert!(body["client_secret"].is_string());
    assert_eq!(body["redirect_uris"], json!([REDIRECT_URI]));

    let public = register_public(&server, &http).await;
    assert!(!public.is_empty());

    let cases = [
        (
            json!({ "redirect_uris": [REDIRECT_URI] }),
            "invalid_client_metadata",
        ),
        (
            json!({ "application_type": "native", "redirect_uris": ["http://example.com/cb"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "application_type": "native", "redirect_uris": ["https://a.example/cb#x"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "application_type": "native" }),
            "invalid_redirect_uri",
        ),
    ];
    for (metadata, error) in cases {
        let response = register(metadata.clone()).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{metadata}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], error, "{metadata}");
    }
    assert_eq!(server.stats().registrations, 2);
}

#[tokio::test]
async fn mcp_without_a_header_token_is_challenged_with_resource_metadata() {
    let (server, http) = start(Config::default()).await;
    let initialize = json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {} });
    let response = mcp(&server, &http, None, initialize.clone()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let expected = format!(
        r#"Bearer resource_metadata="{}", scope="mcp:read""#,
        server.resource_metadata_url
    );
    assert_eq!(response.headers()["www-authenticate"], expected.as_str());

    // A real token in the query string does not count.
    let client_id = register_public(&server, &http).await;
    let access = consented_token(&server, &http, &client_id).await;
    let url = format!("{}?access_token={access}", server.mcp_url);
    let response = http.post(url).json(&initialize).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let response = mcp(&server, &http, Some("not-a-token"), initialize).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with(r#"Bearer error="invalid_token""#),
        "{challenge}"
    );
    assert_eq!(server.stats().mcp_unauthorized, 3);
}

/// A token from a consent-page server, approved headlessly by posting the form.
async fn consented_token(
    server: &mcpauth_devserver::DevServerHandle,
    http: &reqwest::Client,
    client_id: &str,
) -> String {
    let (verifier, challenge) = pkce();
    let mut form = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT_URI),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
        ("resource", &server.mcp_url),
    ];
    let page = http
        .get(format!("{}/authorize", server.issuer))
        .query(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("/authorize/approve"));
    form.push(("action", "approve"));
    let response = http
        .post(format!("{}/authorize/approve", server.issuer))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(
        query_param(&location, "iss").as_deref(),
        Some(server.issuer.as_str())
    );
    let code = query_param(&location, "code").unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", &verifier),
        ("client_id", client_id),
    ];
    let (status, body) = token(server, http, &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn faults_switch_at_runtime_and_reset_restores_them() {
    let (server, http) = start(Config::default()).await;
    let metadata_url = format!("{}/.well-known/oauth-authorization-server", server.base_url);
    server.set_faults(Faults {
        wrong_issuer: true,
        omit_code_challenge_methods: true,
        server_error: vec![Endpoint::ResourceMetadata],
        ..Faults::default()
    });
    let (_, meta) = get_json(&http, &metadata_url).await;
    assert_ne!(meta["issuer"], json!(server.issuer));
    assert!(meta.get("code_challenge_methods_supported").is_none());
    let (status, _) = get_json(&http, &server.resource_metadata_url).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);

    // Over HTTP too: malformed and oversized bodies.
    let faults = json!({ "malformed_json": ["authorization_server_metadata"] });
    http.post(format!("{}/_dev/faults", server.base_url))
        .json(&faults)
        .send()
        .await
        .unwrap();
    let text = http
        .get(&metadata_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err());
    server.set_faults(Faults {
        oversized: vec![Endpoint::ResourceMetadata],
        ..Faults::default()
    });
    let bytes = http
        .get(&server.resource_metadata_url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(bytes.len() > mcpauth_devserver::OVERSIZED_BYTES);

    http.post(format!("{}/_dev/reset", server.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(server.faults(), Faults::default());
    let (_, stats) = get_json(&http, &format!("{}/_dev/stats", server.base_url)).await;
    assert_eq!(stats["total_requests"], 0);
}

#[tokio::test]
async fn stalled_endpoint_times_out_the_client_and_shutdown_still_finishes() {
    let faults = Faults {
        stall: vec![Endpoint::Token],
        latency_ms: 50,
        ..Faults::default()
    };
    let (server, http) = start(Config {
        faults,
        ..Config::default()
    })
    .await;
    let started = Instant::now();
    let (status, _) = get_json(&http, &server.resource_metadata_url).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        started.elapsed() >= Duration::from_millis(50),
        "latency applies"
    );

    let stalled = http
        .post(format!("{}/token", server.issuer))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(stalled.unwrap_err().is_timeout());
    let pending = tokio::spawn(http.post(format!("{}/token", server.issuer)).send());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    server.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(2));
    let answered = pending.await.unwrap();
    assert!(answered.is_err() || answered.unwrap().status() == StatusCode::SERVICE_UNAVAILABLE);
}
