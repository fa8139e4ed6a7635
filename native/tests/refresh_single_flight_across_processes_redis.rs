//! Replicas sharing one Redis store refresh once: four processes, each with 25 concurrent
//! `access_token` calls on an expiring token, make exactly one refresh at the dev server and
//! never send a rotated-out refresh token. The Redis lock serializes the processes, the
//! in-process lock the callers of each, and the core's re-read of the grant under the lock
//! makes every later holder use the refreshed grant.
//!
//! The test runs its own binary as the child processes. The target has `harness = false`
//! (native/Cargo.toml), so `main` plays the child's part when `CHILD_ENV` is set, before
//! anything else, and otherwise runs the test under libtest-mimic: the child's part is not a
//! test, and a normal run has no test that passes without checking anything.
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
use common::redis_server::RedisServer;
use common::refresh_children::{
    print_tokens_of_concurrent_callers, tokens_printed_by, wait_for_file,
};
use common::{TestClock, TestUi, fingerprint, login, login_options, wait_until};
use libtest_mimic::{Arguments, Trial};
use mcpauth::Session;
use mcpauth::store::{RedisStore, STORE_KEY_ENV, StoreKey};
use mcpauth_core::flow::Profile;
use mcpauth_devserver::Config;
use serde_json::{Value, json};

/// Set (to a JSON plan) only in the child processes.
const CHILD_ENV: &str = "MCPAUTH_TEST_REDIS_REFRESH_CHILD";

const PROCESSES: usize = 4;
const CALLERS: usize = 25;
const KEY: [u8; 32] = [0x5b; 32];
const NS: &str = "gateway-1";
/// The gateway's user, as a profile.
const USER: &str = "alice";
/// Tokens live 60 s; the children's clocks run 45 s ahead, inside the 30 s refresh margin.
const TTL: Duration = Duration::from_secs(60);
const CHILD_CLOCK_AHEAD: Duration = Duration::from_secs(45);

fn main() -> ExitCode {
    if let Ok(plan) = std::env::var(CHILD_ENV) {
        runtime().block_on(child_gets_tokens_from_redis(&plan));
        return ExitCode::SUCCESS;
    }
    let test = Trial::test("four_processes_sharing_a_redis_store_refresh_once", || {
        runtime().block_on(four_processes_sharing_a_redis_store_refresh_once());
        Ok(())
    });
    libtest_mimic::run(&Arguments::from_args(), vec![test]).exit_code()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn profile() -> Option<Profile> {
    Some(Profile::parse(USER).unwrap())
}

async fn four_processes_sharing_a_redis_store_refresh_once() {
    let redis = RedisServer::start();
    let server = common::devserver(Config {
        auto_approve: true,
        access_token_ttl: TTL,
        ..Config::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (ui, clock) = (TestUi::immediate(), TestClock::default());
    let store = RedisStore::open(&redis.url(), NS, StoreKey::from_bytes(KEY)).unwrap();
    let session = common::session(Arc::new(store), &ui, &clock).with_profile(profile());
    let summary = login(&session, &ui, &server.mcp_url, &login_options()).await;
    let old = fingerprint(summary.grant.tokens.access_token.secret());
    server.reset();

    let go = dir.path().join("go");
    let ready = |n: usize| dir.path().join(format!("ready-{n}"));
    let children: Vec<_> = (0..PROCESSES)
        .map(|n| {
            spawn_child(&json!({
                "redis": redis.url(),
                "server": server.mcp_url,
                "clock_ahead_ms": u64::try_from(CHILD_CLOCK_AHEAD.as_millis()).unwrap(),
                "ready": ready(n),
                "go": go,
            }))
        })
        .collect();
    wait_until(Duration::from_secs(60), "all children ready", || {
        (0..PROCESSES).all(|n| ready(n).exists())
    })
    .await;
    std::fs::write(&go, b"go").unwrap();

    let seen = tokens_printed_by(children, CALLERS).await;

    let stats = server.stats();
    assert_eq!(stats.refreshes, 1, "{stats:#?}");
    assert_eq!(stats.refresh_reuse_detected, 0, "{stats:#?}");
    assert!(
        seen.iter().all(|t| *t == seen[0]),
        "callers got different tokens: {seen:?}"
    );
    assert_ne!(seen[0], old, "the token was not refreshed");
    let stored = session.current_grant(&server.mcp_url).unwrap();
    assert_eq!(fingerprint(stored.tokens.access_token.secret()), seen[0]);
    assert_eq!(
        redis.cli_text(&[
            "EXISTS",
            &format!("mcpauth:{NS}:lock:refresh#{}#{USER}", server.mcp_url)
        ]),
        "0",
        "a lock was left behind"
    );
}

fn spawn_child(plan: &Value) -> tokio::process::Child {
    tokio::process::Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, plan.to_string())
        // The children take the key from the environment, as a gateway's replicas would; the
        // parent passed its bytes: both must read the same records.
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

/// The child's part: open the store, say it is ready, wait for the start signal, make
/// `CALLERS` concurrent `access_token` calls and print each token's fingerprint.
async fn child_gets_tokens_from_redis(plan: &str) {
    let plan: Value = serde_json::from_str(plan).unwrap();
    let path = |name: &str| PathBuf::from(plan[name].as_str().unwrap());
    let key = StoreKey::from_env().unwrap();
    let store = RedisStore::open(plan["redis"].as_str().unwrap(), NS, key).unwrap();
    let clock = TestClock::ahead_by(Duration::from_millis(
        plan["clock_ahead_ms"].as_u64().unwrap(),
    ));
    let session = Session::builder(Arc::new(store))
        .clock(clock.source())
        .build()
        .unwrap()
        .with_profile(profile());
    let server = plan["server"].as_str().unwrap().to_owned();
    std::fs::write(path("ready"), b"ready").unwrap();
    wait_for_file(&path("go")).await;
    print_tokens_of_concurrent_callers(&session, &server, CALLERS).await;
}
