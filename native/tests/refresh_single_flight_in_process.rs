//! Concurrent callers in one process share one refresh: a hundred `access_token` calls on an
//! expired token send exactly one refresh request to the authorization server, and all of them
//! get the same new token, whether tokens live 2 s, 20 s or an hour. The dev server rotates
//! refresh tokens and counts reuse, so a second refresh with the rotated-out token would show
//! up as `refresh_reuse_detected`.
//!
//! The clocks are frozen ([`TestClock::frozen`]) and moved by the tests, the client's and the
//! dev server's alike, so a 2 s token expires when the test says and not when a slow machine
//! lets it.
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{
    TOKEN_LIFETIMES, TestClock, TestUi, devserver_with_token_lifetime, fingerprint, login,
    login_options, mcp_status, within,
};
use futures_util::future::join_all;
use mcpauth::{FileStore, MemoryStore, Session, TokenStore};
use mcpauth_devserver::DevServerHandle;

const CALLERS: usize = 100;

/// How far past its expiry the tests move a token's clocks.
const PAST_EXPIRY: Duration = Duration::from_secs(1);

/// A logged-in session on a dev server issuing tokens of one lifetime, with a frozen clock.
struct LoggedIn {
    server: DevServerHandle,
    clock: TestClock,
    session: Session,
    /// The fingerprint of the access token the login got.
    old: String,
    /// The access token the login got.
    token: mcpauth_core::AccessToken,
}

impl LoggedIn {
    /// Logs in over `store`; the server's counters start from zero afterwards.
    async fn new(lifetime: Duration, store: Arc<dyn TokenStore>) -> Self {
        let server = devserver_with_token_lifetime(lifetime).await;
        let (ui, clock) = (TestUi::immediate(), TestClock::frozen());
        let session = common::session(store, &ui, &clock);
        let summary = login(&session, &ui, &server.mcp_url, &login_options()).await;
        let token = summary.grant.tokens.access_token;
        server.reset();
        Self {
            old: fingerprint(token.secret()),
            token,
            server,
            clock,
            session,
        }
    }

    /// Moves the client's and the server's clocks forward by `by`.
    fn advance(&self, by: Duration) {
        self.clock.advance(by);
        self.server.advance_clock(by);
    }

    /// Asserts that the server saw `refreshes` refreshes and no reuse of a rotated-out
    /// refresh token.
    fn assert_refreshes(&self, refreshes: u64, case: &str) {
        let stats = self.server.stats();
        assert_eq!(stats.refreshes, refreshes, "{case}: {stats:#?}");
        assert_eq!(stats.refresh_reuse_detected, 0, "{case}: {stats:#?}");
    }
}

/// Runs `callers` calls of `call` at once (released together by a barrier) and returns the
/// token fingerprints they got.
async fn all_at_once<F, Fut>(callers: usize, call: F) -> Vec<String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = mcpauth::Result<mcpauth_core::AccessToken>> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(callers));
    let tasks = (0..callers).map(|_| {
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

/// `callers` calls of `session.access_token` at once.
async fn access_tokens(callers: usize, session: &Session, url: &str) -> Vec<String> {
    all_at_once(callers, || {
        let (session, url) = (session.clone(), url.to_owned());
        async move { session.access_token(&url).await }
    })
    .await
}

/// The one token every caller got.
fn one_token(tokens: &[String], case: &str) -> String {
    let first = tokens.first().expect("callers").clone();
    assert!(
        tokens.iter().all(|t| *t == first),
        "{case}: callers got different tokens: {tokens:?}"
    );
    first
}

/// The one token every caller got, which is not `old`.
fn assert_one_new_token(tokens: &[String], old: &str, case: &str) -> String {
    let new = one_token(tokens, case);
    assert_ne!(new, old, "{case}: the token was not refreshed");
    new
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_callers_on_an_expired_token_make_one_refresh_at_every_lifetime() {
    for lifetime in TOKEN_LIFETIMES {
        let case = format!("{lifetime:?} tokens");
        let world = LoggedIn::new(lifetime, Arc::new(MemoryStore::new())).await;
        world.advance(lifetime + PAST_EXPIRY);

        let url = world.server.mcp_url.clone();
        let tokens = access_tokens(CALLERS, &world.session, &url).await;
        let new = assert_one_new_token(&tokens, &world.old, &case);
        world.assert_refreshes(1, &case);

        // The new token is fresh for the moved clock: no further request, and the server
        // takes it.
        let sent = world.session.requests_sent();
        let again = world.session.access_token(&url).await.unwrap();
        assert_eq!(fingerprint(again.secret()), new, "{case}");
        assert_eq!(world.session.requests_sent(), sent, "{case}");
        assert_eq!(mcp_status(&url, Some(again.secret())).await, 200, "{case}");
        world.assert_refreshes(1, &case);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_callers_of_two_sessions_on_one_file_store_make_one_refresh_at_every_lifetime() {
    // Two sessions have separate in-process gates; only the store's file lock (and the re-read
    // under it) keeps them from refreshing twice.
    for lifetime in TOKEN_LIFETIMES {
        let case = format!("{lifetime:?} tokens");
        let dir = tempfile::tempdir().unwrap();
        let key = [7u8; 32];
        let open =
            || -> Arc<dyn TokenStore> { Arc::new(FileStore::with_key(dir.path(), &key).unwrap()) };
        let world = LoggedIn::new(lifetime, open()).await;
        let second = Session::builder(open())
            .clock(world.clock.source())
            .build()
            .unwrap();
        world.advance(lifetime + PAST_EXPIRY);

        let url = world.server.mcp_url.clone();
        let sessions: Arc<[Session; 2]> = Arc::new([world.session.clone(), second]);
        let turn = std::sync::atomic::AtomicUsize::new(0);
        let tokens = all_at_once(CALLERS, || {
            let n = turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 2;
            let (sessions, url) = (sessions.clone(), url.clone());
            async move { sessions[n].access_token(&url).await }
        })
        .await;
        assert_one_new_token(&tokens, &world.old, &case);
        world.assert_refreshes(1, &case);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_callers_rejected_with_one_token_make_one_refresh_at_every_lifetime() {
    // What a hundred AuthClient requests do when the server starts answering 401 to a token
    // the client still thinks valid: each asks for a refresh "unless someone already replaced
    // the token I sent".
    for lifetime in TOKEN_LIFETIMES {
        let case = format!("{lifetime:?} tokens");
        let world = LoggedIn::new(lifetime, Arc::new(MemoryStore::new())).await;
        world.server.expire_access_tokens();

        let url = world.server.mcp_url.clone();
        let rejected = world.token.clone();
        let tokens = all_at_once(CALLERS, || {
            let (session, url, rejected) = (world.session.clone(), url.clone(), rejected.clone());
            async move { session.refresh_after_rejection(&url, &rejected).await }
        })
        .await;
        let new = assert_one_new_token(&tokens, &world.old, &case);
        world.assert_refreshes(1, &case);

        let token = world.session.access_token(&url).await.unwrap();
        assert_eq!(fingerprint(token.secret()), new, "{case}");
        assert_eq!(mcp_status(&url, Some(token.secret())).await, 200, "{case}");
    }
}

/// How long after it was issued the core refreshes a token of `lifetime`: once less than its
/// margin is left, the margin being 30 s, or half the lifetime for tokens under a minute.
fn refresh_due_after(lifetime: Duration) -> Duration {
    lifetime - Duration::from_secs(30).min(lifetime / 2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_are_refreshed_once_each_when_due_not_on_every_call_at_every_lifetime() {
    // Twenty callers at once every 0.3 lifetimes, for 3.6 lifetimes. A margin that swallowed a
    // short token whole would refresh on every call (240 refreshes); the core refreshes each
    // token once, in the round after it has less than its margin left: every second round for
    // 2 s and 20 s tokens (margin half the lifetime), every fourth for 1 h tokens (30 s).
    const ROUNDS: u32 = 12;
    const CALLERS_PER_ROUND: usize = 20;
    let expected_total = [
        (Duration::from_secs(2), 6),
        (Duration::from_secs(20), 6),
        (Duration::from_secs(3600), 3),
    ];
    for (lifetime, total) in expected_total {
        let case = format!("{lifetime:?} tokens");
        let world = LoggedIn::new(lifetime, Arc::new(MemoryStore::new())).await;
        let url = world.server.mcp_url.clone();
        let step = lifetime * 3 / 10;
        let (mut age, mut expected, mut current) = (Duration::ZERO, 0, world.old.clone());
        for round in 1..=ROUNDS {
            world.advance(step);
            age += step;
            let refreshing = age >= refresh_due_after(lifetime);
            if refreshing {
                expected += 1;
                age = Duration::ZERO;
            }
            let round_case = format!("{case}, round {round}");
            let tokens = access_tokens(CALLERS_PER_ROUND, &world.session, &url).await;
            let token = one_token(&tokens, &round_case);
            assert_eq!(token != current, refreshing, "{round_case}: refreshed?");
            current = token;
            world.assert_refreshes(expected, &round_case);
        }
        assert_eq!(expected, total, "{case}: the rounds' model");
        let token = world.session.access_token(&url).await.unwrap();
        assert_eq!(mcp_status(&url, Some(token.secret())).await, 200, "{case}");
    }
}
