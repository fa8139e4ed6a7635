//! The loopback redirect receiver for native apps (RFC 8252 §7.3, §8.3).
//!
//! [`LoopbackServer`] listens on `127.0.0.1` only (never `0.0.0.0`, never `localhost`, which
//! could resolve elsewhere) and serves one path. It makes no OAuth decision: every request to
//! that path is handed over as a [`Callback`], and whoever drives the login (the core's
//! [`Login`](mcpauth_core::flow::Login), through [`handle_callback`]) says what it was:
//!
//! - [`Callback::ignore`]: not this login's (no or another `state`, so possibly forged by any
//!   page that knows the port). The browser gets an error page and the wait goes on, so such a
//!   request cannot cancel a login;
//! - [`Callback::accept`] or [`Callback::fail`]: this login's response, with a success or
//!   failure page. It ends the wait: later requests are refused, and the port closes once the
//!   pages being written are out.
//!
//! Pages are tiny static HTML with every dynamic text escaped, no script, and headers that keep
//! the code out of caches and `Referer`s.
//!
//! [`handle_callback`]: mcpauth_core::flow::Login::handle_callback

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdTcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use mcpauth_core::authorize::{callback_belongs_to, validate_authorization_response};
use mcpauth_core::{AuthorizationResponse, PendingAuthorization};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};

/// At most this many connections are served at once; more are closed on accept.
const MAX_CONNECTIONS: usize = 32;
/// A connection must send its request head within this time.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`Listener::close`] lets pages being written finish.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Callbacks waiting for their verdict; more wait in their connections.
const QUEUE: usize = 16;

/// A callback server bound to `127.0.0.1`.
///
/// Bind it first, put [`redirect_uri`](Self::redirect_uri) in the authorization request, send
/// the user to the authorization URL, then [`listen`](Self::listen) (or [`wait`](Self::wait)).
#[derive(Debug)]
pub struct LoopbackServer {
    listener: StdTcpListener,
    port: u16,
    path: String,
}

impl LoopbackServer {
    /// Binds `127.0.0.1:port`, or a port the system picks when `port` is `None` or `Some(0)`
    /// (RFC 8252 §7.3: the authorization server must accept any port for loopback redirect
    /// URIs). `path` is the only path served, such as `/callback`.
    ///
    /// # Errors
    /// [`Error::PortInUse`] when a fixed port is taken; [`Error::Callback`] for a `path` that
    /// does not start with `/` or has a query or fragment; [`Error::Io`] for other socket
    /// errors.
    pub fn bind(port: Option<u16>, path: &str) -> Result<Self> {
        if !path.starts_with('/') || path.contains(['?', '#']) {
            return Err(Error::Callback {
                reason: format!(
                    "callback path `{path}` must start with `/` and have no query or fragment"
                ),
            });
        }
        let requested = port.unwrap_or(0);
        let listener = StdTcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, requested)))
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AddrInUse if requested != 0 => {
                    Error::PortInUse { port: requested }
                }
                _ => Error::Io(e),
            })?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        Ok(Self {
            listener,
            port,
            path: path.to_owned(),
        })
    }

    /// The port listened on.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The redirect URI to register and send: `http://127.0.0.1:{port}{path}` (RFC 8252 §7.3).
    #[must_use]
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}{}", self.port, self.path)
    }

    /// Starts serving in a task of its own, and hands over each GET of the callback path as a
    /// [`Callback`] from [`Listener::next`]. Other paths get 404, other methods 405, requests
    /// naming another host than `127.0.0.1` or `localhost` (DNS rebinding) 400.
    ///
    /// # Errors
    /// [`Error::Io`] when the socket cannot join the runtime (called outside one).
    pub fn listen(self) -> Result<Listener> {
        let listener = tokio::net::TcpListener::from_std(self.listener)?;
        let (callbacks, receiver) = mpsc::channel(QUEUE);
        let (stop, stopped) = oneshot::channel();
        let screen = Arc::new(Screen {
            path: self.path,
            port: self.port,
            completed: AtomicBool::new(false),
        });
        let task = tokio::spawn(serve_all(listener, screen, callbacks, stopped));
        Ok(Listener {
            callbacks: receiver,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Serves the callback path until the authorization response for `pending` arrives, and
    /// returns it validated (RFC 6749 §4.1.2; RFC 9207 §2.4): for callers that drive the
    /// authorization steps themselves rather than through a [`Session`](crate::Session).
    ///
    /// A callback without this login's state gets an error page and the wait goes on; the
    /// first one with it ends the wait, with the code or the error. The port is closed when
    /// this returns.
    ///
    /// # Errors
    /// [`Error::Core`] with the server's [`OAuthError`](mcpauth_core::OAuthError) (such as
    /// `access_denied`) or a failed `iss` check; [`Error::Timeout`] when no callback for this
    /// login arrives within `timeout`; [`Error::Io`] when the socket fails.
    pub async fn wait(
        self,
        pending: &PendingAuthorization,
        timeout: Duration,
    ) -> Result<AuthorizationResponse> {
        let mut listener = self.listen()?;
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        loop {
            let callback = tokio::select! {
                () = &mut deadline => {
                    return Err(Error::Timeout {
                        what: "waiting for the authorization callback".into(),
                        after: timeout,
                    });
                }
                callback = listener.next() => callback,
            };
            let Some(callback) = callback else {
                return Err(Error::Callback {
                    reason: "the loopback listener stopped".into(),
                });
            };
            if !callback_belongs_to(pending, callback.target()) {
                callback.ignore();
                continue;
            }
            let outcome = validate_authorization_response(pending, callback.target());
            match &outcome {
                Ok(_) => callback.accept(),
                Err(e) => callback.fail(e.to_string()),
            }
            listener.close().await;
            return outcome.map_err(Error::from);
        }
    }
}

/// The serving side of a [`LoopbackServer`]: callbacks to judge. Dropping it stops serving
/// at once; [`close`](Self::close) lets the pages being written finish first.
#[derive(Debug)]
pub struct Listener {
    callbacks: mpsc::Receiver<Callback>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Listener {
    /// The next request to the callback path, to be answered with [`Callback::accept`],
    /// [`Callback::fail`] or [`Callback::ignore`]. `None` once the listener has stopped (after
    /// a callback was accepted or failed, or when the socket failed).
    pub async fn next(&mut self) -> Option<Callback> {
        self.callbacks.recv().await
    }

    /// Stops accepting connections, waits (briefly) until the pages being written are out,
    /// and closes the port. Requests still waiting for a verdict get a "no longer waiting"
    /// page.
    pub async fn close(mut self) {
        self.callbacks.close();
        while let Ok(callback) = self.callbacks.try_recv() {
            drop(callback);
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.as_mut() {
            let _ = tokio::time::timeout(CLOSE_GRACE, task).await;
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// One request to the callback path, waiting for its verdict. Dropping it answers "the login
/// is no longer waiting".
#[derive(Debug)]
pub struct Callback {
    target: String,
    screen: Arc<Screen>,
    reply: oneshot::Sender<Verdict>,
}

/// What the login made of a callback.
#[derive(Debug)]
enum Verdict {
    Accepted,
    Failed(String),
    Ignored,
}

impl Callback {
    /// The request target: `/callback?code=...&state=...`.
    #[must_use]
    pub fn target(&self) -> &str {
        &self.target
    }

    /// This login's response, and the login goes on: a success page; the wait is over.
    pub fn accept(self) {
        self.screen.complete();
        let _ = self.reply.send(Verdict::Accepted);
    }

    /// This login's response, and the login failed with `message`: a failure page; the wait
    /// is over.
    pub fn fail(self, message: impl Into<String>) {
        self.screen.complete();
        let _ = self.reply.send(Verdict::Failed(message.into()));
    }

    /// Not this login's response: an error page, and the wait goes on.
    pub fn ignore(self) {
        let _ = self.reply.send(Verdict::Ignored);
    }
}

/// The checks that need no verdict, shared by all connections of one listener.
#[derive(Debug)]
struct Screen {
    path: String,
    port: u16,
    /// A callback was accepted or failed: the wait is over.
    completed: AtomicBool,
}

impl Screen {
    fn complete(&self) {
        self.completed.store(true, Ordering::SeqCst);
    }

    fn is_completed(&self) -> bool {
        self.completed.load(Ordering::SeqCst)
    }

    /// The page for a request that needs no verdict; `None` for a callback to hand over.
    fn screen(&self, method: &Method, host: Option<&str>, target: &str) -> Option<Page> {
        let path = target.split_once('?').map_or(target, |(p, _)| p);
        if path != self.path {
            return Some(Page::new(
                StatusCode::NOT_FOUND,
                "Not found",
                "Nothing is served here.",
            ));
        }
        if method != Method::GET {
            return Some(Page::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed",
                "The login callback accepts GET only.",
            ));
        }
        if !self.host_is_loopback(host) {
            return Some(Page::new(
                StatusCode::BAD_REQUEST,
                "Unexpected host",
                "This login callback answers only at 127.0.0.1.",
            ));
        }
        self.is_completed().then(Page::already_completed)
    }

    /// Browsers send `Host: 127.0.0.1:{port}` after the redirect; anything else is a page on
    /// another name (DNS rebinding) or not a browser, and gets nothing.
    fn host_is_loopback(&self, host: Option<&str>) -> bool {
        host.is_none_or(|h| {
            h == format!("127.0.0.1:{}", self.port) || h == format!("localhost:{}", self.port)
        })
    }

    /// The page for a callback's verdict (`None`: nobody is waiting any more).
    fn page(&self, verdict: Option<Verdict>) -> Page {
        match verdict {
            Some(Verdict::Accepted) => Page::new(
                StatusCode::OK,
                "Login complete",
                "You are logged in. You can close this tab and return to the terminal.",
            ),
            Some(Verdict::Failed(message)) => {
                Page::new(StatusCode::BAD_REQUEST, "Login failed", message)
            }
            Some(Verdict::Ignored) if self.is_completed() => Page::already_completed(),
            Some(Verdict::Ignored) => Page::new(
                StatusCode::BAD_REQUEST,
                "Not this login's callback",
                "This response does not carry the state of the login in progress, so it was \
                 ignored. If you started the login, finish it in the browser tab it opened.",
            ),
            None => Page::new(
                StatusCode::GONE,
                "Login no longer waiting",
                "The login this response was for has ended. Start it again from the terminal.",
            ),
        }
    }
}

/// Accepts and serves connections until stopped, or until the wait is over and every page is
/// out; the port closes when this returns.
async fn serve_all(
    listener: tokio::net::TcpListener,
    screen: Arc<Screen>,
    callbacks: mpsc::Sender<Callback>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut connections = FuturesUnordered::new();
    let mut stopping = false;
    loop {
        let accepting = !stopping && !screen.is_completed();
        if !accepting && connections.is_empty() {
            return;
        }
        tokio::select! {
            _ = &mut stop, if !stopping => stopping = true,
            accepted = listener.accept(), if accepting => match accepted {
                Ok((stream, _)) if connections.len() < MAX_CONNECTIONS => {
                    connections.push(serve(stream, screen.clone(), callbacks.clone()));
                }
                Ok(_) => {}
                // Out of file descriptors and the like: back off rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
            Some(()) = connections.next(), if !connections.is_empty() => {}
        }
    }
}

/// Serves one connection (one request: keep-alive is off).
async fn serve(
    stream: tokio::net::TcpStream,
    screen: Arc<Screen>,
    callbacks: mpsc::Sender<Callback>,
) {
    let service = hyper::service::service_fn(|req: Request<Incoming>| {
        let target = req
            .uri()
            .path_and_query()
            .map_or_else(|| req.uri().path(), |pq| pq.as_str())
            .to_owned();
        let host = req.headers().get(HOST).and_then(|h| h.to_str().ok());
        let screened = screen.screen(req.method(), host, &target);
        let (screen, callbacks) = (screen.clone(), callbacks.clone());
        async move {
            let page = match screened {
                Some(page) => page,
                None => screen.page(verdict(&screen, &callbacks, target).await),
            };
            Ok::<_, Infallible>(page.into_response())
        }
    });
    // Errors here are the browser's (reset, garbage): nothing to report, the wait goes on.
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// Hands the callback over and waits for its verdict.
async fn verdict(
    screen: &Arc<Screen>,
    callbacks: &mpsc::Sender<Callback>,
    target: String,
) -> Option<Verdict> {
    let (reply, verdict) = oneshot::channel();
    let callback = Callback {
        target,
        screen: screen.clone(),
        reply,
    };
    callbacks.send(callback).await.ok()?;
    verdict.await.ok()
}

/// A page to answer with.
#[derive(Debug, PartialEq, Eq)]
struct Page {
    status: StatusCode,
    title: &'static str,
    message: String,
}

impl Page {
    fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            title,
            message: message.into(),
        }
    }

    fn already_completed() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "Login already completed",
            "This login has already received its response; this one was ignored.",
        )
    }

    fn html(&self) -> String {
        format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width\"><title>mcpauth: {title}</title>\
             <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}}</style>\
             </head><body><h1>{title}</h1><p>{message}</p></body></html>\n",
            title = escape_html(self.title),
            message = escape_html(&self.message),
        )
    }

    fn into_response(self) -> Response<Full<Bytes>> {
        let mut resp = Response::new(Full::new(Bytes::from(self.html())));
        *resp.status_mut() = self.status;
        let headers = resp.headers_mut();
        let fixed = [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-store"),
            (hyper::header::REFERRER_POLICY, "no-referrer"),
            (hyper::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (hyper::header::X_FRAME_OPTIONS, "DENY"),
            (
                hyper::header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            ),
        ];
        for (name, value) in fixed {
            headers.insert(name, HeaderValue::from_static(value));
        }
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            headers.insert(ALLOW, HeaderValue::from_static("GET"));
        }
        resp
    }
}

/// Escapes text for HTML element content and attribute values.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
