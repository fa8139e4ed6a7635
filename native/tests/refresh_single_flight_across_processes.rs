//! Two processes sharing one file store refresh once: the store's file lock, and the re-read of
//! the grant under it, keep the second process from sending the refresh token the first one
//! just rotated out (which the dev server, like oidc-provider, treats as token theft).
//!
//! The test runs its own binary twice as child processes, releases both at the same moment,
//! and then checks the dev server's counters. The target has `harness = false`
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

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use common::{TestClock, TestUi, fingerprint, login, login_options, wait_until, within};
use libtest_mimic::{Arguments, Trial};
use mcpauth::store::STORE_KEY_ENV;
use mcpauth::{FileStore, Session};
use mcpauth_devserver::Config;
use serde_json::{Value, json};

/// Set (to a JSON plan) only in the child processes.
const CHILD_ENV: &str = "MCPAUTH_TEST_REFRESH_CHILD";
/// The prefix of the child's one line of result.
const TOKEN_LINE: &str = "child token fingerprint: ";

const KEY: [u8; 32] = [0x5a; 32];
/// Tokens live 60 s; the children's clocks run 45 s ahead, inside the 30 s refresh margin.
const TTL: Duration = Duration::from_secs(60);
const CHILD_CLOCK_AHEAD: Duration = Duration::from_secs(45);

/// Plays the child's part if `CHILD_ENV` is set; runs the test otherwise.
fn main() -> ExitCode {
    if let Ok(plan) = std::env::var(CHILD_ENV) {
        runtime().block_on(child_gets_a_token_from_the_shared_store(&plan));
        return ExitCode::SUCCESS;
    }
    let test = Trial::test("two_processes_sharing_a_file_store_refresh_once", || {
        runtime().block_on(two_processes_sharing_a_file_store_refresh_once());
        Ok(())
    });
    libtest_mimic::run(&Arguments::from_args(), vec![test]).exit_code()
}

/// What `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]` would build.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn two_processes_sharing_a_file_store_refresh_once() {
    let server = common::devserver(Config {
        auto_approve: true,
        access_token_ttl: TTL,
        ..Config::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let (ui, clock) = (TestUi::immediate(), TestClock::default());
    let store = Arc::new(FileStore::with_key(&store_dir, &KEY).unwrap());
    let session = common::session(store, &ui, &clock);
    let summary = login(&session, &ui, &server.mcp_url, &login_options()).await;
    let old = fingerprint(summary.grant.tokens.access_token.secret());
    server.reset();

    let go = dir.path().join("go");
    let children: Vec<_> = (0..2)
        .map(|n| {
            let plan = json!({
                "store": store_dir,
                "server": server.mcp_url,
                "clock_ahead_ms": u64::try_from(CHILD_CLOCK_AHEAD.as_millis()).unwrap(),
                "ready": dir.path().join(format!("ready-{n}")),
                "go": go,
            });
            spawn_child(&plan)
        })
        .collect();
    let ready = |n: usize| dir.path().join(format!("ready-{n}")).exists();
    wait_until(Duration::from_secs(60), "both children ready", || {
        ready(0) && ready(1)
    })
    .await;
    std::fs::write(&go, b"go").unwrap();

    let mut seen = Vec::new();
    for child in children {
        let out = within(
            Duration::from_secs(90),
            "a child process",
            child.wait_with_output(),
        )
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "child failed ({}):\n{stdout}\n{stderr}",
            out.status
        );
        let tokens: Vec<&str> = stdout
            .lines()
            .filter_map(|l| l.split_once(TOKEN_LINE).map(|(_, fp)| fp.trim()))
            .collect();
        assert_eq!(tokens.len(), 1, "one token line expected:\n{stdout}");
        seen.push(tokens[0].to_owned());
    }

    let stats = server.stats();
    assert_eq!(stats.refreshes, 1, "{stats:#?}");
    assert_eq!(stats.refresh_reuse_detected, 0, "{stats:#?}");
    assert_eq!(seen[0], seen[1], "the children got different tokens");
    assert_ne!(seen[0], old, "the token was not refreshed");
    let stored = session.current_grant(&server.mcp_url).unwrap();
    assert_eq!(fingerprint(stored.tokens.access_token.secret()), seen[0]);
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
/// and print its fingerprint.
async fn child_gets_a_token_from_the_shared_store(plan: &str) {
    let plan: Value = serde_json::from_str(plan).unwrap();
    let path = |name: &str| PathBuf::from(plan[name].as_str().unwrap());
    let store = Arc::new(FileStore::open(path("store")).unwrap());
    let clock = TestClock::ahead_by(Duration::from_millis(
        plan["clock_ahead_ms"].as_u64().unwrap(),
    ));
    let session = Session::builder(store)
        .clock(clock.source())
        .build()
        .unwrap();
    std::fs::write(path("ready"), b"ready").unwrap();
    wait_for_file(&path("go")).await;
    let token = session
        .access_token(plan["server"].as_str().unwrap())
        .await
        .unwrap_or_else(|e| panic!("access_token: {e} [{}]", e.code()));
    println!("{TOKEN_LINE}{}", fingerprint(token.secret()));
}

/// Waits for `path` with a 1 ms poll, so both children start within about a millisecond.
async fn wait_for_file(path: &Path) {
    within(Duration::from_secs(60), "the start signal", async {
        while !path.exists() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
}
