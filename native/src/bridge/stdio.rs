//! The stdio side: JSON-RPC lines in, Streamable HTTP requests out, the server's messages
//! back as lines. See the [module docs](super) for the rules.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncWrite, AsyncWriteExt as _, BufReader};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use super::Bridge;
use super::errors;
use super::message::{
    MCP_PROTOCOL_VERSION, MCP_SESSION_ID, Outgoing, is_header_value, response_id,
};
use super::upstream::{Events, MayLogIn, header, media_type, read_body};
use crate::error::Result;

/// Messages waiting for the writer; senders wait when it is full.
const OUT_QUEUE: usize = 64;
/// How long the closing `DELETE` may take.
const DELETE_DEADLINE: Duration = Duration::from_secs(2);
/// How often a dropped server-message stream is reopened before the bridge gives up on it.
const MAX_STREAM_REOPENS: u32 = 5;
/// The first wait before reopening; it doubles each time.
const STREAM_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait before reopening, whatever the server's `retry` says.
const MAX_STREAM_BACKOFF: Duration = Duration::from_secs(30);
/// The largest JSON body read from the server.
const MAX_JSON_BODY: usize = 16 << 20;
/// How much of a non-JSON error body is shown to the host.
const EXCERPT: usize = 200;

type Out = mpsc::Sender<Value>;

impl Bridge {
    /// Serves the MCP stdio transport on this process's stdin and stdout until stdin ends.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) when stdin cannot be read or stdout written.
    pub async fn run_stdio(self) -> Result<()> {
        self.run_lines(tokio::io::stdin(), tokio::io::stdout())
            .await
    }

    /// [`run_stdio`](Self::run_stdio) over any reader and writer.
    pub(crate) async fn run_lines(
        self,
        input: impl AsyncRead + Unpin,
        output: impl AsyncWrite + Unpin + Send + 'static,
    ) -> Result<()> {
        let bridge = Arc::new(self);
        let (out, queue) = mpsc::channel(OUT_QUEUE);
        let writer = tokio::spawn(write_lines(queue, output));
        let mut lines = BufReader::new(input).split(b'\n');
        let mut requests = JoinSet::new();
        let mut stream: Option<JoinHandle<()>> = None;
        // Opens the stream once the first message after `initialize` is answered.
        let mut stream_gate: Option<oneshot::Sender<()>> = None;
        while let Some(mut line) = lines.next_segment().await? {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let message = match Outgoing::parse(line) {
                Ok(message) => message,
                Err(e) => {
                    bridge
                        .log
                        .line(&format!("ignored a line that is not JSON: {e}"));
                    let _ = out.send(errors::parse_error(&e.to_string())).await;
                    continue;
                }
            };
            if message.initialize {
                // Everything after initialize needs what its answer brings.
                if let Some(old) = stream.take() {
                    old.abort();
                }
                if bridge.forward(message, &out).await {
                    // The stream of server messages is opened once the host's next message
                    // (`notifications/initialized`, which must come first) is answered, as the
                    // MCP TypeScript SDK does: opened at once, the long-lived GET would take
                    // the one connection open to the server, and the first requests would each
                    // wait for a new one (a round trip, two with TLS).
                    let (gate, opened) = oneshot::channel::<()>();
                    stream_gate = Some(gate);
                    let (bridge, out) = (bridge.clone(), out.clone());
                    stream = Some(tokio::spawn(async move {
                        // A dropped gate (the message's task ended early) opens it too.
                        let _ = opened.await;
                        bridge.server_messages(out).await;
                    }));
                }
            } else {
                let (bridge, out) = (bridge.clone(), out.clone());
                let gate = stream_gate.take();
                // Nobody waits on the answer to a notification (or to a response to the
                // server): it lets a request written at the same time go first, so that the
                // request takes the connection already open and the notification is the one to
                // wait for a new one. Concurrent POSTs carry no order for the server anyway
                // (the MCP specification, Streamable HTTP).
                let unanswered = message.request_ids.is_empty();
                requests.spawn(async move {
                    if unanswered {
                        tokio::task::yield_now().await;
                    }
                    bridge.forward(message, &out).await;
                    if let Some(gate) = gate {
                        let _ = gate.send(());
                    }
                });
            }
            while requests.try_join_next().is_some() {}
        }
        while requests.join_next().await.is_some() {}
        if let Some(stream) = stream {
            stream.abort();
        }
        bridge.end_session().await;
        drop(out);
        match writer.await {
            Ok(written) => written.map_err(Into::into),
            Err(_) => Ok(()), // the writer panicked or was cancelled: nothing left to write
        }
    }

    /// POSTs `message` and passes the answer to `out`. Returns whether it was an `initialize`
    /// that succeeded.
    async fn forward(&self, message: Outgoing, out: &Out) -> bool {
        let (sent_session, headers) = self.post_headers(&message);
        let label = message
            .headers
            .first()
            .map_or("message", |(_, method)| method.as_str())
            .to_owned();
        let sent = self
            .upstream
            .send(
                Method::POST,
                &headers,
                Some(message.body.clone()),
                MayLogIn::AsConfigured,
            )
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(e) => {
                self.log.line(&format!("{label}: {e} [{}]", e.code()));
                for id in &message.request_ids {
                    let answer = errors::request_failed(id, &e, &self.server, self.login_allowed);
                    let _ = out.send(answer).await;
                }
                return false;
            }
        };
        let status = response.status();
        self.log.line(&format!("POST {label}: {}", status.as_u16()));
        if message.initialize {
            self.start_session(&response);
        }
        let mut delivery = Delivery {
            out,
            pending: message.request_ids.clone(),
            initialize: message.initialize,
            initialized: false,
        };
        if status == StatusCode::NOT_FOUND && sent_session.is_some() {
            self.forget_session(sent_session.as_deref());
            delivery.fail_pending(errors::session_ended).await;
            return false;
        }
        if status == StatusCode::ACCEPTED {
            return false;
        }
        match media_type(&response).as_str() {
            "text/event-stream" => self.pass_events(response, &mut delivery).await,
            _ => {
                let body = read_body(&mut response, MAX_JSON_BODY).await;
                match body.map(|b| serde_json::from_slice::<Value>(&b).map_err(|_| b)) {
                    Ok(Ok(Value::Array(batch))) => {
                        for message in batch {
                            delivery.pass(self, message).await;
                        }
                    }
                    Ok(Ok(single)) => delivery.pass(self, single).await,
                    Ok(Err(body)) if !status.is_success() => {
                        let excerpt = excerpt(&body);
                        let code = status.as_u16();
                        delivery
                            .fail_pending(|id| errors::upstream_status(id, code, &excerpt))
                            .await;
                    }
                    Ok(Err(_)) => self.log.line(&format!("{label}: the answer is not JSON")),
                    Err(e) => self.log.line(&format!("{label}: reading the answer: {e}")),
                }
            }
        }
        delivery.fail_pending(errors::no_answer).await;
        delivery.initialized
    }

    /// Passes each event's message to `delivery` until the body ends.
    async fn pass_events(&self, response: reqwest::Response, delivery: &mut Delivery<'_>) {
        let mut events = Events::new(response);
        while let Some(event) = events.next().await {
            match event {
                Ok(event) => {
                    if let Some(message) = self.event_message(&event.data) {
                        delivery.pass(self, message).await;
                    }
                }
                Err(e) => {
                    self.log
                        .line(&format!("the response stream broke off: {e}"));
                    break;
                }
            }
        }
    }

    /// The JSON message in an event's data; `None` for an empty (priming) event or one that
    /// is not JSON (logged).
    fn event_message(&self, data: &str) -> Option<Value> {
        if data.trim().is_empty() {
            return None;
        }
        match serde_json::from_str(data) {
            Ok(message) => Some(message),
            Err(e) => {
                self.log
                    .line(&format!("skipped an event that is not JSON: {e}"));
                None
            }
        }
    }

    /// The headers of a POST of `message`, and the session id among them.
    fn post_headers(&self, message: &Outgoing) -> (Option<String>, Vec<(String, String)>) {
        let mut headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            (
                "accept".to_owned(),
                "application/json, text/event-stream".to_owned(),
            ),
        ];
        // A new initialize starts a new session: it carries neither of the old one's.
        let session = if message.initialize {
            None
        } else {
            let state = self.state();
            if let Some(version) = &state.protocol_version {
                headers.push((MCP_PROTOCOL_VERSION.to_owned(), version.clone()));
            }
            state.session_id.clone()
        };
        if let Some(id) = &session {
            headers.push((MCP_SESSION_ID.to_owned(), id.clone()));
        }
        headers.extend(
            message
                .headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.clone())),
        );
        (session, headers)
    }

    /// Takes the session id from an `initialize` response, dropping the old session's state.
    fn start_session(&self, response: &reqwest::Response) {
        let id = header(response, MCP_SESSION_ID);
        let mut state = self.state();
        *state = super::SessionState::default();
        match id {
            Some(id) if is_header_value(&id) => state.session_id = Some(id),
            Some(_) => self
                .log
                .line("ignored a session id that is not a valid header value"),
            None => {}
        }
    }

    /// Forgets the session id `ended`, unless a new session replaced it meanwhile.
    fn forget_session(&self, ended: Option<&str>) {
        let mut state = self.state();
        if state.session_id.as_deref() == ended {
            state.session_id = None;
            drop(state);
            self.log
                .line("the server ended the session (404 to its id)");
        }
    }

    /// Session id and protocol version, for requests outside a POST.
    fn session_headers(&self) -> Vec<(String, String)> {
        let state = self.state();
        let mut headers = Vec::new();
        if let Some(id) = &state.session_id {
            headers.push((MCP_SESSION_ID.to_owned(), id.clone()));
        }
        if let Some(version) = &state.protocol_version {
            headers.push((MCP_PROTOCOL_VERSION.to_owned(), version.clone()));
        }
        headers
    }

    /// Reads the optional `GET` stream of server-initiated messages into `out`, reopening it
    /// a bounded number of times when it drops.
    async fn server_messages(self: Arc<Self>, out: Out) {
        let mut last_event_id: Option<String> = None;
        let mut reopened = 0;
        loop {
            let mut headers = self.session_headers();
            headers.push(("accept".to_owned(), "text/event-stream".to_owned()));
            if let Some(id) = &last_event_id {
                headers.push(("last-event-id".to_owned(), id.clone()));
            }
            let mut wait = STREAM_BACKOFF * 2u32.saturating_pow(reopened);
            match self
                .upstream
                .send(Method::GET, &headers, None, MayLogIn::Never)
                .await
            {
                Ok(response)
                    if matches!(
                        response.status(),
                        StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_FOUND
                    ) =>
                {
                    let status = response.status().as_u16();
                    self.log.line(&format!(
                        "the server offers no stream of its own messages ({status})"
                    ));
                    return;
                }
                Ok(response)
                    if response.status().is_success()
                        && media_type(&response) == "text/event-stream" =>
                {
                    self.log.line("opened the stream of server messages");
                    let mut events = Events::new(response);
                    while let Some(event) = events.next().await {
                        let Ok(event) = event else { break };
                        if let Some(message) = self.event_message(&event.data) {
                            if out.send(message).await.is_err() {
                                return;
                            }
                        }
                    }
                    last_event_id = events.last_event_id().or(last_event_id);
                    if let Some(retry) = events.retry() {
                        wait = retry;
                    }
                    self.log.line("the stream of server messages ended");
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    self.log.line(&format!(
                        "the stream of server messages was refused ({status})"
                    ));
                }
                Err(e) => {
                    self.log.line(&format!(
                        "the stream of server messages failed: {e} [{}]",
                        e.code()
                    ));
                    if e.code() == "LOGIN_REQUIRED" {
                        return;
                    }
                }
            }
            if reopened >= MAX_STREAM_REOPENS {
                self.log
                    .line("gave up reopening the stream of server messages");
                return;
            }
            reopened += 1;
            tokio::time::sleep(wait.min(MAX_STREAM_BACKOFF)).await;
        }
    }

    /// Ends the session with a `DELETE`, if there is one; best effort, briefly.
    async fn end_session(&self) {
        let headers = self.session_headers();
        if !headers.iter().any(|(name, _)| name == MCP_SESSION_ID) {
            return;
        }
        let delete = self
            .upstream
            .send(Method::DELETE, &headers, None, MayLogIn::Never);
        match tokio::time::timeout(DELETE_DEADLINE, delete).await {
            Ok(Ok(response)) => self.log.line(&format!(
                "ended the session ({})",
                response.status().as_u16()
            )),
            Ok(Err(e)) => self.log.line(&format!("could not end the session: {e}")),
            Err(_) => self.log.line("ending the session timed out"),
        }
    }
}

/// The answers of one forwarded message on their way to the host.
struct Delivery<'a> {
    out: &'a Out,
    /// Requests not answered yet.
    pending: Vec<Value>,
    initialize: bool,
    initialized: bool,
}

impl Delivery<'_> {
    /// Passes one message from the server to the host, noting the answers it gives.
    async fn pass(&mut self, bridge: &Bridge, message: Value) {
        if let Some(id) = response_id(&message) {
            if let Some(at) = self.pending.iter().position(|p| p == id) {
                self.pending.remove(at);
                if self.initialize {
                    self.initialized = self.note_initialized(bridge, &message);
                }
            }
        }
        let _ = self.out.send(message).await;
    }

    /// Records the protocol version of a successful `initialize` result.
    fn note_initialized(&self, bridge: &Bridge, message: &Value) -> bool {
        let Some(result) = message.get("result") else {
            return false;
        };
        match result.get("protocolVersion").and_then(Value::as_str) {
            Some(version) if is_header_value(version) => {
                bridge.state().protocol_version = Some(version.to_owned());
            }
            _ => bridge
                .log
                .line("the initialize result names no usable protocol version"),
        }
        true
    }

    /// Answers every pending request with `answer(id)`.
    async fn fail_pending(&mut self, answer: impl Fn(&Value) -> Value) {
        for id in std::mem::take(&mut self.pending) {
            let _ = self.out.send(answer(&id)).await;
        }
    }
}

/// Writes each message as one line, flushing after each: the host reads them as they come.
async fn write_lines(
    mut queue: mpsc::Receiver<Value>,
    mut output: impl AsyncWrite + Unpin,
) -> std::io::Result<()> {
    while let Some(message) = queue.recv().await {
        // Serializing a Value cannot fail (its keys are strings); skip it if it ever did.
        let Ok(mut line) = serde_json::to_vec(&message) else {
            continue;
        };
        line.push(b'\n');
        output.write_all(&line).await?;
        output.flush().await?;
    }
    Ok(())
}

/// The start of a non-JSON body, on one line, for an error message.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(EXCERPT) {
        Some((at, _)) => format!("{}…", line.get(..at).unwrap_or_default()),
        None => line,
    }
}
