//! A first login to an MCP server the way a Rust MCP client would write it with mcpauth, for
//! the first-login benchmark (tests/bench/first-login.mjs): an [`AuthClient`] allowed to log
//! in sends `initialize` with no token, the 401 it gets back starts the login (so it is also
//! the discovery probe), the request is sent again with the new token, then
//! `notifications/initialized` goes out without being waited on, and one `tools/call`.
//!
//! The browser is the default one, so `MCPAUTH_BROWSER` can name a command that follows the
//! authorization server's redirect (the benchmark uses curl). Tokens live in memory.
//!
//! ```sh
//! cargo run -p mcpauth --example first_login -- http://127.0.0.1:PORT/mcp
//! ```

use std::sync::Arc;

use mcpauth::{AuthClient, LoginOptions, MemoryStore, Session};
use serde_json::{Value, json};

type Failure = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Failure> {
    let server = std::env::args()
        .nth(1)
        .ok_or("usage: first_login <mcp server url>")?;
    let session = Session::builder(Arc::new(MemoryStore::new()))
        .client_name("mcpauth first-login example")
        .build()?;
    let client = AuthClient::with_session(session)?.with_login(LoginOptions::default());

    let init = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": { "name": "first-login", "version": "0" },
        },
    });
    let (answer, session_id) = post(&client, &server, &init, None).await?;
    let version = answer
        .pointer("/result/protocolVersion")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("initialize failed: {answer}"))?
        .to_owned();

    // A notification has no answer to wait for: it goes out alongside the next request,
    // which goes first, to take the connection already open (the notification opens another).
    let call = json!({
        "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": { "name": "echo", "arguments": { "text": "hello" } },
    });
    let notify = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    let (called, notified) = tokio::join!(
        post(
            &client,
            &server,
            &call,
            Some((&version, session_id.clone()))
        ),
        post(&client, &server, &notify, Some((&version, session_id))),
    );
    let (answer, _) = called?;
    notified?;
    let content = answer.pointer("/result/content").unwrap_or(&Value::Null);
    println!("{content}");
    Ok(())
}

/// POSTs one JSON-RPC message through the `AuthClient`; returns the JSON answer (`null` for
/// a notification's 202) and the `Mcp-Session-Id` the server gave, if any.
async fn post(
    client: &AuthClient,
    server: &str,
    body: &Value,
    negotiated: Option<(&str, Option<String>)>,
) -> Result<(Value, Option<String>), Failure> {
    let body = body.to_string();
    let response = client
        .execute(server, |http| {
            let mut request = http
                .post(server)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body(body.clone());
            if let Some((version, session)) = &negotiated {
                request = request.header("mcp-protocol-version", *version);
                if let Some(id) = session {
                    request = request.header("mcp-session-id", id);
                }
            }
            request
        })
        .await?;
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        return Err(format!("{status}: {text}").into());
    }
    let answer = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text)?
    };
    Ok((answer, session))
}
