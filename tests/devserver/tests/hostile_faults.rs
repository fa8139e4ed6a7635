//! The switches of the hostile-server parity rows: metadata that lies (no authorization
//! server, PKCE `plain` only, cleartext endpoints, one well-known form, issuers and `iss`
//! with an added or dropped `/`) and redirects with another login's `state`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // tests

mod common;

use common::*;
use mcpauth_devserver::{Config, DevServerHandle, Endpoint, Faults};
use reqwest::{Client, StatusCode};
use serde_json::Value;

/// GET `url`; the status and the JSON body (`Null` when there is none).
async fn get_json(http: &Client, url: &str) -> (StatusCode, Value) {
    let response = http.get(url).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn prm(server: &DevServerHandle, http: &Client) -> Value {
    get_json(http, &server.resource_metadata_url).await.1
}

async fn as_metadata(server: &DevServerHandle, http: &Client) -> Value {
    let url = format!("{}/.well-known/oauth-authorization-server", server.base_url);
    get_json(http, &url).await.1
}

#[tokio::test]
async fn empty_authorization_servers_lists_none_in_the_resource_metadata() {
    let (server, http) = start(Config::default()).await;
    assert_eq!(
        prm(&server, &http).await["authorization_servers"][0],
        server.issuer
    );
    server.set_faults(Faults {
        empty_authorization_servers: true,
        ..Faults::default()
    });
    let doc = prm(&server, &http).await;
    assert_eq!(doc["authorization_servers"], serde_json::json!([]));
    assert_eq!(doc["resource"], server.mcp_url, "the rest is unchanged");
}

#[tokio::test]
async fn plain_code_challenge_only_advertises_plain_and_not_s256() {
    let (server, http) = start(Config::default()).await;
    server.set_faults(Faults {
        plain_code_challenge_only: true,
        ..Faults::default()
    });
    let doc = as_metadata(&server, &http).await;
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["plain"])
    );
}

#[tokio::test]
async fn cleartext_endpoints_move_only_the_named_endpoints_to_plain_http() {
    let (server, http) = start(Config::default()).await;
    server.set_faults(Faults {
        cleartext_endpoints: vec![Endpoint::Token, Endpoint::Authorize],
        ..Faults::default()
    });
    let doc = as_metadata(&server, &http).await;
    assert_eq!(doc["token_endpoint"], "http://mcpauth.invalid/token");
    assert_eq!(
        doc["authorization_endpoint"],
        "http://mcpauth.invalid/authorize"
    );
    assert_eq!(
        doc["registration_endpoint"],
        format!("{}/register", server.issuer)
    );
    assert_eq!(doc["issuer"], server.issuer);
}

#[tokio::test]
async fn as_metadata_only_at_serves_one_well_known_url_and_404s_the_others() {
    let (server, http) = start(Config {
        issuer_path: "/tenant1".into(),
        ..Config::default()
    })
    .await;
    let base = &server.base_url;
    let forms = [
        format!("{base}/.well-known/oauth-authorization-server/tenant1"),
        format!("{base}/.well-known/openid-configuration/tenant1"),
        format!("{base}/tenant1/.well-known/openid-configuration"),
    ];
    for url in &forms {
        assert_eq!(get_json(&http, url).await.0, StatusCode::OK, "{url}");
    }
    server.set_faults(Faults {
        as_metadata_only_at: Some("/tenant1/.well-known/openid-configuration".into()),
        ..Faults::default()
    });
    let before = server.stats().metadata_fetches;
    let answers = [
        get_json(&http, &forms[0]).await,
        get_json(&http, &forms[1]).await,
        get_json(&http, &forms[2]).await,
    ];
    assert_eq!(answers[0].0, StatusCode::NOT_FOUND);
    assert_eq!(answers[1].0, StatusCode::NOT_FOUND);
    assert_eq!(answers[2].0, StatusCode::OK);
    assert_eq!(answers[2].1["issuer"], format!("{base}/tenant1"));
    let stats = server.stats();
    assert_eq!(
        stats.metadata_fetches,
        before + 1,
        "only one document served"
    );
    assert_eq!(
        stats.requests[&Endpoint::AuthorizationServerMetadata],
        6,
        "the 404s still count as metadata requests"
    );
}

#[tokio::test]
async fn issuer_trailing_slash_adds_a_slash_to_the_metadata_issuer_only() {
    let (server, http) = start(Config {
        issuer_path: "/tenant1".into(),
        ..Config::default()
    })
    .await;
    server.set_faults(Faults {
        issuer_trailing_slash: true,
        ..Faults::default()
    });
    let url = format!(
        "{}/.well-known/oauth-authorization-server/tenant1",
        server.base_url
    );
    let doc = get_json(&http, &url).await.1;
    assert_eq!(doc["issuer"], format!("{}/", server.issuer));
    assert_eq!(doc["token_endpoint"], format!("{}/token", server.issuer));
    assert_eq!(
        prm(&server, &http).await["authorization_servers"][0],
        server.issuer
    );
}

#[tokio::test]
async fn prm_issuer_trailing_slash_lists_the_issuer_with_a_slash_the_metadata_lacks() {
    let (server, http) = start(Config {
        issuer_path: "/tenant1".into(),
        ..Config::default()
    })
    .await;
    server.set_faults(Faults {
        prm_issuer_trailing_slash: true,
        ..Faults::default()
    });
    assert_eq!(
        prm(&server, &http).await["authorization_servers"],
        serde_json::json!([format!("{}/", server.issuer)])
    );
    let url = format!(
        "{}/.well-known/oauth-authorization-server/tenant1",
        server.base_url
    );
    assert_eq!(get_json(&http, &url).await.1["issuer"], server.issuer);
}

#[tokio::test]
async fn iss_trailing_slash_adds_a_slash_to_iss_in_redirects() {
    let (server, http) = auto_approving().await;
    let client_id = register_public(&server, &http).await;
    let (_, challenge) = pkce();
    server.set_faults(Faults {
        iss_trailing_slash: true,
        ..Faults::default()
    });
    let redirect = authorize(&server, &http, &client_id, &challenge, "mcp:read").await;
    assert!(query_param(&redirect, "code").is_some());
    assert_eq!(
        query_param(&redirect, "iss"),
        Some(format!("{}/", server.issuer))
    );
    assert_eq!(as_metadata(&server, &http).await["issuer"], server.issuer);
}

#[tokio::test]
async fn wrong_state_redirects_with_another_state_than_the_request_sent() {
    let (server, http) = auto_approving().await;
    let client_id = register_public(&server, &http).await;
    let (_, challenge) = pkce();
    server.set_faults(Faults {
        wrong_state: true,
        ..Faults::default()
    });
    let redirect = authorize(&server, &http, &client_id, &challenge, "mcp:read").await;
    assert!(query_param(&redirect, "code").is_some());
    assert_eq!(
        query_param(&redirect, "state").as_deref(),
        Some("not-st4te")
    );
    assert_eq!(
        query_param(&redirect, "iss").as_deref(),
        Some(server.issuer.as_str())
    );
}
