//! `AuthClient` against the dev server's `/mcp`: a 401 on a stored token is answered by one
//! refresh and one retry (never a loop), a 403 `insufficient_scope` by a step-up login for the
//! union of the scopes held and challenged, and a server that keeps answering 403 by the
//! `STEP_UP_LIMIT` error after three authorizations. A fresh client with logins allowed logs
//! in from the bare 401, and a server that refuses even a freshly issued token ends in
//! `PERSISTENT_UNAUTHORIZED` rather than a loop.
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::{
    CannedServer, TestClock, TestUi, http_client, login, login_options, mcp_post, tool_call, within,
};
use mcpauth::{AuthClient, MemoryStore, Session};
use mcpauth_devserver::{DevServerHandle, Endpoint};
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(120);

async fn logged_in(server: &DevServerHandle) -> (Session, Arc<TestUi>) {
    let ui = TestUi::immediate();
    let session = common::session(Arc::new(MemoryStore::new()), &ui, &TestClock::default());
    login(&session, &ui, &server.mcp_url, &login_options()).await;
    (session, ui)
}

/// Calls `tool` through `client` and returns the status and the JSON body.
async fn call(client: &AuthClient, server: &DevServerHandle, tool: &str) -> (u16, Value) {
    let url = server.mcp_url.clone();
    let resp = within(
        DEADLINE,
        "AuthClient::execute",
        client.execute(&server.mcp_url, |http| {
            mcp_post(http, &url, tool_call(tool))
        }),
    )
    .await
    .unwrap_or_else(|e| panic!("execute: {e} [{}]", e.code()));
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

fn text(body: &Value) -> &str {
    body["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
}

fn scopes(scope: &str) -> BTreeSet<&str> {
    scope.split(' ').collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_token_is_refreshed_and_the_request_retried_once() {
    let server = common::auto_approving_devserver().await;
    let (session, _ui) = logged_in(&server).await;
    let before = session.current_grant(&server.mcp_url).unwrap();
    server.expire_access_tokens();
    server.reset();

    let client = AuthClient::new(session.clone(), http_client(false));
    let (status, body) = call(&client, &server, "echo").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(text(&body), "hi");

    let stats = server.stats();
    assert_eq!(stats.requests_to(Endpoint::Mcp), 2, "{stats:#?}");
    assert_eq!(stats.mcp_unauthorized, 1);
    assert_eq!(stats.refreshes, 1);
    assert_eq!(stats.refresh_reuse_detected, 0);
    let after = session.current_grant(&server.mcp_url).unwrap();
    assert_ne!(after.tokens.access_token, before.tokens.access_token);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_that_survives_the_refresh_is_not_retried_again() {
    let server = common::auto_approving_devserver().await;
    let (session, _ui) = logged_in(&server).await;
    let challenge = format!(
        r#"Bearer error="invalid_token", resource_metadata="{}""#,
        server.resource_metadata_url
    );
    let always_401 = CannedServer::start(
        "401 Unauthorized",
        &[("www-authenticate", &challenge)],
        r#"{"error":"invalid_token"}"#,
    )
    .await;
    server.reset();

    let client = AuthClient::new(session, http_client(false));
    let url = always_401.url.clone();
    let outcome = within(
        DEADLINE,
        "AuthClient::execute",
        client.execute(&server.mcp_url, |http| {
            mcp_post(http, &url, tool_call("echo"))
        }),
    )
    .await;
    let err = outcome.expect_err("a 401 after the refresh must not succeed");
    assert_eq!(err.code(), "LOGIN_REQUIRED", "{err}");
    assert_eq!(always_401.requests(), 2, "one request and one retry");
    assert_eq!(server.stats().refreshes, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_to_the_token_of_a_fresh_login_is_persistent_unauthorized() {
    let server = common::auto_approving_devserver().await;
    let (session, ui) = logged_in(&server).await;
    let challenge = format!(
        r#"Bearer error="invalid_token", resource_metadata="{}""#,
        server.resource_metadata_url
    );
    let always_401 = CannedServer::start(
        "401 Unauthorized",
        &[("www-authenticate", &challenge)],
        r#"{"error":"invalid_token"}"#,
    )
    .await;
    server.reset();

    let client = AuthClient::new(session, http_client(false)).with_login(login_options());
    let url = always_401.url.clone();
    let outcome = within(
        DEADLINE,
        "AuthClient::execute",
        client.execute(&server.mcp_url, |http| {
            mcp_post(http, &url, tool_call("echo"))
        }),
    )
    .await;
    let err = outcome.expect_err("a server that refuses every token must end in an error");
    assert_eq!(err.code(), "PERSISTENT_UNAUTHORIZED", "{err}");
    assert_eq!(
        always_401.requests(),
        3,
        "the request, the retry after the refresh, the retry after the login"
    );
    let stats = server.stats();
    assert_eq!(stats.refreshes, 1, "{stats:#?}");
    assert_eq!(stats.requests_to(Endpoint::Authorize), 1, "{stats:#?}");
    assert_eq!(
        ui.log().authorization_urls.len(),
        2,
        "the first login and one more"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insufficient_scope_steps_up_to_the_union_of_scopes() {
    let server = common::auto_approving_devserver().await;
    let (session, ui) = logged_in(&server).await;
    let client = AuthClient::new(session.clone(), http_client(false)).with_login(login_options());

    let (status, body) = call(&client, &server, "admin-tool").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(text(&body), "admin ok");

    let log = ui.log();
    assert_eq!(log.authorization_urls.len(), 2, "the login and one step-up");
    let first = log.scope_of(0).unwrap();
    let second = log.scope_of(1).unwrap();
    assert!(scopes(&first).contains("mcp:read"), "{first}");
    assert!(
        scopes(&second).is_superset(&BTreeSet::from(["mcp:read", "mcp:admin"])),
        "the step-up asked for {second}"
    );
    let held = session
        .current_grant(&server.mcp_url)
        .unwrap()
        .tokens
        .scope
        .unwrap();
    assert!(scopes(&held).contains("mcp:admin"), "{held}");
    assert_eq!(
        server.stats().registrations,
        1,
        "the registration is reused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_always_answers_403_stops_after_three_authorizations() {
    let server = common::auto_approving_devserver().await;
    let (session, ui) = logged_in(&server).await;
    let challenge = format!(
        r#"Bearer error="insufficient_scope", scope="mcp:read mcp:admin", resource_metadata="{}""#,
        server.resource_metadata_url
    );
    let always_403 = CannedServer::start(
        "403 Forbidden",
        &[("www-authenticate", &challenge)],
        r#"{"error":"insufficient_scope"}"#,
    )
    .await;
    server.reset();

    let client = AuthClient::new(session, http_client(false)).with_login(login_options());
    let url = always_403.url.clone();
    let outcome = within(
        DEADLINE,
        "AuthClient::execute",
        client.execute(&server.mcp_url, |http| {
            mcp_post(http, &url, tool_call("admin-tool"))
        }),
    )
    .await;
    let err = outcome.expect_err("an endless 403 must end in an error");
    assert_eq!(err.code(), "STEP_UP_LIMIT", "{err}");
    assert_eq!(server.stats().requests_to(Endpoint::Authorize), 3);
    assert_eq!(ui.log().authorization_urls.len(), 1 + 3);
    assert_eq!(
        always_403.requests(),
        4,
        "the request and one retry per authorization"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_allowed_to_log_in_does_so_from_the_bare_401() {
    let server = common::auto_approving_devserver().await;
    let ui = TestUi::immediate();
    let session = common::session(Arc::new(MemoryStore::new()), &ui, &TestClock::default());
    let client = AuthClient::new(session.clone(), http_client(false)).with_login(login_options());

    let (status, body) = call(&client, &server, "echo").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ui.log().authorization_urls.len(), 1);
    assert!(session.current_grant(&server.mcp_url).is_ok());
    let stats = server.stats();
    // The unauthenticated request, then the retry with the new token; no separate probe.
    assert_eq!(stats.requests_to(Endpoint::Mcp), 2, "{stats:#?}");
}
