//! Concurrent callers in one process share one refresh: fifty `access_token` calls on an
//! expiring token send exactly one refresh request to the authorization server, and all of
//! them get the same new token. The dev server rotates refresh tokens and counts reuse, so a
//! second refresh with the rotated-out token would show up as `refresh_reuse_detected`.
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{TestClock, TestUi, fingerprint, login, login_options, mcp_status, within};
use futures_util::future::join_all;
use mcpauth::{FileStore, MemoryStore, Session, TokenStore};
use mcpauth_devserver::{Config, DevServerHandle};

const CALLERS: usize = 50;

/// Access tokens live 60 s on the server; a clock 45 s ahead puts them inside the core's 30 s
/// expiry margin, so the next `access_token` must refresh. No sleeping involved.
const TTL: Duration = Duration::from_secs(60);
const INTO_MARGIN: Duration = Duration::from_secs(45);

async fn server() -> DevServerHandle {
    common::devserver(Config {
        auto_approve: true,
        access_token_ttl: TTL,
        ..Config::default()
    })
    .await
}

/// Runs `CALLERS` calls of `call` at once (released together by a barrier) and returns the
/// token fingerprints they got.
async fn all_at_once<F, Fut>(call: F) -> Vec<String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = mcpauth::Result<mcpauth_core::AccessToken>> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(CALLERS));
    let tasks = (0..CALLERS).map(|_| {
        let (barrier, fut) = (barrier.clone(), call());
        tokio::spawn(async move {
            barrier.wait().await;
            fut.await
        })
    });
    let results = within(
        Duration::from_secs(60),
        "concurrent callers",
        join_all(tasks),
    )
    .await;
    results
        .into_iter()
        .map(|joined| match joined.expect("caller task") {
            Ok(token) => fingerprint(token.secret()),
            Err(e) => panic!("a caller failed: {e} [{}]", e.code()),
        })
        .collect()
}

fn assert_one_token(tokens: &[String], old: &str) -> String {
    let first = tokens.first().expect("callers").clone();
    assert!(
        tokens.iter().all(|t| *t == first),
        "callers got different tokens: {tokens:?}"
    );
    assert_ne!(first, old, "the token was not refreshed");
    first
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_callers_on_an_expiring_token_make_one_refresh() {
    let server = server().await;
    let (ui, clock) = (TestUi::immediate(), TestClock::default());
    let session = common::session(Arc::new(MemoryStore::new()), &ui, &clock);
    let summary = login(&session, &ui, &server.mcp_url, &login_options()).await;
    let old = fingerprint(summary.grant.tokens.access_token.secret());
    server.reset();
    clock.advance(INTO_MARGIN);

    let url = server.mcp_url.clone();
    let tokens = all_at_once(|| {
        let (session, url) = (session.clone(), url.clone());
        async move { session.access_token(&url).await }
    })
    .await;
    let new = assert_one_token(&tokens, &old);

    let stats = server.stats();
    assert_eq!(stats.refreshes, 1, "{stats:#?}");
    assert_eq!(stats.refresh_reuse_detected, 0, "{stats:#?}");

    // The new token is fresh for the moved clock: no further request, and the server takes it.
    let sent = session.requests_sent();
    let again = session.access_token(&server.mcp_url).await.unwrap();
    assert_eq!(fingerprint(again.secret()), new);
    assert_eq!(session.requests_sent(), sent);
    assert_eq!(mcp_status(&server.mcp_url, Some(again.secret())).await, 200);
    assert_eq!(server.stats().refreshes, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn callers_of_two_sessions_on_one_file_store_make_one_refresh() {
    // Two sessions have separate in-process gates; only the store's file lock (and the re-read
    // under it) keeps them from refreshing twice.
    let server = server().await;
    let dir = tempfile::tempdir().unwrap();
    let key = [7u8; 32];
    let open =
        || -> Arc<dyn TokenStore> { Arc::new(FileStore::with_key(dir.path(), &key).unwrap()) };
    let (ui, clock) = (TestUi::immediate(), TestClock::default());
    let first = common::session(open(), &ui, &clock);
    let second = common::session(open(), &ui, &clock);
    let summary = login(&first, &ui, &server.mcp_url, &login_options()).await;
    let old = fingerprint(summary.grant.tokens.access_token.secret());
    server.reset();
    clock.advance(INTO_MARGIN);

    let url = server.mcp_url.clone();
    let sessions: Arc<[Session; 2]> = Arc::new([first, second]);
    let turn = std::sync::atomic::AtomicUsize::new(0);
    let tokens = all_at_once(|| {
        let n = turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 2;
        let (sessions, url) = (sessions.clone(), url.clone());
        async move { sessions[n].access_token(&url).await }
    })
    .await;
    assert_one_token(&tokens, &old);

    let stats = server.stats();
    assert_eq!(stats.refreshes, 1, "{stats:#?}");
    assert_eq!(stats.refresh_reuse_detected, 0, "{stats:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_callers_rejected_with_one_token_make_one_refresh() {
    // What fifty AuthClient requests do when the server starts answering 401: each asks for a
    // refresh "unless someone already replaced the token I sent".
    let server = server().await;
    let (ui, clock) = (TestUi::immediate(), TestClock::default());
    let session = common::session(Arc::new(MemoryStore::new()), &ui, &clock);
    let summary = login(&session, &ui, &server.mcp_url, &login_options()).await;
    let rejected = summary.grant.tokens.access_token.clone();
    server.expire_access_tokens();
    server.reset();

    let url = server.mcp_url.clone();
    let tokens = all_at_once(|| {
        let (session, url, rejected) = (session.clone(), url.clone(), rejected.clone());
        async move { session.refresh_after_rejection(&url, &rejected).await }
    })
    .await;
    let new = assert_one_token(&tokens, &fingerprint(rejected.secret()));

    let stats = server.stats();
    assert_eq!(stats.refreshes, 1, "{stats:#?}");
    assert_eq!(stats.refresh_reuse_detected, 0, "{stats:#?}");
    let token = session.access_token(&server.mcp_url).await.unwrap();
    assert_eq!(fingerprint(token.secret()), new);
    assert_eq!(mcp_status(&server.mcp_url, Some(token.secret())).await, 200);
}
