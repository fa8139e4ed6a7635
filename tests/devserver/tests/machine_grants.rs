//! Logins without a user on the devserver: client credentials (RFC 6749 §4.4) with
//! `client_secret_basic`, `client_secret_post` and `private_key_jwt` (RFC 7523 §2.2), and the
//! jwt-bearer grant (RFC 7523 §2.1) with a trusted issuer's assertions, all configured through
//! `/_dev/clients` and `/_dev/issuers` as a test in another language would.
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::*;
use mcpauth_devserver::{DevServerHandle, Faults};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const WORKLOAD_ISSUER: &str = "https://idp.workload.example";

/// POST `body` to `/_dev/<what>`; the status.
async fn dev_post(server: &DevServerHandle, http: &Client, what: &str, body: &Value) -> StatusCode {
    http.post(format!("{}/_dev/{what}", server.base_url))
        .json(body)
        .send()
        .await
        .unwrap()
        .status()
}

/// The token works at `/mcp`.
async fn works_at_mcp(server: &DevServerHandle, http: &Client, token: &Value) {
    let access = token["access_token"].as_str().unwrap();
    let ping = json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" });
    assert_eq!(
        mcp(server, http, Some(access), ping).await.status(),
        StatusCode::OK
    );
}

/// An ES256 JWT by `key` with `claims`.
fn jwt(key: &TestKey, claims: &Value) -> String {
    key.sign(&json!({ "alg": "ES256", "typ": "JWT" }), claims)
}

/// Claims of a client assertion for `client_id` to `server`, valid for a minute.
fn assertion_claims(server: &DevServerHandle, client_id: &str) -> Value {
    json!({
        "iss": client_id, "sub": client_id, "aud": server.issuer,
        "iat": unix_now(), "exp": unix_now() + 60,
        "jti": format!("{}", rand::random::<u64>()),
    })
}

#[tokio::test]
async fn client_credentials_with_a_basic_or_post_secret_gets_a_token_without_refresh() {
    let (server, http) = auto_approving().await;
    let basic = json!({
        "client_id": "svc-basic", "token_endpoint_auth_method": "client_secret_basic",
        "client_secret": "s3cret-basic",
    });
    let post = json!({
        "client_id": "svc-post", "token_endpoint_auth_method": "client_secret_post",
        "client_secret": "s3cret-post",
    });
    assert_eq!(
        dev_post(&server, &http, "clients", &basic).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        dev_post(&server, &http, "clients", &post).await,
        StatusCode::NO_CONTENT
    );
    let form = [
        ("grant_type", "client_credentials"),
        ("scope", "mcp:read"),
        ("resource", server.mcp_url.as_str()),
    ];
    let send_basic = |secret: &'static str| {
        let request = http
            .post(format!("{}/token", server.issuer))
            .header(
                "Authorization",
                format!("Basic {}", STANDARD.encode(format!("svc-basic:{secret}"))),
            )
            .form(&form);
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = send_basic("wrong").await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_client"))
    );
    let (status, issued) = send_basic("s3cret-basic").await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    assert_eq!(issued["token_type"], "Bearer");
    assert_eq!(issued["scope"], "mcp:read");
    assert!(issued.get("refresh_token").is_none(), "RFC 6749 §4.4.3");
    works_at_mcp(&server, &http, &issued).await;

    let mut post_form = form.to_vec();
    post_form.extend([("client_id", "svc-post"), ("client_secret", "s3cret-post")]);
    let (status, token) = token(&server, &http, &post_form).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    works_at_mcp(&server, &http, &token).await;
    assert_eq!(server.stats().token_requests("client_credentials"), 3);
    let secrets = server.secrets();
    assert!(secrets.contains(&"s3cret-basic".to_owned()));
}

#[tokio::test]
async fn public_clients_and_clients_that_did_not_register_it_cannot_use_client_credentials() {
    let (server, http) = auto_approving().await;
    let public = json!({ "client_id": "pub", "token_endpoint_auth_method": "none" });
    assert_eq!(
        dev_post(&server, &http, "clients", &public).await,
        StatusCode::NO_CONTENT
    );
    let form = [("grant_type", "client_credentials"), ("client_id", "pub")];
    let (status, body) = token(&server, &http, &form).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("unauthorized_client"))
    );

    let mut registered = Vec::new();
    for grants in [json!(["authorization_code"]), json!(["client_credentials"])] {
        let metadata = json!({
            "application_type": "web", "token_endpoint_auth_method": "client_secret_post",
            "grant_types": grants, "redirect_uris": [REDIRECT_URI],
        });
        let (status, body) = register_with(&server, &http, &metadata).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        registered.push(body);
    }
    let attempt = |client: &Value| {
        let form = vec![
            ("grant_type", "client_credentials".to_owned()),
            (
                "client_id",
                client["client_id"].as_str().unwrap().to_owned(),
            ),
            (
                "client_secret",
                client["client_secret"].as_str().unwrap().to_owned(),
            ),
        ];
        let request = http.post(format!("{}/token", server.issuer)).form(&form);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(attempt(&registered[0]).await, StatusCode::BAD_REQUEST);
    assert_eq!(attempt(&registered[1]).await, StatusCode::OK);
    assert_eq!(server.stats().unauthorized_client, 2);
}

#[tokio::test]
async fn private_key_jwt_assertions_are_verified_and_single_use() {
    let (server, http) = auto_approving().await;
    let key = TestKey::new();
    let client = json!({
        "client_id": "svc-jwt", "token_endpoint_auth_method": "private_key_jwt", "jwk": key.jwk(),
    });
    assert_eq!(
        dev_post(&server, &http, "clients", &client).await,
        StatusCode::NO_CONTENT
    );
    let send = |assertion: String| {
        let form = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_assertion_type", ASSERTION_TYPE.to_owned()),
            ("client_assertion", assertion),
            ("resource", server.mcp_url.clone()),
        ];
        let request = http.post(format!("{}/token", server.issuer)).form(&form);
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let good = jwt(&key, &assertion_claims(&server, "svc-jwt"));
    let (status, token) = send(good.clone()).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    works_at_mcp(&server, &http, &token).await;
    assert!(
        server.secrets().contains(&good),
        "assertions are credentials"
    );

    let to_token_endpoint = {
        let mut claims = assertion_claims(&server, "svc-jwt");
        claims["aud"] = json!([format!("{}/token", server.issuer)]);
        jwt(&key, &claims)
    };
    assert_eq!(
        send(to_token_endpoint).await.0,
        StatusCode::OK,
        "aud may be the token endpoint"
    );

    let with = |name: &str, value: Value| {
        let mut claims = assertion_claims(&server, "svc-jwt");
        claims[name] = value;
        jwt(&key, &claims)
    };
    let cases = [
        ("replayed", good),
        (
            "other key",
            jwt(&TestKey::new(), &assertion_claims(&server, "svc-jwt")),
        ),
        ("wrong aud", with("aud", json!("https://elsewhere.example"))),
        ("expired", with("exp", json!(unix_now() - 3600))),
        ("sub differs", with("sub", json!("someone-else"))),
        ("no jti", with("jti", Value::Null)),
    ];
    for (case, assertion) in cases {
        let (status, body) = send(assertion).await;
        assert_eq!(
            (status, &body["error"]),
            (StatusCode::UNAUTHORIZED, &json!("invalid_client")),
            "{case}: {body}"
        );
    }
    assert_eq!(server.stats().assertions_refused, 6);
    assert_eq!(server.stats().leaks, Vec::<String>::new());
}

#[tokio::test]
async fn dev_clients_refuses_private_keys_and_missing_secrets() {
    let (server, http) = auto_approving().await;
    let mut private = TestKey::new().jwk();
    private["d"] = json!("AAAA");
    let cases = [
        json!({ "client_id": "a", "token_endpoint_auth_method": "private_key_jwt", "jwk": private }),
        json!({ "client_id": "b", "token_endpoint_auth_method": "private_key_jwt" }),
        json!({ "client_id": "c", "token_endpoint_auth_method": "client_secret_basic" }),
        json!({ "client_id": "d", "token_endpoint_auth_method": "tls_client_auth" }),
    ];
    for case in &cases {
        assert_eq!(
            dev_post(&server, &http, "clients", case).await,
            StatusCode::BAD_REQUEST,
            "{case}"
        );
    }
    let issuer = json!({ "issuer": WORKLOAD_ISSUER, "jwk": private });
    assert_eq!(
        dev_post(&server, &http, "issuers", &issuer).await,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn jwt_bearer_accepts_assertions_from_a_trusted_issuer_only() {
    let (server, http) = auto_approving().await;
    let idp = TestKey::new();
    let trusted = json!({ "issuer": WORKLOAD_ISSUER, "jwk": idp.jwk() });
    assert_eq!(
        dev_post(&server, &http, "issuers", &trusted).await,
        StatusCode::NO_CONTENT
    );
    let workload = |claims: Value| {
        let mut base = json!({
            "iss": WORKLOAD_ISSUER, "sub": "workload-1", "aud": server.issuer,
            "exp": unix_now() + 300, "jti": format!("{}", rand::random::<u64>()),
        });
        for (name, value) in claims.as_object().unwrap() {
            base[name] = value.clone();
        }
        base
    };
    let grant = |assertion: String, client_id: Option<&str>| {
        let mut form = vec![
            ("grant_type", JWT_BEARER.to_owned()),
            ("assertion", assertion),
            ("scope", "mcp:read".to_owned()),
            ("resource", server.mcp_url.clone()),
        ];
        if let Some(id) = client_id {
            form.push(("client_id", id.to_owned()));
        }
        let request = http.post(format!("{}/token", server.issuer)).form(&form);
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };

    let good = jwt(&idp, &workload(json!({})));
    let (status, token) = grant(good.clone(), None).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert!(token.get("refresh_token").is_none());
    works_at_mcp(&server, &http, &token).await;

    // A named client must be one the server knows.
    let (status, body) = grant(jwt(&idp, &workload(json!({}))), Some("wif-client")).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_client"))
    );
    let client = json!({ "client_id": "wif-client", "token_endpoint_auth_method": "none" });
    assert_eq!(
        dev_post(&server, &http, "clients", &client).await,
        StatusCode::NO_CONTENT
    );
    let (status, body) = grant(jwt(&idp, &workload(json!({}))), Some("wif-client")).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let cases = [
        ("replayed", good),
        (
            "untrusted issuer",
            jwt(&idp, &workload(json!({ "iss": "https://other.example" }))),
        ),
        ("other key", jwt(&TestKey::new(), &workload(json!({})))),
        (
            "wrong aud",
            jwt(
                &idp,
                &workload(json!({ "aud": "https://elsewhere.example" })),
            ),
        ),
        (
            "expired",
            jwt(&idp, &workload(json!({ "exp": unix_now() - 3600 }))),
        ),
        ("no sub", jwt(&idp, &workload(json!({ "sub": null })))),
    ];
    for (case, assertion) in cases {
        let (status, body) = grant(assertion, None).await;
        assert_eq!(
            (status, &body["error"]),
            (StatusCode::BAD_REQUEST, &json!("invalid_grant")),
            "{case}: {body}"
        );
    }
    assert_eq!(server.stats().assertions_refused, 6);
    assert_eq!(server.stats().token_requests(JWT_BEARER), 9);
}

#[tokio::test]
async fn machine_grants_bind_to_dpop_keys_like_the_others() {
    let (server, http) = auto_approving().await;
    let client = json!({
        "client_id": "svc", "token_endpoint_auth_method": "client_secret_post", "client_secret": "s",
    });
    assert_eq!(
        dev_post(&server, &http, "clients", &client).await,
        StatusCode::NO_CONTENT
    );
    server.set_faults(Faults {
        dpop_nonce_token: true,
        ..Faults::default()
    });
    let key = TestKey::new();
    let token_url = format!("{}/token", server.issuer);
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "svc"),
        ("client_secret", "s"),
        ("resource", server.mcp_url.as_str()),
    ];
    let proof = key.proof("POST", &token_url, None, None);
    let (status, headers, body) = token_with_proof(&server, &http, &form, Some(&proof)).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("use_dpop_nonce"))
    );
    let nonce = headers["dpop-nonce"].to_str().unwrap();
    let proof = key.proof("POST", &token_url, None, Some(nonce));
    let (status, _, body) = token_with_proof(&server, &http, &form, Some(&proof)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let access = body["access_token"].as_str().unwrap();
    let proof = key.proof("POST", &server.mcp_url, Some(access), None);
    let ping = json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" });
    let ok = mcp_with(
        &server,
        &http,
        &format!("DPoP {access}"),
        Some(&proof),
        ping,
    )
    .await;
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test]
async fn metadata_advertises_the_machine_grants_and_private_key_jwt() {
    let (server, http) = auto_approving().await;
    let url = format!("{}/.well-known/oauth-authorization-server", server.base_url);
    let meta: Value = http.get(url).send().await.unwrap().json().await.unwrap();
    let grants = meta["grant_types_supported"].as_array().unwrap();
    assert!(grants.contains(&json!("client_credentials")));
    assert!(grants.contains(&json!(JWT_BEARER)));
    let methods = meta["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    assert!(methods.contains(&json!("private_key_jwt")));
    assert_eq!(
        meta["token_endpoint_auth_signing_alg_values_supported"],
        json!(["ES256"])
    );
}
