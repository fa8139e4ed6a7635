//! The switches a parity suite uses to give every client the same hostile server: grant type
//! rules, error redirects, short lifetimes, slow and oversized answers, and an MCP endpoint
//! that never accepts a token.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // tests

mod common;

use std::time::{Duration, Instant};

use common::*;
use mcpauth_devserver::{
    ClientAuth, Config, Endpoint, Faults, GROWING_SCOPE_PREFIX, OVERSIZED_CHALLENGE_BYTES,
    RegisteredClient, StepUpLoop,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn native_client(grant_types: &[&str]) -> Value {
    let mut metadata = json!({
        "application_type": "native", "token_endpoint_auth_method": "none",
        "grant_types": grant_types,
    });
    if grant_types.contains(&"authorization_code") {
        metadata["redirect_uris"] = json!([REDIRECT_URI]);
    }
    metadata
}

#[tokio::test]
async fn one_grant_type_per_client_refuses_code_plus_device_registration() {
    let (server, http) = start(Config::default()).await;
    let response = http
        .post(format!("{}/_dev/faults", server.base_url))
        .json(&json!({ "one_grant_type_per_client": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(server.faults().one_grant_type_per_client);

    let both = native_client(&["authorization_code", "refresh_token", DEVICE_GRANT]);
    let (status, body) = register_with(&server, &http, &both).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_client_metadata");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.contains("authorization_code") && description.contains(DEVICE_GRANT),
        "{description}"
    );

    for grants in [
        ["authorization_code", "refresh_token"],
        [DEVICE_GRANT, "refresh_token"],
    ] {
        let (status, body) = register_with(&server, &http, &native_client(&grants)).await;
        assert_eq!(status, StatusCode::CREATED, "{grants:?}: {body}");
        assert_eq!(body["grant_types"], json!(grants));
    }
    let stats = server.stats();
    assert_eq!((stats.registrations, stats.registrations_refused), (2, 1));

    server.set_faults(Default::default());
    let (status, _) = register_with(&server, &http, &both).await;
    assert_eq!(status, StatusCode::CREATED, "off again");
}

#[tokio::test]
async fn unregistered_grant_types_are_refused_with_unauthorized_client() {
    let (server, http) = auto_approving().await;
    let device_start = |client_id: String| {
        let (server, http) = (&server, &http);
        async move {
            let form = [("client_id", client_id.as_str())];
            post_form(server, http, "/device_authorization", &form).await
        }
    };

    let code_only = native_client(&["authorization_code", "refresh_token"]);
    let (_, registered) = register_with(&server, &http, &code_only).await;
    let code_client = registered["client_id"].as_str().unwrap().to_owned();
    let (status, body) = device_start(code_client.clone()).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("unauthorized_client"))
    );
    let poll = [
        ("grant_type", DEVICE_GRANT),
        ("device_code", "dc_whatever"),
        ("client_id", &code_client),
    ];
    let (status, body) = token(&server, &http, &poll).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("unauthorized_client")),
        "checked before the device code"
    );
    let tokens = code_flow(&server, &http, &code_client, "mcp:read").await;
    assert!(tokens["access_token"].is_string(), "its own grant works");

    let device_only = native_client(&[DEVICE_GRANT, "refresh_token"]);
    let (_, registered) = register_with(&server, &http, &device_only).await;
    let device_client = registered["client_id"].as_str().unwrap().to_owned();
    let (status, _) = device_start(device_client.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let (verifier, _) = pkce();
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", "code_whatever"),
        ("code_verifier", &verifier),
        ("client_id", &device_client),
    ];
    let (status, body) = token(&server, &http, &exchange).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("unauthorized_client"))
    );

    let unlisted = json!({
        "application_type": "native", "token_endpoint_auth_method": "none",
        "redirect_uris": [REDIRECT_URI],
    });
    let (_, registered) = register_with(&server, &http, &unlisted).await;
    assert_eq!(
        registered["grant_types"],
        json!(["authorization_code"]),
        "RFC 7591 default, stated in the response"
    );
    let (status, body) = device_start(registered["client_id"].as_str().unwrap().into()).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("unauthorized_client"))
    );

    server.register_client(RegisteredClient {
        client_id: "preregistered".into(),
        auth: ClientAuth::None,
        redirect_uris: Vec::new(),
    });
    let (status, body) = device_start("preregistered".into()).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "pre-registered clients use any grant: {body}"
    );
    assert_eq!(server.stats().unauthorized_client, 4);
}

#[tokio::test]
async fn deny_authorization_redirects_with_the_error_and_state_before_consent() {
    let (server, http) = start(Config::default()).await;
    let client_id = register_public(&server, &http).await;
    let (_, challenge) = pkce();
    let response = http
        .post(format!("{}/_dev/faults", server.base_url))
        .json(&json!({ "deny_authorization": "access_denied" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let redirect = authorize(&server, &http, &client_id, &challenge, "mcp:read").await;
    assert_eq!(
        query_param(&redirect, "error").as_deref(),
        Some("access_denied"),
        "no consent page: {redirect}"
    );
    assert_eq!(query_param(&redirect, "state").as_deref(), Some("st4te"));
    assert_eq!(
        query_param(&redirect, "iss").as_deref(),
        Some(server.issuer.as_str()),
        "error redirects carry iss unless told otherwise"
    );
    assert!(query_param(&redirect, "code").is_none());

    let unknown_client = http
        .get(format!("{}/authorize", server.issuer))
        .query(&[("client_id", "nobody"), ("redirect_uri", REDIRECT_URI)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        unknown_client.status(),
        StatusCode::BAD_REQUEST,
        "never redirect to an unchecked URI"
    );
    assert_eq!(server.stats().authorization_error_redirects, 1);
}

#[tokio::test]
async fn error_redirect_without_iss_leaves_iss_out_of_error_redirects_only() {
    let (server, http) = auto_approving().await;
    let client_id = register_public(&server, &http).await;
    let (_, challenge) = pkce();
    server.set_faults(Faults {
        error_redirect_without_iss: true,
        deny_authorization: Some("access_denied".into()),
        ..Default::default()
    });
    let metadata: Value = http
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            server.base_url
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["authorization_response_iss_parameter_supported"],
        true
    );

    let denied = authorize(&server, &http, &client_id, &challenge, "mcp:read").await;
    assert_eq!(
        query_param(&denied, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(query_param(&denied, "state").as_deref(), Some("st4te"));
    assert_eq!(query_param(&denied, "iss"), None, "{denied}");

    server.set_faults(Faults {
        error_redirect_without_iss: true,
        ..Default::default()
    });
    let bad_scope = authorize(&server, &http, &client_id, &challenge, "no-such-scope").await;
    assert_eq!(
        query_param(&bad_scope, "error").as_deref(),
        Some("invalid_scope")
    );
    assert_eq!(query_param(&bad_scope, "iss"), None, "{bad_scope}");
    let granted = authorize(&server, &http, &client_id, &challenge, "mcp:read").await;
    assert!(query_param(&granted, "code").is_some());
    assert_eq!(
        query_param(&granted, "iss").as_deref(),
        Some(server.issuer.as_str()),
        "successful redirects keep iss"
    );
}

#[tokio::test]
async fn trickle_sends_headers_at_once_then_the_body_a_byte_at_a_time() {
    let (server, http) = start(Config::default()).await;
    server.set_faults(Faults {
        trickle: vec![Endpoint::ResourceMetadata],
        ..Default::default()
    });
    let started = Instant::now();
    let mut response = http
        .get(&server.resource_metadata_url)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "headers come at once"
    );
    let length = response.content_length().unwrap();
    assert!(length > 100, "the whole body is announced: {length}");
    let first = response.chunk().await.unwrap().unwrap();
    assert_eq!(&first[..], b"{");
    let next = tokio::time::timeout(Duration::from_millis(300), response.chunk()).await;
    assert!(next.is_err(), "the second byte waits for the next second");
    drop(response);

    let whole = http
        .get(&server.resource_metadata_url)
        .timeout(Duration::from_millis(500))
        .send()
        .await
        .unwrap()
        .bytes()
        .await;
    assert!(
        whole.unwrap_err().is_timeout(),
        "a deadline for the whole request expires"
    );
    assert_eq!(server.stats().requests_to(Endpoint::ResourceMetadata), 2);
}

#[tokio::test]
async fn oversized_www_authenticate_pads_the_401_challenge_past_16_kib() {
    let (server, http) = start(Config::default()).await;
    let response = http
        .post(format!("{}/_dev/faults", server.base_url))
        .json(&json!({ "oversized_www_authenticate": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let init = json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {} });
    for token in [None, Some("not-a-token")] {
        let response = mcp(&server, &http, token, init.clone()).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenge = response.headers()["www-authenticate"].to_str().unwrap();
        assert_eq!(challenge.len(), OVERSIZED_CHALLENGE_BYTES);
        assert!(challenge.len() > 16 * 1024);
        let metadata = format!(r#"resource_metadata="{}""#, server.resource_metadata_url);
        assert!(
            challenge.starts_with("Bearer ") && challenge.contains(&metadata),
            "still a usable challenge"
        );
        let padding = challenge.rsplit_once(r#", x_padding=""#).unwrap().1;
        assert!(padding.ends_with('"') && padding.len() > 20_000);
    }
}

#[tokio::test]
async fn persistent_401_challenges_even_a_valid_token() {
    let (server, http) = auto_approving().await;
    let client_id = register_public(&server, &http).await;
    let tokens = code_flow(&server, &http, &client_id, "mcp:read").await;
    let access = tokens["access_token"].as_str().unwrap();
    let ping = json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" });
    let response = http
        .post(format!("{}/_dev/faults", server.base_url))
        .json(&json!({ "persistent_401": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let response = mcp(&server, &http, Some(access), ping.clone()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with(r#"Bearer error="invalid_token""#),
        "{challenge}"
    );
    assert!(challenge.ends_with(&format!(
        r#"resource_metadata="{}""#,
        server.resource_metadata_url
    )));
    let response = mcp(&server, &http, None, ping.clone()).await;
    assert_eq!(
        response.headers()["www-authenticate"],
        format!(
            r#"Bearer resource_metadata="{}", scope="mcp:read""#,
            server.resource_metadata_url
        )
        .as_str()
    );
    let fresh = code_flow(&server, &http, &client_id, "mcp:read").await;
    let response = mcp(&server, &http, fresh["access_token"].as_str(), ping.clone()).await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "new tokens too"
    );
    assert_eq!(server.stats().mcp_unauthorized, 3);

    server.set_faults(Faults::default());
    let response = mcp(&server, &http, Some(access), ping).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the token was valid all along"
    );
}

#[tokio::test]
async fn stats_json_always_lists_every_counter() {
    let (server, http) = start(Config::default()).await;
    let stats: Value = http
        .get(format!("{}/_dev/stats", server.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut keys: Vec<&str> = stats
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut expected = [
        "total_requests",
        "requests",
        "token_grants",
        "refreshes",
        "refresh_reuse_detected",
        "revocations",
        "access_tokens_revoked_on_refresh",
        "registrations",
        "registrations_refused",
        "unauthorized_client",
        "metadata_fetches",
        "resource_metadata_fetches",
        "authorization_error_redirects",
        "mcp_unauthorized",
        "tokens_issued",
        "mcp_sse_responses",
        "sessions_started",
        "sessions_ended",
        "session_requests",
        "sessions_refused",
        "not_found",
        "leaks",
        "step_up_challenges",
    ];
    expected.sort_unstable();
    assert_eq!(keys, expected, "a fresh server states every counter");
    assert_eq!(stats["requests"], json!({}));
    assert_eq!(stats["not_found"], json!([]));
    assert_eq!(stats["revocations"], 0);
}

#[tokio::test]
async fn revocations_count_only_tokens_that_were_revoked() {
    let (server, http) = auto_approving().await;
    let client_id = register_public(&server, &http).await;
    let tokens = code_flow(&server, &http, &client_id, "mcp:read").await;
    let revoke = |token: String| {
        let (server, http, client_id) = (&server, &http, client_id.clone());
        async move {
            let form = [("token", token.as_str()), ("client_id", client_id.as_str())];
            let response = http
                .post(format!("{}/revoke", server.issuer))
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
        }
    };
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    revoke(access.clone()).await;
    let ping = json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" });
    assert_eq!(
        mcp(&server, &http, Some(&access), ping).await.status(),
        StatusCode::UNAUTHORIZED
    );
    revoke("at_unknown".into()).await;
    revoke(tokens["refresh_token"].as_str().unwrap().to_owned()).await;
    let stats = server.stats();
    assert_eq!(stats.revocations, 2, "the unknown token does not count");
    assert_eq!(stats.requests_to(Endpoint::Revoke), 3);
}

#[tokio::test]
async fn leaks_name_a_bearer_on_registration_and_a_token_in_a_url_but_not_the_value() {
    let (server, http) = auto_approving().await;
    let client_id = register_public(&server, &http).await;
    let tokens = code_flow(&server, &http, &client_id, "mcp:read").await;
    let access = tokens["access_token"].as_str().unwrap();
    // A well-behaved exchange leaves nothing behind.
    let ok = mcp(
        &server,
        &http,
        Some(access),
        json!({"jsonrpc":"2.0","id":1,"method":"ping"}),
    )
    .await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(server.stats().leaks, Vec::<String>::new());

    let metadata = native_client(&["authorization_code", "refresh_token"]);
    http.post(format!("{}/register", server.issuer))
        .bearer_auth(access)
        .json(&metadata)
        .send()
        .await
        .unwrap();
    http.get(format!("{}?access_token={access}", server.mcp_url))
        .send()
        .await
        .unwrap();
    let leaks = server.stats().leaks;
    assert_eq!(
        leaks,
        [
            "an Authorization header on a register request",
            "an issued token or code in the URL of a mcp request",
        ]
    );
    assert!(leaks.iter().all(|l| !l.contains(access)));
}

#[tokio::test]
async fn token_response_fields_overwrite_and_remove_members_of_token_responses() {
    let (server, http) = auto_approving().await;
    let client_id = register_public(&server, &http).await;
    let response = http
        .post(format!("{}/_dev/faults", server.base_url))
        .json(&json!({ "token_response_fields": {
            "expires_in": "3600", "token_type": "mac", "scope": null,
        }}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let tokens = code_flow(&server, &http, &client_id, "mcp:read offline_access").await;
    assert_eq!(tokens["expires_in"], "3600");
    assert_eq!(tokens["token_type"], "mac");
    assert!(tokens.get("scope").is_none(), "null removes: {tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    let ping = json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" });
    assert_eq!(
        mcp(&server, &http, Some(access), ping).await.status(),
        StatusCode::OK,
        "only the body changed"
    );
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ("client_id", &client_id),
    ];
    let (status, refreshed) = token(&server, &http, &refresh).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_eq!(refreshed["token_type"], "mac", "every grant's response");
}

#[tokio::test]
async fn registration_faults_refuse_or_rewrite_the_registration_response() {
    let (server, http) = start(Config::default()).await;
    let metadata = native_client(&["authorization_code", "refresh_token"]);
    server.set_faults(Faults {
        registration_response_fields: [("client_id".to_owned(), Value::Null)].into(),
        ..Default::default()
    });
    let (status, body) = register_with(&server, &http, &metadata).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body.get("client_id").is_none(), "{body}");
    assert!(body["client_id_issued_at"].is_u64(), "the rest stays");

    let response = http
        .post(format!("{}/_dev/faults", server.base_url))
        .json(&json!({ "refuse_registration": {
            "error": "invalid_redirect_uri", "error_description": "no loopback",
        }}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, body) = register_with(&server, &http, &metadata).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({ "error": "invalid_redirect_uri", "error_description": "no loopback" })
    );
    let stats = server.stats();
    assert_eq!((stats.registrations, stats.registrations_refused), (1, 1));
}

#[tokio::test]
async fn refresh_without_rotation_keeps_the_presented_refresh_token_valid() {
    let (server, http) = auto_approving().await;
    let client_id = register_public(&server, &http).await;
    let tokens = code_flow(&server, &http, &client_id, "mcp:read offline_access").await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    server.set_faults(Faults {
        refresh_without_rotation: true,
        ..Default::default()
    });
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", &client_id),
    ];
    for _ in 0..2 {
        let (status, body) = token(&server, &http, &refresh).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.get("refresh_token").is_none(), "{body}");
        assert!(body["access_token"].is_string());
    }
    server.set_faults(Faults::default());
    let (status, body) = token(&server, &http, &refresh).await;
    assert_eq!(status, StatusCode::OK, "still the live one: {body}");
    let (status, body) = token(&server, &http, &refresh).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant")),
        "rotation is back"
    );
    assert_eq!(server.stats().refresh_reuse_detected, 1);
}

#[tokio::test]
async fn www_authenticate_replaces_the_challenge_of_401_and_403() {
    let (server, http) = auto_approving().await;
    let broken = r#"Bearer resource_metadata="http://127.0.0.1:9/a"#;
    server.set_faults(Faults {
        www_authenticate: Some(broken.into()),
        ..Default::default()
    });
    let ping = json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" });
    let response = mcp(&server, &http, None, ping.clone()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], broken);

    let client_id = register_public(&server, &http).await;
    let tokens = code_flow(&server, &http, &client_id, "mcp:read").await;
    let call = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": { "name": "admin-tool", "arguments": {} } });
    let response = mcp(&server, &http, tokens["access_token"].as_str(), call).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.headers()["www-authenticate"], broken);
}

#[tokio::test]
async fn endless_step_up_refuses_every_token_with_insufficient_scope() {
    let (server, http) = auto_approving().await;
    let client_id = register_public(&server, &http).await;
    let ping = json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" });
    let challenge_of = |response: &reqwest::Response| {
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned()
    };

    let response = http
        .post(format!("{}/_dev/faults", server.base_url))
        .json(&json!({ "endless_step_up": "granted" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let tokens = code_flow(&server, &http, &client_id, "mcp:read mcp:admin").await;
    let response = mcp(
        &server,
        &http,
        tokens["access_token"].as_str(),
        ping.clone(),
    )
    .await;
    let challenge = challenge_of(&response);
    assert!(
        challenge.starts_with(r#"Bearer error="insufficient_scope", scope="mcp:read mcp:admin""#),
        "the scope the token has: {challenge}"
    );
    let response = mcp(&server, &http, None, ping.clone()).await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "no token: the usual 401"
    );

    server.set_faults(Faults {
        endless_step_up: Some(StepUpLoop::Growing),
        ..Default::default()
    });
    let mut scope = "mcp:read".to_owned();
    for n in 2..=3 {
        let tokens = code_flow(&server, &http, &client_id, &scope).await;
        let response = mcp(
            &server,
            &http,
            tokens["access_token"].as_str(),
            ping.clone(),
        )
        .await;
        let asked = format!("{GROWING_SCOPE_PREFIX}{n}");
        assert!(
            challenge_of(&response).contains(&format!(r#"scope="{asked}""#)),
            "a new scope each time"
        );
        scope = format!("{scope} {asked}");
    }
    assert_eq!(server.stats().step_up_challenges, 3);

    server.set_faults(Faults::default());
    let (_, challenge) = pkce();
    let refused = authorize(&server, &http, &client_id, &challenge, "mcp:extra-1").await;
    assert_eq!(
        query_param(&refused, "error").as_deref(),
        Some("invalid_scope"),
        "the extra scopes exist only while the loop runs"
    );
}
