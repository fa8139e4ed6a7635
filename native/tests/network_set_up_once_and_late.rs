//! Nothing network-related is set up before a request needs it, and then once: `mcpauth token`
//! with a valid stored token builds no HTTP client and reads no trust roots; a login builds one
//! client and reads the roots once; a session's login and the MCP requests of an
//! [`AuthClient`] over it share one connection pool; the default store does not try the OS
//! keychain where no session bus can answer.
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml

mod common;

use std::path::Path;
use std::sync::Arc;

use mcpauth::{AuthClient, MemoryStore, TokenStore as _};
use serde_json::Value;

use common::{TestClock, TestUi};

/// What the HTTP module logs when it builds its client, and when it reads the platform's
/// trust roots (the system CA bundle).
const CLIENT_BUILT: &str = "building the HTTP client";
const ROOTS_LOADED: &str = "loading the platform's trust roots";

/// Runs the CLI with `MCPAUTH_LOG=debug`; returns stdout and stderr, expecting success.
async fn logged(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (String, String) {
    let mut command = common::cli(dir);
    command
        .args(args)
        .env("MCPAUTH_LOG", "debug")
        .stdin(std::process::Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let out = common::within(
        std::time::Duration::from_secs(60),
        "mcpauth",
        command.output(),
    )
    .await
    .expect("mcpauth runs");
    common::succeeded(&out, args)
}

fn times(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[tokio::test]
async fn a_cached_token_is_printed_without_an_http_client_and_a_login_reads_the_roots_once() {
    let server = common::auto_approving_devserver().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (d, url) = (dir.path(), server.mcp_url.as_str());

    let (_, login) = logged(d, &["login", url], &[]).await;
    assert_eq!(times(&login, CLIENT_BUILT), 1, "one client:\n{login}");
    assert_eq!(times(&login, ROOTS_LOADED), 1, "the roots once:\n{login}");

    let before = server.stats().total_requests;
    let (token, log) = logged(d, &["token", url], &[]).await;
    assert!(token.trim().len() > 10, "a token: {token}");
    assert_eq!(times(&log, CLIENT_BUILT), 0, "no client:\n{log}");
    assert_eq!(times(&log, ROOTS_LOADED), 0, "no trust roots:\n{log}");
    assert_eq!(server.stats().total_requests, before, "no request");

    // `status` sends nothing either.
    let (_, log) = logged(d, &["status"], &[]).await;
    assert_eq!(
        times(&log, CLIENT_BUILT) + times(&log, ROOTS_LOADED),
        0,
        "{log}"
    );
}

#[tokio::test]
async fn a_login_and_the_mcp_requests_after_it_share_one_connection_pool() {
    let server = common::auto_approving_devserver().await;
    let (ui, clock) = (TestUi::immediate(), TestClock::frozen());
    let session = common::session(Arc::new(MemoryStore::new()), &ui, &clock);
    common::login(&session, &ui, &server.mcp_url, &common::login_options()).await;
    let agent = format!("mcpauth/{}", env!("CARGO_PKG_VERSION"));
    let connections =
        |stats: &mcpauth_devserver::Stats| stats.connections.get(&agent).copied().unwrap_or(0);
    let after_login = connections(&server.stats());
    assert!(after_login >= 1, "{:?}", server.stats().connections);

    let client = AuthClient::with_session(session.clone()).expect("client");
    for id in 1..=3 {
        let body = common::rpc(id, "tools/list", Value::Null);
        let response = client
            .execute(&server.mcp_url, |http| {
                common::mcp_post(http, &server.mcp_url, body.clone())
            })
            .await
            .expect("MCP request");
        assert_eq!(response.status(), 200);
        // Read to the end, so the connection goes back to the pool.
        response.bytes().await.expect("the body");
    }
    let stats = server.stats();
    assert_eq!(
        connections(&stats),
        after_login,
        "the MCP requests reused the login's pool: {:?}",
        stats.connections
    );
}

/// The session's one client follows no redirect for the core, but the MCP requests an
/// [`AuthClient`] sends with it follow them, as they did with a client of their own.
#[tokio::test]
async fn mcp_requests_on_the_shared_client_still_follow_redirects() {
    let server = common::auto_approving_devserver().await;
    let (ui, clock) = (TestUi::immediate(), TestClock::frozen());
    let store = Arc::new(MemoryStore::new());
    let session = common::session(store.clone(), &ui, &clock);
    common::login(&session, &ui, &server.mcp_url, &common::login_options()).await;

    let hits = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = hits.clone();
    let addr = common::serve(move |req: common::Request, stream| {
        seen.lock().unwrap().push((
            req.target().to_owned(),
            req.header("authorization").is_some(),
        ));
        async move {
            match req.target() {
                "/mcp" => {
                    common::respond(
                        stream,
                        "307 Temporary Redirect",
                        &[("location", "/moved")],
                        b"",
                    )
                    .await
                }
                _ => {
                    common::respond(
                        stream,
                        "200 OK",
                        &[("content-type", "application/json")],
                        b"{}",
                    )
                    .await
                }
            }
        }
    })
    .await;
    // The dev server's grant, stored again for the redirecting server.
    let moved_url = format!("http://{addr}/mcp");
    let key = |url: &str| format!("grant#{url}");
    let record = store.load(&key(&server.mcp_url)).unwrap().unwrap();
    let record = String::from_utf8(record)
        .unwrap()
        .replace(&server.mcp_url, &moved_url);
    store.save(&key(&moved_url), record.as_bytes()).unwrap();

    let client = AuthClient::with_session(session).expect("client");
    let body = common::rpc(1, "tools/list", Value::Null);
    let response = client
        .execute(&moved_url, |http| {
            common::mcp_post(http, &moved_url, body.clone())
        })
        .await
        .expect("MCP request");
    assert_eq!(response.status(), 200);
    assert_eq!(
        *hits.lock().unwrap(),
        [("/mcp".to_owned(), true), ("/moved".to_owned(), true)],
        "followed, with the token on the same origin"
    );
}

/// Where no D-Bus session bus exists (no `DBUS_SESSION_BUS_ADDRESS`, no socket in the runtime
/// directory), no Secret Service can answer: the default store goes to the files without
/// starting a D-Bus connection. Where the socket exists, it asks.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_default_store_skips_the_keychain_where_no_session_bus_can_answer() {
    const SKIPPED: &str = "the OS keychain is out of reach; not probing it";
    let dir = tempfile::tempdir().expect("a temporary directory");
    let runtime = dir.path().join("run");
    std::fs::create_dir_all(&runtime).expect("a runtime directory");
    let runtime_dir = runtime.to_str().expect("a UTF-8 path");
    let mut command = common::cli(dir.path());
    command
        .args(["status"])
        .env_remove("MCPAUTH_STORE")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("XDG_RUNTIME_DIR", runtime_dir)
        .env("MCPAUTH_LOG", "debug");
    let out = command.output().await.expect("mcpauth runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(times(&stderr, SKIPPED), 1, "{stderr}");

    // A socket path that exists (here a plain file, which refuses the connection): the probe
    // runs, fails, and the files are used all the same.
    std::fs::write(runtime.join("bus"), b"").expect("a stand-in socket");
    let out = command.output().await.expect("mcpauth runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(times(&stderr, SKIPPED), 0, "{stderr}");
}
