//! DPoP (RFC 9449) on the devserver: proofs at the token endpoint, bound access and refresh
//! tokens, the MCP endpoint's proof checks and challenges, the nonce and downgrade faults, and
//! the leak audit of DPoP traffic. Proofs are signed here with p256, independently of mcpauth.
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml

mod common;

use std::time::Duration;

use common::*;
use mcpauth_devserver::{DevServerHandle, Endpoint, Faults};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

fn ping() -> Value {
    json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" })
}

fn www_authenticate(response: &reqwest::Response) -> String {
    response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// The code flow for a fresh public client, its token request carrying a proof by `key`;
/// the status, headers and body of the token response.
async fn dpop_code_flow(
    server: &DevServerHandle,
    http: &Client,
    key: &TestKey,
    nonce: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Value, String) {
    let client_id = register_public(server, http).await;
    let (verifier, challenge) = pkce();
    let redirect = authorize(server, http, &client_id, &challenge, "mcp:read").await;
    let code = query_param(&redirect, "code").unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "http://127.0.0.1:49152/callback"),
        ("code_verifier", verifier.as_str()),
        ("client_id", client_id.as_str()),
        ("resource", server.mcp_url.as_str()),
    ];
    let token_url = format!("{}/token", server.issuer);
    let proof = key.proof("POST", &token_url, None, nonce);
    let (status, headers, body) = token_with_proof(server, http, &form, Some(&proof)).await;
    (status, headers, body, client_id)
}

#[tokio::test]
async fn a_proof_at_the_token_endpoint_binds_the_token_and_the_mcp_endpoint_then_wants_dpop() {
    let (server, http) = auto_approving().await;
    let key = TestKey::new();
    let (status, _, tokens, _) = dpop_code_flow(&server, &http, &key, None).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "DPoP");
    assert!(tokens["refresh_token"].is_string());
    let access = tokens["access_token"].as_str().unwrap();

    let as_bearer = mcp_with(&server, &http, &format!("Bearer {access}"), None, ping()).await;
    assert_eq!(as_bearer.status(), StatusCode::UNAUTHORIZED);
    let challenge = www_authenticate(&as_bearer);
    assert!(
        challenge.starts_with(r#"DPoP error="invalid_token""#),
        "{challenge}"
    );
    assert!(
        challenge.contains(&format!(
            r#"resource_metadata="{}""#,
            server.resource_metadata_url
        )),
        "{challenge}"
    );

    let scheme = format!("DPoP {access}");
    let without_proof = mcp_with(&server, &http, &scheme, None, ping()).await;
    assert_eq!(without_proof.status(), StatusCode::UNAUTHORIZED);
    assert!(www_authenticate(&without_proof).contains("proof is missing"));

    let no_ath = key.proof("POST", &server.mcp_url, None, None);
    let refused = mcp_with(&server, &http, &scheme, Some(&no_ath), ping()).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(www_authenticate(&refused).contains("ath"));

    let other_key = TestKey::new().proof("POST", &server.mcp_url, Some(access), None);
    let refused = mcp_with(&server, &http, &scheme, Some(&other_key), ping()).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(www_authenticate(&refused).contains("token's key"));

    let proof = key.proof("POST", &server.mcp_url, Some(access), None);
    let ok = mcp_with(&server, &http, &scheme, Some(&proof), ping()).await;
    assert_eq!(ok.status(), StatusCode::OK);

    let replayed = mcp_with(&server, &http, &scheme, Some(&proof), ping()).await;
    assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED);
    assert!(www_authenticate(&replayed).contains("jti replayed"));

    let stats = server.stats();
    assert_eq!(
        stats.dpop_proofs_accepted, 2,
        "the token request and one MCP call"
    );
    assert_eq!(
        stats.dpop_proofs_refused, 3,
        "no ath, the other key, the replay"
    );
    assert_eq!(stats.dpop_replays_refused, 1);
    assert_eq!(stats.mcp_unauthorized, 5);
    assert_eq!(stats.leaks, Vec::<String>::new());
}

#[tokio::test]
async fn a_bound_refresh_token_needs_a_proof_made_with_the_same_key() {
    let (server, http) = auto_approving().await;
    let key = TestKey::new();
    let (_, _, tokens, client_id) = dpop_code_flow(&server, &http, &key, None).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        ("client_id", client_id.as_str()),
    ];
    let token_url = format!("{}/token", server.issuer);

    let (status, _, body) = token_with_proof(&server, &http, &form, None).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_dpop_proof"))
    );
    let other = TestKey::new().proof("POST", &token_url, None, None);
    let (status, _, body) = token_with_proof(&server, &http, &form, Some(&other)).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_dpop_proof"))
    );

    // The server's clock moves on two hours; the client's proofs keep the client's time.
    server.advance_clock(Duration::from_secs(7200));
    let proof = key.proof("POST", &token_url, None, None);
    let (status, _, body) = token_with_proof(&server, &http, &form, Some(&proof)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the refused refreshes did not rotate: {body}"
    );
    assert_eq!(body["token_type"], "DPoP");
    let access = body["access_token"].as_str().unwrap();
    let proof = key.proof("POST", &server.mcp_url, Some(access), None);
    let ok = mcp_with(
        &server,
        &http,
        &format!("DPoP {access}"),
        Some(&proof),
        ping(),
    )
    .await;
    assert_eq!(
        ok.status(),
        StatusCode::OK,
        "the new token is bound to the same key"
    );
    assert_eq!(server.stats().refresh_reuse_detected, 0);
}

#[tokio::test]
async fn malformed_stale_and_replayed_token_request_proofs_get_invalid_dpop_proof() {
    let (server, http) = auto_approving().await;
    let key = TestKey::new();
    let token_url = format!("{}/token", server.issuer);
    let good_claims = || key.proof_claims("POST", &token_url, None, None);
    let with = |name: &str, value: Value| {
        let mut claims = good_claims();
        claims[name] = value;
        key.sign(&key.proof_header(), &claims)
    };
    let mut private_jwk = key.jwk();
    private_jwk["d"] = json!("AAAA");
    let replayed = key.proof("POST", &token_url, None, None);
    let bad_signature = {
        let proof = key.proof("POST", &token_url, None, None);
        let other = TestKey::new().proof("POST", &token_url, None, None);
        let (head, _) = proof.rsplit_once('.').unwrap();
        let (_, signature) = other.rsplit_once('.').unwrap();
        format!("{head}.{signature}")
    };
    let cases = [
        (
            "typ JWT",
            key.sign(
                &json!({ "typ": "JWT", "alg": "ES256", "jwk": key.jwk() }),
                &good_claims(),
            ),
        ),
        (
            "alg none",
            format!(
                "{}.",
                key.sign(
                    &json!({ "typ": "dpop+jwt", "alg": "none", "jwk": key.jwk() }),
                    &good_claims()
                )
                .rsplit_once('.')
                .unwrap()
                .0
            ),
        ),
        (
            "private jwk",
            key.sign(
                &json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": private_jwk }),
                &good_claims(),
            ),
        ),
        ("bad signature", bad_signature),
        ("htm GET", with("htm", json!("GET"))),
        ("htu elsewhere", with("htu", json!(server.mcp_url))),
        ("iat an hour ago", with("iat", json!(unix_now() - 3600))),
        ("no jti", with("jti", Value::Null)),
        ("not a JWS", "not-a-jws".to_owned()),
    ];
    let form = [("grant_type", "client_credentials"), ("client_id", "x")];
    for (case, proof) in &cases {
        let (status, _, body) = token_with_proof(&server, &http, &form, Some(proof)).await;
        assert_eq!(
            (status, &body["error"]),
            (StatusCode::BAD_REQUEST, &json!("invalid_dpop_proof")),
            "{case}: {body}"
        );
    }
    // A valid proof passes the DPoP check (the unknown client then fails); its replay does not.
    let (_, _, body) = token_with_proof(&server, &http, &form, Some(&replayed)).await;
    assert_eq!(body["error"], "invalid_client");
    let (_, _, body) = token_with_proof(&server, &http, &form, Some(&replayed)).await;
    assert_eq!(body["error"], "invalid_dpop_proof", "{body}");

    let response = http
        .post(&token_url)
        .header("DPoP", key.proof("POST", &token_url, None, None))
        .header("DPoP", key.proof("POST", &token_url, None, None))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "two proofs");

    let stats = server.stats();
    assert_eq!(stats.dpop_proofs_refused, cases.len() as u64 + 2);
    assert_eq!(stats.dpop_replays_refused, 1);
    assert_eq!(stats.dpop_proofs_accepted, 1);
}

#[tokio::test]
async fn nonce_faults_challenge_proofs_without_the_nonce_at_both_endpoints() {
    let (server, http) = auto_approving().await;
    server.set_faults(Faults {
        dpop_nonce_token: true,
        dpop_nonce_resource: true,
        ..Faults::default()
    });
    let key = TestKey::new();
    let (status, headers, body, client_id) = dpop_code_flow(&server, &http, &key, None).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("use_dpop_nonce"))
    );
    let nonce = headers["dpop-nonce"].to_str().unwrap().to_owned();

    // A new code, and a fresh proof with the nonce.
    let (verifier, challenge) = pkce();
    let redirect = authorize(&server, &http, &client_id, &challenge, "mcp:read").await;
    let code = query_param(&redirect, "code").unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "http://127.0.0.1:49152/callback"),
        ("code_verifier", verifier.as_str()),
        ("client_id", client_id.as_str()),
        ("resource", server.mcp_url.as_str()),
    ];
    let token_url = format!("{}/token", server.issuer);
    let proof = key.proof("POST", &token_url, None, Some(&nonce));
    let (status, _, tokens) = token_with_proof(&server, &http, &form, Some(&proof)).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();

    let scheme = format!("DPoP {access}");
    let proof = key.proof("POST", &server.mcp_url, Some(access), None);
    let challenged = mcp_with(&server, &http, &scheme, Some(&proof), ping()).await;
    assert_eq!(challenged.status(), StatusCode::UNAUTHORIZED);
    assert!(www_authenticate(&challenged).starts_with(r#"DPoP error="use_dpop_nonce""#));
    let resource_nonce = challenged.headers()["dpop-nonce"].to_str().unwrap();
    let proof = key.proof("POST", &server.mcp_url, Some(access), Some(resource_nonce));
    let ok = mcp_with(&server, &http, &scheme, Some(&proof), ping()).await;
    assert_eq!(ok.status(), StatusCode::OK);

    let stats = server.stats();
    assert_eq!(stats.dpop_nonce_challenges, 2);
    assert_eq!(stats.dpop_proofs_accepted, 2);
    assert_eq!(stats.dpop_proofs_refused, 0);
    assert_eq!(stats.leaks, Vec::<String>::new());
}

#[tokio::test]
async fn downgrade_issues_bearer_tokens_that_the_mcp_endpoint_takes_only_as_bearer() {
    let (server, http) = auto_approving().await;
    server.set_faults(Faults {
        dpop_downgrade: true,
        ..Faults::default()
    });
    let key = TestKey::new();
    let (status, _, tokens, _) = dpop_code_flow(&server, &http, &key, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tokens["token_type"], "Bearer");
    let access = tokens["access_token"].as_str().unwrap();
    let proof = key.proof("POST", &server.mcp_url, Some(access), None);
    let as_dpop = mcp_with(
        &server,
        &http,
        &format!("DPoP {access}"),
        Some(&proof),
        ping(),
    )
    .await;
    assert_eq!(as_dpop.status(), StatusCode::UNAUTHORIZED);
    assert!(www_authenticate(&as_dpop).contains("not DPoP-bound"));
    let as_bearer = mcp(&server, &http, Some(access), ping()).await;
    assert_eq!(as_bearer.status(), StatusCode::OK);
}

#[tokio::test]
async fn metadata_advertises_es256_for_dpop() {
    let (server, http) = auto_approving().await;
    let url = format!("{}/.well-known/oauth-authorization-server", server.base_url);
    let meta: Value = http.get(url).send().await.unwrap().json().await.unwrap();
    assert_eq!(meta["dpop_signing_alg_values_supported"], json!(["ES256"]));
}

#[tokio::test]
async fn dpop_proofs_are_no_leak_but_a_dpop_token_off_the_resource_or_in_a_url_is() {
    let (server, http) = auto_approving().await;
    let key = TestKey::new();
    // A proof sent along to discovery carries no secret (only the hash of a token).
    let metadata_url = format!("{}/.well-known/oauth-authorization-server", server.base_url);
    let proof = key.proof("GET", &metadata_url, None, None);
    http.get(&metadata_url)
        .header("DPoP", proof)
        .send()
        .await
        .unwrap();
    let (_, _, tokens, client_id) = dpop_code_flow(&server, &http, &key, None).await;
    let access = tokens["access_token"].as_str().unwrap();
    let proof = key.proof("POST", &server.mcp_url, Some(access), None);
    let ok = mcp_with(
        &server,
        &http,
        &format!("DPoP {access}"),
        Some(&proof),
        ping(),
    )
    .await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(server.stats().leaks, Vec::<String>::new());

    http.post(format!("{}/revoke", server.issuer))
        .header("Authorization", format!("DPoP {access}"))
        .form(&[("token", access), ("client_id", client_id.as_str())])
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
            "an Authorization header on a revoke request",
            "an issued token or code in the URL of a mcp request",
        ]
    );
    assert_eq!(server.stats().requests_to(Endpoint::Revoke), 1);
}

#[tokio::test]
async fn browsers_may_send_dpop_headers_and_read_the_nonce() {
    let (server, http) = auto_approving().await;
    let preflight = http
        .request(reqwest::Method::OPTIONS, format!("{}/token", server.issuer))
        .header("Origin", "http://127.0.0.1:9999")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "dpop, content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(
        preflight.headers()["access-control-allow-headers"],
        "dpop, content-type"
    );
    let ping = mcp(&server, &http, None, ping()).await;
    let exposed = ping.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap();
    assert!(exposed.contains("dpop-nonce"), "{exposed}");
}
