//! mcpauth's `Session` against panva's oidc-provider, a strict third-party authorization
//! server (tests/interop/oidc.mjs): authorization-code login through its real login and
//! consent pages, device login through its device page, refresh-token rotation (and what a
//! replayed refresh token does there), single-flight refresh against it, and revocation on
//! logout.
//!
//! oidc-provider is an AS only, so the issuer is configured (no protected resource metadata,
//! no probe) and the MCP server URL is just the RFC 8707 resource: nothing listens on it.
//! Needs Node and `npm ci --prefix tests/interop` (scripts/setup); fails, never skips, without.
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use common::{NodeServer, TestClock, TestUi, fingerprint, login, within};
use futures_util::future::join_all;
use mcpauth::session::LoginOptions;
use mcpauth::{Flow, HttpDriver, MemoryStore, Session};
use mcpauth_core::token::is_invalid_grant;
use mcpauth_core::{Grant, Policy, RefreshToken};
use serde_json::Value;

/// The resource the tokens are for. Port 9 (discard): nothing answers there, and nothing
/// should try.
const MCP_SERVER: &str = "http://127.0.0.1:9/mcp";

/// oidc.mjs's default access-token lifetime is 60 s; a clock this far ahead is inside the
/// core's 30 s refresh margin.
const INTO_MARGIN: Duration = Duration::from_secs(45);

struct Peer {
    _server: NodeServer,
    issuer: String,
    ui: Arc<TestUi>,
    clock: TestClock,
    session: Session,
}

fn start() -> Peer {
    let server = NodeServer::start("oidc.mjs", &[]);
    let issuer = server.field("issuer");
    let (ui, clock) = (TestUi::oidc_provider(&issuer), TestClock::default());
    let session = common::session(Arc::new(MemoryStore::new()), &ui, &clock);
    Peer {
        _server: server,
        issuer,
        ui,
        clock,
        session,
    }
}

fn options(peer: &Peer) -> LoginOptions {
    let mut options = common::login_options();
    options.issuer = Some(peer.issuer.clone());
    options.probe = false;
    options.scope = Some("openid mcp:read".into());
    options
}

/// The claims of a JWT access token (RFC 9068), unverified: only to see what the AS minted.
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT access token");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn assert_resource_token(grant: &Grant) {
    let claims = claims(grant.tokens.access_token.secret());
    assert_eq!(claims["aud"], MCP_SERVER, "{claims}");
    let scope = claims["scope"].as_str().unwrap_or_default();
    assert!(scope.split(' ').any(|s| s == "mcp:read"), "{claims}");
    assert!(grant.tokens.refresh_token.is_some());
}

/// Sends a refresh with `refresh_token` in place of the grant's own, as a client that lost
/// track of rotation would, and returns whether the AS answered `invalid_grant`.
async fn replay_is_refused(grant: &Grant, refresh_token: &RefreshToken) -> bool {
    let mut stale = grant.clone();
    stale.tokens.refresh_token = Some(refresh_token.clone());
    let policy = Policy::default();
    let request = stale.refresh_request(&policy).unwrap();
    let http = HttpDriver::new(Duration::from_secs(30)).unwrap();
    let resp = http.send(request).await.unwrap();
    match stale.process_refresh_response(TestClock::default().now(), &resp, &policy) {
        Ok(_) => false,
        Err(e) => {
            assert!(is_invalid_grant(&e), "expected invalid_grant, got {e}");
            true
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_code_login_through_the_login_and_consent_pages() {
    let peer = start();
    let summary = login(&peer.session, &peer.ui, MCP_SERVER, &options(&peer)).await;
    println!(
        "oidc-provider, first login (issuer configured): {} requests by mcpauth \
         (plus 7 by the headless browser)",
        summary.requests
    );
    // AS metadata (its RFC 8414 and OpenID URLs at once), dynamic registration, code
    // exchange; the ID token names the user, so no userinfo request.
    assert_eq!(summary.requests, 4);

    let grant = &summary.grant;
    assert_eq!(grant.issuer, peer.issuer);
    assert_eq!(grant.resource.as_str(), MCP_SERVER);
    assert_resource_token(grant);
    assert!(grant.tokens.id_token.is_some());
    // Only `sub` is claimed, so it is shown with the issuer it is unique at.
    assert_eq!(
        summary.identity,
        Some(format!("sub interop-user at {}", peer.issuer))
    );
    let log = peer.ui.log();
    assert!(log.failures.is_empty(), "{:?}", log.failures);
    assert_eq!(log.authorization_urls.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_login_through_the_device_page() {
    let peer = start();
    let mut options = options(&peer);
    options.flow = Flow::Device;
    let summary = login(&peer.session, &peer.ui, MCP_SERVER, &options).await;
    println!("oidc-provider, device login: {} requests", summary.requests);

    assert_resource_token(&summary.grant);
    let log = peer.ui.log();
    assert_eq!(log.user_codes.len(), 1);
    assert!(log.failures.is_empty(), "{:?}", log.failures);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_and_a_replayed_refresh_token_kills_the_grant() {
    let peer = start();
    let first = login(&peer.session, &peer.ui, MCP_SERVER, &options(&peer))
        .await
        .grant;
    let rt1 = first.tokens.refresh_token.clone().unwrap();

    peer.clock.advance(INTO_MARGIN);
    let at2 = peer.session.access_token(MCP_SERVER).await.unwrap();
    let second = peer.session.current_grant(MCP_SERVER).unwrap();
    let rt2 = second.tokens.refresh_token.clone().unwrap();
    assert_ne!(at2, first.tokens.access_token);
    assert_ne!(
        rt2.secret(),
        rt1.secret(),
        "oidc.mjs rotates refresh tokens"
    );
    assert_resource_token(&second);

    // The rotated token refreshes again.
    peer.clock.advance(Duration::from_secs(60));
    let at3 = peer.session.access_token(MCP_SERVER).await.unwrap();
    let third = peer.session.current_grant(MCP_SERVER).unwrap();
    assert_ne!(at3, at2);
    assert_ne!(
        third.tokens.refresh_token.as_ref().unwrap().secret(),
        rt2.secret()
    );

    // Replaying the first refresh token is refused, and oidc-provider revokes the whole grant
    // for it: the session's next refresh fails, and it forgets the login.
    assert!(replay_is_refused(&third, &rt1).await);
    peer.clock.advance(Duration::from_secs(60));
    let err = peer.session.access_token(MCP_SERVER).await.unwrap_err();
    assert_eq!(err.code(), "LOGIN_REQUIRED", "{err}");
    assert!(peer.session.status().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_never_replay_a_rotated_refresh_token() {
    // oidc-provider revokes the grant on any replay, so if two of these callers had refreshed
    // with the same token, the follow-up refresh below would fail.
    let peer = start();
    let first = login(&peer.session, &peer.ui, MCP_SERVER, &options(&peer))
        .await
        .grant;
    peer.clock.advance(INTO_MARGIN);
    let barrier = Arc::new(tokio::sync::Barrier::new(20));
    let calls = (0..20).map(|_| {
        let (session, barrier) = (peer.session.clone(), barrier.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            session.access_token(MCP_SERVER).await
        })
    });
    let tokens: Vec<String> = within(Duration::from_secs(60), "callers", join_all(calls))
        .await
        .into_iter()
        .map(|r| fingerprint(r.unwrap().unwrap().secret()))
        .collect();
    assert!(tokens.iter().all(|t| *t == tokens[0]), "{tokens:?}");
    assert_ne!(tokens[0], fingerprint(first.tokens.access_token.secret()));

    peer.clock.advance(Duration::from_secs(60));
    let next = peer.session.access_token(MCP_SERVER).await.unwrap();
    assert_ne!(fingerprint(next.secret()), tokens[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_the_refresh_token() {
    let peer = start();
    let grant = login(&peer.session, &peer.ui, MCP_SERVER, &options(&peer))
        .await
        .grant;
    let warnings = peer.session.logout(MCP_SERVER).await.unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(peer.session.status().unwrap().is_empty());
    let refresh_token = grant.tokens.refresh_token.clone().unwrap();
    assert!(
        replay_is_refused(&grant, &refresh_token).await,
        "the refresh token outlived the logout"
    );
}
