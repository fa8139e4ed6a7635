//! A long-running tool never presents an expired token: `Session::spawn_refresher` refreshes
//! the grant in the background shortly before each expiry (30 s before, or at half the
//! lifetime for short-lived tokens), and the stored grant then holds a token the server
//! accepts.
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{TestClock, TestUi, fingerprint, login, login_options, mcp_status, wait_until};
use mcpauth::MemoryStore;
use mcpauth_devserver::Config;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_refresher_refreshes_before_expiry_and_keeps_going() {
    // 4 s tokens are refreshed at half their lifetime, 2 s after they are issued.
    let server = common::devserver(Config {
        auto_approve: true,
        access_token_ttl: Duration::from_secs(4),
        ..Config::default()
    })
    .await;
    let (ui, clock) = (TestUi::immediate(), TestClock::default());
    let session = common::session(Arc::new(MemoryStore::new()), &ui, &clock);
    let first = login(&session, &ui, &server.mcp_url, &login_options()).await;
    let first = fingerprint(first.grant.tokens.access_token.secret());
    server.reset();

    let refresher = session.spawn_refresher(&server.mcp_url);
    wait_until(Duration::from_secs(20), "a background refresh", || {
        server.stats().refreshes >= 1
    })
    .await;
    wait_until(
        Duration::from_secs(20),
        "a second background refresh",
        || server.stats().refreshes >= 2,
    )
    .await;
    assert!(!refresher.is_finished(), "the refresher stopped early");
    refresher.abort();

    let stats = server.stats();
    assert_eq!(stats.refresh_reuse_detected, 0, "{stats:#?}");
    let stored = session.current_grant(&server.mcp_url).unwrap();
    let now = fingerprint(stored.tokens.access_token.secret());
    assert_ne!(now, first, "the stored token was not replaced");
    assert_eq!(
        mcp_status(&server.mcp_url, Some(stored.tokens.access_token.secret())).await,
        200
    );
}
