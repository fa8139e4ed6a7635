//! `HttpDriver` against local servers: exactly the request, no redirects, capped bodies,
//! time-outs. (Concurrent sending is the driver loop's, tested with it.)
#![cfg(test)] // all of this file is test code to clippy: see clippy.toml

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Request, respond, serve};
use mcpauth::{Error, HttpDriver};
use mcpauth_core::HttpRequest;
use tokio::io::AsyncWriteExt as _;
use tokio::sync::Mutex;
use url::Url;

fn driver() -> HttpDriver {
    HttpDriver::new(Duration::from_secs(5)).unwrap()
}

fn url(addr: std::net::SocketAddr, path: &str) -> Url {
    Url::parse(&format!("http://{addr}{path}")).unwrap()
}

#[tokio::test]
async fn redirects_are_handed_to_the_core_not_followed() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let addr = serve(move |req: Request, stream| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move {
            match req.target() {
                "/start" => respond(stream, "302 Found", &[("location", "/target")], b"").await,
                _ => respond(stream, "200 OK", &[], b"{}").await,
            }
        }
    })
    .await;
    // One driver, one client: each request follows redirects or not as it says.
    let driver = driver();
    let resp = driver
        .send(HttpRequest::get_json(url(addr, "/start")))
        .await
        .unwrap();
    assert_eq!(resp.status, 302);
    assert_eq!(resp.header("location"), Some("/target"));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "the redirect must not be followed"
    );

    let mut follow = HttpRequest::get_json(url(addr, "/start"));
    follow.follow_redirects = true;
    let resp = driver.send(follow).await.unwrap();
    assert_eq!((resp.status, resp.body.as_slice()), (200, &b"{}"[..]));
    assert_eq!(hits.load(Ordering::SeqCst), 3);

    // The client handed out for other requests follows none either, unless asked.
    let resp = driver
        .client()
        .unwrap()
        .get(url(addr, "/start"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let resp = driver
        .send(HttpRequest::get_json(url(addr, "/start")))
        .await
        .unwrap();
    assert_eq!(
        resp.status, 302,
        "following once changed nothing for the next"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn an_endless_body_is_cut_at_the_cap_plus_one_byte() {
    let written = Arc::new(AtomicUsize::new(0));
    let counter = written.clone();
    let addr = serve(move |_req, mut stream| {
        let counter = counter.clone();
        async move {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n";
            stream.write_all(head.as_bytes()).await.unwrap();
            let chunk = vec![b'x'; 16 * 1024];
            // Until the client hangs up.
            while stream.write_all(&chunk).await.is_ok() {
                counter.fetch_add(chunk.len(), Ordering::SeqCst);
            }
        }
    })
    .await;
    let mut req = HttpRequest::get_json(url(addr, "/huge"));
    req.max_response_bytes = 1000;
    let resp = driver().send(req).await.unwrap();
    assert_eq!(resp.body.len(), 1001);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The server stopped when the client hung up: only socket buffers' worth went out.
    let sent = written.load(Ordering::SeqCst);
    assert!(
        sent < 64 * 1024 * 1024,
        "the client kept reading: {sent} bytes"
    );
}

#[tokio::test]
async fn a_body_within_the_cap_arrives_whole() {
    let addr = serve(|_req, stream| async move {
        respond(stream, "200 OK", &[], &[b'y'; 1000]).await;
    })
    .await;
    let mut req = HttpRequest::get_json(url(addr, "/"));
    req.max_response_bytes = 1000;
    assert_eq!(driver().send(req).await.unwrap().body.len(), 1000);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let addr = serve(|_req, stream| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(stream);
    })
    .await;
    let driver = HttpDriver::new(Duration::from_millis(300)).unwrap();
    let started = Instant::now();
    let err = driver
        .send(HttpRequest::get_json(url(addr, "/stall")))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("/stall"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_body_that_trickles_past_the_deadline_times_out() {
    let addr = serve(|_req, mut stream| async move {
        let head = "HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n";
        stream.write_all(head.as_bytes()).await.unwrap();
        while stream.write_all(b"x").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let driver = HttpDriver::new(Duration::from_millis(400)).unwrap();
    let err = driver
        .send(HttpRequest::get_json(url(addr, "/trickle")))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
}

#[tokio::test]
async fn the_request_is_sent_exactly_as_built() {
    let seen: Arc<Mutex<Option<Request>>> = Arc::default();
    let log = seen.clone();
    let addr = serve(move |req, stream| {
        let log = log.clone();
        async move {
            *log.lock().await = Some(req);
            respond(
                stream,
                "400 Bad Request",
                &[("x-answer", "42")],
                br#"{"error":"x"}"#,
            )
            .await;
        }
    })
    .await;
    let mut req = HttpRequest::post_form(url(addr, "/token?a=1"), &[("grant_type", "x y")]);
    req.push_header("Authorization", "Basic abc");
    let resp = driver().send(req).await.unwrap();
    assert_eq!(resp.status, 400, "a non-2xx status is the core's to judge");
    assert_eq!(resp.header("X-Answer"), Some("42"));
    assert_eq!(resp.body, br#"{"error":"x"}"#);
    let req = seen.lock().await.take().unwrap();
    assert_eq!((req.method(), req.target()), ("POST", "/token?a=1"));
    assert_eq!(req.header("authorization"), Some("Basic abc"));
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(req.body, b"grant_type=x+y");
}

#[tokio::test]
async fn a_refused_connection_is_a_transport_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = Url::parse(&format!("http://127.0.0.1:{port}/x?secret=1")).unwrap();
    let err = driver()
        .send(HttpRequest::get_json(target))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert_eq!(err.code(), "TRANSPORT");
    let msg = err.to_string();
    assert!(msg.contains(&format!("127.0.0.1:{port}/x")), "{msg}");
    assert!(
        !msg.contains("secret"),
        "queries stay out of messages: {msg}"
    );
}
