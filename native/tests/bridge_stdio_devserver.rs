//! `mcpauth proxy` run as an MCP host runs it, against the dev server: a stdio host gets
//! every answer on stdout (and nothing else there) after a login on first use; a host of a
//! proxy that may not log in gets a JSON-RPC error naming `mcpauth login`; a loopback HTTP
//! host gets answers, and foreign `Origin` and `Host` headers are refused.
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use mcpauth_devserver::{Config, DevServerHandle};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

/// How long one answer may take (the first includes a whole login).
const ANSWER: Duration = Duration::from_secs(60);

async fn auto_approving() -> DevServerHandle {
    common::devserver(Config {
        auto_approve: true,
        ..Config::default()
    })
    .await
}

/// `mcpauth proxy <args>` with a throwaway store and a "browser" that follows the redirect
/// to the loopback callback (the dev server approves at once).
fn proxy(dir: &Path, args: &[&str]) -> Child {
    common::cli(dir)
        .arg("proxy")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mcpauth proxy starts")
}

fn message(id: Option<u64>, method: &str, params: Value) -> String {
    let mut m = json!({ "jsonrpc": "2.0", "method": method, "params": params });
    if let Some(id) = id {
        m["id"] = json!(id);
    }
    format!("{m}\n")
}

fn initialize(id: u64) -> String {
    message(
        Some(id),
        "initialize",
        json!({
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": { "name": "bridge-test", "version": "0" },
        }),
    )
}

/// Reads stdout lines until the answers to all of `ids` arrived, in any order (the proxy
/// handles requests concurrently); every line must be a JSON-RPC message.
async fn answers(stdout: &mut Lines<BufReader<ChildStdout>>, ids: &[u64]) -> Vec<Value> {
    let mut found: Vec<Option<Value>> = vec![None; ids.len()];
    common::within(ANSWER, &format!("the answers to requests {ids:?}"), async {
        while found.iter().any(Option::is_none) {
            let line = stdout
                .next_line()
                .await
                .expect("stdout is readable")
                .unwrap_or_else(|| panic!("stdout ended before the answers to {ids:?}"));
            let message: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("stdout carried a line that is not JSON ({e}): {line}"));
            assert_eq!(message["jsonrpc"], "2.0", "{line}");
            if let Some(at) = ids.iter().position(|id| message["id"] == json!(id)) {
                found[at] = Some(message);
            }
        }
    })
    .await;
    found.into_iter().flatten().collect()
}

async fn answer(stdout: &mut Lines<BufReader<ChildStdout>>, id: u64) -> Value {
    answers(stdout, &[id]).await.remove(0)
}

/// Closes stdin and waits for the proxy to exit; returns what was left on stdout and stderr.
async fn finish(mut child: Child, stdout: Lines<BufReader<ChildStdout>>) -> (String, String) {
    drop(child.stdin.take());
    let mut rest = String::new();
    let mut lines = stdout;
    while let Some(line) = common::within(ANSWER, "stdout to end", lines.next_line())
        .await
        .expect("stdout is readable")
    {
        rest.push_str(&line);
        rest.push('\n');
    }
    let status = common::within(ANSWER, "the proxy to exit", child.wait())
        .await
        .expect("the proxy exits");
    let mut err = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        use tokio::io::AsyncReadExt as _;
        stderr.read_to_string(&mut err).await.expect("stderr");
    }
    assert!(
        status.success(),
        "the proxy exits 0 at the end of stdin:\n{err}"
    );
    (rest, err)
}

#[tokio::test]
async fn a_stdio_host_gets_every_answer_after_a_login_on_first_use() {
    let server = auto_approving().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut child = proxy(dir.path(), &[&server.mcp_url]);
    let mut stdin = child.stdin.take().expect("piped stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();

    stdin.write_all(initialize(1).as_bytes()).await.unwrap();
    let init = answer(&mut stdout, 1).await;
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25", "{init}");
    assert_eq!(init["result"]["serverInfo"]["name"], "mcpauth-devserver");

    let then = [
        message(None, "notifications/initialized", json!({})),
        message(Some(2), "tools/list", json!({})),
        message(
            Some(3),
            "tools/call",
            json!({ "name": "echo", "arguments": { "text": "through the bridge" } }),
        ),
    ];
    stdin.write_all(then.concat().as_bytes()).await.unwrap();
    let [list, call]: [Value; 2] = answers(&mut stdout, &[2, 3])
        .await
        .try_into()
        .expect("two answers");
    let tools: Vec<&str> = list["result"]["tools"]
        .as_array()
        .expect("a tool list")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(tools.contains(&"echo"), "{list}");
    assert_eq!(
        call["result"]["content"][0]["text"], "through the bridge",
        "{call}"
    );

    drop(stdin);
    let (rest, err) = finish(child, stdout).await;
    assert!(
        rest.is_empty(),
        "nothing after the answers on stdout: {rest}"
    );
    let stats = server.stats();
    assert_eq!(
        stats.token_grants.get("authorization_code"),
        Some(&1),
        "one login on first use: {stats:?}\n{err}"
    );
    assert!(
        err.contains("Open this URL to log in"),
        "the login is shown on stderr:\n{err}"
    );
    assert!(
        err.contains("POST tools/call: 200"),
        "the log names what was forwarded:\n{err}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn without_a_login_the_host_is_told_to_run_mcpauth_login() {
    let server = auto_approving().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut child = proxy(dir.path(), &["--no-login", &server.mcp_url]);
    let mut stdin = child.stdin.take().expect("piped stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();

    stdin.write_all(initialize(7).as_bytes()).await.unwrap();
    let refused = answer(&mut stdout, 7).await;
    let command = format!("mcpauth login {}", server.mcp_url);
    assert_eq!(refused["error"]["code"], -32001, "{refused}");
    assert_eq!(
        refused["error"]["data"],
        json!({ "code": "LOGIN_REQUIRED", "command": command })
    );
    let text = refused["error"]["message"].as_str().expect("a message");
    assert!(text.contains(&format!("`{command}`")), "{text}");

    drop(stdin);
    let (rest, err) = finish(child, stdout).await;
    assert!(rest.is_empty(), "nothing else on stdout: {rest}");
    assert!(
        !err.contains("Open this URL"),
        "no login was started:\n{err}"
    );
    let stats = server.stats();
    assert!(
        stats.token_grants.is_empty(),
        "no token was requested: {stats:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_loopback_http_host_gets_answers_and_foreign_pages_get_403() {
    let server = auto_approving().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut child = proxy(dir.path(), &["--listen", "127.0.0.1:0", &server.mcp_url]);
    let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
    let prefix = "mcpauth proxy listening on ";
    let url = common::within(ANSWER, "the listening line", async {
        loop {
            let line = stderr
                .next_line()
                .await
                .expect("stderr is readable")
                .expect("the proxy printed its address before exiting");
            if let Some(url) = line.strip_prefix(prefix) {
                return url.to_owned();
            }
        }
    })
    .await;
    let port = url
        .strip_prefix("http://127.0.0.1:")
        .and_then(|rest| rest.strip_suffix("/mcp"))
        .and_then(|port| port.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("not http://127.0.0.1:<port>/mcp: {url}"));
    assert_ne!(port, 0);
    // Keep stderr drained for as long as the proxy runs.
    tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });

    let http = common::http_client(false);
    let init = common::within(
        ANSWER,
        "initialize over HTTP",
        common::mcp_post(&http, &url, initialize(1).trim().to_owned())
            .bearer_auth("the host's own token, which must not be forwarded")
            .send(),
    )
    .await
    .expect("the proxy answers");
    assert_eq!(init.status(), 200);
    let body: Value =
        serde_json::from_str(&init.text().await.expect("a body")).expect("a JSON answer");
    assert_eq!(body["result"]["protocolVersion"], "2025-11-25", "{body}");

    let call = common::mcp_post(&http, &url, common::tool_call("echo"))
        .send()
        .await
        .expect("the proxy answers");
    let body: Value =
        serde_json::from_str(&call.text().await.expect("a body")).expect("a JSON answer");
    assert_eq!(body["result"]["content"][0]["text"], "hi", "{body}");

    let cross_site = common::mcp_post(&http, &url, common::rpc(2, "tools/list", Value::Null))
        .header("origin", "http://evil.example")
        .send()
        .await
        .expect("the proxy answers");
    assert_eq!(cross_site.status(), 403);
    let rebound = common::mcp_post(&http, &url, common::rpc(3, "tools/list", Value::Null))
        .header("host", "evil.example")
        .send()
        .await
        .expect("the proxy answers");
    assert_eq!(rebound.status(), 403);
    let elsewhere = http
        .get(url.replace("/mcp", "/other"))
        .send()
        .await
        .expect("the proxy answers");
    assert_eq!(elsewhere.status(), 404);

    let stats = server.stats();
    assert_eq!(
        stats.token_grants.get("authorization_code"),
        Some(&1),
        "{stats:?}"
    );
    child.kill().await.expect("the proxy stops");
    server.shutdown().await;
}
