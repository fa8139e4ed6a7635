//! The CLI for several accounts and for scripts: two profiles on one server hold two grants
//! and log out apart, a configured entry picks its profile, `status --json` and `token --json`
//! print the stored facts, `logout --all` empties the store, and nothing stored is named after
//! the program's version.
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml

mod common;

use std::path::Path;

use mcpauth_devserver::Config;
use serde_json::Value;

use common::run_cli as mcpauth;
use common::run_cli_ok as ok;

async fn json(dir: &Path, args: &[&str]) -> Value {
    let text = ok(dir, args).await;
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}):\n{text}"))
}

async fn token(dir: &Path, args: &[&str]) -> String {
    let printed = json(dir, args).await;
    printed["access_token"]
        .as_str()
        .expect("an access_token")
        .to_owned()
}

fn profiles(status: &Value) -> Vec<Option<String>> {
    status
        .as_array()
        .expect("status --json is an array")
        .iter()
        .map(|l| l["profile"].as_str().map(str::to_owned))
        .collect()
}

/// A dev server that approves at once, and a directory for the CLI's files.
async fn setup() -> (mcpauth_devserver::DevServerHandle, tempfile::TempDir) {
    let server = common::devserver(Config {
        auto_approve: true,
        ..Config::default()
    })
    .await;
    (server, tempfile::tempdir().expect("a temporary directory"))
}

#[tokio::test]
async fn two_profiles_on_one_server_hold_two_grants_and_log_out_apart() {
    let (server, dir) = setup().await;
    let (d, url) = (dir.path(), server.mcp_url.as_str());

    ok(d, &["login", "--profile", "work", url]).await;
    ok(d, &["login", "--profile", "personal", url]).await;
    let work = token(d, &["token", "--json", "--profile", "work", url]).await;
    let personal = token(d, &["token", "--json", "--profile", "personal", url]).await;
    assert_ne!(work, personal, "two grants, not one shared");

    let status = json(d, &["status", "--json"]).await;
    assert_eq!(
        profiles(&status),
        [Some("personal".into()), Some("work".into())]
    );
    assert!(status[0]["issuer"].is_string() && status[0]["refreshable"].is_boolean());

    ok(d, &["logout", "--profile", "work", url]).await;
    let status = json(d, &["status", "--json"]).await;
    assert_eq!(profiles(&status), [Some("personal".into())]);
    assert_eq!(
        token(d, &["token", "--json", "--profile", "personal", url]).await,
        personal,
        "the other profile's grant is untouched"
    );
    let unnamed = mcpauth(d, &["token", url]).await;
    assert!(
        !unnamed.status.success(),
        "the unnamed login was never made"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_configured_profile_token_json_and_logout_all() {
    let (server, dir) = setup().await;
    let (d, url) = (dir.path(), server.mcp_url.as_str());
    std::fs::create_dir_all(d.join("config")).unwrap();
    std::fs::write(
        d.join("config/config.toml"),
        format!("[servers.dev-work]\nurl = \"{url}\"\nprofile = \"work\"\n"),
    )
    .unwrap();

    ok(d, &["login", "dev-work"]).await;
    ok(d, &["login", url]).await;
    let printed = json(d, &["token", "--json", "dev-work"]).await;
    assert_eq!(printed["profile"], "work", "the entry's profile: {printed}");
    assert_eq!(printed["token_type"], "Bearer");
    assert_eq!(printed["server"], url);
    assert!(
        printed["issuer"]
            .as_str()
            .is_some_and(|i| i.starts_with("http://127.0.0.1"))
    );
    assert!(
        printed["expires_in"]
            .as_u64()
            .is_some_and(|s| s > 0 && s <= 3600)
    );
    assert!(printed["expires_at"].as_u64().is_some());
    assert!(printed["scope"].is_string());
    let bare = ok(d, &["token", "--profile", "work", url]).await;
    assert_eq!(
        bare.trim(),
        printed["access_token"],
        "the bare form prints the same token"
    );

    let only_work = json(d, &["status", "--json", "--profile", "work"]).await;
    assert_eq!(profiles(&only_work), [Some("work".into())]);
    assert_eq!(profiles(&json(d, &["status", "--json"]).await).len(), 2);

    // Nothing stored is named after the version, so an upgrade finds every login.
    for entry in walk(&d.join("data")) {
        assert!(
            !entry.contains(env!("CARGO_PKG_VERSION")),
            "a stored path names the version: {entry}"
        );
    }

    ok(d, &["logout", "--all"]).await;
    assert_eq!(json(d, &["status", "--json"]).await, serde_json::json!([]));
    server.shutdown().await;
}

#[tokio::test]
async fn an_invalid_profile_name_is_refused_before_anything_is_sent() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = mcpauth(
        dir.path(),
        &["token", "--profile", "a#b", "http://127.0.0.1:9/mcp"],
    )
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("profile name `a#b`"), "{err}");
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        out.push(path.display().to_string());
        if path.is_dir() {
            out.extend(walk(&path));
        }
    }
    out
}
