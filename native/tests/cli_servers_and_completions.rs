//! The `mcpauth` CLI's registry of well-known servers and its shell completions: `mcpauth
//! servers --json` lists the built-in and the configured servers, a configured name replaces
//! a built-in one, a login to a server that needs a pre-registered client stops before any
//! request when none is given, and every shell gets a completion script.
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml

use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// Runs the CLI with a throwaway store and configuration in `dir`, and no way out to a proxy
/// or a browser.
fn mcpauth(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mcpauth"))
        .args(args)
        .env("MCPAUTH_DATA_DIR", dir.join("data"))
        .env("MCPAUTH_CONFIG_DIR", dir.join("config"))
        .env("MCPAUTH_STORE", "file")
        .env("MCPAUTH_BROWSER", "true")
        // Were anything sent, it would fail as a transport error, not as the error expected.
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("ALL_PROXY", "http://127.0.0.1:9")
        .stdin(Stdio::null())
        .output()
        .expect("mcpauth runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write_config(dir: &Path, text: &str) {
    std::fs::create_dir_all(dir.join("config")).unwrap();
    std::fs::write(dir.join("config").join("config.toml"), text).unwrap();
}

fn servers_json(dir: &Path) -> Vec<Value> {
    let run = mcpauth(dir, &["servers", "--json"]);
    let out = text(&run.stdout);
    assert!(run.status.success(), "{out}\n{}", text(&run.stderr));
    serde_json::from_str::<Value>(&out)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
        .as_array()
        .expect("a JSON array")
        .clone()
}

fn entry<'a>(list: &'a [Value], name: &str) -> &'a Value {
    list.iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no `{name}` in {list:?}"))
}

#[test]
fn servers_json_lists_the_well_known_servers_with_their_sources() {
    let dir = tempfile::tempdir().unwrap();
    let list = servers_json(dir.path());
    assert!(list.len() >= 6, "{list:?}");
    let linear = entry(&list, "linear");
    assert_eq!(linear["url"], "https://mcp.linear.app/mcp");
    assert_eq!(linear["configured"], false);
    assert_eq!(linear["needs"], Value::Array(vec![]));
    let github = entry(&list, "github");
    assert_eq!(github["needs"][0], "client_id");
    assert!(github["client_required"].as_str().is_some(), "{github}");
    for server in &list {
        let source = server["source"].as_str().unwrap_or_default();
        assert!(source.starts_with("https://"), "{server}");
    }
}

#[test]
fn servers_lists_configured_servers_and_a_configured_name_replaces_the_built_in_one() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "[servers.work]\nurl = \"https://mcp.example.com/mcp\"\n\n\
         [servers.github]\nurl = \"https://ghe.example/mcp\"\nclient_id = \"mine\"\n",
    );
    let list = servers_json(dir.path());
    let work = entry(&list, "work");
    assert_eq!(work["configured"], true);
    assert_eq!(work["url"], "https://mcp.example.com/mcp");
    let githubs: Vec<&Value> = list.iter().filter(|s| s["name"] == "github").collect();
    assert_eq!(
        githubs.len(),
        1,
        "one github, the configured one: {githubs:?}"
    );
    assert_eq!(githubs[0]["configured"], true);
    assert_eq!(githubs[0]["url"], "https://ghe.example/mcp");
    assert_eq!(githubs[0]["needs"], Value::Array(vec![]));

    let table = mcpauth(dir.path(), &["servers"]);
    let out = text(&table.stdout);
    assert!(table.status.success(), "{out}");
    assert!(
        out.starts_with("NAME") && out.contains("NEEDS") && out.contains("SOURCE"),
        "{out}"
    );
    let work_line = out.lines().find(|l| l.starts_with("work ")).unwrap();
    assert!(work_line.contains("configured"), "{work_line}");
}

#[test]
fn a_login_to_a_server_that_needs_a_client_stops_before_any_request() {
    // A server of our own that must never be called.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        &format!(
            "[servers.needy]\nurl = \"http://127.0.0.1:{port}/mcp\"\n\
             client_required = \"ask the admin for one\"\n"
        ),
    );

    for name in ["needy", "github"] {
        let login = mcpauth(dir.path(), &["login", "--no-browser", name]);
        let err = text(&login.stderr);
        assert!(!login.status.success(), "{err}");
        assert!(
            err.contains("error: configuration:")
                && err.contains(&format!("`{name}`"))
                && err.contains("needs a pre-registered OAuth client"),
            "{err}"
        );
        assert!(
            err.contains("hint:") && err.contains("--client-id"),
            "{err}"
        );
    }
    let needy = text(&mcpauth(dir.path(), &["login", "--no-browser", "needy"]).stderr);
    assert!(needy.contains("ask the admin for one"), "{needy}");
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the server was contacted: {other:?}"),
    }
}

#[test]
fn every_shell_gets_a_completion_script() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = mcpauth(dir.path(), &["completions", shell]);
        let out = text(&run.stdout);
        assert!(run.status.success(), "{shell}: {}", text(&run.stderr));
        assert!(out.contains("mcpauth"), "{shell}:\n{out}");
    }
    let bash = text(&mcpauth(dir.path(), &["completions", "bash"]).stdout);
    for word in ["login", "token", "status", "logout", "servers", "--device"] {
        assert!(bash.contains(word), "bash completes `{word}`");
    }
    let unknown = mcpauth(dir.path(), &["completions", "tcsh"]);
    assert!(!unknown.status.success());
}
