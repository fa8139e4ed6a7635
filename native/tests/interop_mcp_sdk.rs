//! mcpauth against an MCP server protected by the MCP TypeScript SDK's own server-side auth
//! (tests/interop/sdk-server.mjs: `mcpAuthRouter`, `requireBearerAuth`, the streamable HTTP
//! transport): a login from nothing but the bare 401, exactly as an MCP client starts, then
//! `tools/list` through `AuthClient`, refresh with rotation, and revocation on logout.
//!
//! Needs Node and `npm ci --prefix tests/interop` (scripts/setup); fails, never skips, without.
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{NodeServer, TestClock, TestUi, http_client, login, login_options, mcp_post, rpc};
use mcpauth::{AuthClient, HttpDriver, MemoryStore, Session};
use mcpauth_core::Policy;
use mcpauth_core::token::is_invalid_grant;
use serde_json::{Value, json};

/// Access tokens live 60 s; a clock 45 s ahead is inside the core's 30 s refresh margin.
const TTL: &str = "60";
const INTO_MARGIN: Duration = Duration::from_secs(45);

struct Peer {
    _server: NodeServer,
    mcp: String,
    issuer: String,
    ui: Arc<TestUi>,
    clock: TestClock,
    session: Session,
}

fn start() -> Peer {
    let server = NodeServer::start("sdk-server.mjs", &[("SDK_AT_TTL", TTL)]);
    let (mcp, issuer) = (server.field("mcp"), server.field("issuer"));
    let (ui, clock) = (TestUi::immediate(), TestClock::default());
    let session = common::session(Arc::new(MemoryStore::new()), &ui, &clock);
    Peer {
        _server: server,
        mcp,
        issuer,
        ui,
        clock,
        session,
    }
}

/// Sends a JSON-RPC request through `AuthClient` and returns its `result`.
async fn call(peer: &Peer, method: &str, params: Value) -> Value {
    let client = AuthClient::new(peer.session.clone(), http_client(false));
    let url = peer.mcp.clone();
    let resp = client
        .execute(&peer.mcp, |http| {
            mcp_post(http, &url, rpc(1, method, params.clone()))
        })
        .await
        .unwrap_or_else(|e| panic!("{method}: {e} [{}]", e.code()));
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap();
    let body: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{method}: {status}, not JSON ({e}): {body:?}"));
    assert_eq!(status, 200, "{method}: {body}");
    body["result"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_from_the_bare_401_lists_the_servers_tools() {
    let peer = start();
    let summary = login(&peer.session, &peer.ui, &peer.mcp, &login_options()).await;
    println!(
        "MCP SDK server, first login from a bare 401: {} requests by mcpauth (plus the \
         browser's GET /authorize)",
        summary.requests
    );
    // The 401 probe; the protected resource metadata together with the speculative RFC 8414
    // metadata of the MCP server's own origin (sent alongside, so no extra round trip, and
    // wasted here because this AS lives on another origin); the AS metadata at both of its
    // well-known URLs at once (the OpenID one unused: a 404 here); registration; code
    // exchange. Five round trips.
    assert_eq!(summary.requests, 7);

    let grant = &summary.grant;
    // Byte for byte, trailing slash included.
    assert_eq!(grant.issuer, peer.issuer);
    assert!(grant.issuer.ends_with('/'));
    assert_eq!(grant.resource.as_str(), peer.mcp);
    assert!(grant.tokens.refresh_token.is_some());
    assert!(peer.ui.log().failures.is_empty());

    let tools = call(&peer, "tools/list", json!({})).await;
    let names: Vec<&str> = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&"echo"), "{tools}");

    // The server saw the token for its own resource.
    let whoami = call(&peer, "tools/call", json!({ "name": "whoami" })).await;
    let seen: Value = serde_json::from_str(whoami["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(seen["resource"], peer.mcp, "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_and_the_new_token_is_accepted() {
    let peer = start();
    let first = login(&peer.session, &peer.ui, &peer.mcp, &login_options())
        .await
        .grant;

    peer.clock.advance(INTO_MARGIN);
    let token = peer.session.access_token(&peer.mcp).await.unwrap();
    assert_ne!(token, first.tokens.access_token);
    let second = peer.session.current_grant(&peer.mcp).unwrap();
    assert_ne!(
        second.tokens.refresh_token.as_ref().unwrap().secret(),
        first.tokens.refresh_token.as_ref().unwrap().secret()
    );
    let echoed = call(
        &peer,
        "tools/call",
        json!({ "name": "echo", "arguments": { "text": "after refresh" } }),
    )
    .await;
    assert_eq!(echoed["content"][0]["text"], "after refresh");

    // And the rotated refresh token works in turn.
    peer.clock.advance(Duration::from_secs(60));
    let again = peer.session.access_token(&peer.mcp).await.unwrap();
    assert_ne!(again, token);
    call(&peer, "tools/list", json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_the_refresh_token() {
    let peer = start();
    let grant = login(&peer.session, &peer.ui, &peer.mcp, &login_options())
        .await
        .grant;
    let warnings = peer.session.logout(&peer.mcp).await.unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(peer.session.status().unwrap().is_empty());

    // The revoked refresh token no longer refreshes.
    let policy = Policy::default();
    let mut replay = grant.clone();
    let request = replay.refresh_request(&policy).unwrap();
    let resp = HttpDriver::new(Duration::from_secs(30))
        .unwrap()
        .send(request)
        .await
        .unwrap();
    let err = replay
        .process_refresh_response(peer.clock.now(), &resp, &policy)
        .expect_err("the refresh token outlived the logout");
    assert!(is_invalid_grant(&err), "{err}");
}
