//! The stdio bridge against a scripted upstream: SSE answers split anywhere, the headers of
//! each POST, the session id's life, batches, error bodies, and when the stream of server
//! messages opens. The upstream asks for no
//! token, and the bridge may log in, so requests go out without one (as the core decides for
//! a server that has not challenged yet).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpListener;

use super::Bridge;
use crate::session::{LoginOptions, Session};
use crate::store::MemoryStore;

/// One request the upstream received: its head (lowercased) and body.
#[derive(Clone, Debug)]
struct Seen {
    head: String,
    body: Value,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            (n.trim() == name).then(|| v.trim())
        })
    }

    fn method(&self) -> &str {
        self.body["method"].as_str().unwrap_or_default()
    }
}

/// The response parts to write for a request, with a pause between parts so that they
/// arrive as separate chunks.
type Script = dyn Fn(&Seen) -> Vec<Vec<u8>> + Send + Sync;

/// An upstream on 127.0.0.1 answering by `script`; returns its URL and what it saw.
async fn upstream(script: Arc<Script>) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (script, log) = (script.clone(), log.clone());
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream);
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line == "\r\n" {
                        break;
                    }
                    head.push_str(&line.to_ascii_lowercase());
                }
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |n| n.trim().parse().unwrap());
                let mut body = vec![0; length];
                reader.read_exact(&mut body).await.unwrap();
                let seen = Seen {
                    head,
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                };
                log.lock().unwrap().push(seen.clone());
                let mut stream = reader.into_inner();
                for part in script(&seen) {
                    stream.write_all(&part).await.unwrap();
                    stream.flush().await.unwrap();
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            });
        }
    });
    (url, seen)
}

fn head(status: &str, content_type: &str, extra: &str) -> Vec<u8> {
    format!("HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\n{extra}connection: close\r\n\r\n")
        .into_bytes()
}

fn json_answer(status: &str, body: &Value, extra: &str) -> Vec<Vec<u8>> {
    let mut response = head(status, "application/json", extra);
    response.extend(body.to_string().into_bytes());
    vec![response]
}

/// Runs the bridge over `input` lines and returns every line it wrote.
async fn run(url: &str, input: &[Value]) -> Vec<Value> {
    let text: String = input.iter().map(|m| format!("{m}\n")).collect();
    run_text(url, &text).await
}

/// Runs the bridge over `text` as stdin and returns every line it wrote.
async fn run_text(url: &str, text: &str) -> Vec<Value> {
    run_logged(url, text, None).await
}

/// [`run_text`], the bridge's log also appended to `log`.
async fn run_logged(url: &str, text: &str, log: Option<&std::path::Path>) -> Vec<Value> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let session = Session::builder(Arc::new(MemoryStore::new()))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut bridge = Bridge::new(session, url, "test", Some(LoginOptions::default())).unwrap();
    if let Some(path) = log {
        bridge = bridge.with_log_file(path).unwrap();
    }
    let (out_write, out_read) = tokio::io::duplex(1 << 20);
    let input = std::io::Cursor::new(text.as_bytes().to_vec());
    let run = tokio::time::timeout(Duration::from_secs(30), bridge.run_lines(input, out_write));
    run.await
        .expect("the bridge finishes")
        .expect("the bridge succeeds");
    let mut lines = BufReader::new(out_read).lines();
    let mut written = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        written.push(serde_json::from_str(&line).expect("one JSON message per line"));
    }
    written
}

fn request(id: u64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

fn initialize() -> Value {
    request(0, "initialize", json!({"protocolVersion": "2026-07-28"}))
}

fn initialized(id: &Value) -> Vec<Vec<u8>> {
    let result = json!({"jsonrpc": "2.0", "id": id, "result": {"protocolVersion": "2026-07-28"}});
    json_answer("200 OK", &result, "mcp-session-id: s-1\r\n")
}

#[tokio::test]
async fn sse_answers_split_anywhere_arrive_as_lines_with_the_servers_requests() {
    let script: Arc<Script> = Arc::new(|seen: &Seen| match seen.method() {
        "initialize" => initialized(&seen.body["id"]),
        "tools/call" => {
            let progress =
                json!({"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}});
            let answer = json!({"jsonrpc":"2.0","id":seen.body["id"],"result":{"content":[]}});
            let stream = format!(
                ": hi\r\n\r\nid: 1\r\ndata: {progress}\r\n\r\nevent: message\ndata: {answer}\n\n"
            );
            let (a, b) = stream.as_bytes().split_at(stream.len() / 2);
            vec![
                head("200 OK", "text/event-stream", ""),
                a.to_vec(),
                b.to_vec(),
            ]
        }
        _ => vec![head("202 Accepted", "application/json", "")],
    });
    let (url, seen) = upstream(script).await;
    let call = request(1, "tools/call", json!({"name": "echo", "arguments": {}}));
    let written = run(&url, &[initialize(), call]).await;

    let methods: Vec<&str> = written
        .iter()
        .map(|m| m["method"].as_str().unwrap_or("(answer)"))
        .collect();
    assert_eq!(
        methods,
        ["(answer)", "notifications/progress", "(answer)"],
        "{written:?}"
    );
    assert_eq!(written[2]["id"], 1);

    let seen = seen.lock().unwrap().clone();
    let init = seen.iter().find(|s| s.method() == "initialize").unwrap();
    assert_eq!(init.header("mcp-method"), Some("initialize"));
    assert_eq!(init.header("mcp-session-id"), None);
    assert_eq!(
        init.header("accept"),
        Some("application/json, text/event-stream")
    );
    let call = seen.iter().find(|s| s.method() == "tools/call").unwrap();
    assert_eq!(call.header("content-type"), Some("application/json"));
    assert_eq!(call.header("mcp-session-id"), Some("s-1"));
    assert_eq!(call.header("mcp-protocol-version"), Some("2026-07-28"));
    assert_eq!(call.header("mcp-method"), Some("tools/call"));
    assert_eq!(call.header("mcp-name"), Some("echo"));
    assert_eq!(call.header("authorization"), None, "no token was asked for");
}

#[tokio::test]
async fn a_404_to_the_session_id_tells_the_host_the_session_ended() {
    let script: Arc<Script> = Arc::new(|seen: &Seen| match seen.method() {
        "initialize" => initialized(&seen.body["id"]),
        _ => vec![head("404 Not Found", "text/plain", "")],
    });
    let (url, seen) = upstream(script).await;
    let written = run(&url, &[initialize(), request(1, "ping", json!({}))]).await;
    let ended = written.iter().find(|m| m["id"] == 1).unwrap();
    assert_eq!(ended["error"]["data"]["code"], "SESSION_ENDED", "{ended}");
    let seen = seen.lock().unwrap().clone();
    let ping = seen.iter().find(|s| s.method() == "ping").unwrap();
    assert_eq!(ping.header("mcp-session-id"), Some("s-1"));
    // The session is forgotten: the closing DELETE is not even tried.
    assert!(
        !seen.iter().any(|s| s.head.starts_with("delete")),
        "{seen:?}"
    );
}

#[tokio::test]
async fn batches_and_error_bodies_reach_the_host_as_messages() {
    let script: Arc<Script> = Arc::new(|seen: &Seen| {
        if seen.body.is_array() {
            let answers = json!([
                {"jsonrpc":"2.0","id":1,"result":{}},
                {"jsonrpc":"2.0","id":2,"result":{}}
            ]);
            return json_answer("200 OK", &answers, "");
        }
        match seen.method() {
            "tools/list" => {
                let error = json!({"jsonrpc":"2.0","id":3,"error":{"code":-32600,"message":"bad"}});
                json_answer("400 Bad Request", &error, "")
            }
            _ => {
                let mut page = head("502 Bad Gateway", "text/html", "");
                page.extend(b"<html>upstream down</html>");
                vec![page]
            }
        }
    });
    let (url, _seen) = upstream(script).await;
    let batch = json!([request(1, "ping", json!({})), request(2, "ping", json!({}))]);
    let input = [
        batch,
        request(3, "tools/list", json!({})),
        request(4, "prompts/list", json!({})),
    ];
    let written = run(&url, &input).await;
    let by_id = |id: u64| {
        written
            .iter()
            .find(|m| m["id"] == id)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(by_id(1)["result"], json!({}));
    assert_eq!(by_id(2)["result"], json!({}));
    assert_eq!(
        by_id(3)["error"]["message"],
        "bad",
        "a JSON-RPC error body passes through"
    );
    let down = by_id(4);
    assert_eq!(
        down["error"]["data"],
        json!({"code": "UPSTREAM_STATUS", "status": 502})
    );
    assert!(
        down["error"]["message"]
            .as_str()
            .unwrap()
            .contains("upstream down"),
        "{down}"
    );
    assert_eq!(written.len(), 4, "{written:?}");
}

#[tokio::test]
async fn the_stream_of_server_messages_opens_once_the_initialized_notification_is_answered() {
    // The notification's 202 comes 20 ms after it arrives (an empty part, then the pause), the
    // call's answer 200 ms after it, so the bridge still runs when the stream is tried. The
    // stream's GET, which may not log in, stops at once for want of a token, and says so in
    // the log: the log's order is the order of events.
    let script: Arc<Script> = Arc::new(|seen: &Seen| match seen.method() {
        "initialize" => initialized(&seen.body["id"]),
        "notifications/initialized" => {
            vec![Vec::new(), head("202 Accepted", "application/json", "")]
        }
        _ => {
            let mut parts = vec![Vec::new(); 10];
            let answer = json!({"jsonrpc": "2.0", "id": 1, "result": {}});
            parts.extend(json_answer("200 OK", &answer, ""));
            parts
        }
    });
    let (url, _) = upstream(script).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("proxy.log");
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let call = request(1, "tools/call", json!({"name": "echo"}));
    let input: String = [initialize(), note, call]
        .iter()
        .map(|m| format!("{m}\n"))
        .collect();
    let written = run_logged(&url, &input, Some(&log)).await;
    assert!(written.iter().any(|m| m["id"] == 1), "{written:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    let notified = text
        .find("POST notifications/initialized: 202")
        .expect("notified");
    // Opened at once, the long-lived GET would take the connection the first requests need.
    let stream = text
        .find("the stream of server messages")
        .expect("the stream was tried");
    assert!(
        notified < stream,
        "the stream went before the notification's answer:\n{text}"
    );
}

#[tokio::test]
async fn a_line_that_is_not_json_gets_a_parse_error_and_is_not_sent() {
    let script: Arc<Script> =
        Arc::new(|_: &Seen| vec![head("202 Accepted", "application/json", "")]);
    let (url, seen) = upstream(script).await;
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let written = run_text(&url, &format!("{{not json\r\n\n{note}\r\n")).await;
    assert_eq!(written.len(), 1, "{written:?}");
    assert_eq!(written[0]["error"]["code"], -32700);
    assert_eq!(written[0]["id"], Value::Null);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "only the notification went out: {seen:?}");
    assert_eq!(seen[0].body, note);
}
