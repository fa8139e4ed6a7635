//! Four processes sharing one file store refresh once, with twenty-five concurrent callers in
//! each, on an expired token, whether tokens live 2 s, 20 s or an hour: the store's file lock,
//! and the re-read of the grant under it, keep a process from sending the refresh token
//! another one just rotated out (which the dev server, like oidc-provider, treats as token
//! theft).
//!
//! The test runs its own binary four times as child processes, releases them at the same
//! moment, and then checks the dev server's counters. The children's clocks are frozen at one
//! shared instant past the token's expiry, so a slow machine cannot age a 2 s token further.
//! The target has `harness = false` (native/Cargo.toml), so `main` plays the child's part when
//! `CHILD_ENV` is set, before anything else, and otherwise runs the tests under libtest-mimic:
//! the child's part is not a test, and a normal run has no test that passes without checking
//! anything.
// Built without cfg(test) (harness = false), so clippy.toml's test allowances do not reach here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use common::refresh_children::{
    print_tokens_of_concurrent_callers, tokens_printed_by, wait_for_file,
};
use common::{
    TOKEN_LIFETIMES, TestClock, TestUi, devserver_with_token_lifetime, fingerprint, login,
    login_options, mcp_status, wait_until,
};
use libtest_mimic::{Arguments, Trial};
use mcpauth::store::STORE_KEY_ENV;
use mcpauth::{FileStore, Session};
use mcpauth_core::Time;
use serde_json::{Value, json};

/// Set (to a JSON plan) only in the child processes.
const CHILD_ENV: &str = "MCPAUTH_TEST_REFRESH_CHILD";

const KEY: [u8; 32] = [0x5a; 32];
const PROCESSES: usize = 4;
const CALLERS_PER_PROCESS: usize = 25;
/// How far past the token's expiry the clocks are moved.
const PAST_EXPIRY: Duration = Duration::from_secs(1);

/// Plays the child's part if `CHILD_ENV` is set; runs the tests otherwise.
fn main() -> ExitCode {
    if let Ok(plan) = std::env::var(CHILD_ENV) {
        runtime().block_on(child_gets_tokens_from_the_shared_store(&plan));
        return ExitCode::SUCCESS;
    }
    let tests = TOKEN_LIFETIMES
        .into_iter()
        .map(|lifetime| {
            let name = format!(
                "four_processes_sharing_a_file_store_refresh_once_with_{}s_tokens",
                lifetime.as_secs()
            );
            Trial::test(name, move || {
                runtime().block_on(four_processes_sharing_a_file_store_refresh_once(lifetime));
                Ok(())
            })
        })
        .collect();
    libtest_mimic::run(&Arguments::from_args(), tests).exit_code()
}

/// What `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]` would build.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn four_processes_sharing_a_file_store_refresh_once(lifetime: Duration) {
    let server = devserver_with_token_lifetime(lifetime).await;
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let (ui, clock) = (TestUi::immediate(), TestClock::frozen());
    let store = Arc::new(FileStore::with_key(&store_dir, &KEY).unwrap());
    let session = common::session(store, &ui, &clock);
    let summary = login(&session, &ui, &server.mcp_url, &login_options()).await;
    let old = fingerprint(summary.grant.tokens.access_token.secret());
    server.reset();
    clock.advance(lifetime + PAST_EXPIRY);
    server.advance_clock(lifetime + PAST_EXPIRY);

    let go = dir.path().join("go");
    let ready = |n: usize| dir.path().join(format!("ready-{n}"));
    let children: Vec<_> = (0..PROCESSES)
        .map(|n| {
            let plan = json!({
                "store": store_dir,
                "server": server.mcp_url,
                "now_ms": clock.now().unix_millis(),
                "callers": CALLERS_PER_PROCESS,
                "ready": ready(n),
                "go": go,
            });
            spawn_child(&plan)
        })
        .collect();
    wait_until(Duration::from_secs(60), "every child ready", || {
        (0..PROCESSES).all(|n| ready(n).exists())
    })
    .await;
    std::fs::write(&go, b"go").unwrap();

    let seen = tokens_printed_by(children, CALLERS_PER_PROCESS).await;

    let stats = server.stats();
    assert_eq!(stats.refreshes, 1, "{lifetime:?} tokens: {stats:#?}");
    assert_eq!(
        stats.refresh_reuse_detected, 0,
        "{lifetime:?} tokens: {stats:#?}"
    );
    let new = seen[0].clone();
    assert!(
        seen.iter().all(|t| *t == new),
        "{lifetime:?} tokens: the callers got different tokens: {seen:?}"
    );
    assert_ne!(new, old, "{lifetime:?} tokens: the token was not refreshed");
    let stored = session.current_grant(&server.mcp_url).unwrap();
    let token = stored.tokens.access_token;
    assert_eq!(fingerprint(token.secret()), new);
    assert_eq!(mcp_status(&server.mcp_url, Some(token.secret())).await, 200);
}

fn spawn_child(plan: &Value) -> tokio::process::Child {
    tokio::process::Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, plan.to_string())
        // The children open the store with the key from the environment; the parent passed it
        // to `FileStore::with_key`: both ways must read the same records.
        .env(
            STORE_KEY_ENV,
            base64::engine::general_purpose::STANDARD.encode(KEY),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// The child's part: open the store, say it is ready, wait for the start signal, get a token
/// from `callers` concurrent calls and print their fingerprints, one line each.
async fn child_gets_tokens_from_the_shared_store(plan: &str) {
    let plan: Value = serde_json::from_str(plan).unwrap();
    let path = |name: &str| PathBuf::from(plan[name].as_str().unwrap());
    let store = Arc::new(FileStore::open(path("store")).unwrap());
    let clock = TestClock::frozen_at(Time::from_unix_millis(plan["now_ms"].as_u64().unwrap()));
    let session = Session::builder(store)
        .clock(clock.source())
        .build()
        .unwrap();
    let server = plan["server"].as_str().unwrap().to_owned();
    let callers = usize::try_from(plan["callers"].as_u64().unwrap()).unwrap();
    std::fs::write(path("ready"), b"ready").unwrap();
    wait_for_file(&path("go")).await;
    print_tokens_of_concurrent_callers(&session, &server, callers).await;
}
