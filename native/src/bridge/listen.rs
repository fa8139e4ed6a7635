//! The loopback HTTP side: a Streamable HTTP endpoint at `http://127.0.0.1:PORT/mcp` that
//! forwards to the remote server with the bearer token. See the [module docs](super).

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE, HOST, HeaderMap, HeaderValue, ORIGIN};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::Value;

use super::message::{MCP_METHOD, MCP_NAME, MCP_PROTOCOL_VERSION, MCP_SESSION_ID, Outgoing};
use super::upstream::MayLogIn;
use super::{Bridge, errors};
use crate::error::{Error, Result};

/// The one path served.
const PATH: &str = "/mcp";
/// A connection must send its request head within this time.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest request body accepted from the host.
const MAX_REQUEST_BODY: usize = 16 << 20;
/// The caller's headers that are passed on; everything else (`Authorization` above all) is
/// dropped.
const FORWARDED: [&str; 7] = [
    "content-type",
    "accept",
    MCP_SESSION_ID,
    MCP_PROTOCOL_VERSION,
    MCP_METHOD,
    MCP_NAME,
    "last-event-id",
];

type Body = UnsyncBoxBody<Bytes, reqwest::Error>;

/// The socket address to listen on for `addr` (`127.0.0.1:PORT`, `[::1]:PORT` or
/// `localhost:PORT`; port 0 picks a free one).
///
/// # Errors
/// [`Error::Config`] when `addr` is not a loopback address: whoever reaches the bridge uses
/// the user's logins, so it is never reachable from another machine.
pub fn listen_address(addr: &str) -> Result<SocketAddr> {
    let parsed = match addr.strip_prefix("localhost:") {
        Some(port) => port
            .parse::<u16>()
            .ok()
            .map(|port| SocketAddr::from((Ipv4Addr::LOCALHOST, port))),
        None => addr.parse::<SocketAddr>().ok(),
    };
    match parsed {
        Some(socket) if socket.ip().is_loopback() => Ok(socket),
        Some(_) => Err(Error::Config {
            reason: format!(
                "listen address {addr} is not a loopback address: the bridge lends your \
                 logins to whoever reaches it, so it listens on 127.0.0.1 or [::1] only"
            ),
        }),
        None => Err(Error::Config {
            reason: format!("listen address {addr} is not of the form 127.0.0.1:PORT"),
        }),
    }
}

/// Whether a `Host` header names this bridge: a loopback name (`127.0.0.1`, `localhost`,
/// `[::1]`) with the bound `port` (no port means 80). Anything else is a DNS-rebinding
/// attempt or a misdirected request.
pub fn loopback_host(host: &str, port: u16) -> bool {
    let (name, given) = match host.rsplit_once(':') {
        Some((name, given)) if !given.contains(']') => (name, given.parse::<u16>().ok()),
        _ => (host, Some(80)),
    };
    is_loopback_name(name) && given == Some(port)
}

/// Whether an `Origin` header is a loopback web origin (`http` or `https`, any port): pages
/// served from this machine may call the bridge, others not.
pub fn loopback_origin(origin: &str) -> bool {
    let Ok(url) = url::Url::parse(origin) else {
        return false;
    };
    matches!(url.scheme(), "http" | "https")
        && url.path() == "/"
        && url.query().is_none()
        && url.username().is_empty()
        && url.host_str().is_some_and(is_loopback_name)
}

fn is_loopback_name(name: &str) -> bool {
    name == "127.0.0.1" || name == "[::1]" || name.eq_ignore_ascii_case("localhost")
}

impl Bridge {
    /// Serves the Streamable HTTP transport at `http://ADDR/mcp` until the process ends;
    /// `ready` gets that URL once the socket is bound.
    ///
    /// # Errors
    /// [`Error::Config`] for a non-loopback `addr`; [`Error::PortInUse`] when the port is
    /// taken; [`Error::Io`] when the socket fails.
    pub async fn listen(self, addr: &str, ready: impl FnOnce(&str)) -> Result<()> {
        let addr = listen_address(addr)?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AddrInUse => Error::PortInUse { port: addr.port() },
                _ => Error::Io(e),
            })?;
        let bound = listener.local_addr()?;
        ready(&format!("http://{bound}{PATH}"));
        let bridge = Arc::new(self);
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: wait a little rather than spin.
                    bridge.log.line(&format!("accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let bridge = bridge.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let bridge = bridge.clone();
                    async move { Ok::<_, Infallible>(bridge.handle(request, bound.port()).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    /// Answers one request from the host.
    async fn handle(&self, request: Request<Incoming>, port: u16) -> Response<Body> {
        if let Err(why) = screen(request.headers(), port) {
            self.log.line(&format!("refused a request: {why}"));
            return text(StatusCode::FORBIDDEN, why);
        }
        if request.uri().path() != PATH {
            return text(StatusCode::NOT_FOUND, "not found: the MCP endpoint is /mcp");
        }
        let method = request.method().clone();
        if !matches!(method, Method::POST | Method::GET | Method::DELETE) {
            let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "use POST, GET or DELETE");
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
            return response;
        }
        let headers = forwarded(request.headers());
        let body = match Limited::new(request.into_body(), MAX_REQUEST_BODY)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(_) => {
                return text(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the request body is too large",
                );
            }
        };
        let label = headers
            .iter()
            .find(|(name, _)| name == MCP_METHOD)
            .map_or(String::new(), |(_, value)| format!(" {value}"));
        let sent = self
            .upstream
            .send(
                method.clone(),
                &headers,
                (!body.is_empty()).then(|| body.clone()),
                MayLogIn::AsConfigured,
            )
            .await;
        match sent {
            Ok(response) => {
                self.log
                    .line(&format!("{method}{label}: {}", response.status().as_u16()));
                stream_back(response)
            }
            Err(e) => {
                self.log
                    .line(&format!("{method}{label}: {e} [{}]", e.code()));
                self.failure(&body, &e)
            }
        }
    }

    /// The answer when forwarding failed: JSON-RPC errors for the requests in `body`, else a
    /// 502 with the message.
    fn failure(&self, body: &Bytes, e: &Error) -> Response<Body> {
        let requests = serde_json::from_slice::<Value>(body)
            .map(|value| Outgoing::from_value(body.clone(), &value).request_ids)
            .unwrap_or_default();
        let mut answers: Vec<Value> = requests
            .iter()
            .map(|id| errors::request_failed(id, e, &self.server, self.login_allowed))
            .collect();
        let answer = match answers.len() {
            0 => return text(StatusCode::BAD_GATEWAY, &e.to_string()),
            1 => answers.swap_remove(0),
            _ => Value::Array(answers),
        };
        let mut response = full(StatusCode::OK, Bytes::from(answer.to_string()));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }
}

/// Refuses requests not meant for this bridge (DNS rebinding, cross-site pages).
fn screen(headers: &HeaderMap, port: u16) -> std::result::Result<(), &'static str> {
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    if !host.is_some_and(|h| loopback_host(h, port)) {
        return Err("the Host header does not name this loopback bridge");
    }
    if let Some(origin) = headers.get(ORIGIN) {
        if !origin.to_str().is_ok_and(loopback_origin) {
            return Err("the Origin is not a loopback origin");
        }
    }
    Ok(())
}

/// The caller's headers to pass on.
fn forwarded(headers: &HeaderMap) -> Vec<(String, String)> {
    FORWARDED
        .iter()
        .filter_map(|name| {
            let value = headers.get(*name)?.to_str().ok()?;
            Some(((*name).to_owned(), value.to_owned()))
        })
        .collect()
}

/// The server's response, its body streamed through as it arrives (so SSE works).
fn stream_back(response: reqwest::Response) -> Response<Body> {
    let status = response.status();
    let mut head = Response::builder().status(status);
    for name in [CONTENT_TYPE.as_str(), MCP_SESSION_ID] {
        if let Some(value) = response.headers().get(name) {
            head = head.header(name, value);
        }
    }
    let chunks = futures_util::stream::unfold(Some(response), |response| async move {
        let mut response = response?;
        match response.chunk().await {
            Ok(Some(chunk)) => Some((Ok(Frame::data(chunk)), Some(response))),
            Ok(None) => None,
            Err(e) => Some((Err(e), None)),
        }
    });
    let body = StreamBody::new(chunks).boxed_unsync();
    head.body(body)
        .unwrap_or_else(|_| text(StatusCode::BAD_GATEWAY, "unreadable response head"))
}

fn full(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut response = Response::new(
        Full::new(body)
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response
}

fn text(status: StatusCode, message: &str) -> Response<Body> {
    let mut response = full(status, Bytes::from(format!("{message}\n")));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_with_the_bound_port_are_allowed() {
        for host in [
            "127.0.0.1:8123",
            "localhost:8123",
            "LOCALHOST:8123",
            "[::1]:8123",
        ] {
            assert!(loopback_host(host, 8123), "{host}");
        }
        assert!(loopback_host("localhost", 80));
    }

    #[test]
    fn other_hosts_and_ports_are_refused() {
        for host in [
            "evil.example",
            "evil.example:8123",
            "127.0.0.1:8124",
            "127.0.0.1",
            "localhost.evil.example:8123",
            "127.0.0.2:8123",
            "[::2]:8123",
            "0.0.0.0:8123",
            "",
        ] {
            assert!(!loopback_host(host, 8123), "{host}");
        }
    }

    #[test]
    fn loopback_origins_are_allowed_and_others_refused() {
        for origin in [
            "http://127.0.0.1:3000",
            "https://localhost",
            "http://[::1]:6274",
            "http://localhost:8123",
        ] {
            assert!(loopback_origin(origin), "{origin}");
        }
        for origin in [
            "http://evil.example",
            "null",
            "file://",
            "ftp://127.0.0.1",
            "http://127.0.0.1.evil.example",
            "http://user@localhost",
            "chrome-extension://abc",
        ] {
            assert!(!loopback_origin(origin), "{origin}");
        }
    }

    #[test]
    fn screening_checks_host_then_origin() {
        let mut headers = HeaderMap::new();
        assert!(screen(&headers, 9).is_err(), "no Host");
        headers.insert(HOST, HeaderValue::from_static("127.0.0.1:9"));
        assert!(screen(&headers, 9).is_ok());
        headers.insert(ORIGIN, HeaderValue::from_static("http://evil.example"));
        assert!(screen(&headers, 9).is_err());
        headers.insert(ORIGIN, HeaderValue::from_static("http://localhost:5173"));
        assert!(screen(&headers, 9).is_ok());
    }

    #[test]
    fn only_loopback_listen_addresses_are_accepted() {
        assert_eq!(
            listen_address("127.0.0.1:0").unwrap(),
            "127.0.0.1:0".parse().unwrap()
        );
        assert!(listen_address("[::1]:8080").unwrap().ip().is_loopback());
        assert_eq!(listen_address("localhost:9").unwrap().port(), 9);
        for addr in ["0.0.0.0:8080", "192.168.1.2:80", "[::]:80"] {
            let e = listen_address(addr).unwrap_err();
            assert_eq!(e.code(), "CONFIG");
            assert!(e.to_string().contains("not a loopback address"), "{e}");
        }
        assert!(listen_address("example.com:80").is_err());
        assert!(listen_address("127.0.0.1").is_err());
    }

    #[test]
    fn the_callers_authorization_is_never_forwarded() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer theirs"));
        headers.insert("cookie", HeaderValue::from_static("a=b"));
        headers.insert("mcp-session-id", HeaderValue::from_static("s1"));
        headers.insert("last-event-id", HeaderValue::from_static("7"));
        let passed = forwarded(&headers);
        assert_eq!(
            passed,
            [
                ("mcp-session-id".to_owned(), "s1".to_owned()),
                ("last-event-id".to_owned(), "7".to_owned())
            ]
        );
    }
}
