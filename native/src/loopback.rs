//! The loopback redirect receiver for native apps (RFC 8252 §7.3, §8.3).
//!
//! [`LoopbackServer`] listens on `127.0.0.1` only (never `0.0.0.0`, never `localhost`, which
//! could resolve elsewhere), serves one path, and delivers exactly one authorization
//! response. The checks on that response (state, RFC 9207 `iss`, the OAuth error) are the
//! core's [`mcpauth_core::authorize::validate_authorization_response`];
//! this module only decides when to stop listening:
//!
//! - a callback whose state does not match gets an error page and the wait goes on, so a page
//!   that fires a forged callback at the port cannot cancel a login;
//! - the first callback for this login (a code, or the server's error) ends the wait;
//! - anything after that is refused, and the port is closed once [`wait`](LoopbackServer::wait)
//!   returns.
//!
//! Pages are tiny static HTML with every dynamic text escaped, no script, and headers that keep
//! the code out of caches and `Referer`s.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdTcpListener};
use std::sync::Mutex;
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

use crate::error::{Error, Result};

/// At most this many connections are served at once; more are closed on accept.
const MAX_CONNECTIONS: usize = 32;
/// A connection must send its request head within this time.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A callback server bound to `127.0.0.1`, waiting to be [`wait`](Self::wait)ed on.
///
/// Bind it first, put [`redirect_uri`](Self::redirect_uri) in the authorization request, send
/// the user to the authorization URL, then wait.
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

    /// Serves the callback path until the authorization response for `pending` arrives, and
    /// returns it validated (RFC 6749 §4.1.2; RFC 9207 §2.4).
    ///
    /// Only GET on the callback path is served (404 elsewhere, 405 for other methods). A
    /// callback with a missing or wrong state gets an error page and the wait goes on; the
    /// first callback with the right state ends it, with the code or the error. The port is
    /// closed when this returns.
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
        self.wait_with(timeout, |target| {
            callback_belongs_to(pending, target)
                .then(|| validate_authorization_response(pending, target))
        })
        .await
    }

    /// Serves until one callback belonging to this login arrives, and returns what
    /// `validate` made of it.
    ///
    /// `validate` gets the request target (`/callback?code=...&state=...`) and returns `None`
    /// for a callback that does not carry this login's state (the core's
    /// [`callback_belongs_to`]): it may be forged by any page that knows the port, so it gets
    /// an error page and the wait goes on. Anything else ends the wait.
    pub(crate) async fn wait_with<T, F>(self, timeout: Duration, validate: F) -> Result<T>
    where
        F: Fn(&str) -> Option<mcpauth_core::Result<T>>,
    {
        let listener = tokio::net::TcpListener::from_std(self.listener)?;
        let callback = Callback {
            path: self.path,
            port: self.port,
            validate,
            slot: Mutex::new(Slot::Waiting),
        };
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut connections = FuturesUnordered::new();
        loop {
            tokio::select! {
                () = &mut deadline => {
                    // A result whose page is still being written counts.
                    if let Some(outcome) = callback.take() {
                        return outcome;
                    }
                    return Err(Error::Timeout {
                        what: "waiting for the authorization callback".into(),
                        after: timeout,
                    });
                }
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) if connections.len() < MAX_CONNECTIONS => {
                        connections.push(serve(stream, &callback));
                    }
                    Ok(_) => {}
                    // Out of file descriptors and the like: back off rather than spin.
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                },
                Some(delivered) = connections.next(), if !connections.is_empty() => {
                    // With keep-alive off, a closed connection has written its page; only
                    // then is the one that delivered the result handed over.
                    if delivered {
                        if let Some(outcome) = callback.take() {
                            return outcome;
                        }
                    }
                }
            }
        }
    }
}

/// Where the one result stands.
enum Slot<T> {
    /// No callback for this login yet.
    Waiting,
    /// A callback ended the wait; its page is being written.
    Ready(Result<T>),
    /// Handed to the waiter.
    Taken,
}

/// The request handler's state, shared by all connections of one wait.
struct Callback<F, T> {
    path: String,
    port: u16,
    validate: F,
    slot: Mutex<Slot<T>>,
}

/// A page to answer with.
#[derive(Debug, PartialEq, Eq)]
struct Page {
    status: StatusCode,
    title: &'static str,
    message: String,
}

impl<F, T> Callback<F, T>
where
    F: Fn(&str) -> Option<mcpauth_core::Result<T>>,
{
    /// The page for one request, and whether it ended the wait.
    fn handle(&self, method: &Method, host: Option<&str>, target: &str) -> (Page, bool) {
        let page = |status, title, message: &str| (Page::new(status, title, message), false);
        let path = target.split_once('?').map_or(target, |(p, _)| p);
        if path != self.path {
            return page(
                StatusCode::NOT_FOUND,
                "Not found",
                "Nothing is served here.",
            );
        }
        if method != Method::GET {
            return page(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed",
                "The login callback accepts GET only.",
            );
        }
        if !self.host_is_loopback(host) {
            return page(
                StatusCode::BAD_REQUEST,
                "Unexpected host",
                "This login callback answers only at 127.0.0.1.",
            );
        }
        // A poisoned lock means a validator panicked; the slot itself is still consistent.
        let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        if !matches!(*slot, Slot::Waiting) {
            return page(
                StatusCode::CONFLICT,
                "Login already completed",
                "This login has already received its response; this one was ignored.",
            );
        }
        match (self.validate)(target) {
            None => (
                Page::new(
                    StatusCode::BAD_REQUEST,
                    "Not this login's callback",
                    "This response does not carry the state of the login in progress, so it was \
                     ignored. If you started the login, finish it in the browser tab it opened.",
                ),
                false,
            ),
            Some(Ok(value)) => {
                *slot = Slot::Ready(Ok(value));
                let done = Page::new(
                    StatusCode::OK,
                    "Login complete",
                    "You are logged in. You can close this tab and return to the terminal.",
                );
                (done, true)
            }
            Some(Err(e)) => {
                let failed = Page::new(StatusCode::BAD_REQUEST, "Login failed", e.to_string());
                *slot = Slot::Ready(Err(Error::Core(e)));
                (failed, true)
            }
        }
    }

    /// Browsers send `Host: 127.0.0.1:{port}` after the redirect; anything else is a page on
    /// another name (DNS rebinding) or not a browser, and gets nothing.
    fn host_is_loopback(&self, host: Option<&str>) -> bool {
        host.is_none_or(|h| {
            h == format!("127.0.0.1:{}", self.port) || h == format!("localhost:{}", self.port)
        })
    }

    fn take(&self) -> Option<Result<T>> {
        let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        match std::mem::replace(&mut *slot, Slot::Taken) {
            Slot::Ready(outcome) => Some(outcome),
            other => {
                *slot = other;
                None
            }
        }
    }
}

/// Serves one connection (one request: keep-alive is off); true when it delivered the result.
async fn serve<F, T>(stream: tokio::net::TcpStream, callback: &Callback<F, T>) -> bool
where
    F: Fn(&str) -> Option<mcpauth_core::Result<T>>,
{
    let delivered = AtomicBool::new(false);
    let service = hyper::service::service_fn(|req: Request<Incoming>| {
        let target = req
            .uri()
            .path_and_query()
            .map_or_else(|| req.uri().path(), |pq| pq.as_str());
        let host = req.headers().get(HOST).and_then(|h| h.to_str().ok());
        let (page, ended) = callback.handle(req.method(), host, target);
        if ended {
            delivered.store(true, Ordering::Relaxed);
        }
        std::future::ready(Ok::<_, Infallible>(page.into_response()))
    });
    // Errors here are the browser's (reset, garbage): nothing to report, the wait goes on.
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    delivered.load(Ordering::Relaxed)
}

impl Page {
    fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            title,
            message: message.into(),
        }
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
