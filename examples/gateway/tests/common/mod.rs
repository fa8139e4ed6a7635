//! Helpers of the gateway's tests: the built `mcpauth-gateway` binary as a child process, a
//! real `redis-server` (the native crate's helper, shared by path), the dev server, and the
//! browser's part of a login.
#![allow(dead_code)] // each test binary uses its own subset of these helpers

#[path = "../../../../native/tests/common/redis_server.rs"]
pub mod redis_server;

use std::future::Future;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader};

/// The store key every replica shares (from `MCPAUTH_STORE_KEY`, as in production).
pub const STORE_KEY: [u8; 32] = [0x3c; 32];

/// Runs `fut`, failing the test (not hanging it) if it takes longer than `limit`.
pub async fn within<F: Future>(limit: Duration, what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(limit, fut).await {
        Ok(out) => out,
        Err(_) => panic!("{what} did not finish within {limit:?}"),
    }
}

/// A plain HTTP client, following no redirect (a login's redirects are taken by hand).
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("test HTTP client")
}

/// One replica: the `mcpauth-gateway` binary, killed when dropped.
pub struct Gateway {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    child: tokio::process::Child,
    stderr: Arc<Mutex<String>>,
}

impl Gateway {
    /// Starts a replica forwarding to `upstream`, with its grants in `redis` under `namespace`,
    /// and waits until it listens.
    pub async fn start(redis: &str, upstream: &str, namespace: &str) -> Self {
        Self::start_with(redis, upstream, namespace, &[]).await
    }

    /// As [`start`](Self::start), with more flags.
    pub async fn start_with(redis: &str, upstream: &str, namespace: &str, flags: &[&str]) -> Self {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcpauth-gateway"))
            .args(["--listen", "127.0.0.1:0", "--upstream", upstream])
            .args(["--redis", redis, "--namespace", namespace])
            .args(flags)
            .env(
                "MCPAUTH_STORE_KEY",
                base64::engine::general_purpose::STANDARD.encode(STORE_KEY),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the mcpauth-gateway binary");
        let mut lines = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
        let url = within(Duration::from_secs(30), "the gateway to listen", async {
            while let Some(line) = lines.next_line().await.expect("gateway stderr") {
                if let Some(url) = line.strip_prefix("gateway listening on ") {
                    return url.trim().to_owned();
                }
                eprintln!("gateway: {line}");
            }
            panic!("the gateway exited before listening");
        })
        .await;
        let stderr = Arc::new(Mutex::new(String::new()));
        let log = stderr.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let mut log = log
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                log.push_str(&line);
                log.push('\n');
            }
        });
        Self { url, child, stderr }
    }

    /// What the replica wrote to stderr after it started listening.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("a running gateway")
    }

    /// Kills it with SIGKILL and reaps it.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("kill the gateway");
    }
}

/// A JSON-RPC request body.
pub fn rpc(method: &str, params: Value) -> String {
    json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }).to_string()
}

/// `tools/call echo` with `text`.
pub fn echo(text: &str) -> String {
    rpc(
        "tools/call",
        json!({ "name": "echo", "arguments": { "text": text } }),
    )
}

/// POSTs `body` to the gateway's `/mcp` as `user`; returns the status and the body as JSON.
pub async fn mcp(http: &reqwest::Client, gateway: &str, user: &str, body: String) -> (u16, Value) {
    try_mcp(http, gateway, user, body)
        .await
        .expect("a request to the gateway")
}

/// As [`mcp`], with the transport error of a gateway that is gone.
pub async fn try_mcp(
    http: &reqwest::Client,
    gateway: &str,
    user: &str,
    body: String,
) -> reqwest::Result<(u16, Value)> {
    let resp = http
        .post(format!("{gateway}/mcp"))
        .header("x-gateway-user", user)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    let status = resp.status().as_u16();
    let text = resp.text().await?;
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok((status, value))
}

/// Logs `user` in through `gateway` as a person would: the first request gets a login URL,
/// the (auto-approving) authorization server redirects to the gateway's callback, which
/// completes the login.
pub async fn login(http: &reqwest::Client, gateway: &str, user: &str) {
    let (status, body) = mcp(http, gateway, user, rpc("tools/list", Value::Null)).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "login_required", "{body}");
    let login_url = body["login_url"].as_str().expect("a login_url");
    let resp = http
        .get(login_url)
        .send()
        .await
        .expect("the authorization URL");
    assert_eq!(resp.status().as_u16(), 302, "{resp:?}");
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{gateway}/callback?")),
        "redirected to {location}"
    );
    let resp = http.get(&location).send().await.expect("the callback");
    let status = resp.status().as_u16();
    let page = resp.text().await.unwrap();
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Logged in"), "{page}");
}
