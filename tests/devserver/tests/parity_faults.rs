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
    ClientAuth, Config, Endpoint, Faults, GROWING_SCOPE_PREFIX, HUGE_BODY_BYTES,
    OVERSIZED_CHALLENGE_BYTES, REDIRECTED_MARKER, RegisteredClient, StepUpLoop,
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
        "device_polls_too_fast",
        "refresh_responses_lost",
        "step_up_challenges",
        "dpop_proofs_accepted",
        "dpop_proofs_refused",
        "dpop_replays_refused",
        "dpop_nonce_challenges",
        "assertions_refused",
        "connections",
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

/// Starts a device authorization for `client_id`; its JSON body.
async fn device_start(
    server: &mcpauth_devserver::DevServerHandle,
    http: &reqwest::Client,
    client_id: &str,
) -> Value {
    let form = [("client_id", client_id), ("scope", "mcp:read")];
    let (status, body) = post_form(server, http, "/device_authorization", &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// One device poll; the `error` it got, or `"tokens"`.
async fn device_poll(
    server: &mcpauth_devserver::DevServerHandle,
    http: &reqwest::Client,
    client_id: &str,
    started: &Value,
) -> String {
    let device_code = started["device_code"].as_str().unwrap();
    let form = [
        ("grant_type", DEVICE_GRANT),
        ("device_code", device_code),
        ("client_id", client_id),
    ];
    let (status, body) = token(server, http, &form).await;
    if status == StatusCode::OK {
        assert!(body["access_token"].is_string(), "{body}");
        return "tokens".into();
    }
    body["error"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn device_slow_down_answers_the_first_polls_slow_down_and_raises_the_interval() {
    let (server, http) = auto_approving().await;
    server.set_faults(Faults {
        device_slow_down: Some(2),
        ..Faults::default()
    });
    let client_id = register_public(&server, &http).await;
    let started = device_start(&server, &http, &client_id).await;
    let mut answers = Vec::new();
    // The 5 s interval, then 10 s and 15 s after each slow_down; the last wait is 15 s too.
    for wait in [0, 10, 15, 15] {
        server.advance_clock(Duration::from_secs(wait));
        answers.push(device_poll(&server, &http, &client_id, &started).await);
    }
    assert_eq!(
        answers,
        ["slow_down", "slow_down", "authorization_pending", "tokens"]
    );
    assert_eq!(
        server.stats().device_polls_too_fast,
        0,
        "each wait was long enough"
    );

    let hasty = device_start(&server, &http, &client_id).await;
    assert_eq!(
        device_poll(&server, &http, &client_id, &hasty).await,
        "slow_down"
    );
    server.advance_clock(Duration::from_secs(5));
    assert_eq!(
        device_poll(&server, &http, &client_id, &hasty).await,
        "slow_down",
        "5 s of the raised 10 s interval"
    );
    assert_eq!(server.stats().device_polls_too_fast, 1);
}

#[tokio::test]
async fn device_interval_is_stated_as_given_and_enforced_when_whole_seconds() {
    let (server, http) = start(Config::default()).await;
    let client_id = register_public(&server, &http).await;
    server.set_faults(Faults {
        device_interval: Some(json!("2")),
        ..Faults::default()
    });
    let started = device_start(&server, &http, &client_id).await;
    assert_eq!(started["interval"], json!("2"));
    assert_eq!(
        device_poll(&server, &http, &client_id, &started).await,
        "authorization_pending"
    );
    server.advance_clock(Duration::from_secs(2));
    assert_eq!(
        device_poll(&server, &http, &client_id, &started).await,
        "authorization_pending",
        "2 s is the interval enforced, not the configured 5 s"
    );

    server.set_faults(Faults {
        device_interval: Some(json!(0)),
        ..Faults::default()
    });
    let started = device_start(&server, &http, &client_id).await;
    assert_eq!(started["interval"], json!(0));
    for _ in 0..3 {
        assert_eq!(
            device_poll(&server, &http, &client_id, &started).await,
            "authorization_pending"
        );
    }
    assert_eq!(
        server.stats().device_polls_too_fast,
        0,
        "0 enforces nothing"
    );
}

#[tokio::test]
async fn device_omit_interval_leaves_it_out_and_enforces_the_rfc_default() {
    let (server, http) = start(Config {
        device_interval: Duration::from_secs(1),
        ..Config::default()
    })
    .await;
    let client_id = register_public(&server, &http).await;
    server.set_faults(Faults {
        device_omit_interval: true,
        ..Faults::default()
    });
    let started = device_start(&server, &http, &client_id).await;
    assert!(started.get("interval").is_none(), "{started}");
    assert_eq!(
        device_poll(&server, &http, &client_id, &started).await,
        "authorization_pending"
    );
    server.advance_clock(Duration::from_secs(4));
    assert_eq!(
        device_poll(&server, &http, &client_id, &started).await,
        "slow_down",
        "4 s of RFC 8628's default 5 s, though 1 s is configured"
    );
}

#[tokio::test]
async fn device_expires_in_sets_the_stated_and_enforced_lifetime() {
    let (server, http) = start(Config::default()).await;
    let client_id = register_public(&server, &http).await;
    server.set_faults(Faults {
        device_expires_in: Some(12),
        ..Faults::default()
    });
    let started = device_start(&server, &http, &client_id).await;
    assert_eq!(started["expires_in"], 12);
    server.advance_clock(Duration::from_secs(11));
    assert_eq!(
        device_poll(&server, &http, &client_id, &started).await,
        "authorization_pending"
    );
    server.advance_clock(Duration::from_secs(1));
    assert_eq!(
        device_poll(&server, &http, &client_id, &started).await,
        "expired_token"
    );
}

#[tokio::test]
async fn device_deny_denies_each_authorization_before_its_first_poll() {
    let (server, http) = auto_approving().await;
    let client_id = register_public(&server, &http).await;
    server.set_faults(Faults {
        device_deny: true,
        ..Faults::default()
    });
    let started = device_start(&server, &http, &client_id).await;
    assert_eq!(
        device_poll(&server, &http, &client_id, &started).await,
        "access_denied"
    );
    assert!(
        !server.decide_device(started["user_code"].as_str().unwrap(), true),
        "nothing is left to approve"
    );
}

#[tokio::test]
async fn device_expire_answers_expired_token_and_forgets_the_code() {
    let (server, http) = auto_approving().await;
    let client_id = register_public(&server, &http).await;
    server.set_faults(Faults {
        device_expire: true,
        ..Faults::default()
    });
    let started = device_start(&server, &http, &client_id).await;
    assert_eq!(
        started["expires_in"], 600,
        "the lifetime stated is unchanged"
    );
    assert_eq!(
        device_poll(&server, &http, &client_id, &started).await,
        "expired_token"
    );
    server.set_faults(Faults::default());
    server.advance_clock(Duration::from_secs(5));
    assert_eq!(
        device_poll(&server, &http, &client_id, &started).await,
        "invalid_grant"
    );
}

#[tokio::test]
async fn redirect_answers_307_to_the_same_path_and_records_a_followed_one_as_a_leak() {
    let (server, http) = start(Config::default()).await;
    server.set_faults(Faults {
        redirect: vec![Endpoint::Token],
        ..Default::default()
    });
    let token_url = format!("{}/token", server.issuer);
    let response = http
        .post(&token_url)
        .form(&[("grant_type", "authorization_code"), ("code", "c")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, format!("{token_url}?{REDIRECTED_MARKER}"));
    assert!(server.stats().leaks.is_empty(), "not following is fine");

    let followed = http.post(&location).send().await.unwrap();
    assert_eq!(followed.status(), StatusCode::TEMPORARY_REDIRECT);
    let leaks = server.stats().leaks;
    assert_eq!(leaks.len(), 1, "{leaks:?}");
    assert!(leaks[0].contains("token request sent again"), "{leaks:?}");
    assert_eq!(server.stats().requests_to(Endpoint::Token), 2);
}

#[tokio::test]
async fn huge_body_announces_and_streams_50_mib_of_json() {
    let (server, http) = start(Config::default()).await;
    server.set_faults(Faults {
        huge_body: vec![Endpoint::AuthorizationServerMetadata],
        ..Default::default()
    });
    let url = format!("{}/.well-known/oauth-authorization-server", server.base_url);
    let mut response = http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.content_length(), Some(HUGE_BODY_BYTES as u64));
    let mut read = 0;
    let mut first = None;
    while let Some(chunk) = response.chunk().await.unwrap() {
        first.get_or_insert_with(|| chunk.clone());
        read += chunk.len();
    }
    assert_eq!(read, HUGE_BODY_BYTES);
    assert!(first.unwrap().starts_with(b"{\"x_padding\":\""));
}

#[tokio::test]
async fn endless_body_keeps_streaming_past_any_limit() {
    let (server, http) = start(Config::default()).await;
    server.set_faults(Faults {
        endless_body: vec![Endpoint::Register],
        ..Default::default()
    });
    let mut response = http
        .post(format!("{}/register", server.issuer))
        .json(&native_client(&["authorization_code"]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.content_length(), None, "no end is announced");
    let mut read = 0;
    while read <= 8 * 1024 * 1024 {
        read += response
            .chunk()
            .await
            .unwrap()
            .expect("the body goes on")
            .len();
    }
    drop(response);
    assert_eq!(server.stats().registrations, 0, "nothing was registered");
}

#[tokio::test]
async fn status_error_answers_each_endpoint_with_its_status_and_a_proxy_page() {
    let (server, http) = start(Config::default()).await;
    let response = http
        .post(format!("{}/_dev/faults", server.base_url))
        .json(&json!({ "status_error": { "token": 502, "register": 503 } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = http
        .post(format!("{}/register", server.issuer))
        .json(&native_client(&["authorization_code"]))
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let response = http
        .post(format!("{}/token", server.issuer))
        .form(&[("grant_type", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(response.text().await.unwrap().contains("502"));
    assert_eq!(server.stats().registrations, 0);

    server.set_faults(Faults {
        server_error: vec![Endpoint::Token],
        ..Default::default()
    });
    let (status, body) = token(&server, &http, &[("grant_type", "refresh_token")]).await;
    assert_eq!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "the old switch still works"
    );
    assert_eq!(body["error"], "server_error");
}

#[tokio::test]
async fn html_body_answers_200_with_a_page_instead_of_json() {
    let (server, http) = start(Config::default()).await;
    server.set_faults(Faults {
        html_body: vec![Endpoint::ResourceMetadata],
        ..Default::default()
    });
    let response = http
        .get(&server.resource_metadata_url)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let text = response.text().await.unwrap();
    assert!(text.starts_with("<!doctype html>"), "{text}");
    assert!(serde_json::from_str::<Value>(&text).is_err());
}

#[tokio::test]
async fn wrong_types_gives_every_member_a_value_of_another_type() {
    let (server, http) = start(Config::default()).await;
    let plain: Value = http
        .get(&server.resource_metadata_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    server.set_faults(Faults {
        wrong_types: vec![Endpoint::ResourceMetadata],
        ..Default::default()
    });
    let wrong: Value = http
        .get(&server.resource_metadata_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(plain["resource"].is_string());
    assert_eq!(wrong["resource"], json!(42), "numbers for strings");
    assert!(plain["authorization_servers"].is_array());
    assert!(
        wrong["authorization_servers"].is_object(),
        "objects for arrays"
    );
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&plain), keys(&wrong), "every member is kept");
    for (name, value) in wrong.as_object().unwrap() {
        assert_ne!(
            std::mem::discriminant(value),
            std::mem::discriminant(&plain[name]),
            "{name} changed type"
        );
    }
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
